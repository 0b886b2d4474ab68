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
# # scimlx 2: neural operators
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scimlx/scimlx/blob/main/notebooks/02_operators.ipynb)
#
# A neural operator learns a map between functions from pairs of discretised fields. This notebook trains
# four of scimlx's operators on the same Darcy data, with the same budget, through the papers' recipe
# (`train_operator` on `scimlx.train.fit`):
#
# - **FNO**, the Fourier neural operator (baseline);
# - **U-Net**, PDEBench's convolutional baseline;
# - **LSM**, Latent Spectral Models (Wu et al., ICML 2023): attention to a few latent tokens, a spectral
#   basis in the latent space;
# - **MgNO**, the multigrid neural operator (He et al., ICLR 2024): each layer one multigrid V-cycle of
#   3 x 3 convolutions, with its own recipe (one-cycle schedule, relative H1 loss);
#
# and then **CAPE** (Takamoto et al., TMLR 2023), which conditions an operator on the PDE's parameters, on
# 1-D advection with several speeds, rolled out in time, tested on speeds seen and unseen in training.

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
# The defaults train each model for a few epochs on a small Darcy set at 32 x 32 on a CPU (a couple of
# minutes, mostly compilation): the errors are those of a short run, not of the papers. `PAPER_SCALE = True`
# sets the papers' protocol, for a GPU: Darcy at 85 x 85 (solved at 421 x 421) with 1,000 training and 200
# test samples, 500 epochs of batch 20 with Adam at 5e-4 halved every 100 epochs; LSM at width 64, FNO with 12
# modes and width 32, U-Net with 32 features, MgNO with the `darcy_rough` layers (width 24, 4 layers, six
# levels). For CAPE: PDEBench's advection (1,024 cells and 201 frames, read as 128 cells and 41 frames),
# 9,000 training and 1,000 test samples per speed, 100 epochs of batch 50, the module's spectral branch with
# 16 modes (the advection data alone then take some 40 GB of host memory before they are reduced).

# %% tags=["parameters"]
PAPER_SCALE = False  # True: the papers' settings (a GPU; see above)

# Darcy: data and the shared training budget
N_TRAIN, N_TEST, RESOLUTION, DARCY_PRESET = 48, 16, 32, None
EPOCHS, BATCH_SIZE, LEARNING_RATE, STEP_SIZE = 8, 8, 1e-3, 4
MODELS = {  # name -> constructor arguments
    "FNO": dict(modes=8, width=16),
    "U-Net": dict(width=8),
    "LSM": dict(width=16),
    "MgNO": dict(width=12, n_layers=4, num_iteration=[[1, 0], [1, 0], [1, 0], [2, 0]]),
}
# CAPE on 1-D advection: data (cells, horizon, frame spacing, every k-th cell and frame kept), training
CAPE_CELLS, CAPE_T_FINAL, CAPE_DT_SAVE, CAPE_EVERY_X, CAPE_EVERY_T = 256, 0.5, 0.05, 4, 1
CAPE_TRAIN_PER_BETA, CAPE_TEST_PER_BETA = 16, 2
CAPE_EPOCHS, CAPE_BATCH_SIZE = 12, 8
CAPE_FNO = dict(modes=12, width=20, padding=2)
CAPE_MODULE = dict(width=64, kernel_size=5, modes=8)

if PAPER_SCALE:
    N_TRAIN, N_TEST, RESOLUTION, DARCY_PRESET = 1000, 200, 85, "paper"
    EPOCHS, BATCH_SIZE, LEARNING_RATE, STEP_SIZE = 500, 20, 5e-4, 100
    MODELS = {
        "FNO": dict(modes=12, width=32),
        "U-Net": dict(width=32),
        "LSM": dict(width=64),
        "MgNO": dict(width=24, n_layers=4, num_iteration=[[1, 0]] * 5 + [[2, 0]]),
    }
    CAPE_CELLS, CAPE_T_FINAL, CAPE_DT_SAVE, CAPE_EVERY_X, CAPE_EVERY_T = 1024, 2.0, 0.01, 8, 5
    CAPE_TRAIN_PER_BETA, CAPE_TEST_PER_BETA = 9000, 1000
    CAPE_EPOCHS, CAPE_BATCH_SIZE = 100, 50
    CAPE_MODULE = dict(width=64, kernel_size=5, modes=16)
