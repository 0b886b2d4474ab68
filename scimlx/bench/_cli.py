"""The `scimlx` command.

Exit status: 0 done; 1 a benchmark case failed or missed its target, or the work failed (e.g. a disk error);
2 a bad command line; 130 stopped by Ctrl-C.

A bad command line is reported as one line `scimlx: error: ...` that names the flag, before any work
starts: the values are checked here, with the flags' names, and the output paths too (suffix, an existing
file without `--overwrite`, a directory that cannot be created or written). An error that can only come
from deep in the library names Python arguments (`n_train`, `regenerate=True`); `_flag_names` rewrites them
as the flags that set them.

Ctrl-C: the first asks long work (data generation, a benchmark suite, training) to stop at its next safe
point, keeping what it finished, and the command ends with one line `scimlx: interrupted: ...` saying what
was kept; a second ends the process at once. A Ctrl-C anywhere else in the command (also while its heavy
modules are imported) ends it with `scimlx: interrupted` and status 130, not with a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import pathlib
import re
import signal
import sys
import threading

from scimlx import _interrupt  # light: the command's heavy imports come after its Ctrl-C handling is set up

MAX_SEED = 2**32 - 1  # as scimlx.datasets: JAX keys hold 32 bits without 64-bit mode
DATA_SUFFIXES = (".npz", ".mat", ".h5", ".hdf5")
PLOT_SUFFIXES = (".png", ".pdf", ".svg", ".jpg", ".jpeg")


class UsageError(ValueError):
    """A bad command-line value; the message names the flag."""


# Python argument names in library messages -> the flags that set them.
_FLAGS = {
    "n": "--n",
    "n_train": "--n",
    "n_test": "--n-test",
    "seed": "--seed",
    "resolution": "--resolution",
    "chunk_size": "--chunk-size",
    "preset": "--preset",
    "dtype": "--dtype",
    "regenerate": "--overwrite",
    "overwrite": "--overwrite",
    "out": "--out",
    "quick": "--quick",
}
# "(`--overwrite` on the command line)", "(or --overwrite)": a library message's own hint at the flag
_HINT = re.compile(r" \((?:or )?`?--[\w-]+`?(?: on the command line)?\)")
_NAME = re.compile(r"`([A-Za-z_]\w*)(?:=(?:True|False))?`")


def _flag_names(message: str, names: dict[str, str] | None = None) -> str:
    """`message` with the Python names in backticks (`n_train`, `regenerate=True`) replaced by their flags
    (`--n`, `--overwrite`); `names` adds or overrides entries (e.g. recipe parameters -> `--param NAME`)."""
    table = {**_FLAGS, **(names or {})}
    message = _HINT.sub("", message)
    return _NAME.sub(lambda m: f"`{table[m.group(1)]}`" if m.group(1) in table else m.group(0), message)


# ---------------------------------------------------------------------------------------------------------
# Ctrl-C outside the long work


@contextlib.contextmanager
def _interrupts_deferred():
    """Within the block, a first Ctrl-C is noted and raised as `KeyboardInterrupt` when the block ends; a
    second ends the process at once. For the heavy imports: a KeyboardInterrupt raised inside an extension
    module's initialisation (jaxlib's) comes out as an ImportError with a traceback, or is lost in a
    garbage-collection callback."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    pending = False
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum, frame):
        nonlocal pending
        pending = True
        signal.signal(signal.SIGINT, signal.SIG_DFL)  # a second Ctrl-C: the process ends at once

    signal.signal(signal.SIGINT, handler)
    try:
        yield
    except BaseException:
        if not pending:
            raise
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
    if pending:
        raise KeyboardInterrupt


def _import(*modules: str) -> None:
    """Import the command's heavy modules (JAX first) with Ctrl-C deferred to their end."""
    with _interrupts_deferred():
        for module in modules:
            importlib.import_module(module)


