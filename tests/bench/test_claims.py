"""The table of claims (`scimlx.bench._claims_table.CLAIMS`) on synthetic rows, and `judge`, `rows_ok` and
`report_markdown` of `scimlx.bench._claims`. No suite runs here.

For each claim: rows with the figures the quick runs recorded in benchmarks/RESULTS.md (and the verdict
those give), rows built to satisfy the claim, and changes that break it; a missing or failed case leaves any
claim not judged.
"""

from __future__ import annotations

import copy
import re

import pytest

from scimlx.bench import Claim, Verdict, get_suite, rows_ok
from scimlx.bench._claims import judge, report_markdown
from scimlx.bench._claims_table import CLAIMS
from scimlx.bench._registry import suite_names


def ok(**figures):
    return {"status": "ok", "note": "", **figures}


def named(rows: dict) -> dict:
    """Add each row's `case` key, as in `results.json`."""
    return {name: {"case": name, **row} for name, row in rows.items()}


# ------------------------------------------------------------------------------------------------------------
# rows per claim: `recorded(quick)` (figures of the quick runs in RESULTS.md), `good(quick)` (the claim holds)
# and breakers (each makes the claim fail when applied to `good`)


def darcy(lsm=0.0387, unet=0.0666, fno=0.1199, mgno=0.0713, p_mgno=91_359, p_fno=265_601):
    size = {"grid": "32x32", "n_train": 96, "epochs": 20}
    return {
        "darcy/lsm": ok(test_rel_l2=lsm, params=1_211_265, **size),
        "darcy/unet": ok(test_rel_l2=unet, params=486_409, **size),
        "darcy/fno": ok(test_rel_l2=fno, params=p_fno, **size),
        "darcy/mgno": ok(test_rel_l2=mgno, params=p_mgno, **size),
    }


def navier_stokes(lsm=0.4512, unet=0.4883, fno=0.5169):
    size = {"grid": "32x32", "n_train": 48, "epochs": 12}
    return {
        f"navier_stokes/{m}": ok(test_rel_l2=v, **size)
        for m, v in (("lsm", lsm), ("unet", unet), ("fno", fno))
    }


CAPE_RECORDED = {  # (seen, unseen) nRMSE
    "cape_advection/fno": (0.777, 0.708),
    "cape_advection/cape_fno": (0.562, 0.579),
    "cape_advection/unet": (0.876, 0.808),
    "cape_advection/cape_unet": (0.913, 0.884),
    "cape_burgers/fno": (0.975, 1.004),
    "cape_burgers/cape_fno": (0.954, 0.994),
    "cape_burgers/unet": (1.092, 1.886),
    "cape_burgers/cape_unet": (1.728, 2.797),
}


def cape(values=CAPE_RECORDED):
    return {
        name: ok(seen_nrmse=s, unseen_nrmse=u, n_train=80, cells=64, epochs=60)
        for name, (s, u) in values.items()
    }


def cape_good():
    # every CAPE model at 0.8 of its base's errors
    values = {n: v for n, v in CAPE_RECORDED.items() if "/cape_" not in n}
    values.update({n.replace("/", "/cape_"): tuple(0.8 * x for x in v) for n, v in values.items()})
    return cape(values)


PIG_RECORDED = {  # final rel. L2, PIG and PINN
    "helmholtz_2d": (3.02e-3, 1.005),
    "klein_gordon_2p1d": (3.07e-2, 2.03e-1),
    "flow_mixing_2p1d": (7.33e-2, 1.21e-1),
    "nonlinear_diffusion_2p1d": (1.63e-2, 4.37e-1),
    "allen_cahn_1d": (7.50e-1, 9.89e-1),
}


def pig():
    rows = {}
    for p, (a, b) in PIG_RECORDED.items():
        rows[f"{p}/pig"] = ok(final_rel_l2=a, steps=2000, n_gaussians_per_channel=100)
        rows[f"{p}/pinn"] = ok(final_rel_l2=b, steps=2000, n_gaussians_per_channel=None)
    return rows


