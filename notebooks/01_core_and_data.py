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
# # scimlx 1: the shared PDE-residual core and the data recipes
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scimlx/scimlx/blob/main/notebooks/01_core_and_data.ipynb)
#
# Every method in scimlx stands on `scimlx.core`: an equation is written once, as an Equinox module with a
# `residual(field)`, and the residual is evaluated either by automatic differentiation at points
# (`PointField`, used by the PINNs and the score models) or spectrally and by finite differences on a grid
# (`GridField`, used by the data generators, the operators' losses and MEDIDA's term library). This notebook
#
# 1. checks an exact solution of viscous Burgers against both backends, and watches the grid residual
#    converge at second order in time;
# 2. generates the benchmark data with `scimlx.datasets.load` (Darcy, Burgers, Navier-Stokes,
#    Kuramoto-Sivashinsky), plots samples, and checks a generated Darcy solution against the core's `Darcy`
#    residual.

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
# The defaults run in well under a minute on a laptop CPU. `PAPER_SCALE = True` generates the data sets at the
# sizes of the papers that use them (for a GPU: the paper presets solve on finer grids and subsample):
# Darcy with FNO's 1,000 training and 200 test samples at 85 x 85 nodes (solved at 421 x 421), FNO's
# Burgers at 1,024 points (solved at 8,192), Navier-Stokes at 64 x 64 (solved at 256 x 256, `dt = 1e-4`,
# `nu = 1e-5`, 20 time units) and Kuramoto-Sivashinsky on MEDIDA's grid of 1,024 points.

# %% tags=["parameters"]
PAPER_SCALE = False  # True: the papers' data sizes (a GPU; see above)

N_POINTS = 1000  # random points for the autodiff residual
N_SPACE = 64  # Fourier points of the periodic x axis of the grid residual
TIME_POINTS = [8, 16, 32, 64, 128]  # time grids of the convergence check
N_TRAIN, N_TEST = 8, 2  # samples per data set
DARCY_RESOLUTION = 33  # nodes per side, boundary included
BURGERS_RESOLUTION = 256
NS_RESOLUTION, NS_RECORDS, NS_DT = 32, 6, 1e-3  # grid, time units recorded, solver step
KS_RESOLUTION, KS_RECORDS = 128, 64  # one trajectory
PRESETS = {}  # recipe name -> its preset, replacing the CPU sizes above

if PAPER_SCALE:
    N_TRAIN, N_TEST, NS_RECORDS, KS_RECORDS = 1000, 200, 20, 2001
    PRESETS = {
        "darcy": "paper",
        "burgers_1d": "paper",
        "navier_stokes_2d": "paper",
        "kuramoto_sivashinsky": "medida",
    }

# %%
import jax
import jax.numpy as jnp
import matplotlib.pyplot as plt
import numpy as np

import scimlx
from scimlx.core import EQUATIONS, Box, Burgers, Darcy, Grid, GridField, PointField

print("scimlx", scimlx.__version__, "| JAX", jax.__version__, "on", jax.devices()[0].platform)
print("equation catalogue:", ", ".join(sorted(EQUATIONS)))

# %% [markdown]
# ## One equation, two backends
#
# The Cole-Hopf solution of `u_t + (u²/2)_x = ν u_xx` on the periodic interval `[0, 2π)`, with time as the
# last coordinate. `PointField(u, z, time=True)` differentiates the function `u` at one point by autodiff;
# `jax.vmap` evaluates it on a batch of random points. `GridField` takes the same function sampled on a grid
# (Fourier derivatives along the periodic `x`, finite differences along `t`).

# %%
nu = 0.1
eq = Burgers(viscosity=nu)


def u_exact(z):  # z = (x, t)
    e = jnp.exp(-nu * z[1])
    return 2 * nu * e * jnp.sin(z[0]) / (2 + e * jnp.cos(z[0]))


z = jax.random.uniform(jax.random.key(0), (N_POINTS, 2)) * jnp.array([2 * jnp.pi, 1.0])
at_points = jax.vmap(lambda zi: eq.residual(PointField(u_exact, zi, time=True)))(z)
print(f"autodiff residual at {N_POINTS} points: max |r| = {float(jnp.abs(at_points).max()):.1e} (round-off)")

# %% [markdown]
# The grid residual is exact in `x` (spectral) and second-order in `t`; in float64 its error falls by 4 each
# time the time grid is refined by 2.

# %%
with jax.enable_x64(True):
    errors = []
    for nt in TIME_POINTS:
        grid = Grid((N_SPACE, nt), Box((0, 0), (2 * jnp.pi, 1)), periodic=(True, False))
        r = eq.residual(GridField(grid.evaluate(u_exact), grid, time=True))
        errors.append(float(jnp.abs(r).max()))
    u_grid, r_grid = np.asarray(grid.evaluate(u_exact)), np.asarray(r)

orders = np.log2(np.array(errors[:-1]) / np.array(errors[1:]))
print("max |residual| per time grid:", ", ".join(f"{nt}: {e:.1e}" for nt, e in zip(TIME_POINTS, errors)))
print("observed orders:", np.round(orders, 2))

