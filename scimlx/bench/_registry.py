"""The one place where benchmark suites are registered.

A suite is a module attribute `SUITE` (a [`Suite`][scimlx.bench.Suite]); add a line to `_SUITES` to register
one. Modules are imported lazily, so `scimlx list suites` stays fast and a suite's heavy imports happen only
when it runs.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Callable
from typing import Any

# name -> "module:attribute"; one line per suite
_SUITES: dict[str, str] = {
    "smoke": "scimlx.bench._smoke:SUITE",
    "datasets": "scimlx.bench._datasets:SUITE",
    "operators": "scimlx.bench._operators:SUITE",
    "pinn": "scimlx.bench._pinn:SUITE",
    "solvers": "scimlx.bench._solvers:SUITE",
    "sde": "scimlx.bench._sde:SUITE",
    "control": "scimlx.bench._control:SUITE",
}


@dataclasses.dataclass(frozen=True)
class RunContext:
    """What a benchmark case is told about the run.

    **Arguments:**

    - `quick`: the CPU-scale preset instead of the paper-scale one.
    - `seed`: the run's seed; a case derives its keys from it.
    - `out_dir`: the run directory (a case may write figures or checkpoints there).
    - `progress`: whether long work shows progress bars.
    """

    quick: bool
    seed: int
    out_dir: Any
    progress: bool = True


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case: a name and a function of the [`RunContext`][] returning a dict of figures.

    **Arguments:**

    - `name`: the case's name (a row of the results table).
    - `run`: `run(ctx) -> dict` of JSON-serialisable figures. A key `"target_met"` (bool) marks whether the
        case met its stated target; a missed target is reported, not hidden.
    - `skip_reason`: if set, the case is not run and its row says why.
    """

    name: str
    run: Callable[[RunContext], dict[str, Any]]
    skip_reason: str | None = None


@dataclasses.dataclass(frozen=True)
class Suite:
    """A named list of benchmark cases.

    **Arguments:**

    - `name`: the suite's name on the command line.
    - `description`: one line for `scimlx list suites`.
    - `cases`: `cases(quick) -> list[Case]`, the cases of the paper-scale or the quick preset.
    """

    name: str
    description: str
    cases: Callable[[bool], list[Case]]


def suite_names() -> list[str]:
    return list(_SUITES)


def get_suite(name: str) -> Suite:
    """The registered suite called `name`."""
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a string, got {type(name).__name__}")
    if name not in _SUITES:
        raise ValueError(f"unknown suite `name` {name!r}; known suites: {', '.join(sorted(_SUITES))}")
    module, attr = _SUITES[name].split(":")
    suite = getattr(importlib.import_module(module), attr)
    if not isinstance(suite, Suite):
        raise TypeError(f"{_SUITES[name]} is not a scimlx Suite")
    return suite