SAMPLERS = ("uniform", "rar", "rad", "das_r", "das_g", "aas")
AAS_RECORDED = {
    "peak_2d": (22.2, 3.35, 4.59, 41.5, 6.29, 4.88),
    "two_peak_2d": (5.97, 15.3, 19.4, 203.0, 40.5, 11.0),
    "exponential_nd": (1.0, 0.972, 1.0, 0.969, 0.97, 1.0),
}


def aas(values=AAS_RECORDED):
    return {
        f"sampling/{p}/{s}": ok(rel_l2_mean=v, solution_steps=3000, seeds=3)
        for p, errs in values.items()
        for s, v in zip(SAMPLERS, errs)
    }


def aas_good():
    return aas({p: (0.3, 0.2, 0.2, 0.25, 0.15, 0.05) for p in AAS_RECORDED})


def solver_sizes(quick):
    from scimlx.bench._solvers import PAPER, QUICK

    return (QUICK if quick else PAPER)["sizes"]


def dcdm(quick, cg=(92, 186, 380), its=(43, 100, 100), conv=(True, False, False), res=(9.7e-5, 0.386, 0.619)):
    rows = {"dcdm_training": ok(steps=320, train_size=16, n_rhs=400, lanczos_steps=400)}
    for n, c, i, v, r in zip(solver_sizes(quick), cg, its, conv, res):
        rows[f"N{n}/cg"] = ok(iterations=c, converged=True, true_rel_residual=9.6e-5)
        rows[f"N{n}/dcdm"] = ok(iterations=i, converged=v, true_rel_residual=r)
    return rows


def dcdm_good(quick):
    return dcdm(quick, its=(20, 22, 25), conv=(True,) * 3, res=(9e-5,) * 3)


def hurst(learned=(0.492, 0.540, 0.633, 0.705, 0.725), mle=(0.246, 0.290, 0.492, 0.682, 0.781)):
    rows = {}
    for h, lh, m in zip((0.2, 0.3, 0.5, 0.7, 0.8), learned, mle):
        status = "ok" if abs(lh - h) < 0.1 else "missed target"  # the case's own target
        rows[f"hurst/fbm/H={h}/K=5"] = {"status": status, "note": "", "learned_mean": lh, "mle_mean": m}
    return rows


def elbo(gains=(0.91, 6.56)):
    return {
        f"elbo/H={h}": ok(elbo_gain=g, learned_hurst=lh, elbo_fractional=g, elbo_brownian=0.0)
        for h, g, lh in zip((0.2, 0.8), gains, (0.494, 0.725))
    }


GAP_RECORDED = {"blob": (0.135, 0.680), "circles2": (0.145, 1.75), "checker": (0.185, 1.27)}


def gap(values=GAP_RECORDED):
    rows = {}
    for d, (low, high) in values.items():
        for w, v in (("0", low), ("10", high)):
            rows[f"gap/{d}/wR={w}"] = ok(w2sq_ode_sde=v, w2sq_sde_truth=0.058, w2sq_truth_truth=0.0072)
    return rows


def gap_good():
    return gap({d: (0.0355, 0.0027) for d in GAP_RECORDED})


def fkc_width(product=(0.280, 0.233), four=(0.228, 0.179)):
    return {
        "fkc/product": ok(**{"exact_mode_std": 0.2828, "fkc/mode_std": product[0],
                             "summed_scores/mode_std": product[1], "fkc/mass_l1": 0.105,
                             "summed_scores/mass_l1": 0.032}),
        "fkc/anneal/4modes": ok(**{"exact_mode_std": 0.2309, "fkc_target/mode_std": four[0],
                                   "plain_target/mode_std": four[1], "fkc_target/mass_l1": 0.150,
                                   "plain_target/mass_l1": 0.032}),
    }  # fmt: skip