@contextlib.contextmanager
def _interrupts_not_lost():
    """A KeyboardInterrupt that Python would swallow (raised by Ctrl-C while a garbage-collection callback or
    a `__del__` runs; printed as "Exception ignored in ...") is delivered again, to be raised where it
    stops the command."""
    import _thread

    previous = sys.unraisablehook

    def hook(unraisable):
        if unraisable.exc_type is not None and issubclass(unraisable.exc_type, KeyboardInterrupt):
            # Ctrl-C again, from another thread, a moment later: once this hook and the code that swallowed
            # the interrupt are done (raised here, it would be swallowed again)
            try:
                threading.Timer(0.01, _thread.interrupt_main).start()
            except RuntimeError:  # no new threads (the interpreter is shutting down)
                pass
            return
        previous(unraisable)

    sys.unraisablehook = hook
    try:
        yield
    finally:
        sys.unraisablehook = previous


# ---------------------------------------------------------------------------------------------------------
# checks of command-line values (cheap: no JAX)


def _check_int(flag: str, value: int, low: int, high: int | None = None) -> None:
    if value < low or (high is not None and value > high):
        bound = f">= {low}" if high is None else f"in [{low}, {high}]"
        raise UsageError(f"`{flag}` must be an integer {bound}, got {value}")


def _nearest_existing(path: pathlib.Path) -> pathlib.Path:
    p = pathlib.Path(os.path.abspath(path))
    while not p.exists() and p != p.parent:
        p = p.parent
    return p


def _check_directory_writable(flag: str, path: pathlib.Path, directory: pathlib.Path) -> None:
    """`directory` (where `path` will be written) exists and is writable, or can be created."""
    import tempfile

    base = _nearest_existing(directory)
    if not base.is_dir():
        raise UsageError(f"`{flag}` {str(path)!r}: the directory cannot be created, {str(base)!r} is a file")
    where = (
        "the directory is not writable"
        if base == pathlib.Path(os.path.abspath(directory))
        else f"the directory cannot be created in {str(base)!r}, which is not writable"
    )
    if not os.access(base, os.W_OK | os.X_OK):
        raise UsageError(f"`{flag}` {str(path)!r}: {where}")
    try:  # what access() cannot tell: a read-only file system for root, a pseudo file system
        with tempfile.TemporaryFile(dir=base):
            pass
    except OSError as e:
        raise UsageError(f"`{flag}` {str(path)!r}: {where} ({e.strerror or e})") from e


def _check_output_file(flag: str, path: pathlib.Path, suffixes: tuple[str, ...], overwrite: bool) -> None:
    if path.suffix.lower() not in suffixes:
        allowed = ", ".join(suffixes[:-1]) + " or " + suffixes[-1]
        raise UsageError(f"`{flag}` must end in {allowed}, got {path.name!r}")
    if path.is_dir():
        raise UsageError(f"`{flag}` {str(path)!r} is a directory; give a file name")
    if path.exists() and not overwrite:
        raise UsageError(f"`{flag}` {str(path)!r} exists; pass `--overwrite` to replace it")
    _check_directory_writable(flag, path, path.parent)


def _registry_module(suite: str) -> str:
    from ._registry import _SUITES

    return _SUITES[suite].split(":")[0]


def _check_suite(name: str) -> None:
    from ._registry import suite_names

    if name not in suite_names():
        raise UsageError(f"unknown suite {name!r} (argument SUITE); known: {', '.join(suite_names())}")


def _list(what: str) -> int:
    _import("jax", "scimlx.core.equations", "scimlx.pinn")
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
        rows.append({"suite": "all", "description": "every suite but smoke, then one report of every claim"})
        print(markdown_table(rows))
    return 0


def _enable_compilation_cache() -> None:
    """Repeated runs skip XLA compilation (`SCIMLX_JAX_CACHE=0` disables); a cache that cannot be set up
    is a warning, not a failure."""
    from scimlx import enable_compilation_cache

    try:
        enable_compilation_cache()
    except OSError as e:
        print(f"scimlx: warning: the compilation cache is off ({e})", file=sys.stderr)


