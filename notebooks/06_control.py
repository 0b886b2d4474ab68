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
# # scimlx 6: model-error discovery with MEDIDA
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scimlx/scimlx/blob/main/notebooks/06_control.ipynb)
#
# MEDIDA (Mojgani, Chattopadhyay & Hassanzadeh, Chaos 2022) finds what an imperfect numerical model is
# missing, as readable terms. At a few sample times it compares observed states with the model's one-step
# forecasts, regresses the increments on a library of candidate terms (`u^p ∂ₓ^d u`, evaluated on the core's
# `GridField`) by a relevance vector machine (sparse Bayesian regression), and adds the terms it keeps to the
# model. With noisy observations, an ensemble Kalman filter analyses the states first.
#
# The truth here is the Kuramoto-Sivashinsky equation `u_t + u u_x + u_xx + u_xxxx = 0` on MEDIDA's periodic
# domain of length 100; the imperfect models are MEDIDA's 24 cases of missing, wrong or spurious terms
# (`MEDIDA_CASES`), advanced by its Crank-Nicolson / Adams-Bashforth scheme.

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
# The defaults put MEDIDA's domain on a 256-point grid, spin the truth up for 50 time units and record 20
# (seconds on a CPU). `PAPER_SCALE = True` sets MEDIDA's own settings: 1,024 points, a spin-up of 100 time
# units, records over `t ∈ [100, 200]`, and for the noisy case ensembles of up to `10 n = 10,240` members
# (minutes on a GPU).

# %% tags=["parameters"]
PAPER_SCALE = False  # True: MEDIDA's settings (see above)

N, LENGTH = 256, 100.0  # grid points, domain length
TRUTH_DT, MODEL_DT = 1e-3, 5e-3  # the truth's ETDRK4 step, the imperfect model's step (= the record spacing)
SPINUP, SPAN = 50.0, 20.0  # time units before the first record, and recorded
SAMPLES = 10  # sample times MEDIDA regresses on
CASE = ("KS", 10)  # the imperfect model: every coefficient doubled, (2, 2, 2) instead of (1, 1, 1)
FORECAST_TIME = 10.0  # time units of the forecast comparison
NOISY_CASE, NOISE = ("KS", 3), 0.01  # u_xxxx missing; 1% noise
MEMBERS_PER_POINT = (1, 10)  # ensembles of n and 10 n members

if PAPER_SCALE:
    N, SPINUP, SPAN = 1024, 100.0, 100.0

# %%
import equinox as eqx
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

from scimlx.control import MEDIDA_CASES, Assimilation, KSModel, medida, medida_case_error
from scimlx.datasets import ks_solve, medida_initial_condition

jax.config.update("jax_enable_x64", True)  # MEDIDA's regression and models run in float64
print("JAX on", jax.devices()[0].platform)

# %% [markdown]
# ## The truth
#
# ETDRK4 at `dt = 1e-3` from MEDIDA's initial condition, recorded every model step.

# %%
u0 = jnp.asarray(medida_initial_condition(N, LENGTH))
every = round(MODEL_DT / TRUTH_DT)
truth = ks_solve(
    u0, length=LENGTH, dt=TRUTH_DT, n_steps=round(SPAN / TRUTH_DT), save_every=every,
    warmup_steps=round(SPINUP / TRUTH_DT),
)  # fmt: skip
truth = np.asarray(truth)
print(f"truth: {truth.shape[0]} records of {truth.shape[1]} points")

plt.figure(figsize=(9, 3.2))
plt.imshow(truth.T, origin="lower", aspect="auto", cmap="RdBu_r", extent=(SPINUP, SPINUP + SPAN, 0, LENGTH))
plt.colorbar(label="u")
plt.xlabel("t")
plt.ylabel("x")
plt.title("Kuramoto-Sivashinsky, the truth")
plt.show()

# %% [markdown]
# ## Discovering the model error
#
# The imperfect model of case `CASE` and the correction it needs (`medida_case_error`), then MEDIDA on the
# noise-free records: `result.regression` holds the coefficients and their posterior standard deviations
# over the library; `result.model` is the corrected model (discovered linear terms in its implicit part).

# %%
model = KSModel.from_medida_case(*CASE, n=N, length=LENGTH, dt=MODEL_DT)
expected = medida_case_error(*CASE)
print(f"case {CASE}: model coefficients (l1, l2, l3) = {MEDIDA_CASES[CASE][:3]}, truth (1, 1, 1)")
print("missing (true correction):", " + ".join(f"{c:+g} {name}" for name, c in expected.items()))
result = medida(truth, model, samples=SAMPLES)
print("discovered:", result)