def fkc_gmm40(mmd=(0.19, 0.66, 0.55, 1.47), tv=(0.604, 0.681, 0.713, 0.794)):
    figures = {"mmd_floor": 0.011}
    for i, label in enumerate(("fkc_target", "plain_target", "fkc_tempered", "plain_tempered")):
        figures[f"{label}/mmd"], figures[f"{label}/tv"] = mmd[i], tv[i]
    return {"fkc/anneal/gmm40": ok(**figures)}


MEDIDA_KS = [f"ks/KS/{c}" for c in range(1, 13)] + [
    f"ks/{f}/{c}" for f in ("KSpu3x", "KSpu3x_Du3") for c in (1, 2, 3, 21, 22, 23)
]
MEDIDA_MISSED = {  # the recorded quick run's misses: (error, false terms)
    "ks/KS/11": (0.16, []),
    "ks/KSpu3x_Du3/1": (0.21, ["u u_xxxx", "u^2 u_xxx", "u_xxx"]),
    "ks/KSpu3x_Du3/2": (0.21, ["u u_xxxx", "u^2 u_xxx", "u_xxx"]),
    "ks/KSpu3x_Du3/3": (0.21, ["u u_xxxx", "u^2 u_xxx", "u_xxx"]),
}


def medida(missed=MEDIDA_MISSED):
    rows = {}
    for name in MEDIDA_KS:
        err, false = missed.get(name, (0.01, []))
        rows[name] = {"status": "missed target" if name in missed else "ok", "note": "", "error": err,
                      "false": false, "missed": []}  # fmt: skip
    return rows


def ensemble(ks1=(0.60, 0.023, 0.025), ks3=(1.00, 0.024, 0.0065)):
    return {
        f"ensemble/KS/{c}": ok(**{"ratio=0.25": a, "ratio=10": b, "no_filter": nf, "ratio=1": 0.3})
        for c, (a, b, nf) in ((1, ks1), (3, ks3))
    }


def _set(case, **figures):
    def breaker(rows):
        rows[case].update(figures)

    return breaker


