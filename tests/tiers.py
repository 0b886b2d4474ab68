"""The two test tiers: `pytest` runs the default tier; `pytest -m slow` runs the rest (CI runs both)."""

import pytest


def tiered(cases, default):
    """Parameters of a family of cases: those in `default` run in the default tier, the others only in the
    slow tier. A case is a value, or a tuple of values for several argument names."""
    default = list(default)
    missing = [d for d in default if d not in cases]
    if missing:
        raise ValueError(f"default cases {missing} are not among the cases")
    out = []
    for case in cases:
        values = case if isinstance(case, tuple) else (case,)
        marks = () if case in default else (pytest.mark.slow,)
        out.append(pytest.param(*values, marks=marks))
    return out