def _bench_all(args: argparse.Namespace) -> int:
    """`scimlx bench all`: every suite, then one report of every claim."""
    from ._claims import _REPORT
    from ._registry import suite_names
    from ._runner import _FILES, _default_dir

    if args.cases is not None:
        raise UsageError("`--cases` selects cases of one suite; with `all`, choose suites with `--suites`")
    known = [s for s in suite_names() if s != "smoke"]
    suites = known if args.suites is None else [s.strip() for s in args.suites.split(",") if s.strip()]
    bad = [s for s in suites if s not in suite_names()]
    if bad or not suites:
        what = ",".join(bad) or repr(args.suites)
        raise UsageError(f"`--suites` {what}: not suites; known: {', '.join(known)}")
    _check_int("--seed", args.seed, 0, MAX_SEED)
    if args.out is None:
        out, flag = _default_dir("all"), "--out (default)"
    else:
        out, flag = pathlib.Path(args.out), "--out"
    if out.exists() and not out.is_dir():
        raise UsageError(f"`{flag}` {str(out)!r} is a file; give a directory")
    existing = [f for f in _REPORT if (out / f).exists()]
    existing += [f"{s}/{f}" for s in suites for f in _FILES if (out / s / f).exists()]
    if existing and not args.overwrite:
        raise UsageError(
            f"`{flag}` {str(out)!r} already holds {', '.join(existing)}; choose another directory or pass "
            "`--overwrite`"
        )
    _check_directory_writable(flag, out, out)
    _import("jax", *(_registry_module(s) for s in suites))
    _enable_compilation_cache()
    from ._claims import run_all

    result = run_all(quick=args.quick, seed=args.seed, out=out, overwrite=args.overwrite,
                     progress=not args.no_progress, plots=not args.no_plots, suites=suites)  # fmt: skip
    failed = [f"suite {s['suite']}: {s['status']}" for s in result["suites"] if s["status"] != "ran"]
    failed += [
        f"{s['suite']}/{r['case']}: error"
        for s in result["suites"]
        for r in s["rows"]
        if r["status"] == "error"
    ]
    for line in failed:
        print(line, file=sys.stderr)
    return 1 if failed else 0