# check name -> (recorded rows, verdict at quick on them, good rows, breakers); rows are `f(quick)`
FIXTURES = {
    "_lsm_darcy": (lambda q: darcy(), True, lambda q: darcy(), [_set("darcy/lsm", test_rel_l2=0.07)]),
    "_lsm_navier_stokes": (
        lambda q: navier_stokes(), None, lambda q: navier_stokes(lsm=0.15, unet=0.2, fno=0.16),
        [_set("navier_stokes/lsm", test_rel_l2=0.17)],
    ),
    "_fno_navier_stokes": (
        lambda q: navier_stokes(), None, lambda q: navier_stokes(lsm=0.15, unet=0.2, fno=0.16),
        [_set("navier_stokes/fno", test_rel_l2=0.21)],
    ),
    "_mgno_darcy": (
        lambda q: darcy(), True, lambda q: darcy(),
        [_set("darcy/mgno", params=300_000), _set("darcy/mgno", test_rel_l2=0.13)],
    ),
    "_cape": (
        lambda q: cape(), False, lambda q: cape_good(),
        [_set("cape_burgers/cape_fno", unseen_nrmse=1.1), _set("cape_advection/cape_unet", seen_nrmse=0.9)],
    ),
    "_pig": (lambda q: pig(), True, lambda q: pig(), [_set("helmholtz_2d/pig", final_rel_l2=1.1)]),
    "_aas": (
        lambda q: aas(), None, lambda q: aas_good(),
        [_set("sampling/two_peak_2d/uniform", rel_l2_mean=0.04),
         _set("sampling/peak_2d/das_g", rel_l2_mean=0.01)],
    ),
    "_dcdm": (
        dcdm, False, dcdm_good,
        [lambda rows: rows[[n for n in rows if n.endswith("/dcdm")][-1]].update(converged=False),
         lambda rows: rows[[n for n in rows if n.endswith("/dcdm")][-1]].update(iterations=40)],
    ),
    "_hurst": (
        lambda q: hurst(), False, lambda q: hurst(learned=(0.25, 0.32, 0.52, 0.69, 0.77)),
        [_set("hurst/fbm/H=0.2/K=5", learned_mean=0.31)],
    ),
    "_elbo": (lambda q: elbo(), True, lambda q: elbo(), [_set("elbo/H=0.2", elbo_gain=-0.5)]),
    "_gap": (lambda q: gap(), None, lambda q: gap_good(), [_set("gap/blob/wR=10", w2sq_ode_sde=0.04)]),
    "_fkc_width": (
        lambda q: fkc_width(), True, lambda q: fkc_width(),
        [_set("fkc/product", **{"fkc/mode_std": 0.22}),
         _set("fkc/anneal/4modes", **{"fkc_target/mode_std": 0.3})],
    ),
    "_fkc_gmm40": (
        lambda q: fkc_gmm40(), True, lambda q: fkc_gmm40(),
        [_set("fkc/anneal/gmm40", **{"fkc_tempered/mmd": 1.5}),
         _set("fkc/anneal/gmm40", **{"fkc_target/tv": 0.7})],
    ),
    "_medida_discovery": (
        lambda q: medida(), False, lambda q: medida({}),
        [_set("ks/KS/3", error=0.06), _set("ks/KSpu3x/2", missed=["u_xxx"]), _set("ks/KS/1", false=["u"])],
    ),
    "_medida_enkf": (
        lambda q: ensemble(), False, lambda q: ensemble(ks3=(1.0, 0.024, 0.3)),
        [_set("ensemble/KS/1", **{"ratio=10": 0.07}), _set("ensemble/KS/3", **{"ratio=0.25": 0.02})],
    ),
}  # fmt: skip
NOT_JUDGED_AT_QUICK = {"_lsm_navier_stokes", "_fno_navier_stokes", "_gap"}  # the scale cannot show them
IDS = [f"{c.method}:{c.check.__name__}" for c in CLAIMS]


def test_every_claim_has_fixtures():
    assert sorted(c.check.__name__ for c in CLAIMS) == sorted(FIXTURES)


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
@pytest.mark.parametrize("quick", [True, False])
def test_claim_holds_and_breaks(claim, quick):
    _, _, good, breakers = FIXTURES[claim.check.__name__]
    v = judge(claim, named(good(quick)), quick)
    assert isinstance(v, Verdict) and v.ours and v.ours != "—", v
    assert v.note.startswith("Holds if"), v.note
    if quick and claim.check.__name__ in NOT_JUDGED_AT_QUICK:
        assert v.holds is None and "Not judged at the quick preset" in v.note
    else:
        assert v.holds is True, v
    for breaker in breakers:
        rows = copy.deepcopy(good(quick))
        breaker(rows)
        v = judge(claim, named(rows), quick)
        assert v.holds is (None if quick and claim.check.__name__ in NOT_JUDGED_AT_QUICK else False), v


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
def test_claim_on_the_recorded_quick_figures(claim):
    """The verdict each claim gives on the figures of the quick runs recorded in RESULTS.md."""
    recorded, expected, _, _ = FIXTURES[claim.check.__name__]
    v = judge(claim, named(recorded(True)), True)
    assert v.holds is expected, v
    assert v.note.startswith("Holds if") and "quick preset" in v.note.lower(), v.note


