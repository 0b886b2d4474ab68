"""Run a suite, and write and print its results."""

from __future__ import annotations

import csv
import datetime
import fnmatch
import gc
import io
import json
import math
import os
import pathlib
import platform
import time
import traceback
from typing import Any

from scimlx._interrupt import Interrupted, stop_on_interrupt

from ._registry import RunContext, get_suite

_FILES = ("results.json", "results.csv", "results.md")


def _machine() -> dict[str, Any]:
    import jax

    devices = jax.devices()
    return {
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "backend": jax.default_backend(),
        "devices": [d.device_kind for d in devices],
    }


def _fmt(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if value == 0 or not math.isfinite(value):
            return str(value)
        if 1e-3 <= abs(value) < 1e5:
            return f"{value:.4g}"
        return f"{value:.3e}"
    if value is None:
        return ""
    return str(value)


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    cols: list[str] = []
    for row in rows:
        for k in row:
            if k not in cols:
                cols.append(k)
    return cols


def markdown_table(rows: list[dict[str, Any]]) -> str:
    """A markdown table of result rows (the union of their keys as columns)."""
    cols = _columns(rows)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for row in rows:
        lines.append("| " + " | ".join(_fmt(row.get(c)).replace("|", "/") for c in cols) + " |")
    return "\n".join(lines)


def _figures_since(out_dir: pathlib.Path, since: float) -> list[str]:
    """The PNG files in `out_dir` written at or after the time `since` (a case's figures), sorted."""
    return sorted(p.name for p in out_dir.glob("*.png") if p.stat().st_mtime >= since - 1e-3)


def _figures_section(rows: list[dict[str, Any]]) -> str:
    """The markdown that embeds each case's figures under its name."""
    parts = [
        f"\n### {r['case']}\n\n" + "\n".join(f"![{r['case']}: {f}]({f})" for f in r["figures"]) + "\n"
        for r in rows
        if r.get("figures")
    ]
    return "\n## Figures\n" + "".join(parts) if parts else ""


def _default_dir(suite: str) -> pathlib.Path:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = pathlib.Path("runs") / suite / stamp
    path, i = base, 1
    while path.exists():
        path, i = base.with_name(f"{stamp}-{i}"), i + 1
    return path


def select_cases(cases: list, patterns: str | None) -> list:
    """The cases whose names match one of the comma-separated shell patterns (all with `None`); a pattern
    that matches no case is refused, naming the cases there are."""
    if patterns is None:
        return cases
    if not isinstance(patterns, str) or not patterns.strip():
        raise ValueError(f"`cases` must be comma-separated name patterns, got {patterns!r}")
    wanted = [p.strip() for p in patterns.split(",") if p.strip()]
    names = [c.name for c in cases]
    for p in wanted:
        if not any(fnmatch.fnmatchcase(n, p) for n in names):
            raise ValueError(f"`cases` pattern {p!r} matches no case; the cases: {', '.join(names)}")
    return [c for c in cases if any(fnmatch.fnmatchcase(c.name, p) for p in wanted)]


def _write_results(name, suite, quick, seed, started, out_dir, rows) -> tuple[dict[str, Any], str]:
    """Write `results.json`, `results.csv` and `results.md` of the rows so far; returns the result and the
    markdown table."""
    import scimlx
    from scimlx.core._io import atomic_write  # here: `import scimlx.bench` (the command) stays light

    result = {
        "suite": name,
        "description": suite.description,
        "preset": "quick" if quick else "paper",
        "seed": seed,
        "scimlx": scimlx.__version__,
        "started": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "machine": _machine(),
        "rows": rows,
    }
    table_rows = [{k: v for k, v in r.items() if k not in ("traceback", "figures")} for r in rows]
    atomic_write(out_dir / "results.json", json.dumps(result, indent=2, default=str).encode())
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(table_rows))
    writer.writeheader()
    writer.writerows(table_rows)
    atomic_write(out_dir / "results.csv", buf.getvalue().encode())
    m = result["machine"]
    header = (
        f"# scimlx bench {name} ({result['preset']} preset, seed {seed})\n\n"
        f"scimlx {result['scimlx']}, jax {m['jax']} on {m['backend']} ({', '.join(m['devices'])}), "
        f"{m['cpu_count']} CPU cores, {result['started']}\n\n"
    )
    table = markdown_table(table_rows)
    atomic_write(out_dir / "results.md", (header + table + "\n" + _figures_section(rows)).encode())
    return result, table