PROGRESS = PAPER_SCALE  # progress bars for the long runs

# %%
import equinox as eqx
import jax
import matplotlib.pyplot as plt
import numpy as np

from scimlx.datasets import load
from scimlx.operators import (
    CAPE,
    FNO,
    LSM,
    MgNO,
    OperatorConfig,
    UNet,
    apply_batch,
    evaluate_operator,
    rollout,
    train_operator,
)
from scimlx.train import RunOptions, count_params

print("JAX on", jax.devices()[0].platform)

# %% [markdown]
# ## Darcy flow: coefficient to solution
#
# FNO's recipe: a thresholded Gaussian random field `a` (values 12 and 3) and the solution `u` of
# `-∇·(a∇u) = 1` with `u = 0` on the boundary (see notebook 1).

# %%
size = {"preset": DARCY_PRESET} if DARCY_PRESET else {"resolution": RESOLUTION}
ds = load("darcy", N_TRAIN, N_TEST, progress=PROGRESS, **size)
print(ds)
shape = ds.x_train.shape[2:]

# %% [markdown]
# Each model is built with `eqx.nn.make_with_state` (LSM and U-Net keep BatchNorm statistics in an
# `eqx.nn.State`) and trained on the same pairs. `OperatorConfig` is the LSM/FNO recipe (relative L2 summed
# over the batch, Adam with coupled L2 1e-4, a step schedule, point-wise Gaussian normalisation of inputs and
# targets); `OperatorConfig.mgno()` is MgNO's. `train_operator` returns the model, its state and the
# normalisers, which `evaluate_operator` applies to the test set.

# %%
CLASSES = {"FNO": FNO, "U-Net": UNet, "LSM": LSM, "MgNO": MgNO}
results, errors = {}, {}
for i, (name, kwargs) in enumerate(MODELS.items()):
    extra = {"shape": shape} if name == "MgNO" else {}  # MgNO's prolongations follow the grid's parity
    model, state = eqx.nn.make_with_state(CLASSES[name])(
        1, 1, ndim=2, key=jax.random.key(i), **extra, **kwargs
    )
    budget = dict(epochs=EPOCHS, batch_size=BATCH_SIZE, learning_rate=LEARNING_RATE)
    if name == "MgNO":  # its own recipe at the same budget, with the same normalisation
        config = OperatorConfig.mgno("darcy", **budget, normalize="gaussian")
    else:
        config = OperatorConfig(**budget, step_size=STEP_SIZE)
    res = train_operator(
        model, state, ds.x_train, ds.y_train, key=jax.random.key(100 + i), config=config,
        run=RunOptions(progress=PROGRESS),
    )  # fmt: skip
    results[name] = res
    errors[name] = evaluate_operator(
        res.model,
        res.state,
        ds.x_test,
        ds.y_test,
        x_normalizer=res.x_normalizer,
        y_normalizer=res.y_normalizer,
    )
    print(
        f"{name:6s} {count_params(res.model):>9,} parameters | test relative L2 {errors[name]:.3f} | "
        f"{res.seconds_per_epoch:.2f} s per epoch, {res.compile_seconds:.0f} s compiling"
    )

# %% [markdown]
# Training losses (relative L2 summed over each batch of `BATCH_SIZE`) and the test errors:

# %%
fig, axes = plt.subplots(1, 2, figsize=(12, 3.6), constrained_layout=True)
for name, res in results.items():
    axes[0].semilogy(res.history["step"], np.asarray(res.history["loss"]) / BATCH_SIZE, label=name)
