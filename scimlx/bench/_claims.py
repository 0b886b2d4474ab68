"""One report of every claim: run every suite, then state, per method, the paper's headline claim, our figure
beside it and whether the claim holds at the scale that was run.

A [`Claim`][scimlx.bench.Claim] reads the rows of its suite's run (by case name) and returns a
[`Verdict`][scimlx.bench.Verdict]; the table of claims is `scimlx.bench._claims_table.CLAIMS`.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import os
import pathlib
import time
import traceback
from collections.abc import Callable
from typing import Any

from ._registry import suite_names

_REPORT = ("report.md", "report.json")


@dataclasses.dataclass(frozen=True)
class Verdict:
    """What a suite's run says about a claim.

    **Arguments:**

    - `ours`: our figure(s), in words, e.g. `"rel. L2 0.021 (FNO 0.034)"`.
    - `holds`: whether the claim holds at the scale that was run; `None` when it cannot be judged (its cases
        were not run, failed, or the scale cannot show it); the note says why.
    - `note`: a short explanation (what was compared, why a claim cannot be judged).
    """

    ours: str
    holds: bool | None
    note: str = ""


@dataclasses.dataclass(frozen=True)
class Claim:
    """A paper's headline claim and how a suite's results check it.

    **Arguments:**

    - `method`: the method's name, e.g. `"LSM"`.
    - `suite`: the suite whose results check it.
    - `paper`: the paper, e.g. `"Wu et al., ICML 2023"`.
    - `statement`: the claim, one sentence, with the paper's number.
    - `check`: `check(rows, quick) -> Verdict`, from the suite's rows by case name (each row as in
        `results.json`: `status`, `note` and the case's figures) and whether the quick preset ran. A missing,
        failed or skipped case gives `holds=None` (see [`rows_ok`][scimlx.bench.rows_ok]).
    """

    method: str
    suite: str
    paper: str
    statement: str
    check: Callable[[dict[str, dict[str, Any]], bool], Verdict]


def rows_ok(rows: dict[str, dict[str, Any]], *names: str) -> Verdict | None:
    """`None` if every named case ran to the end (status `ok` or `missed target`), else the `Verdict` that
    says which did not (`holds=None`)."""
    bad = []
    for n in names:
        r = rows.get(n)
        if r is None:
            bad.append(f"{n}: not run")
        elif r.get("status") not in ("ok", "missed target"):
            bad.append(f"{n}: {r.get('status')}" + (f" ({r['note']})" if r.get("note") else ""))
    return Verdict("—", None, "; ".join(bad)) if bad else None


def judge(claim: Claim, rows: dict[str, dict[str, Any]], quick: bool) -> Verdict:
    """A claim's verdict; a check that raises is reported, not fatal."""
    try:
        verdict = claim.check(rows, quick)
    except Exception as e:  # a bad row (a missing figure) must not hide the other claims
        return Verdict("—", None, f"could not be checked: {type(e).__name__}: {e}")
    if not isinstance(verdict, Verdict):
        return Verdict("—", None, f"the check returned {type(verdict).__name__}, not a Verdict")
    if verdict.holds is not None and not isinstance(verdict.holds, bool):  # e.g. a NumPy bool
        verdict = dataclasses.replace(verdict, holds=bool(verdict.holds))
    return verdict


def _holds(v: bool | None) -> str:
    return {True: "yes", False: "**no**", None: "not judged"}[v]


def _cell(text: str) -> str:
    return str(text).replace("|", "/").replace("\n", " ")


def report_markdown(result: dict[str, Any]) -> str:
    """The markdown report of a `run_all` result: the claims table, then each suite's status and figures."""
    m = result["machine"]
    lines = [
        f"# scimlx: every claim ({result['preset']} preset, seed {result['seed']})",
        "",
        f"scimlx {result['scimlx']}, jax {m['jax']} on {m['backend']} ({', '.join(m['devices'])}), "
        f"{m['cpu_count']} CPU cores, {result['started']}, {result['wall_s'] / 60:.1f} min in all.",
        "",
        "Each row: the paper's headline claim, our figure from this run, and whether the claim holds at this "
        "scale. " + ("The quick preset shrinks grids, samples, widths and steps to run on a CPU in minutes: "
                     "a claim that needs the paper's scale may not show here, and the note says so."
                     if result["preset"] == "quick" else "The paper preset runs the papers' settings."),
        "",
        "| method | paper | claim | ours | holds? | note |",
        "|---|---|---|---|---|---|",
    ]  # fmt: skip
    for c in result["claims"]:
        lines.append(
            f"| {_cell(c['method'])} | {_cell(c['paper'])} | {_cell(c['statement'])} | {_cell(c['ours'])} | "
            f"{_holds(c['holds'])} | {_cell(c['note'])} |"
        )
    counts = {k: sum(c["holds"] is v for c in result["claims"]) for k, v in (("y", True), ("n", False))}
    judged_none = sum(c["holds"] is None for c in result["claims"])
    lines += ["", f"{counts['y']} claims hold, {counts['n']} do not, {judged_none} not judged.", ""]
    lines += [
        "## Suites",
        "",
        "| suite | status | cases ok / run | minutes | results |",
        "|---|---|---|---|---|",
    ]
    for s in result["suites"]:
        rows = s.get("rows", [])
        ok = sum(r.get("status") == "ok" for r in rows)
        lines.append(
            f"| {s['suite']} | {_cell(s['status'])} | {ok} / {len(rows)} | {s['wall_s'] / 60:.1f} | "
            f"[{s['suite']}/results.md]({s['suite']}/results.md) |"
        )
    for s in result["suites"]:
        figures = [(r["case"], f) for r in s.get("rows", []) for f in r.get("figures", [])]
        if figures:
            lines += ["", f"## Figures: {s['suite']}", ""]
            lines += [f"![{s['suite']} {case}: {f}]({s['suite']}/{f})" for case, f in figures]
    return "\n".join(lines) + "\n"