# %%
reg = result.regression
names = list(reg.names)
found = np.asarray(reg.coefficients)
std = np.asarray(reg.std)
true = np.array([expected.get(name, 0.0) for name in names])
x = np.arange(len(names))
plt.figure(figsize=(12, 3.6))
plt.bar(x - 0.2, true, 0.4, label="true model error", color="0.6")
plt.bar(x + 0.2, found, 0.4, yerr=2 * std, label="MEDIDA (± 2 std)", color="C0")
plt.axhline(0, color="k", lw=0.5)
plt.xticks(x, names, rotation=60, fontsize=8)
plt.ylabel("coefficient on the right-hand side")
plt.title(f"case {CASE}: the library's {len(names)} terms")
plt.legend()
plt.tight_layout()
plt.show()

# %% [markdown]
# ## Forecasts: imperfect against corrected
#
# Both models start from two consecutive true states and run for `FORECAST_TIME` time units (KS is chaotic:
# any error grows, a smaller one later).


# %%
@eqx.filter_jit
def forecast(ks_model, u_prev, u, steps):
    def step(carry, _):
        a, b = carry
        c = ks_model(a, b)
        return (b, c), c

    _, states = jax.lax.scan(step, (u_prev, u), None, length=steps)
    return states


steps = round(FORECAST_TIME / MODEL_DT)
start = truth.shape[0] - steps - 1  # the forecasts end at the last record
reference = truth[start + 1 : start + 1 + steps]
runs = {
    "imperfect": np.asarray(forecast(model, truth[start - 1], truth[start], steps)),
    "corrected": np.asarray(forecast(result.model, truth[start - 1], truth[start], steps)),
}
t = MODEL_DT * np.arange(1, steps + 1)
rmse = {k: np.sqrt(np.mean((v - reference) ** 2, axis=1)) for k, v in runs.items()}
one = round(1 / MODEL_DT) - 1  # one time unit
for k, v in rmse.items():
    print(f"{k:9s} RMSE after 1 time unit {v[one]:.2e}, after {FORECAST_TIME:g}: {v[-1]:.2e}")

fig, axes = plt.subplots(1, 4, figsize=(16, 3.6), constrained_layout=True)
lim = np.abs(reference).max()
for ax, (title, field) in zip(axes, (("truth", reference), *runs.items())):
    im = ax.imshow(field.T, origin="lower", aspect="auto", cmap="RdBu_r", vmin=-lim, vmax=lim,
                   extent=(0, FORECAST_TIME, 0, LENGTH))  # fmt: skip
    ax.set(title=title if title == "truth" else f"{title} model", xlabel="forecast time", ylabel="x")
fig.colorbar(im, ax=axes[:3], shrink=0.8)
for k, v in rmse.items():
    axes[3].semilogy(t, v, label=f"{k} model")
axes[3].set(xlabel="forecast time", ylabel="RMSE", title="forecast error")
axes[3].legend()
plt.show()

# %% [markdown]
# ## Noisy observations and the ensemble Kalman filter
#
# MEDIDA's noise, 1% of the state's standard deviation, on the two states the model steps from (case
# `NOISY_CASE`, `u_xxxx` missing, README's example). MEDIDA's `Assimilation`, a stochastic ensemble Kalman
# filter perturbing the state by 0.25, analyses the state first; it needs a large ensemble: with `n` members
# the rank-deficient ensemble covariance leaves the noise in the analysis, with `10 n` the terms come back.
# As in MEDIDA's code, the state at the forecast time is observed without noise; against that observation the
# plain increment, without a filter, does as well, and with that state noisy too no ensemble size helps (one
# draw here; `benchmarks/RESULTS.md` has three seeds and the sizes in between).

# %%
noisy_model = KSModel.from_medida_case(*NOISY_CASE, n=N, length=LENGTH, dt=MODEL_DT)
print("missing:", medida_case_error(*NOISY_CASE))
plain = medida(truth, noisy_model, samples=SAMPLES, noise=NOISE, key=jax.random.key(0))
print(f"{NOISE:.0%} noise, no filter:       {plain}")
for m in MEMBERS_PER_POINT:
    filtered = medida(
        truth, noisy_model, samples=SAMPLES, noise=NOISE, key=jax.random.key(0),
        assimilation=Assimilation(members=m * N),
    )  # fmt: skip
    print(f"{NOISE:.0%} noise, EnKF of {m * N:>6} members: {filtered}")

# %% [markdown]
# `scimlx bench control --quick` runs all 24 KS cases (discovery, forecast errors, noise with and without the
# filter, the ensemble size) and MEDIDA-QG's nine cases on the two-layer quasi-geostrophic model.