axes[0].set(xlabel="step", ylabel="training loss per sample", title="training")
axes[0].legend()
axes[1].bar(list(errors), list(errors.values()), color=[f"C{i}" for i in range(len(errors))])
axes[1].set(ylabel="mean relative L2", title=f"test error after {EPOCHS} epochs ({ds.n_test} samples)")
plt.show()

# %% [markdown]
# Prediction, truth and error on one test sample. A prediction is the model applied to the normalised input
# in inference mode (`apply_batch(..., inference=True)`: BatchNorm's running statistics), decoded by the
# target's normaliser.


# %%
@eqx.filter_jit
def predict(model, state, x_normalizer, y_normalizer, x):
    y, _ = apply_batch(model, state, x_normalizer.encode(x), inference=True)
    return y_normalizer.decode(y)


x, y = ds.x_test[:1], ds.y_test[0, 0]
n = len(results)
fig, axes = plt.subplots(2, n + 1, figsize=(3.2 * (n + 1), 5.6), constrained_layout=True)
for ax, field, title in ((axes[0, 0], x[0, 0], "input a"), (axes[1, 0], y, "truth u")):
    fig.colorbar(ax.imshow(field.T, origin="lower", cmap="viridis"), ax=ax, shrink=0.8)
    ax.set_title(title)
for j, (name, res) in enumerate(results.items(), start=1):
    pred = np.asarray(predict(res.model, res.state, res.x_normalizer, res.y_normalizer, x))[0, 0]
    im = axes[0, j].imshow(pred.T, origin="lower", cmap="viridis", vmin=y.min(), vmax=y.max())
    fig.colorbar(im, ax=axes[0, j], shrink=0.8)
    axes[0, j].set_title(f"{name} prediction")
    fig.colorbar(
        axes[1, j].imshow(np.abs(pred - y).T, origin="lower", cmap="magma"), ax=axes[1, j], shrink=0.8
    )
    axes[1, j].set_title(f"|error| (rel. L2 {np.linalg.norm(pred - y) / np.linalg.norm(y):.3f})")
for ax in axes.flat:
    ax.set_xticks([])
    ax.set_yticks([])
plt.show()

# %% [markdown]
# ## CAPE: an operator conditioned on the PDE's parameters
#
# PDEBench's 1-D advection `u_t + β u_x = 0` (periodic, finite-volume MUSCL, solved on a finer grid and read
# every few cells, as CAPE's reference reads PDEBench's files) with CAPE's five training speeds
# β ∈ {0.2, 0.4, 0.7, 2, 4} (the recipe cycles through them over the samples), and three speeds never seen in
# training, β ∈ {0.1, 1, 7}. The model predicts one frame from the last and is rolled out from the first
# frame over all the others.

# %%
from scimlx.datasets import CAPE_ADVECTION_BETAS

SEEN, UNSEEN = CAPE_ADVECTION_BETAS, (0.1, 1.0, 7.0)
cape_data = dict(resolution=CAPE_CELLS, t_final=CAPE_T_FINAL, dt_save=CAPE_DT_SAVE, progress=PROGRESS)
adv = load(
    "advection_1d", CAPE_TRAIN_PER_BETA * len(SEEN), CAPE_TEST_PER_BETA * len(SEEN), beta=SEEN, **cape_data
)
new = load("advection_1d", CAPE_TEST_PER_BETA * len(UNSEEN), 0, beta=UNSEEN, seed=1, **cape_data)


def trajectories(arrays):
    """The trajectories `(n, frames, cells)`, reduced as CAPE's reference reads them, and β `(n, 1)`."""
    u = arrays["u"][:, ::CAPE_EVERY_T, ::CAPE_EVERY_X].astype(np.float32)
    return u, arrays["beta"][:, None].astype(np.float32)


u_train, beta_train = trajectories(adv.arrays_train)
u_test, beta_test = trajectories(adv.arrays_test)
u_new, beta_new = trajectories(new.arrays_train)
print(
    f"training trajectories {u_train.shape}, speeds {sorted({round(float(b), 3) for b in beta_train[:, 0]})}"
)

