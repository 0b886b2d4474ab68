# ---
# jupyter:
#   jupytext:
#     formats: ipynb,py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # scimlx 5: stochastic models
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scimlx/scimlx/blob/main/notebooks/05_sde.ipynb)
#
# Two methods of `scimlx.sde`:
#
# 1. **Variational SDEs driven by fractional noise** (Daems et al., ICLR 2024). Fractional Brownian motion
#    (fBM, Hurst index H: long memory for H > ½, rough paths for H < ½) is not Markov, but a weighted sum of
#    Ornstein-Uhlenbeck processes driven by one Brownian motion approximates it, with closed-form optimal
#    weights. A control shifts that common noise, so the posterior of a latent SDE given observations is
#    trained by the ELBO, here on the paper's bridge: a path from 0, observed once at `t = 2`, whose posterior
#    spread has an exact answer to compare with.
# 2. **Feynman-Kac correctors** (Skreta et al., ICML 2025). Adding two diffusion models' scores does not
#    sample the product of their distributions; weighting the reverse-SDE particles by a Feynman-Kac weight
#    built from the scores, and resampling them (sequential Monte Carlo), does.

# %% [markdown]
# On Colab the next cell installs scimlx from its repository; run locally, it does nothing and the installed
# scimlx is used.

# %%
try:
    import google.colab  # noqa: F401

    IN_COLAB = True
except ImportError:
    IN_COLAB = False
if IN_COLAB:
    from IPython import get_ipython

    get_ipython().run_line_magic("pip", 'install -q "scimlx @ git+https://github.com/scimlx/scimlx"')

# %% [markdown]
# ## Parameters
#
# The defaults are README's bridge (a 32-wide control, 3 Ornstein-Uhlenbeck states, `dt = 0.05`, 1,500 ELBO
# steps: under a minute on a CPU) and the product of two Gaussian-mixture experts with 4,000 particles.
# `PAPER_SCALE = True` sets the settings of the papers' code, for a GPU: the bridge with a 2 x 1000 tanh
# control, 5 states on `γ_max = 20` over a window of 6, `dt = 0.01`, Heun's (Stratonovich) scheme, Adam at
# 1e-3, 2,000 steps of 32 paths; FKC with 10,000 particles and 1,000 steps.

# %% tags=["parameters"]
PAPER_SCALE = False  # True: the papers' settings (a GPU; see above)

# the Markov approximation of fBM
HURSTS, APPROX_STATES, APPROX_GAMMA_MAX = (0.3, 0.7), 5, 20.0
# the bridge
HURST = 0.7
BRIDGE = dict(num_states=3, gamma_max=5.0, horizon=2.0)  # the Markov model of the noise
CONTROL_WIDTH, CONTROL_STATES = 32, 3
SDE_CONFIG = dict(dt=0.05, solver="euler", samples=16, steps=1500, learning_rate=3e-3)
N_PATHS = 2000  # posterior paths drawn for the band
# Feynman-Kac correctors
FKC_PARTICLES, FKC_STEPS = 4000, 500

if PAPER_SCALE:
    BRIDGE = dict(num_states=5, gamma_max=20.0, horizon=6.0)
    CONTROL_WIDTH, CONTROL_STATES = 1000, 5
    SDE_CONFIG = dict(dt=0.01, solver="heun", samples=32, steps=2000, learning_rate=1e-3)
    FKC_PARTICLES, FKC_STEPS = 10_000, 1000
PROGRESS = PAPER_SCALE  # progress bars for the long runs

# %%
import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from scimlx.datasets import fbm_covariance
from scimlx.sde import (
    VE,
    ConstantDiffusion,
    FractionalSDE,
    GaussianMixture,
    LinearDrift,
    MLPControl,
    Product,
    SDEConfig,
    bridge_std,
    gamma_grid,
    markov_fbm_covariance,
    optimal_omega,
    sample_fkc,
    sample_markov_fbm,
    train_sde,
)
from scimlx.train import RunOptions

print("JAX on", jax.devices()[0].platform)

# %% [markdown]
# ## Markov-approximate fractional Brownian motion
#
# `optimal_omega(H, γ, T)` gives the weights `ω_k` of the Ornstein-Uhlenbeck processes with speeds `γ_k`
# (`gamma_grid`) that best approximate type-I fBM on `[0, T]`. The approximation's variance follows fBM's
# `t^{2H}`, and its paths are smooth for H = 0.7 and rough for H = 0.3, all driven by one Brownian motion.

