"""The two test tiers: `pytest` runs the default tier; `pytest -m slow` runs the rest (CI runs both)."""

import pytest


def tiered(cases, default, *, unpack=False):
    """Parameters of a family of cases: those in `default` run in the default tier, the others only in the
    slow tier. With `unpack`, each case is a tuple of values for several argument names."""
    default = list(default)
    missing = [d for d in default if d not in cases]
    if missing:
        raise ValueError(f"default cases {missing} are not among the cases")
    marks = {False: (pytest.mark.slow,), True: ()}
    return [pytest.param(*(c if unpack else (c,)), marks=marks[c in default]) for c in cases]