# %% [markdown]
# CAPE wraps a base operator: its module turns β into channel weights of three convolution branches and
# guesses the next state, which the base (an FNO on two channels) sees beside the current one.
# `OperatorConfig.cape()` is the reference recipe: input noise, warm-up epochs that train the module alone on
# its auxiliary loss, then the curriculum from teacher forcing to autoregressive training.

# %%
cells = u_train.shape[-1]
base = FNO(2, 2, ndim=1, key=jax.random.key(10), **CAPE_FNO)
cape = CAPE(
    base, channels=1, n_params=1, shape=(cells,), padding="circular", key=jax.random.key(11), **CAPE_MODULE
)
config = OperatorConfig.cape(ndim=1, epochs=CAPE_EPOCHS, batch_size=CAPE_BATCH_SIZE)
res = train_operator(
    cape, None, u_train[:, :1], u_train[:, 1:], key=jax.random.key(12), task="autoregressive",
    config=config, pde_params_train=beta_train, run=RunOptions(progress=PROGRESS),
)  # fmt: skip
seen_error = evaluate_operator(
    res.model, None, u_test[:, :1], u_test[:, 1:], task="autoregressive", pde_params=beta_test
)
unseen_error = evaluate_operator(
    res.model, None, u_new[:, :1], u_new[:, 1:], task="autoregressive", pde_params=beta_new
)
print(f"CAPE-FNO, {count_params(res.model):,} parameters, {CAPE_EPOCHS} epochs")
print(f"rollout relative L2: seen speeds {seen_error:.3f}, unseen speeds {unseen_error:.3f}")

# %% [markdown]
# Rollouts from the first frame of a test trajectory at a seen and at an unseen speed. After a dozen epochs on
# a CPU the waves move at about the right speed but lose amplitude as the rollout goes on; the benchmark's
# longer runs and the paper's 100 epochs on 45,000 trajectories (`PAPER_SCALE`) are what sharpen them.

# %%
rollout_fn = eqx.filter_jit(lambda m, u0, p, n: rollout(m, None, u0, n, pde_params=p, inference=True)[0])
# one test trajectory at a seen speed (0.7) and one at an unseen speed (1)
cases = [("seen", u_test, beta_test, int(np.argmin(np.abs(beta_test[:, 0] - 0.7)))),
         ("unseen", u_new, beta_new, int(np.argmin(np.abs(beta_new[:, 0] - 1.0))))]  # fmt: skip
fig, axes = plt.subplots(
    len(cases), 3, figsize=(12, 3.2 * len(cases)), constrained_layout=True, squeeze=False
)
t_axis = (0, 1, 0, CAPE_DT_SAVE * CAPE_EVERY_T * (u_test.shape[1] - 1))
for row, (label, u, beta, k) in zip(axes, cases):
    pred = np.asarray(rollout_fn(res.model, u[k : k + 1, :1], beta[k : k + 1], u.shape[1] - 1))[0]
    pred = np.concatenate([u[k, :1], pred])  # the first frame is given
    lim = np.abs(u[k]).max()
    for ax, field, title in ((row[0], u[k], "truth"), (row[1], pred, "CAPE-FNO rollout")):
        im = ax.imshow(
            field, origin="lower", aspect="auto", cmap="RdBu_r", extent=t_axis, vmin=-lim, vmax=lim
        )
        ax.set(title=f"{title}, β = {beta[k, 0]:g} ({label})", xlabel="x", ylabel="t")
    fig.colorbar(im, ax=row[:2], shrink=0.8)
    im = row[2].imshow(np.abs(pred - u[k]), origin="lower", aspect="auto", cmap="magma", extent=t_axis)
    fig.colorbar(im, ax=row[2], shrink=0.8)
    row[2].set(title="|error|", xlabel="x", ylabel="t")
plt.show()

# %% [markdown]
# `scimlx bench operators --quick` runs these comparisons at a larger CPU scale (and CAPE against the bases it
# wraps, on advection and Burgers); without `--quick`, at the papers' scale on a GPU. `benchmarks/RESULTS.md`
# records the figures.