# %%
ts = jnp.linspace(0.0, 1.0, 201)
gammas = gamma_grid(APPROX_STATES, APPROX_GAMMA_MAX)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), constrained_layout=True)
for i, hurst in enumerate(HURSTS):
    omega = optimal_omega(hurst, gammas, 1.0, "I")
    print(f"H = {hurst}: ω = {np.round(np.asarray(omega), 3)}")
    markov = np.diag(np.asarray(markov_fbm_covariance(ts, omega, gammas, "I")))
    exact = np.diag(np.asarray(fbm_covariance(ts, hurst, "I")))
    axes[0].plot(ts, exact, f"C{i}-", label=f"fBM, H = {hurst}")
    axes[0].plot(ts, markov, f"C{i}--", label=f"Markov approximation, K = {APPROX_STATES}")
    paths, _ = sample_markov_fbm(jax.random.key(i), ts, omega, gammas, num_paths=3)
    axes[1].plot(ts, np.asarray(paths).T, f"C{i}", lw=0.8)
axes[0].set(xlabel="t", ylabel="variance", title="variance: fBM and its Markov approximation")
axes[0].legend(fontsize=8)
axes[1].set(xlabel="t", title=f"paths of the approximation (H = {HURSTS[0]}: C0, H = {HURSTS[1]}: C1)")
plt.show()

# %% [markdown]
# ## The bridge: a posterior over fBM-driven paths
#
# `dX = dB̂_H` from `X(0) = 0` (zero drift, unit diffusion), observed once, `X(2) = 0` with noise 0.1. The
# control `u(t, x, y)` (an MLP of time, the state and the Ornstein-Uhlenbeck states) shifts the common
# noise; `train_sde` maximises the ELBO, whose KL term is `E[½ ∫ |u|² dt]`. The exact posterior of the same
# Markov model is Gaussian, so its standard deviation along the path (`bridge_std`) is the target for the
# band of sampled posterior paths.

# %%
control = MLPControl(1, CONTROL_STATES, width=CONTROL_WIDTH, key=jax.random.key(0))
model = FractionalSDE(
    LinearDrift(0.0), ConstantDiffusion(1.0), control, dim=1, hurst=HURST, num_states=BRIDGE["num_states"],
    gamma_max=BRIDGE["gamma_max"], horizon=BRIDGE["horizon"],
)  # fmt: skip
config = SDEConfig(**SDE_CONFIG)
res = train_sde(
    model, [2.0], [[0.0]], key=jax.random.key(1), config=config, run=RunOptions(progress=PROGRESS)
)

dt, solver = SDE_CONFIG["dt"], SDE_CONFIG["solver"]
n = int(round(2.0 / dt))
t_path = jnp.linspace(0.0, 2.0, n + 1)


@eqx.filter_jit
def sample_paths(sde_model, key, prior=False):
    def one(k):
        return sde_model.solve(t_path, jnp.zeros(1), key=k, dt=dt, solver=solver, prior=prior).xs[:, 0]

    return jax.vmap(one)(jax.random.split(key, N_PATHS))


posterior = np.asarray(sample_paths(res.model, jax.random.key(2)))
prior = np.asarray(sample_paths(res.model, jax.random.key(3), prior=True))  # no control
with jax.enable_x64(True):
    omega64, gammas64 = np.asarray(model.omega, float), np.asarray(model.gammas.value, float)
    exact = np.asarray(bridge_std(n, dt, 0.0, 1.0, omega64, gammas64, "I", obs_sigma=config.obs_sigma))
print(f"posterior std at t = 1: {posterior[:, n // 2].std():.3f}, exact {exact[n // 2]:.3f}")