fig, axes = plt.subplots(1, 3, figsize=(14, 3.6), constrained_layout=True)
extent = (0, 2 * np.pi, 0, 1)
im = axes[0].imshow(u_grid.T, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r")
fig.colorbar(im, ax=axes[0])
axes[0].set(title="exact solution u(x, t)", xlabel="x", ylabel="t")
im = axes[1].imshow(r_grid.T, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r")
fig.colorbar(im, ax=axes[1])
axes[1].set(title=f"grid residual, {TIME_POINTS[-1]} time points", xlabel="x", ylabel="t")
dts = 1.0 / (np.array(TIME_POINTS) - 1)
axes[2].loglog(dts, errors, "o-", label="max |residual|")
axes[2].loglog(dts, errors[-1] * (dts / dts[-1]) ** 2, "k--", label="slope 2")
axes[2].set(title="convergence in time", xlabel="dt", ylabel="max |residual|")
axes[2].legend()
plt.show()

# %% [markdown]
# ## The data recipes
#
# `scimlx.datasets.load(name, n_train, n_test, ...)` generates a data set with jit-compiled, vmapped solvers
# and caches it on disk (under `$SCIMLX_DATA`, else the user cache directory) with a checksummed sidecar: a
# second call with the same arguments reads the file. Arrays are channels-first numpy arrays; `ds.grid` is the
# core's `Grid` of the spatial axes.

# %%
from scimlx.datasets import load


def sizes(name, **cpu):
    """The recipe's preset if PRESETS names one, else the CPU sizes."""
    return {"preset": PRESETS[name]} if name in PRESETS else cpu


darcy = load("darcy", N_TRAIN, N_TEST, progress=False, **sizes("darcy", resolution=DARCY_RESOLUTION))
print(darcy)
print(darcy.grid)
darcy.plot(n=2)
plt.show()

# %% [markdown]
# The Darcy solutions come from a 5-point finite-volume discretisation of `-∇·(a∇u) = 1`, solved by
# Jacobi-preconditioned CG. The core's `Darcy` equation on a `GridField` uses the same flux form, so its
# residual on a generated pair is the solver's residual: small at every interior node (float32, CG tolerance
# `1e-6`), while the boundary rows hold the Dirichlet condition instead of the equation.

# %%
a, u = darcy.x_train[0, 0], darcy.y_train[0, 0]
residual = np.asarray(
    Darcy(coefficient=jnp.asarray(a), source=1.0).residual(GridField(jnp.asarray(u), darcy.grid))
)
interior = np.abs(residual[1:-1, 1:-1])
print(f"Darcy residual of sample 0 on the interior: max {interior.max():.1e}, mean {interior.mean():.1e}")

fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), constrained_layout=True)
for ax, field, title in ((axes[0], a, "coefficient a"), (axes[1], u, "solution u")):
    fig.colorbar(ax.imshow(field.T, origin="lower", cmap="viridis"), ax=ax)
    ax.set_title(title)
fig.colorbar(axes[2].imshow(interior.T, origin="lower", cmap="magma"), ax=axes[2])
axes[2].set_title("|-∇·(a∇u) - 1| on the interior")
plt.show()

# %% [markdown]
# Three more recipes: FNO's 1-D Burgers map `u(·, 0) -> u(·, 1)` (ETDRK4; at the paper's `ν = 0.1` the
# solution at `t = 1` keeps a few per cent of the initial amplitude), 2-D vorticity Navier-Stokes on the
# torus (the first frame as input, the next frames as targets) and Kuramoto-Sivashinsky trajectories, whose
# full records are in `arrays_train["u"]`.

# %%
burgers = load(
    "burgers_1d", N_TRAIN, N_TEST, progress=False, **sizes("burgers_1d", resolution=BURGERS_RESOLUTION)
)
print(burgers)
burgers.plot(n=2)
plt.show()

# %%
ns_sizes = sizes("navier_stokes_2d", resolution=NS_RESOLUTION, dt=NS_DT)
ns = load(
    "navier_stokes_2d",
    N_TRAIN,
    N_TEST,
    n_records=NS_RECORDS,
    t_in=1,
    t_out=NS_RECORDS - 1,
    progress=False,
    **ns_sizes,
)
print(ns)
ns.plot(n=2)
plt.show()

# %%
ks_sizes = sizes("kuramoto_sivashinsky", resolution=KS_RESOLUTION)
ks = load("kuramoto_sivashinsky", 1, 0, n_records=KS_RECORDS, progress=False, **ks_sizes)
trajectory = ks.arrays_train["u"][0]  # (records, points)
print(ks, "| trajectory", trajectory.shape)
length = ks.params["length"]
plt.figure(figsize=(8, 3.2))
plt.imshow(trajectory, origin="lower", aspect="auto", cmap="RdBu_r",
           extent=(0, length, 0, ks.params["record_every"] * (trajectory.shape[0] - 1)))  # fmt: skip
plt.colorbar(label="u")
plt.xlabel("x")
plt.ylabel("t")
plt.title("Kuramoto-Sivashinsky trajectory (after the spin-up)")
plt.show()

# %% [markdown]
# `scimlx data list` (command line) shows every recipe with its parameters and presets; `scimlx.datasets`
# also reads and writes FNO `.mat` files, PDEBench HDF5 and `.npz` into the same `PDEDataset`.
