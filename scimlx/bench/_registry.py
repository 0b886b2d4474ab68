"""The one place where benchmark suites are registered.

A suite is a module attribute `SUITE` (a [`Suite`][scimlx.bench.Suite]); add a line to `_SUITES` to register
one. Modules are imported lazily, so `scimlx list suites` stays fast and a suite's heavy imports happen only
when it runs.
"""

from __future__ import annotations

import dataclasses
import importlib
import pathlib
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
    - `plots`: whether the case draws its figures (`--no-plots` turns them off); see
        [`save_figure`][scimlx.bench.RunContext.save_figure].
    """

    quick: bool
    seed: int
    out_dir: Any
    progress: bool = True
    plots: bool = True

    @property
    def plotting(self) -> bool:
        """Whether figures are wanted: plots are on and there is a run directory to hold them."""
        return self.plots and self.out_dir is not None

    def save_figure(self, fig: Any, name: str) -> str | None:
        """Save a matplotlib figure as `<out_dir>/<name>.png` and close it; returns the file name, or `None`
        (the figure closed unsaved) when figures are off. The report of the run embeds every PNG a case
        writes, under the case's name."""
        import re

        import matplotlib.pyplot as plt

        try:
            if not self.plotting:
                return None
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"`name` must be a non-empty string, got {name!r}")
            file = re.sub(r"[^A-Za-z0-9._=+-]+", "_", name.strip()).strip("_") + ".png"
            fig.savefig(pathlib.Path(self.out_dir) / file, dpi=110)
            return file
        finally:
            plt.close(fig)


@dataclasses.dataclass(frozen=True)
class Case:
    """One benchmark case: a name and a function of the [`RunContext`][scimlx.bench.RunContext] returning a
    dict of figures.

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