# %%
loss = np.asarray(res.history["loss"])
fig, axes = plt.subplots(1, 2, figsize=(13, 3.8), constrained_layout=True)
axes[0].plot(res.history["step"], loss, lw=0.5, alpha=0.5)
window = max(len(loss) // 50, 1)
axes[0].plot(res.history["step"][window - 1 :], np.convolve(loss, np.ones(window) / window, "valid"), "C0")
axes[0].set(xlabel="step", ylabel="negative ELBO", title="training")
axes[1].plot(t_path, posterior[:20].T, color="0.7", lw=0.6)
std = posterior.std(axis=0)
axes[1].fill_between(t_path, -std, std, alpha=0.3, label=f"posterior ± std ({N_PATHS} paths)")
axes[1].plot(t_path, exact, "k--", label="exact ± std")
axes[1].plot(t_path, -exact, "k--")
axes[1].plot(t_path, prior.std(axis=0), "C3:", label="prior ± std")
axes[1].plot(t_path, -prior.std(axis=0), "C3:")
axes[1].plot([2.0], [0.0], "ko", label="observation")
axes[1].set(xlabel="t", title=f"bridge, H = {HURST}")
axes[1].legend(fontsize=8, loc="lower left")
plt.show()

# %% [markdown]
# ## Feynman-Kac correctors: sampling a product of experts
#
# Two Gaussian mixtures ("up": modes at `(±1.5, 1.5)`, "down": at `(±1.5, -1.5)`, std 0.4) with exact scores
# under the variance-exploding SDE. Their product has modes at `(±1.5, 0)` with std `0.4/√2 ≈ 0.283` and equal
# masses. The reverse SDE with the summed scores (`corrected=False`) gives modes too narrow; the FKC sampler
# (`corrected=True`) weights the particles by the Feynman-Kac term and resamples them (systematic resampling
# every step), and recovers the product. `GaussianMixture.product` gives the exact answer.

# %%
sde = VE(sigma_max=10.0)
up = GaussianMixture.isotropic([0.5, 0.5], [[-1.5, 1.5], [1.5, 1.5]], 0.4)
down = GaussianMixture.isotropic([0.5, 0.5], [[-1.5, -1.5], [1.5, -1.5]], 0.4)
target = Product((up.score_fn(sde), down.score_fn(sde)))
exact_product = up.product(down)
exact_samples = np.asarray(exact_product.sample(jax.random.key(5), FKC_PARTICLES))

runs = {}
for corrected in (True, False):
    sampler = jax.jit(
        lambda k, c=corrected: sample_fkc(
            target, sde, key=k, num_samples=FKC_PARTICLES, dim=2, steps=FKC_STEPS, corrected=c
        )
    )
    runs[corrected] = sampler(jax.random.key(0))
print(f"exact product: std across the modes {exact_samples[:, 1].std():.3f}")
for corrected, r in runs.items():
    x = np.asarray(r.samples)
    print(
        f"corrected={corrected!s:5s}: std across the modes {x[:, 1].std():.3f}, right-hand mass "
        f"{(x[:, 0] > 0).mean():.2f}, smallest ESS {float(r.ess.min()):.0f} of {FKC_PARTICLES}"
    )

# %%
grid = np.linspace(-3, 3, 121)
xx, yy = np.meshgrid(grid, grid)
points = jnp.stack([xx.ravel(), yy.ravel()], axis=1)
density = np.exp(np.asarray(jax.vmap(exact_product.log_prob)(points))).reshape(xx.shape)
samples = {"exact product": exact_samples, "FKC (corrected)": np.asarray(runs[True].samples),
           "summed scores (uncorrected)": np.asarray(runs[False].samples)}  # fmt: skip
fig, axes = plt.subplots(1, 3, figsize=(15, 4), constrained_layout=True)
for ax, name in zip(axes[:2], ("FKC (corrected)", "summed scores (uncorrected)")):
    ax.contour(xx, yy, density, levels=6, colors="k", linewidths=0.6)
    ax.scatter(samples[name][:, 0], samples[name][:, 1], s=1, alpha=0.3)
    ax.set(title=f"{name} over the exact density", xlim=(-3, 3), ylim=(-1.5, 1.5), xlabel="x", ylabel="y")
bins = np.linspace(-1.5, 1.5, 61)
for (name, x), style in zip(samples.items(), ("k-", "C0-", "C3-")):
    hist, edges = np.histogram(x[:, 1], bins=bins, density=True)
    axes[2].step(edges[:-1], hist, style, where="post", label=f"{name}: std {x[:, 1].std():.3f}")
axes[2].set(title="across the modes: the y coordinate", xlabel="y", ylabel="density")
axes[2].legend(fontsize=8)
plt.show()

# %% [markdown]
# `scimlx bench sde --quick` runs the bridge against its exact band at several Hurst indices, recovers Hurst
# indices from data, compares the ELBO with Brownian noise's, measures the ODE-SDE gap of score-based
# diffusion with Fokker-Planck regularisation, and compares FKC with the uncorrected samplers on products and
# annealed mixtures.
