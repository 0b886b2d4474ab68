"""Suite `control`: MEDIDA, model-error discovery with sparse Bayesian regression and data assimilation
(Mojgani, Chattopadhyay & Hassanzadeh, Chaos 2022).

The truth is the Kuramoto-Sivashinsky equation `u_t + u u_x + u_xx + u_xxxx = 0` on MEDIDA's periodic domain
of length 100 from its initial condition, by ETDRK4 at `dt = 1e-3` in float64 after a spin-up, recorded every
model step `5e-3`; the imperfect models are the 24 cases of MEDIDA's code (`scimlx.control.MEDIDA_CASES`),
advanced by CNAB2. Samples are spread evenly over the records (MEDIDA: 10).

- `ks/<family>/<case>`: per case, the discovered terms against the true model error
  (`scimlx.control.medida_case_error`): the relative 2-norm coefficient error over the library, the largest
  relative error of a true term, the false and the missed terms; and the forecast RMSE one time unit after
  five start states of the truth, for the imperfect and the corrected model (`diverged` where the imperfect
  model blows up). Then the same discovery with 1% observation noise on the states the model starts from:
  with the observation at the forecast time noise-free, as MEDIDA's code has it, without a filter
  (`noise`) and with the EnKF of `10 n` members (`enkf`); and with a noisy observation, without and with
  the filter (`noisy_obs`, `noisy_obs_enkf`).
- `ensemble/<family>/<case>`: the coefficient error at 1% noise against the ensemble size
  (`N_ens / n` in 0.25 .. 10, MEDIDA's code's observation), three seeds, and the figure
  `ensemble_<family>_<case>.png`.

- `qg/<case>`: MEDIDA-QG's nine model-error cases (`scimlx.control.QG_CASES`) on the two-layer QG model at
  the reference's grid (96 x 192) and constants, spun up 10,000 steps from small noise, every grid point
  observed without noise: per layer the discovered terms, the relative coefficient error, the false terms
  (above 1% of the case's largest coefficient; smaller ones counted) and the missed ones, with the
  reference's library and with the gradient split into `∂_x` and `∂_y`; the relative RMSE of the PV after 5
  time units (200 steps) from the last record, imperfect and corrected (split library) model.
- `qg-sparse/<case>`: MEDIDA-QG's observations: 25% of the points, noise 0.001, interpolated by the
  random-Fourier-feature network; the observed streamfunction's relative error and the discovery (split
  library). Paper preset: the reference's network (1000 features, 4 x 1000, 200,000 steps), 10 samples;
  `--quick`: 256 features, 4 x 128, 1,000 steps, 2 samples, so it measures what a CPU budget buys.

Paper preset: MEDIDA's settings (`N = 1024`, spin-up 100, records over `t in [100, 200]`, 10 samples, `10 n =
10,240` members). `--quick`: `N = 256` on the same domain, spin-up 50, 20 time units of records, 10 samples,
`10 n = 2,560` members.
"""

from __future__ import annotations

import functools
from typing import Any

from ._registry import Case, RunContext, Suite

PRESETS = {
    True: {"n": 256, "spinup": 50.0, "span": 20.0, "samples": 10, "seeds": 3},
    False: {"n": 1024, "spinup": 100.0, "span": 100.0, "samples": 10, "seeds": 3},
}
LENGTH, TRUTH_DT, MODEL_DT = 100.0, 1e-3, 5e-3
NOISE = 0.01
FORECAST_STEPS = 200  # one time unit of model steps
ENSEMBLE_RATIOS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0)
ENSEMBLE_CASES = (("KS", 1), ("KS", 3))
QG = {
    True: {"spinup": 10_000, "records": 50, "samples": 10, "sparse_samples": 2,
           "interp": {"frequencies": 128, "width": 128, "depth": 4, "steps": 1000}},
    False: {"spinup": 10_000, "records": 100, "samples": 10, "sparse_samples": 10, "interp": {}},
}  # fmt: skip
QG_SPARSE_CASES = (1006,)
QG_FORECAST_STEPS = 200


