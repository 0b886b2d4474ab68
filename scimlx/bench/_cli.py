"""The `scimlx` command."""

from __future__ import annotations

import argparse
import sys


def _list(what: str) -> int:
    from ._runner import markdown_table

    if what in ("equations", "all"):
        from scimlx.core.equations import describe_equations

        print(markdown_table(describe_equations()))
    if what == "all":
        print()
    if what in ("suites", "all"):
        from ._registry import get_suite, suite_names

        rows = [{"suite": n, "description": get_suite(n).description} for n in suite_names()]
        print(markdown_table(rows))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from ._runner import run_suite

    result = run_suite(
        args.suite,
        quick=args.quick,
        seed=args.seed,
        out=args.out,
        overwrite=args.overwrite,
        progress=not args.no_progress,
    )
    bad = [r for r in result["rows"] if r["status"] in ("error", "missed target")]
    for r in bad:
        print(f"{r['case']}: {r['status']}" + (f" ({r['note']})" if r.get("note") else ""), file=sys.stderr)
    return 1 if bad else 0


def _parser() -> argparse.ArgumentParser:
    import scimlx

    p = argparse.ArgumentParser(
        prog="scimlx", description="scimlx: scientific-ML solvers on one shared PDE-residual core."
    )
    p.add_argument("--version", action="version", version=f"scimlx {scimlx.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    pl = sub.add_parser("list", help="list the equation catalogue or the benchmark suites")
    pl.add_argument("what", nargs="?", default="all", choices=["equations", "suites", "all"])
    pb = sub.add_parser("bench", help="run a benchmark suite")
    pb.add_argument("suite", help="a suite name (see `scimlx list suites`)")
    pb.add_argument("--quick", action="store_true", help="the CPU-scale preset (minutes on a laptop)")
    pb.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    pb.add_argument("--out", default=None, help="output directory (default runs/<suite>/<timestamp>/)")
    pb.add_argument("--overwrite", action="store_true", help="allow writing into a directory with results")
    pb.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            return _list(args.what)
        return _bench(args)
    except (ValueError, TypeError, FileExistsError) as e:
        print(f"scimlx: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