def _release_compiled() -> None:
    """Drop every compiled program and free what the finished case held.

    A suite compiles hundreds of programs in one process; XLA's CPU backend keeps each one's machine code in
    memory mappings of its own until the program is dropped, and a long suite (`scimlx bench all`) once died
    with LLVM's "Cannot allocate memory" while compiling. A case never reuses another case's programs, so
    nothing is lost but the caches of functions compiled outside the suite (they compile again when called).
    """
    import jax

    gc.collect()
    jax.clear_caches()
    gc.collect()


def run_suite(
    name: str,
    *,
    quick: bool = False,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    echo: bool = True,
    cases: str | None = None,
    plots: bool = True,
) -> dict[str, Any]:
    """Run every case of a suite and write `results.json`, `results.csv` and `results.md`.

    A case that raises becomes a row with `status = "error"` and the message; a skipped case a row with
    `status = "skipped"` and the reason; a case that misses its target `status = "missed target"`. Nothing is
    left out of the table.

    A first Ctrl-C stops the suite after the running case (or at the case's own next safe point): the
    results so far are written, the cases not run get `status = "interrupted"`, and
    [`scimlx.Interrupted`][scimlx.train.Interrupted] is raised saying where the results are.

    **Arguments:**

    - `name`: a registered suite (`scimlx list suites`).
    - `quick`: the CPU-scale preset.
    - `seed`: the run's seed.
    - `out`: the output directory; default `runs/<suite>/<timestamp>/`.
    - `overwrite`: allow writing into a directory that already holds results.
    - `progress`: progress bars for long work.
    - `echo`: print the table when done.
    - `cases`: run only the cases whose names match one of these comma-separated shell patterns (e.g.
        `"sampling/peak_2d/*"`); default all.
    - `plots`: let the cases draw their PNG figures (training curves, predictions against the truth, residual
        histories) into `out`; `results.md` embeds them under each case's name.

    **Returns:** the content of `results.json`.
    """
    suite = get_suite(name)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int, got {seed!r}")
    out_dir = _default_dir(name) if out is None else pathlib.Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"`out` {str(out_dir)!r} exists and is not a directory")
    existing = [f for f in _FILES if (out_dir / f).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"`out` {str(out_dir)!r} already holds {', '.join(existing)}; choose another directory or pass "
            "`overwrite=True` (`--overwrite` on the command line)"
        )
    selected = select_cases(suite.cases(quick), cases)
    out_dir.mkdir(parents=True, exist_ok=True)
    ctx = RunContext(quick=quick, seed=seed, out_dir=out_dir, progress=progress, plots=bool(plots))

    rows = []
    started = time.time()
    stopped = None  # the reason the suite stopped early (Ctrl-C), if it did
    with stop_on_interrupt(f"the {name} suite") as stop:
        for case in selected:
            row: dict[str, Any] = {"case": case.name}
            if stopped is not None:
                row.update(status="interrupted", note="not run")
                rows.append(row)
                continue
            if case.skip_reason is not None:
                row.update(status="skipped", note=case.skip_reason)
                rows.append(row)
                continue
            t0, wall0 = time.perf_counter(), time.time()
            try:
                figures = dict(case.run(ctx))
            except Interrupted as e:  # the case stopped at its own safe point (a checkpoint, a data chunk)
                row.update(status="interrupted", note=str(e))
                stopped = f"{case.name} was interrupted"
            except Exception as e:  # a failing case is a row of the table, not a crash of the suite
                row.update(status="error", note=f"{type(e).__name__}: {e}")
                row["traceback"] = traceback.format_exc()
            else:
                met = figures.pop("target_met", None)
                row["status"] = "missed target" if met is False else "ok"
                row.update(figures)
            row["wall_s"] = time.perf_counter() - t0
            drawn = _figures_since(out_dir, wall0) if plots else []
            if drawn:
                row["figures"] = drawn
            rows.append(row)
            _release_compiled()
            # the results so far are on disk after every case (a crash of the process keeps them)
            _write_results(name, suite, quick, seed, started, out_dir, rows)
            if stopped is None and stop.requested:
                stopped = f"stopped after {case.name}"

    result, table = _write_results(name, suite, quick, seed, started, out_dir, rows)
    result["out_dir"] = str(out_dir)
    if echo:
        print(table)
        print(f"\nresults written to {out_dir}/")
    if stopped is not None:
        run = sum(r["status"] != "interrupted" for r in rows)
        raise Interrupted(
            f"the {name} suite {stopped} ({run} of {len(rows)} cases done); the results so far are in "
            f"{out_dir}/; run it again with `overwrite=True` (`--overwrite` on the command line) or another "
            "output directory"
        )
    return result
