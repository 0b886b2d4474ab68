"""Suite `sde`: variational inference for SDEs driven by Markov-approximate fractional Brownian motion
(Daems et al., ICLR 2024), and the ODE-SDE gap of score-based diffusion.

- `approximation/<kind>`: the relative time-integrated squared error of the optimal weights against `K`
  and `γ_max`, for the Hurst indices 0.1-0.9 (closed form, float64).
- `bridge/H=<h>/theta=<θ>`: the paper's bridge experiment: `dX = -θ X dt + dB̂_H` from 0, one observation
  `X(2) = 0` with noise 0.1, the control trained by the ELBO; the posterior's standard-deviation band (from
  sampled paths) against the exact conditioned band of the same Markov model (a Gaussian process,
  `scimlx.sde.bridge_std`) and, for `θ = 0`, the band of exact fBM. Paper preset: the paper's code's settings
  (type I on a window of 6, `K = 5`, `γ_max = 20`, `dt = 0.01`, a 2 x 1000 tanh control, Adam 1e-3, 2,000
  steps of 32 paths, Heun's (Stratonovich) scheme); `--quick`: a 2 x 64 control and Euler-Maruyama (the
  same limit for this additive noise).
- `hurst/<data>/H=<h>/K=<k>`: Hurst-index recovery from synthetic paths (exact fBM, or fractional OU with
  `θ = 1`), observed at 20 (quick) or 40 times on `[0, 1]` with noise 0.05: the index learned with the ELBO
  (learned `H` and `σ`, and `θ` for fOU; an amortised control that sees the next two observations) and the
  exact maximum-likelihood index of the same linear Markov model (Kalman filter), several seeds (`--quick`:
  fBM at `K = 5`, and at H = 0.3 and 0.7 also fBM at `K = 10` and fOU at `K = 5`; float64 at `K = 10`).
  These protocol settings are ours: the paper's were not retrieved.
- `gap/<data>/wR=<w>`: closing the ODE-SDE gap through the Fokker-Planck equation (Deveney et al.): the
  paper's potential network on its toy data (blob, circles2, checker) with the OU forward process, trained by
  DSM plus `w_R` times the log-density Fokker-Planck residual for `w_R` in {0, 0.1, 1, 10}; W2^2 (exact OT,
  POT) between histograms of reverse-SDE samples, probability-flow samples and data, and between two data
  draws (the sampling floor). Paper preset: its settings (200,000 DSM and 50,000 residual points per step,
  100,000 steps, 3 million samples, 64 x 64 bins); `--quick`: 2,000 and 1,000 points, 3,000 steps, 50,000
  samples, 32 x 32 bins.
- `fkc/<problem>`: Feynman-Kac correctors (Skreta et al.) against the uncorrected samplers with the same
  drift, on Gaussian-mixture targets of known law (exact diffused scores, `scimlx.sde.GaussianMixture`):
  `product` (the FKC notebook's "up" and "down" experts, VE with `σ_max = 10`: the product has modes at
  (±1.5, 0), std 0.2828, equal masses), `anneal/4modes` (the notebook's four modes at (±1.5, ±1.5), std 0.4,
  VP, `β = 3`) and `anneal/gmm40` (the notebook's 40-mode GMM: means uniform on `[-40, 40]^2` drawn with our
  generator (the notebook's PyTorch draw is not reproduced), std `softplus(2) = 2.127`, data divided by 50,
  VE `σ_min = 0.01`, `σ_max = 10`, `β = 3`). Target-score and tempered-noise SDEs with and without weights
  (systematic resampling every step, the paper's setting, and when the ESS falls below half; birth-death
  too for the product), several seeds:
  the within-mode standard deviation, the mode masses, RBF-MMD, W2^2 against exact samples, total variation
  (GMM-40), seconds per sample. Paper preset: 10,000 particles, 1,000 steps, 5 seeds (the notebook's); quick:
  4,000 particles, 500 steps, 3 seeds.
- `elbo/H=<h>`: the ELBO of the fractional model (learned `H`) against the Brownian-noise model on the same
  long-memory (H = 0.8) or rough (H = 0.2) fBM paths, same control and steps; the fractional one should win.
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

from ._registry import Case, RunContext, Suite

HURSTS = (0.1, 0.3, 0.5, 0.7, 0.9)
PAPER = {
    "bridge": {"cases": ((0.3, 0.0), (0.7, 0.0), (0.7, 1.0), (0.9, 2.0)), "width": 1000, "steps": 2000,
               "solver": "heun"},
    "hurst": {"hursts": (0.2, 0.3, 0.5, 0.7, 0.8), "data": ("fbm", "fou"), "ks": (5, 10), "seeds": 3,
              "num_paths": 256, "n_obs": 40, "steps": 3000, "width": 128},
    "elbo": {"hursts": (0.2, 0.8), "num_paths": 256, "n_obs": 40, "steps": 3000, "width": 128},
}  # fmt: skip
QUICK = {
    "bridge": {"cases": ((0.3, 0.0), (0.7, 0.0)), "width": 64, "steps": 2000, "solver": "euler"},
    "hurst": {"hursts": (0.2, 0.3, 0.5, 0.7, 0.8), "data": ("fbm",), "ks": (5,), "seeds": 2,
              "num_paths": 128, "n_obs": 20, "steps": 2000, "width": 64,
              "extra": (("fbm", 0.3, 10), ("fbm", 0.7, 10), ("fou", 0.3, 5), ("fou", 0.7, 5))},
    "elbo": {"hursts": (0.2, 0.8), "num_paths": 128, "n_obs": 20, "steps": 2000, "width": 64},
}  # fmt: skip
GAP = {
    True: {"data": ("blob", "circles2", "checker"), "weights": (0.0, 0.1, 1.0, 10.0), "num_denoise": 2000,
           "num_collocation": 1000, "steps": 3000, "boundaries": (750, 2700), "samples": 50_000, "bins": 32},
    False: {"data": ("blob", "circles2", "checker"), "weights": (0.0, 0.1, 1.0, 10.0), "num_denoise": 200_000,
            "num_collocation": 50_000, "steps": 100_000, "boundaries": (25_000, 90_000), "samples": 3_000_000,
            "bins": 64},
}  # fmt: skip
FKC = {
    True: {"particles": 4000, "steps": 500, "seeds": 3, "w2_subsample": 2000},
    False: {"particles": 10_000, "steps": 1000, "seeds": 5, "w2_subsample": 4000},
}
OBS_SIGMA = 0.05  # the Hurst cases' observation noise
LOOKAHEAD = 2


def approximation_case(ctx: RunContext, kind: str) -> dict[str, Any]:
    """The relative error table against K (γ_max = 20) and against γ_max (K = 5), T = 1."""
    import jax

    from scimlx.sde import approximation_error, gamma_grid, optimal_omega

    with jax.enable_x64(True):

        def err(h, k, gmax):
            g = gamma_grid(k, gmax)
            return float(approximation_error(optimal_omega(h, g, 1.0, kind), h, g, 1.0, kind))

        by_k = {k: [err(h, k, 20.0) for h in HURSTS] for k in (2, 3, 5, 10)}
        by_gmax = {g: [err(h, 5, g) for h in HURSTS] for g in (5.0, 10.0, 20.0, 50.0, 100.0)}
    out: dict[str, Any] = {"hursts": list(HURSTS)}
    out.update({f"K={k}": [float(f"{e:.3g}") for e in v] for k, v in by_k.items()})
    out.update({f"gamma_max={g:g}": [float(f"{e:.3g}") for e in v] for g, v in by_gmax.items()})
    if ctx.plotting:
        import matplotlib.pyplot as plt

        fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
        for i, h in enumerate(HURSTS):
            axes[0].semilogy(list(by_k), [max(v[i], 1e-16) for v in by_k.values()], "o-", label=f"H={h}")
            axes[1].semilogy(list(by_gmax), [max(v[i], 1e-16) for v in by_gmax.values()], "o-")
        axes[0].set(xlabel="K (γ_max = 20)", ylabel="relative error", title=f"type {kind}")
        axes[1].set(xlabel="γ_max (K = 5)", xscale="log", title=f"type {kind}")
        axes[0].legend(fontsize=7)
        fig.tight_layout()
        ctx.save_figure(fig, f"approximation_{kind}")
    return out


def bridge_case(ctx: RunContext, hurst: float, theta: float) -> dict[str, Any]:
    """Train the bridge posterior and compare its band with the exact one."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from scimlx.datasets import fbm_covariance
    from scimlx.sde import (
        ConstantDiffusion,
        FractionalSDE,
        LinearDrift,
        MLPControl,
        SDEConfig,
        bridge_std,
        train_sde,
    )  # fmt: skip
    from scimlx.train import RunOptions

    s = (QUICK if ctx.quick else PAPER)["bridge"]
    end, dt, obs_sigma = 2.0, 0.01, 0.1
    k_ctrl, k_train, k_eval = jax.random.split(jax.random.key(ctx.seed), 3)
    control = MLPControl(1, 5, width=s["width"], depth=2, key=k_ctrl)
    model = FractionalSDE(LinearDrift(theta), ConstantDiffusion(1.0), control, dim=1, hurst=hurst, kind="I",
                          num_states=5, gamma_max=20.0, horizon=6.0)  # fmt: skip
    config = SDEConfig(obs_sigma=obs_sigma, dt=dt, solver=s["solver"], samples=32, steps=s["steps"])
    t0 = time.perf_counter()
    res = train_sde(model, [end], [[0.0]], key=k_train, config=config, run=RunOptions(progress=ctx.progress))
    seconds = time.perf_counter() - t0
    n = int(round(end / dt))
    ts = np.linspace(0.0, end, n + 1)

    def path(k):
        return res.model.solve(ts, jnp.zeros(1), key=k, dt=dt, solver=s["solver"]).xs[:, 0]

    paths = jax.jit(jax.vmap(path))(jax.random.split(k_eval, 256))
    std = np.std(np.asarray(paths), axis=0)
    with jax.enable_x64(True):
        omega, gammas = np.asarray(model.omega, float), np.asarray(model.gammas.value, float)
        exact = np.asarray(bridge_std(n, dt, theta, 1.0, omega, gammas, "I", obs_sigma=obs_sigma))
    out = {
        "band_error_max": float(np.max(np.abs(std - exact)) / np.max(exact)),
        "band_error_mean": float(np.mean(np.abs(std - exact)) / np.max(exact)),
        "std_at_1": float(std[n // 2]), "exact_std_at_1": float(exact[n // 2]),
        "std_at_end": float(std[-1]), "exact_std_at_end": float(exact[-1]),
        "final_loss": float(np.mean(res.history["loss"][-50:])), "seconds_per_step": seconds / s["steps"],
    }  # fmt: skip
    fbm_band = None
    if theta == 0.0:  # the same conditioning with exact (type-I) fBM's covariance
        cov = fbm_covariance(ts, hurst, "I")
        fbm_band = np.sqrt(np.clip(np.diag(cov) - cov[:, -1] ** 2 / (cov[-1, -1] + obs_sigma**2), 0, None))
        out["fbm_std_at_1"] = float(fbm_band[n // 2])
    if ctx.plotting:
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(5, 3.2))
        ax.plot(ts, np.asarray(paths[:20]).T, color="0.75", lw=0.6)
        ax.fill_between(ts, -std, std, alpha=0.3, label="posterior ±std (256 paths)")
        ax.plot(ts, exact, "k--", lw=1.2, label="exact ±std, Markov model")
        ax.plot(ts, -exact, "k--", lw=1.2)
        if fbm_band is not None:
            ax.plot(ts, fbm_band, "r:", lw=1.2, label="exact ±std, fBM")
            ax.plot(ts, -fbm_band, "r:", lw=1.2)
        ax.set(xlabel="t", title=f"bridge, H={hurst}, θ={theta}")
        ax.legend(fontsize=7, loc="lower left")
        fig.tight_layout()
        ctx.save_figure(fig, f"bridge_H{hurst}_theta{theta}")
    out["target_met"] = out["band_error_max"] < 0.15
    return out


def _data(kind: str, hurst: float, n_paths: int, n_obs: int, key):
    import jax
    import numpy as np

    from scimlx.datasets import fractional_ou_paths, sample_fbm

    ts = np.arange(1, n_obs + 1) / n_obs
    k_path, k_noise = jax.random.split(key)
    if kind == "fbm":
        x = sample_fbm(k_path, ts, hurst, num_paths=n_paths)
    else:
        x = fractional_ou_paths(k_path, ts, hurst, theta=1.0, num_paths=n_paths)
    return ts, x + OBS_SIGMA * jax.random.normal(k_noise, x.shape, x.dtype)


def _variational_fit(ts, x, *, kind: str, learn_theta: bool, k: int, width: int, steps: int, key, progress):
    import jax

    from scimlx.sde import ConstantDiffusion, FractionalSDE, LinearDrift, MLPControl, SDEConfig, train_sde
    from scimlx.train import RunOptions

    k_ctrl, k_train = jax.random.split(key)
    brownian = kind == "brownian"
    control = MLPControl(1, 1 if brownian else k, context_dim=2 * LOOKAHEAD, width=width, key=k_ctrl)
    model = FractionalSDE(
        LinearDrift(0.5 if learn_theta else 0.0, learn=learn_theta), ConstantDiffusion(1.0, learn=True),
        control, dim=1, hurst=0.5, learn_hurst=not brownian, kind=kind, num_states=k, horizon=1.0,
    )  # fmt: skip
    h = float(ts[0])
    config = SDEConfig(obs_sigma=OBS_SIGMA, dt=h / 3, solver="euler", samples=2, lookahead=LOOKAHEAD,
                       learning_rate=3e-3, steps=steps, batch_size=16)  # fmt: skip
    res = train_sde(model, ts, x, key=k_train, config=config, run=RunOptions(progress=progress))
    return res, config


def hurst_case(ctx: RunContext, data: str, hurst: float, k: int) -> dict[str, Any]:
    """Learned and maximum-likelihood Hurst indices over the seeds."""
    import contextlib

    import jax
    import numpy as np

    from scimlx.sde import fit_linear_model

    s = (QUICK if ctx.quick else PAPER)["hurst"]
    learned, mle, seconds = [], [], []
    # K >= 8 needs float64 for the weights' gradients in H
    with jax.enable_x64(True) if k >= 8 else contextlib.nullcontext():
        for i in range(s["seeds"]):
            key = jax.random.key(ctx.seed + 100 * i)
            k_data, k_fit = jax.random.split(key)
            ts, x = _data(data, hurst, s["num_paths"], s["n_obs"], k_data)
            t0 = time.perf_counter()
            res, _ = _variational_fit(ts, x, kind="I", learn_theta=data == "fou", k=k, width=s["width"],
                                      steps=s["steps"], key=k_fit, progress=ctx.progress)  # fmt: skip
            seconds.append(time.perf_counter() - t0)
            learned.append(float(res.model.hurst))
            with jax.enable_x64(True):
                fit = fit_linear_model(np.asarray(x, float), float(ts[0]), num_states=k, horizon=1.0,
                                       obs_sigma=OBS_SIGMA, learn_theta=data == "fou")  # fmt: skip
            mle.append(fit["hurst"])
    learned, mle = np.array(learned), np.array(mle)
    return {
        "true_hurst": hurst,
        "learned_mean": float(learned.mean()), "learned_std": float(learned.std()),
        "mle_mean": float(mle.mean()), "mle_std": float(mle.std()),
        "learned_abs_error": float(np.abs(learned - hurst).mean()),
        "mle_abs_error": float(np.abs(mle - hurst).mean()),
        "seeds": s["seeds"], "seconds_per_fit": float(np.mean(seconds)),
        "target_met": bool(np.abs(learned.mean() - hurst) < 0.1),
    }  # fmt: skip


def elbo_case(ctx: RunContext, hurst: float) -> dict[str, Any]:
    """The ELBO of the fractional model against the Brownian one on the same fBM paths."""
    import jax
    import jax.numpy as jnp

    from scimlx.sde import elbo

    s = (QUICK if ctx.quick else PAPER)["elbo"]
    k_data, k_fit, k_eval = jax.random.split(jax.random.key(ctx.seed), 3)
    ts, x = _data("fbm", hurst, s["num_paths"], s["n_obs"], k_data)
    out: dict[str, Any] = {"true_hurst": hurst}
    for kind in ("I", "brownian"):
        res, config = _variational_fit(ts, x, kind=kind, learn_theta=False, k=5, width=s["width"],
                                       steps=s["steps"], key=k_fit, progress=ctx.progress)  # fmt: skip
        value, kl = elbo(res.model, ts, x, key=k_eval, config=dataclasses.replace(config, samples=16))
        name = "fractional" if kind == "I" else "brownian"
        out[f"elbo_{name}"] = float(jnp.mean(value))
        out[f"kl_{name}"] = float(jnp.mean(kl))
        if kind == "I":
            out["learned_hurst"] = float(res.model.hurst)
    out["elbo_gain"] = out["elbo_fractional"] - out["elbo_brownian"]
    out["target_met"] = out["elbo_gain"] > 0
    return out


def gap_case(ctx: RunContext, data: str, weight: float) -> dict[str, Any]:
    """Train the potential with `w_R = weight`, sample by the reverse SDE and the probability-flow ODE, and
    measure W2^2 between their histograms and the data's."""
    import jax

    from scimlx.datasets import sample_toy_2d
    from scimlx.sde import (
        OU,
        GapConfig,
        PotentialNet,
        gap_time_grid,
        histogram_2d,
        sample_probability_flow,
        sample_reverse_sde,
        train_potential,
        w2_squared,
    )  # fmt: skip
    from scimlx.train import RunOptions

    s = GAP[ctx.quick]
    sde = OU()
    k_model, k_train, k_sde, k_ode, k_truth, k_floor = jax.random.split(jax.random.key(ctx.seed), 6)
    config = GapConfig(fp_weight=weight, num_denoise=s["num_denoise"], num_collocation=s["num_collocation"],
                       steps=s["steps"], boundaries=s["boundaries"])  # fmt: skip
    t0 = time.perf_counter()
    res = train_potential(PotentialNet(2, key=k_model), lambda k, n: sample_toy_2d(data, k, n), sde,
                          key=k_train, config=config, run=RunOptions(progress=ctx.progress))  # fmt: skip
    seconds = time.perf_counter() - t0
    grid, n = gap_time_grid(sde.horizon), s["samples"]
    x_sde = jax.jit(lambda k: sample_reverse_sde(res.model.score, sde, key=k, num_samples=n, dim=2, ts=grid,
                                                 final_denoise=True))(k_sde)  # fmt: skip
    x_ode = jax.jit(lambda k: sample_probability_flow(res.model.score, sde, key=k, num_samples=n, dim=2,
                                                      ts=grid))(k_ode)  # fmt: skip
    hist = {name: histogram_2d(x, bins=s["bins"]) for name, x in
            (("sde", x_sde), ("ode", x_ode), ("truth", sample_toy_2d(data, k_truth, n)),
             ("floor", sample_toy_2d(data, k_floor, n)))}  # fmt: skip
    out = {
        "w2sq_ode_truth": w2_squared(hist["ode"], hist["truth"]),
        "w2sq_sde_truth": w2_squared(hist["sde"], hist["truth"]),
        "w2sq_ode_sde": w2_squared(hist["ode"], hist["sde"]),
        "w2sq_truth_truth": w2_squared(hist["floor"], hist["truth"]),
        "dsm_final": float(sum(res.history["aux"]["dsm"][-100:]) / 100),
        "seconds_train": seconds,
    }
    if weight > 0:
        out["fp_residual_final"] = float(sum(res.history["aux"]["fp_residual"][-100:]) / 100)
    return out


def _fkc_problem(name: str):
    """`(sde, target, exact target mixture, β, mode centres)` of an FKC case."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from scimlx.sde import VE, VP, Annealed, GaussianMixture, Product

    if name == "product":
        sde = VE(sigma_max=10.0)
        up = GaussianMixture.isotropic([0.5, 0.5], [[-1.5, 1.5], [1.5, 1.5]], 0.4)
        down = GaussianMixture.isotropic([0.5, 0.5], [[-1.5, -1.5], [1.5, -1.5]], 0.4)
        exact = up.product(down)
        centres = np.asarray(exact.means)[np.asarray(exact.weights) > 1e-3]  # (±1.5, 0)
        return sde, Product((up.score_fn(sde), down.score_fn(sde))), exact, 2.0, centres
    if name == "anneal/4modes":
        sde = VP()
        means = [[-1.5, -1.5], [-1.5, 1.5], [1.5, -1.5], [1.5, 1.5]]
        mix = GaussianMixture.isotropic(np.full(4, 0.25), means, 0.4)
        return sde, Annealed(mix.score_fn(sde), 3.0), mix.power(3), 3.0, np.asarray(means, float)
    sde = VE(sigma_min=0.01, sigma_max=10.0)
    means = np.asarray(jax.random.uniform(jax.random.key(0), (40, 2), jnp.float64 if jax.config.jax_enable_x64
                                          else jnp.float32, -40.0, 40.0), float) / 50  # fmt: skip
    mix = GaussianMixture.isotropic(np.full(40, 1 / 40), means, float(np.log1p(np.exp(2.0))) / 50)
    return sde, Annealed(mix.score_fn(sde), 3.0), mix.power(3), 3.0, means


def fkc_case(ctx: RunContext, name: str) -> dict[str, Any]:
    """FKC against the uncorrected samplers on a Gaussian-mixture target with a known law."""
    import jax
    import numpy as np

    from scimlx.sde import mmd_rbf, sample_fkc, total_variation, w2_samples

    s = FKC[ctx.quick]
    sde, target, exact, beta, centres = _fkc_problem(name)
    samplers = {"fkc_target": dict(noise="target"), "fkc_target_ess": dict(noise="target", ess_threshold=0.5),
                "fkc_tempered": dict(noise="tempered"),
                "plain_target": dict(noise="target", corrected=False),
                "plain_tempered": dict(noise="tempered", corrected=False)}  # fmt: skip
    if name == "product":
        samplers = {"fkc": dict(), "fkc_ess": dict(ess_threshold=0.5),
                    "fkc_birth_death": dict(resampling="birth_death"),
                    "summed_scores": dict(corrected=False)}  # fmt: skip

    def modes(x):
        d2 = ((x[:, None, :] - centres[None]) ** 2).sum(-1)
        return d2.argmin(1)

    ref = np.asarray(exact.sample(jax.random.key(10_000 + ctx.seed), 200_000))
    ref_masses = np.bincount(modes(ref), minlength=len(centres)) / len(ref)
    ref_std = np.sqrt(np.asarray(exact.covs)[np.asarray(exact.weights).argmax()].diagonal().mean())
    out: dict[str, Any] = {"beta": beta, "modes": len(centres), "exact_mode_std": float(ref_std)}
    sub = s["w2_subsample"]
    first: dict[str, np.ndarray] = {}  # the first seed's samples, for the figure
    for label, kw in samplers.items():
        run = jax.jit(lambda k, kw=kw: sample_fkc(target, sde, key=k, num_samples=s["particles"], dim=2,
                                                  steps=s["steps"], **kw))  # fmt: skip
        jax.block_until_ready(run(jax.random.key(999)))  # compile
        stats: dict[str, list[float]] = {
            k: [] for k in ("mode_std", "mass_l1", "mmd", "w2sq", "tv", "s_per_sample")
        }
        for seed in range(s["seeds"]):
            key = jax.random.key(1000 * ctx.seed + seed)
            t0 = time.perf_counter()
            r = jax.block_until_ready(run(key))
            stats["s_per_sample"].append((time.perf_counter() - t0) / s["particles"])
            idx = np.asarray(
                jax.random.choice(
                    jax.random.fold_in(key, 1),
                    s["particles"],
                    (s["particles"],),
                    p=jax.nn.softmax(r.log_weights),
                )
            )  # the last step's weights
            x = np.asarray(r.samples)[idx]
            if seed == 0:
                first[label] = x
            m = modes(x)
            stats["mode_std"].append(float(np.sqrt(((x - centres[m]) ** 2).mean())))
            stats["mass_l1"].append(
                float(np.abs(np.bincount(m, minlength=len(centres)) / len(x) - ref_masses).sum())
            )
            stats["mmd"].append(mmd_rbf(x[:sub], ref[:sub]))
            stats["w2sq"].append(w2_samples(x[:sub], ref[sub : 2 * sub]))
            if name == "anneal/gmm40":
                stats["tv"].append(total_variation(x, ref[: len(x)], bins=200, half_width=1.0))
            if name == "product":
                stats.setdefault("right_mass", []).append(float((x[:, 0] > 0).mean()))
        for k, v in stats.items():
            if v:
                out[f"{label}/{k}"] = float(np.mean(v))
                out[f"{label}/{k}_sd"] = float(np.std(v))
    floor = [w2_samples(ref[:sub], ref[2 * sub + i * sub : 3 * sub + i * sub]) for i in range(2)]
    out["w2sq_floor"] = float(np.mean(floor))
    out["mmd_floor"] = mmd_rbf(ref[:sub], ref[2 * sub : 3 * sub])
    if ctx.plotting:
        import matplotlib.pyplot as plt

        panels = {"exact": ref[: s["particles"]], **first}
        fig, axes = plt.subplots(1, len(panels), figsize=(2.6 * len(panels), 2.8), sharex=True, sharey=True)
        lim = float(np.abs(ref).max()) * 1.05
        for ax, (label, x) in zip(axes, panels.items(), strict=True):
            ax.scatter(x[:, 0], x[:, 1], s=1, alpha=0.3, lw=0)
            ax.set(title=label.replace("_", " "), xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
        fig.suptitle(f"{name}: seed 0, {s['particles']} particles, {s['steps']} steps", fontsize=9)
        fig.tight_layout()
        ctx.save_figure(fig, f"fkc_{name.replace('/', '_')}")
    return out


def _cases(quick: bool) -> list[Case]:
    s = QUICK if quick else PAPER
    cases = [
        Case(f"approximation/{kind}", lambda ctx, kind=kind: approximation_case(ctx, kind))
        for kind in ("I", "II")
    ]
    cases += [
        Case(f"bridge/H={h}/theta={th:g}", lambda ctx, h=h, th=th: bridge_case(ctx, h, th))
        for h, th in s["bridge"]["cases"]
    ]
    hs = s["hurst"]
    cases += [
        Case(f"hurst/{d}/H={h}/K={k}", lambda ctx, d=d, h=h, k=k: hurst_case(ctx, d, h, k))
        for d in hs["data"] for k in hs["ks"] for h in hs["hursts"]
    ]  # fmt: skip
    cases += [
        Case(f"hurst/{d}/H={h}/K={k}", lambda ctx, d=d, h=h, k=k: hurst_case(ctx, d, h, k))
        for d, h, k in hs.get("extra", ())
    ]
    cases += [Case(f"elbo/H={h}", lambda ctx, h=h: elbo_case(ctx, h)) for h in s["elbo"]["hursts"]]
    g = GAP[quick]
    cases += [
        Case(f"gap/{d}/wR={w:g}", lambda ctx, d=d, w=w: gap_case(ctx, d, w))
        for d in g["data"]
        for w in g["weights"]
    ]
    cases += [
        Case(f"fkc/{p}", lambda ctx, p=p: fkc_case(ctx, p))
        for p in ("product", "anneal/4modes", "anneal/gmm40")
    ]
    return cases


SUITE = Suite(
    name="sde",
    description="Fractional SDEs (fBM approximation, bridge, Hurst, ELBO vs BM); ODE-SDE gap; FKC samplers",
    cases=_cases,
)
