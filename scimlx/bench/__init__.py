"""Benchmark suites and the `scimlx` command line."""

from ._claims import Claim as Claim
from ._claims import Verdict as Verdict
from ._claims import rows_ok as rows_ok
from ._claims import run_all as run_all
from ._registry import (
    Case as Case,
)
from ._registry import (
    RunContext as RunContext,
)
from ._registry import (
    Suite as Suite,
)
from ._registry import (
    get_suite as get_suite,
)
from ._registry import (
    suite_names as suite_names,
)
from ._runner import markdown_table as markdown_table
from ._runner import run_suite as run_suite

__all__ = [
    "Claim",
    "Verdict",
    "rows_ok",
    "run_all",
    "Case",
    "RunContext",
    "Suite",
    "get_suite",
    "suite_names",
    "markdown_table",
    "run_suite",
]
