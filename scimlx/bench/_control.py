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


def ks_case(ctx: RunContext, family: str, case: int) -> dict[str, Any]:
    import jax
    import numpy as np

    from scimlx.control import Assimilation, KSModel, medida, medida_case_error

    p = PRESETS[ctx.quick]
    truth = _truth(ctx.quick)
    expected = medida_case_error(family, case)
    out: dict[str, Any] = {"expected": expected}
    key = jax.random.key(ctx.seed)
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
    if ctx.out_dir is not None:
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
        fig.savefig(ctx.out_dir / f"ensemble_{family}_{case}.png", dpi=110)
        plt.close(fig)
    return out


def _cases(quick: bool) -> list[Case]:
    from scimlx.control import MEDIDA_CASES

    cases = [Case(f"ks/{f}/{c}", lambda ctx, f=f, c=c: ks_case(ctx, f, c)) for f, c in MEDIDA_CASES]
    cases += [
        Case(f"ensemble/{f}/{c}", lambda ctx, f=f, c=c: ensemble_case(ctx, f, c)) for f, c in ENSEMBLE_CASES
    ]
    return cases


SUITE = Suite(
    name="control",
    description="MEDIDA model-error discovery: KS cases noise-free and noisy (with and without the EnKF)",
    cases=_cases,
)