@functools.lru_cache(maxsize=2)
def _truth(quick: bool):
    """The float64 truth, one record per model step (shared by the cases of a run)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from scimlx.datasets import ks_solve, medida_initial_condition

    p = PRESETS[quick]
    every = round(MODEL_DT / TRUTH_DT)
    with jax.enable_x64(True):
        u0 = jnp.asarray(medida_initial_condition(p["n"], LENGTH))
        u = ks_solve(u0, length=LENGTH, dt=TRUTH_DT, n_steps=round(p["span"] / TRUTH_DT), save_every=every,
                     warmup_steps=round(p["spinup"] / TRUTH_DT))  # fmt: skip
        return np.asarray(u)


def _scores(result, expected: dict[str, float]) -> dict[str, Any]:
    import numpy as np

    reg = result.regression
    w = np.asarray(reg.coefficients)
    target = np.array([expected.get(n, 0.0) for n in reg.names])
    found = reg.terms()
    worst = max(abs(found[n][0] - v) / abs(v) if n in found else 1.0 for n, v in expected.items())
    return {
        "error": float(np.linalg.norm(w - target) / np.linalg.norm(target)),
        "worst_term": float(worst),
        "false": sorted(set(found) - set(expected)),
        "missed": sorted(set(expected) - set(found)),
        "terms": {n: round(float(c), 4) for n, (c, _) in found.items()},
    }


def _forecast_rmse(model, truth, starts) -> float:
    """The mean over start records of the RMSE one time unit later (inf where the model blows up)."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    @jax.jit
    def run(a, b):
        def body(carry, _):
            x, y = carry
            return (y, model(x, y)), None

        (_, last), _ = jax.lax.scan(body, (a, b), None, length=FORECAST_STEPS)
        return last

    errs = []
    for s in starts:
        last = np.asarray(run(jnp.asarray(truth[s - 1]), jnp.asarray(truth[s])))
        e = np.sqrt(np.mean((last - truth[s + FORECAST_STEPS]) ** 2))
        errs.append(e if np.isfinite(e) and e < 1e6 else np.inf)
    return float(np.mean(errs))


def ks_clean(quick: bool, family: str, case: int) -> dict[str, Any]:
    """The noise-free discovery of one KS case and the forecast errors (the first part of `ks_case`)."""
    import jax
    import numpy as np

    from scimlx.control import KSModel, medida, medida_case_error

    p = PRESETS[quick]
    truth = _truth(quick)
    expected = medida_case_error(family, case)
    out: dict[str, Any] = {"expected": expected}
    with jax.enable_x64(True):
        model = KSModel.from_medida_case(family, case, n=p["n"], length=LENGTH, dt=MODEL_DT)
        clean = medida(truth, model, samples=p["samples"])
        s = _scores(clean, expected)
        out.update(discovered=s["terms"], error=s["error"], worst_term=s["worst_term"], false=s["false"],
                   missed=s["missed"])  # fmt: skip
        starts = np.linspace(10, truth.shape[0] - FORECAST_STEPS - 1, 5).astype(int)
        imperfect = _forecast_rmse(model, truth, starts)
        corrected = _forecast_rmse(clean.model, truth, starts)
    out["forecast_imperfect"] = "diverged" if not np.isfinite(imperfect) else imperfect
    out["forecast_corrected"] = "diverged" if not np.isfinite(corrected) else corrected
    return out


def ks_case(ctx: RunContext, family: str, case: int) -> dict[str, Any]:
    import jax

    from scimlx.control import Assimilation, KSModel, medida, medida_case_error

    p = PRESETS[ctx.quick]
    truth = _truth(ctx.quick)
    expected = medida_case_error(family, case)
    out = ks_clean(ctx.quick, family, case)
    key = jax.random.key(ctx.seed)
    with jax.enable_x64(True):
        model = KSModel.from_medida_case(family, case, n=p["n"], length=LENGTH, dt=MODEL_DT)
        members = 10 * p["n"]
        variants = {
            "noise": dict(noise=NOISE),
            "enkf": dict(noise=NOISE, assimilation=Assimilation(members)),
            "noisy_obs": dict(noise=NOISE, observation="noisy"),
            "noisy_obs_enkf": dict(noise=NOISE, observation="noisy", assimilation=Assimilation(members)),
        }
        for name, kw in variants.items():
            s = _scores(medida(truth, model, samples=p["samples"], key=key, **kw), expected)
            out[f"{name}_error"] = s["error"]
            out[f"{name}_false"] = len(s["false"])
    out["target_met"] = bool(out["error"] < 0.05 and not out["false"] and not out["missed"])
    return out