def test_recorded_quick_figures_in_words():
    by_check = {c.check.__name__: c for c in CLAIMS}

    def verdict(name):
        recorded = FIXTURES[name][0]
        return judge(by_check[name], named(recorded(True)), True)

    assert verdict("_lsm_darcy").ours == "LSM 0.0387, U-Net 0.0666, FNO 0.120"
    assert verdict("_mgno_darcy").ours == "MgNO 0.0713 (91,359 params), FNO 0.120 (265,601), U-Net 0.0666"
    assert "errors lie within 15% of each other" in verdict("_fno_navier_stokes").note
    assert "LSM / best baseline = 0.58 (paper 0.81)" in verdict("_lsm_darcy").note
    assert "it does in 2 of 4 pairs on seen, 2 of 4 on unseen" in verdict("_cape").note
    assert verdict("_dcdm").ours == (
        "iterations at 16^3, 32^3, 64^3: DCDM 43, 100 (stalled at 0.386), 100 (stalled at 0.619); "
        "CG 92, 186, 380"
    )
    assert "No sampler learned any of the problems" in verdict("_aas").note
    v = verdict("_medida_discovery")
    assert v.ours.startswith("20 of 24 cases found (coef. error 0.01-0.01); not: KS/11 (0.16), KSpu3x_Du3/1")
    assert "3 false" in v.ours
    assert "2 of 5 are" in verdict("_hurst").note
    assert verdict("_gap").ours.startswith("ODE-SDE W2^2 at w_R = 0 -> 10: blob 0.135 -> 0.680")


def test_aas_judges_only_the_problems_some_sampler_learned():
    claim = next(c for c in CLAIMS if c.check.__name__ == "_aas")
    values = dict(AAS_RECORDED)
    values["peak_2d"] = (0.3, 0.2, 0.2, 0.25, 0.15, 0.05)  # learned, AAS best; the others unlearned
    v = judge(claim, named(aas(values)), True)
    assert v.holds is True and v.note.endswith("Judged on peak_2d."), v
    values["peak_2d"] = (0.04, 0.2, 0.2, 0.25, 0.15, 0.05)  # uniform below AAS
    assert judge(claim, named(aas(values)), True).holds is False


def needed_cases(claim: Claim, quick: bool) -> list[str]:
    """The cases a claim reads: the ones `rows_ok` names when given no rows."""
    v = judge(claim, {}, quick)
    assert v.holds is None and v.ours == "—", v
    names = re.findall(r"(?:^|; )([^;]+?): not run", v.note)
    assert names and "; ".join(f"{n}: not run" for n in names) == v.note
    return names


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
@pytest.mark.parametrize("quick", [True, False])
def test_missing_or_failed_case_leaves_claim_not_judged(claim, quick):
    _, _, good, _ = FIXTURES[claim.check.__name__]
    for name in needed_cases(claim, quick):
        rows = named(good(quick))
        del rows[name]
        v = judge(claim, rows, quick)
        assert v.holds is None and v.note == f"{name}: not run", v
        for status in ("error", "skipped", "interrupted"):
            rows = named(good(quick))
            rows[name] = {"case": name, "status": status, "note": "boom"}
            v = judge(claim, rows, quick)
            assert v.holds is None and v.note == f"{name}: {status} (boom)", v


@pytest.mark.parametrize("claim", CLAIMS, ids=IDS)
@pytest.mark.parametrize("quick", [True, False])
def test_rows_without_figures_are_reported_not_raised(claim, quick):
    rows = {n: {"case": n, "status": "ok"} for n in needed_cases(claim, quick)}
    v = judge(claim, rows, quick)
    assert v.holds is None and v.note.startswith("could not be checked: KeyError"), v


_SUITE_CASES: dict = {}


def suite_cases(suite: str, quick: bool) -> set[str]:
    if (suite, quick) not in _SUITE_CASES:
        _SUITE_CASES[suite, quick] = {c.name for c in get_suite(suite).cases(quick)}
    return _SUITE_CASES[suite, quick]


@pytest.mark.parametrize("quick", [True, False])
def test_claims_read_cases_their_suites_have(quick):
    for claim in CLAIMS:
        assert claim.suite in suite_names() and claim.suite != "smoke", claim.suite
        missing = set(needed_cases(claim, quick)) - suite_cases(claim.suite, quick)
        assert not missing, (claim.method, claim.check.__name__, quick, missing)
        rows = FIXTURES[claim.check.__name__][2](quick)
        assert set(rows) <= suite_cases(claim.suite, quick), set(rows) - suite_cases(claim.suite, quick)