def run_all(
    *,
    quick: bool = False,
    seed: int = 0,
    out: str | os.PathLike | None = None,
    overwrite: bool = False,
    progress: bool = True,
    plots: bool = True,
    suites: list[str] | None = None,
    echo: bool = True,
) -> dict[str, Any]:
    """Run every suite (each into `out/<suite>/`) and write one report of every claim, `report.md` (with the
    figures) and `report.json`.

    A suite that fails as a whole is a row of the report and its claims are not judged; the other suites
    still run. Ctrl-C stops after the running case and writes the report of what ran.

    **Arguments:**

    - `quick`: every suite's CPU-scale preset (`scimlx bench all --quick`); else the paper-scale ones.
    - `seed`: the run's seed, for every suite.
    - `out`: the output directory; default `runs/all/<timestamp>/`.
    - `overwrite`: allow writing into a directory that already holds a report or a suite's results.
    - `progress`, `plots`: as for [`run_suite`][scimlx.bench.run_suite].
    - `suites`: run only these suites (and judge only their claims); default all but `smoke`.
    - `echo`: print the claims table when done.

    **Returns:** the content of `report.json`.
    """
    from scimlx._interrupt import Interrupted

    from ._claims_table import CLAIMS
    from ._runner import _FILES, _default_dir, _machine, run_suite

    known = [s for s in suite_names() if s != "smoke"]
    if suites is None:
        suites = known
    if isinstance(suites, str) or not all(isinstance(s, str) for s in suites):
        raise TypeError(f"`suites` must be a list of suite names, got {suites!r}")
    unknown = [s for s in suites if s not in suite_names()]
    if unknown or not suites:
        raise ValueError(f"`suites` {unknown or suites} are not suites; known: {', '.join(known)}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"`seed` must be a non-negative int, got {seed!r}")
    out_dir = _default_dir("all") if out is None else pathlib.Path(out)
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"`out` {str(out_dir)!r} exists and is not a directory")
    existing = [f for f in _REPORT if (out_dir / f).exists()]
    existing += [f"{s}/{f}" for s in suites for f in _FILES if (out_dir / s / f).exists()]
    if existing and not overwrite:
        raise FileExistsError(
            f"`out` {str(out_dir)!r} already holds {', '.join(existing)}; choose another directory or pass "
            "`overwrite=True` (`--overwrite` on the command line)"
        )
    import scimlx

    started, t0 = time.time(), time.perf_counter()
    done: list[dict[str, Any]] = []
    interrupted = None
    for name in suites:
        if interrupted is not None:
            done.append({"suite": name, "status": "interrupted (not run)", "rows": [], "wall_s": 0.0})
            continue
        s0 = time.perf_counter()
        try:
            res = run_suite(name, quick=quick, seed=seed, out=out_dir / name, overwrite=overwrite,
                            progress=progress, echo=False, plots=plots)  # fmt: skip
            entry = {"suite": name, "status": "ran", "rows": res["rows"]}
        except Interrupted as e:
            saved = out_dir / name / "results.json"
            rows = json.loads(saved.read_text())["rows"] if saved.exists() else []
            entry = {"suite": name, "status": "interrupted", "rows": rows}
            interrupted = e
        except Exception as e:  # one suite failing must not lose the others
            entry = {"suite": name, "status": f"error: {type(e).__name__}: {e}", "rows": [],
                     "traceback": traceback.format_exc()}  # fmt: skip
        entry["wall_s"] = time.perf_counter() - s0
        done.append(entry)

    by_suite = {s["suite"]: {r["case"]: r for r in s["rows"]} for s in done}
    failed = {s["suite"]: s["status"] for s in done if s["status"] != "ran" and not s["rows"]}
    claims = []
    for claim in CLAIMS:
        if claim.suite not in by_suite:
            continue
        if claim.suite in failed:
            v = Verdict("—", None, f"the {claim.suite} suite did not run: {failed[claim.suite]}")
        else:
            v = judge(claim, by_suite[claim.suite], quick)
        fields = {
            "method": claim.method,
            "suite": claim.suite,
            "paper": claim.paper,
            "statement": claim.statement,
        }
        claims.append({**fields, "ours": v.ours, "holds": v.holds, "note": v.note})
    result = {
        "preset": "quick" if quick else "paper",
        "seed": seed,
        "scimlx": scimlx.__version__,
        "started": datetime.datetime.fromtimestamp(started).isoformat(timespec="seconds"),
        "wall_s": time.perf_counter() - t0,
        "machine": _machine(),
        "claims": claims,
        "suites": done,
    }
    from scimlx.core._io import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(out_dir / "report.json", json.dumps(result, indent=2, default=str).encode())
    md = report_markdown(result)
    atomic_write(out_dir / "report.md", md.encode())
    result["out_dir"] = str(out_dir)
    if echo:
        print(md.split("\n## Suites", 1)[0])
        print(f"report written to {out_dir}/report.md")
    if interrupted is not None:
        raise Interrupted(f"{interrupted}; the report of what ran is {out_dir}/report.md")
    return result