def ensemble_case(ctx: RunContext, family: str, case: int) -> dict[str, Any]:
    import jax
    import numpy as np

    from scimlx.control import Assimilation, KSModel, medida, medida_case_error

    p = PRESETS[ctx.quick]
    truth = _truth(ctx.quick)
    expected = medida_case_error(family, case)
    errors = {}
    with jax.enable_x64(True):
        model = KSModel.from_medida_case(family, case, n=p["n"], length=LENGTH, dt=MODEL_DT)
        for ratio in ENSEMBLE_RATIOS:
            members = max(2, round(ratio * p["n"]))
            errs = []
            for seed in range(p["seeds"]):
                key = jax.random.key(1000 * ctx.seed + seed)
                res = medida(truth, model, samples=p["samples"], noise=NOISE,
                             assimilation=Assimilation(members), key=key)  # fmt: skip
                errs.append(_scores(res, expected)["error"])
            errors[ratio] = errs
        no_filter = [
            _scores(medida(truth, model, samples=p["samples"], noise=NOISE,
                           key=jax.random.key(1000 * ctx.seed + seed)), expected)["error"]
            for seed in range(p["seeds"])
        ]  # fmt: skip
    out: dict[str, Any] = {f"ratio={r:g}": float(np.median(e)) for r, e in errors.items()}
    out["no_filter"] = float(np.median(no_filter))
    if ctx.plotting:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(4.6, 3.4))
        for i in range(p["seeds"]):
            ax.loglog(ENSEMBLE_RATIOS, [errors[r][i] for r in ENSEMBLE_RATIOS], "o-", alpha=0.6,
                      label=f"seed {i}")  # fmt: skip
        ax.axhline(out["no_filter"], color="k", ls="--", label="no filter")
        ax.set(xlabel="N_ens / n", ylabel="relative coefficient error",
               title=f"{family} case {case}, 1% noise, n = {p['n']}")  # fmt: skip
        ax.legend(fontsize=7)
        fig.tight_layout()
        ctx.save_figure(fig, f"ensemble_{family}_{case}")
    return out


@functools.lru_cache(maxsize=2)
def _qg_states(quick: bool):
    """The reference QG run: spin-up from small noise, then one record per time unit (40 steps)."""
    import jax
    import numpy as np

    from scimlx.control import TwoLayerQG

    p = QG[quick]
    with jax.enable_x64(True):
        ref = TwoLayerQG()
        q0 = 1e-2 * jax.random.normal(jax.random.key(0), (2, ref.ny, ref.nx))
        n = p["spinup"] + 40 * p["records"]
        states = np.asarray(jax.jit(lambda q: ref.run(q, n, save_every=40))(q0))
    return ref, states[-p["records"] :]