def test_the_table():
    methods = [c.method for c in CLAIMS]
    assert set(methods) == {
        "LSM", "MgNO", "FNO", "CAPE", "PIG", "AAS", "DCDM", "MA-fBM SDE", "FP-regularised diffusion", "FKC",
        "MEDIDA",
    }  # fmt: skip
    assert max(methods.count(m) for m in methods) <= 2
    assert len({(c.method, c.statement) for c in CLAIMS}) == len(CLAIMS)
    assert len({c.check for c in CLAIMS}) == len(CLAIMS)
    for c in CLAIMS:
        assert c.statement.endswith(".") and "\n" not in c.statement and "|" not in c.statement, c.statement
        assert re.search(r"\d", c.statement) or "no number" in c.statement, c.statement
        assert re.search(r"\b(19|20)\d\d\b", c.paper), c.paper


# ------------------------------------------------------------------------------------------------------------
# the framework: rows_ok, judge, report_markdown


def test_rows_ok():
    rows = {
        "a": {"status": "ok"},
        "b": {"status": "missed target"},
        "c": {"status": "skipped", "note": "no GPU"},
    }
    assert rows_ok(rows, "a", "b") is None
    v = rows_ok(rows, "a", "c", "d")
    assert v == Verdict("—", None, "c: skipped (no GPU); d: not run")


def test_judge_reports_a_broken_check():
    def raises(rows, quick):
        return rows["x"]["y"]

    v = judge(Claim("M", "toy", "P 2024", "s.", raises), {}, True)
    assert v.holds is None and v.note == "could not be checked: KeyError: 'x'"
    v = judge(Claim("M", "toy", "P 2024", "s.", lambda rows, quick: (True, "x")), {}, True)
    assert v.holds is None and v.note == "the check returned tuple, not a Verdict"
    seen = []
    v = judge(
        Claim("M", "toy", "P 2024", "s.", lambda rows, quick: seen.append(quick) or Verdict("1", True)),
        {},
        False,
    )
    assert v == Verdict("1", True) and seen == [False]


def test_report_markdown():
    claims = [
        {
            "method": "A",
            "suite": "s",
            "paper": "P 2024",
            "statement": "x | y.",
            "ours": "1",
            "holds": True,
            "note": "",
        },
        {
            "method": "B",
            "suite": "s",
            "paper": "P",
            "statement": "z.",
            "ours": "2",
            "holds": False,
            "note": "n\nm",
        },
        {
            "method": "C",
            "suite": "s",
            "paper": "P",
            "statement": "w.",
            "ours": "—",
            "holds": None,
            "note": "c: error",
        },
    ]
    rows = [{"case": "c1", "status": "ok", "figures": ["c1.png"]}, {"case": "c2", "status": "error"}]
    result = {
        "preset": "quick", "seed": 3, "scimlx": "0.1.0", "started": "2026-12-02T10:00:00", "wall_s": 90.0,
        "machine": {"jax": "0.1", "backend": "cpu", "devices": ["cpu:0"], "cpu_count": 2},
        "claims": claims, "suites": [{"suite": "s", "status": "ran", "rows": rows, "wall_s": 60.0}],
    }  # fmt: skip
    md = report_markdown(result)
    assert md.startswith("# scimlx: every claim (quick preset, seed 3)\n")
    assert "| A | P 2024 | x / y. | 1 | yes |  |" in md
    assert "| B | P | z. | 2 | **no** | n m |" in md
    assert "| C | P | w. | — | not judged | c: error |" in md
    assert "1 claims hold, 1 do not, 1 not judged." in md
    assert "| s | ran | 1 / 2 | 1.0 | [s/results.md](s/results.md) |" in md
    assert "![s c1: c1.png](s/c1.png)" in md
    assert "The quick preset shrinks" in md
