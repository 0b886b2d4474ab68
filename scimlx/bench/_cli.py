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
    if what in ("problems", "all"):
        from scimlx.pinn import get_problem, problem_names

        rows = []
        for n in problem_names():
            p = get_problem(n)
            rows.append({"problem": n, "equation": p.description, "points": p.points_per_sample()})
        print(markdown_table(rows))
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


def _parse_value(text: str):
    import ast

    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text  # a bare word, e.g. a scheme name


def _data_params(items: list[str]) -> dict:
    params = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not name.isidentifier():
            raise ValueError(f"`--param` must look like NAME=VALUE, got {item!r}")
        params[name] = _parse_value(value)
    return params


def _data_list(name: str | None = None) -> int:
    from scimlx.datasets import get_recipe, recipe_names

    from ._runner import markdown_table

    if name is not None:  # one recipe: its parameters, defaults and presets
        r = get_recipe(name)
        print(f"{r.name}: {r.description}\nresolution: {r.resolution_note}\n")
        rows = []
        for key, default in r.params.items():
            row = {"parameter": key, "default (CPU)": repr(default)}
            for preset, values in r.presets.items():
                row[preset] = repr(values[key]) if key in values else ""
            rows.append(row)
        print(markdown_table(rows))
        return 0

    rows = []
    for name in recipe_names():
        r = get_recipe(name)
        rows.append(
            {
                "name": name,
                "description": r.description,
                "resolution": r.params["resolution"],
                "presets": ", ".join(r.presets) or "-",
                "resolution counts": r.resolution_note or "-",
            }
        )
    print(markdown_table(rows))
    return 0


def _data_generate(args: argparse.Namespace) -> int:
    import pathlib

    from scimlx.datasets import generate, load, save_arrays

    params = _data_params(args.param)
    if args.resolution is not None:
        params["resolution"] = args.resolution
    if args.out is not None:
        out = pathlib.Path(args.out)
        if out.suffix.lower() not in (".npz", ".mat", ".h5", ".hdf5"):
            raise ValueError(f"`--out` must end in .npz, .mat, .h5 or .hdf5, got {out.name!r}")
        if out.exists() and not args.overwrite:
            raise FileExistsError(f"{out} exists; pass --overwrite to replace it")
        if args.n_test:
            raise ValueError(
                "`--n-test` applies to the cache; with `--out`, generate the test set separately"
            )
        g = generate(
            args.name,
            args.n,
            seed=args.seed,
            preset=args.preset,
            dtype=args.dtype,
            chunk_size=args.chunk_size,
            progress=not args.no_progress,
            **params,
        )
        meta = {
            "generator": g.recipe.name,
            "recipe_version": g.recipe.version,
            "params": g.params,
            "seed": g.seed,
            "n": args.n,
            "dtype": g.dtype,
            "seconds": g.seconds,
        }
        path = save_arrays(out, g.arrays, metadata=meta, overwrite=args.overwrite)
        arrays, seconds = g.arrays, g.seconds
        if args.plot:
            from scimlx.datasets import PDEDataset

            x, y = g.recipe.pairs(g.arrays, g.params)
            empty = x[:0], y[:0]
            ds = PDEDataset(g.recipe.name, x, y, *empty, g.recipe.grid(g.params), g.params, g.arrays, {}, {})
    else:
        ds = load(
            args.name,
            n_train=args.n,
            n_test=args.n_test,
            seed=args.seed,
            preset=args.preset,
            dtype=args.dtype,
            chunk_size=args.chunk_size,
            progress=not args.no_progress,
            regenerate=args.overwrite,
            **params,
        )
        path, arrays = ds.metadata["path"], ds.arrays_train
        args.n += args.n_test
        seconds = None if ds.metadata["from_cache"] else ds.metadata.get("seconds")
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    rate = f" in {seconds:.1f} s ({args.n / seconds:.2f} samples/s)" if seconds else " (read from the cache)"
    print(f"{args.name}: {args.n} samples{rate}: {shapes}")
    print(f"written to {path}")
    if args.plot:
        ds.plot(path=args.plot)
        print(f"plot written to {args.plot}")
    return 0


def _parser() -> argparse.ArgumentParser:
    import scimlx

    p = argparse.ArgumentParser(
        prog="scimlx", description="scimlx: scientific-ML solvers on one shared PDE-residual core."
    )
    p.add_argument("--version", action="version", version=f"scimlx {scimlx.__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    pl = sub.add_parser("list", help="list the equation catalogue or the benchmark suites")
    pl.add_argument("what", nargs="?", default="all", choices=["equations", "problems", "suites", "all"])
    pb = sub.add_parser("bench", help="run a benchmark suite")
    pb.add_argument("suite", help="a suite name (see `scimlx list suites`)")
    pb.add_argument("--quick", action="store_true", help="the CPU-scale preset (minutes on a laptop)")
    pb.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    pb.add_argument("--out", default=None, help="output directory (default runs/<suite>/<timestamp>/)")
    pb.add_argument("--overwrite", action="store_true", help="allow writing into a directory with results")
    pb.add_argument("--no-progress", action="store_true", help="no progress bars")
    pd = sub.add_parser("data", help="list or generate the PDE data sets")
    dsub = pd.add_subparsers(dest="data_command", required=True)
    pdl = dsub.add_parser("list", help="the data recipes, or the parameters of one")
    pdl.add_argument("name", nargs="?", default=None, help="a recipe: show its parameters and presets")
    pg = dsub.add_parser("generate", help="generate a data set (into the cache, or into --out)")
    pg.add_argument("name", help="a recipe name (see `scimlx data list`)")
    pg.add_argument("--n", type=int, default=64, help="number of (training) samples (default 64)")
    pg.add_argument(
        "--n-test",
        type=int,
        default=0,
        help="test samples, drawn from a separate stream (cache only; default 0)",
    )
    pg.add_argument("--resolution", type=int, default=None, help="grid resolution (default: the recipe's)")
    pg.add_argument("--seed", type=int, default=0, help="seed (default 0)")
    pg.add_argument("--preset", default=None, help="a parameter preset, e.g. 'paper'")
    pg.add_argument("--param", action="append", default=[], metavar="NAME=VALUE", help="a recipe parameter")
    pg.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    pg.add_argument("--chunk-size", type=int, default=None, help="samples per compiled call")
    pg.add_argument("--out", default=None, help="write to this .npz/.mat/.h5 file instead of the cache")
    pg.add_argument("--overwrite", action="store_true", help="replace an existing file (or cached set)")
    pg.add_argument("--plot", default=None, metavar="PNG", help="also plot the first samples into this image")
    pg.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("bench", "data"):  # repeated runs skip XLA compilation (SCIMLX_JAX_CACHE=0 disables)
        from scimlx import enable_compilation_cache

        enable_compilation_cache()
    try:
        if args.command == "list":
            return _list(args.what)
        if args.command == "data":
            return _data_list(args.name) if args.data_command == "list" else _data_generate(args)
        return _bench(args)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as e:
        print(f"scimlx: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