def _layer_scores(layers, expected) -> dict[str, Any]:
    """Per layer: the terms, the relative coefficient error (`"not in library"` when a true term is not a
    column), the false terms above 1% of the case's largest true coefficient, the count of smaller ones, and
    the missed terms."""
    import numpy as np

    scale = max((abs(v) for e in expected for v in e.values()), default=1.0)
    out: dict[str, Any] = {}
    for k, (reg, exp) in enumerate(zip(layers, expected), start=1):
        found = {n: c for n, (c, _) in reg.terms().items()}
        w = np.asarray(reg.coefficients)
        target = np.array([exp.get(n, 0.0) for n in reg.names])
        out[f"q{k}_terms"] = {n: round(float(c), 4) for n, c in found.items()}
        if not set(exp) <= set(reg.names):
            out[f"q{k}_error"] = "not in library"
        elif exp:
            out[f"q{k}_error"] = float(np.linalg.norm(w - target) / np.linalg.norm(target))
        else:
            out[f"q{k}_error"] = float(np.linalg.norm(w) / scale)
        extra = {n: c for n, c in found.items() if n not in exp}
        out[f"q{k}_false"] = sorted(n for n, c in extra.items() if abs(c) >= 0.01 * scale)
        out[f"q{k}_small"] = sum(abs(c) < 0.01 * scale for c in extra.values())
        out[f"q{k}_missed"] = sorted(set(exp) - set(found))
    return out


def qg_case(ctx: RunContext, case: int) -> dict[str, Any]:
    import jax
    import jax.numpy as jnp

    from scimlx.control import QGLibrary, TwoLayerQG, medida_qg, qg_case_error

    p = QG[ctx.quick]
    ref, states = _qg_states(ctx.quick)
    expected = qg_case_error(case)
    out: dict[str, Any] = {"expected": expected}
    with jax.enable_x64(True):
        model = TwoLayerQG.from_case(case)
        for label, lib in (("reference", QGLibrary()), ("split", QGLibrary(split_gradient=True))):
            res = medida_qg(states, ref, model, samples=p["samples"], library=lib)
            scores = _layer_scores(res.layers, expected)
            out.update({f"{label}_{k}": v for k, v in scores.items()})
        q = jnp.asarray(states[-1])
        n = QG_FORECAST_STEPS
        run = jax.jit(lambda m: m.run(q, n, save_every=n)[-1])
        truth = run(ref)
        for label, m in (("imperfect", model), ("corrected", res.model)):
            err = float(jnp.sqrt(jnp.mean((run(m) - truth) ** 2)) / jnp.sqrt(jnp.mean(truth**2)))
            out[f"forecast_{label}"] = err if err == err and err < 1e6 else "diverged"
    out["target_met"] = not any(out[f"split_q{k}_{w}"] for k in (1, 2) for w in ("false", "missed"))
    return out


def qg_sparse_case(ctx: RunContext, case: int) -> dict[str, Any]:
    import jax

    from scimlx.control import QGLibrary, RFFInterpolator, TwoLayerQG, medida_qg, qg_case_error

    p = QG[ctx.quick]
    ref, states = _qg_states(ctx.quick)
    expected = qg_case_error(case)
    with jax.enable_x64(True):
        model = TwoLayerQG.from_case(case)
        res = medida_qg(states, ref, model, samples=p["sparse_samples"], sensors=0.25, noise=1e-3,
                        interpolator=RFFInterpolator(**p["interp"]), library=QGLibrary(split_gradient=True),
                        key=jax.random.key(ctx.seed), progress=ctx.progress)  # fmt: skip
    out: dict[str, Any] = {"expected": expected, "observation_error": res.observation_error}
    out.update(_layer_scores(res.layers, expected))
    return out


def _cases(quick: bool) -> list[Case]:
    from scimlx.control import MEDIDA_CASES

    cases = [Case(f"ks/{f}/{c}", lambda ctx, f=f, c=c: ks_case(ctx, f, c)) for f, c in MEDIDA_CASES]
    cases += [
        Case(f"ensemble/{f}/{c}", lambda ctx, f=f, c=c: ensemble_case(ctx, f, c)) for f, c in ENSEMBLE_CASES
    ]
    from scimlx.control import QG_CASES

    cases += [Case(f"qg/{c}", lambda ctx, c=c: qg_case(ctx, c)) for c in QG_CASES]
    cases += [Case(f"qg-sparse/{c}", lambda ctx, c=c: qg_sparse_case(ctx, c)) for c in QG_SPARSE_CASES]
    return cases


SUITE = Suite(
    name="control",
    description="MEDIDA model-error discovery: KS (noise-free, noisy, EnKF) and two-layer QG cases",
    cases=_cases,
)
