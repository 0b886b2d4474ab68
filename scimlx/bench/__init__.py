"""Benchmark suites and the `scimlx` command line."""

from ._registry import (
    Case as Case,
    RunContext as RunContext,
    Suite as Suite,
    get_suite as get_suite,
    suite_names as suite_names,
)
from ._runner import markdown_table as markdown_table, run_suite as run_suite