def _bench(args: argparse.Namespace) -> int:
    from ._runner import _FILES, _default_dir

    if args.suite == "all":
        return _bench_all(args)
    if args.suites is not None:
        raise UsageError("`--suites` goes with `scimlx bench all`; a single suite takes `--cases`")
    _check_suite(args.suite)
    _check_int("--seed", args.seed, 0, MAX_SEED)
    if args.cases is not None:
        from ._registry import get_suite
        from ._runner import select_cases

        try:
            select_cases(get_suite(args.suite).cases(args.quick), args.cases)
        except ValueError as e:
            raise UsageError(str(e).replace("`cases`", "`--cases`")) from None
    if args.out is None:
        out, flag = _default_dir(args.suite), "--out (default)"
    else:
        out, flag = pathlib.Path(args.out), "--out"
    if out.exists() and not out.is_dir():
        raise UsageError(f"`{flag}` {str(out)!r} is a file; give a directory")
    existing = [f for f in _FILES if (out / f).exists()]
    if existing and not args.overwrite:
        raise UsageError(
            f"`{flag}` {str(out)!r} already holds {', '.join(existing)}; choose another directory or pass "
            "`--overwrite`"
        )
    _check_directory_writable(flag, out, out)

    _import("jax", _registry_module(args.suite))
    _enable_compilation_cache()
    from ._runner import run_suite

    result = run_suite(
        args.suite,
        quick=args.quick,
        seed=args.seed,
        out=out,
        overwrite=args.overwrite,
        progress=not args.no_progress,
        cases=args.cases,
        plots=not args.no_plots,
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
        name = name.strip()
        if not sep or not name.isidentifier():
            raise UsageError(f"`--param` must look like NAME=VALUE, got {item!r}")
        if name in params:
            raise UsageError(f"`--param {name}` is given twice")
        params[name] = _parse_value(value.strip())
    return params


def _data_list(name: str | None = None) -> int:
    _import("jax", "scimlx.datasets")
    from scimlx.datasets import get_recipe, recipe_names

    from ._runner import markdown_table

    if name is not None:  # one recipe: its parameters, defaults and presets
        r = _recipe(name)
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


def _recipe(name: str):
    """The recipe `name` (imports JAX), or a usage error naming the argument."""
    from scimlx.datasets import get_recipe, recipe_names

    if name not in recipe_names():
        raise UsageError(f"unknown data set {name!r} (argument NAME); known: {', '.join(recipe_names())}")
    return get_recipe(name)


def _check_data_args(args: argparse.Namespace) -> dict:
    """Every value of `data generate` that can be checked without JAX; returns the `--param` overrides."""
    _check_int("--n", args.n, 1)
    _check_int("--n-test", args.n_test, 0)
    _check_int("--seed", args.seed, 0, MAX_SEED)
    if args.resolution is not None:
        _check_int("--resolution", args.resolution, 1)
    if args.chunk_size is not None:
        _check_int("--chunk-size", args.chunk_size, 1)
    params = _data_params(args.param)
    if args.resolution is not None and "resolution" in params:
        raise UsageError("`--resolution` and `--param resolution` are both given; give one")
    if args.out is not None:
        if args.n_test:
            raise UsageError(
                "`--n-test` applies to the cache; with `--out`, generate the test set separately"
            )
        out = pathlib.Path(args.out)
        _check_output_file("--out", out, DATA_SUFFIXES, args.overwrite)
        side = out.with_name(out.name + ".json")
        if side.exists() and not args.overwrite:
            raise UsageError(f"`--out`: its sidecar {str(side)!r} exists; pass `--overwrite` to replace it")
    if args.plot is not None:
        import importlib.util

        plot = pathlib.Path(args.plot)
        _check_output_file("--plot", plot, PLOT_SUFFIXES, args.overwrite)
        if args.out is not None and os.path.abspath(plot) == os.path.abspath(args.out):
            raise UsageError("`--plot` and `--out` name the same file")
        if importlib.util.find_spec("matplotlib") is None:
            raise UsageError("`--plot` needs matplotlib (pip install matplotlib)")
    return params


def _data_generate(args: argparse.Namespace) -> int:
    params = _check_data_args(args)
    if args.resolution is not None:
        params["resolution"] = args.resolution
    _import("jax", "scimlx.datasets")
    recipe = _recipe(args.name)
    if args.preset is not None and args.preset not in recipe.presets:
        known = ", ".join(recipe.presets) or "none"
        raise UsageError(
            f"`--preset` {args.preset!r} is not a preset of {recipe.name!r}; its presets: {known}"
        )
    unknown = [k for k in params if k not in recipe.params]
    if unknown:
        raise UsageError(
            f"`--param {unknown[0]}`: {recipe.name!r} has no parameter {unknown[0]!r}; its parameters: "
            f"{', '.join(recipe.params)} (see `scimlx data list {recipe.name}`)"
        )
    # the recipe's own checks of its parameters, with the flags that set them named
    names = {k: f"--param {k}" for k in recipe.params if k != "resolution" and k not in _FLAGS}
    names.update({k: f"--param {k}" for k in params if k != "resolution" or args.resolution is None})
    try:
        from scimlx.datasets._recipe import check_sample_count

        resolved = recipe.resolve(args.preset, **params)
        count = "`--n` + `--n-test`" if args.n_test else "`--n`"
        check_sample_count(recipe, resolved, args.n + args.n_test, count)
    except (ValueError, TypeError) as e:
        raise UsageError(_flag_names(str(e), names)) from e

    _enable_compilation_cache()
    from scimlx.datasets import PDEDataset, generate, load, save_arrays

    n = args.n + args.n_test
    if args.out is not None:
        g = generate(
            recipe,
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
        path = save_arrays(args.out, g.arrays, metadata=meta, overwrite=args.overwrite)
        arrays, seconds = g.arrays, g.seconds
        x, y = g.recipe.pairs(g.arrays, g.params)
        empty = x[:0], y[:0]
        ds = PDEDataset(g.recipe.name, x, y, *empty, g.recipe.grid(g.params), g.params, g.arrays, {}, {})
    else:
        ds = load(
            recipe,
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
        seconds = None if ds.metadata["from_cache"] else ds.metadata.get("seconds")
    shapes = ", ".join(f"{k} {tuple(v.shape)}" for k, v in arrays.items())
    rate = f" in {seconds:.1f} s ({n / seconds:.2f} samples/s)" if seconds else " (read from the cache)"
    print(f"{args.name}: {n} samples{rate}: {shapes}")
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
    pb.add_argument("suite", help="a suite (see `scimlx list suites`), or `all`: every suite and one report")
    pb.add_argument("--quick", action="store_true", help="the CPU-scale preset (minutes on a laptop)")
    pb.add_argument("--seed", type=int, default=0, help="the run's seed (default 0)")
    pb.add_argument("--out", default=None, help="output directory (default runs/<suite>/<timestamp>/)")
    pb.add_argument("--overwrite", action="store_true", help="allow writing into a directory with results")
    pb.add_argument("--no-progress", action="store_true", help="no progress bars")
    pb.add_argument("--no-plots", action="store_true", help="no PNG figures (results.md has tables only)")
    pb.add_argument(
        "--suites", default=None, metavar="NAMES",
        help="with `all`: only these comma-separated suites (default: all but smoke)",
    )  # fmt: skip
    pb.add_argument(
        "--cases", default=None, metavar="PATTERNS",
        help="run only the cases matching these comma-separated shell patterns, e.g. 'sampling/peak_2d/*'",
    )  # fmt: skip
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
    """Run the `scimlx` command with `argv`; returns the exit status.

    Without `argv` (the console script) the command is the process: it takes the process's arguments, and
    once it is done a Ctrl-C ends the process at once (no traceback from the interpreter's shutdown). With
    `argv` (a test, a notebook) the process's Ctrl-C handling is left as it was.
    """
    process = argv is None and threading.current_thread() is threading.main_thread()
    hard_exit = _interrupt._hard_exit
    _interrupt.exit_on_second_interrupt()  # a second Ctrl-C ends the command at once
    try:
        with _interrupts_not_lost():
            return _main(argv)
    except KeyboardInterrupt as e:  # Ctrl-C, or long work stopped at a safe point (`Interrupted`)
        if process:  # the command is ending: another Ctrl-C ends it at once
            signal.signal(signal.SIGINT, signal.SIG_DFL)
        message = _flag_names(" ".join(str(e).split("\n")).strip())
        print("scimlx: interrupted" + (f": {message}" if message else ""), file=sys.stderr, flush=True)
        return 130
    finally:
        _interrupt.exit_on_second_interrupt(hard_exit)
        if process:
            signal.signal(signal.SIGINT, signal.SIG_DFL)


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    names = {"name": "SUITE" if args.command == "bench" else "NAME"}
    try:
        if args.command == "list":
            return _list(args.what)
        if args.command == "data":
            return _data_list(args.name) if args.data_command == "list" else _data_generate(args)
        return _bench(args)
    except (ValueError, TypeError, FileExistsError, FileNotFoundError) as e:
        _error(_flag_names(str(e), names))
        return 2
    except OSError as e:  # the work failed (a full disk, a directory made read-only meanwhile)
        _error(str(e))
        return 1


def _error(message: str) -> None:
    print("scimlx: error: " + " ".join(message.split("\n")), file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
