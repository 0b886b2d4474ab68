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
# # scimlx 4: learned and preconditioned linear solvers
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scimlx/scimlx/blob/main/notebooks/04_solvers.ipynb)
#
# Incompressible-flow solvers spend most of their time on a pressure Poisson system `A x = b`, large, sparse,
# symmetric positive definite. This notebook solves one such system, on a 3-D grid with solid obstacles and an
# open top, with
#
# - **CG**, conjugate gradients (matrix-free, the core's `cg`), and **Jacobi-PCG**;
# - **multigrid-PCG**: CG preconditioned by one geometric multigrid V-cycle;
# - **DCDM**, the deep conjugate direction method (Kaneda et al., ICML 2023): a CNN maps the normalised
#   residual to a search direction, which is A-orthogonalised against the last two, with an exact line
#   search. scimlx ships a network trained at 16³ (`pretrained_dcdm()`), which this notebook uses on a
#   geometry and a right-hand side it never saw;
#
# and plots the residual histories.

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
# The default is the grid the shipped network was trained on, 16³, where a solve takes seconds on a CPU.
# `PAPER_SCALE = True` takes the paper's smallest grid, 64³, with the reference's limits (tolerance 1e-4, at
# most 100 DCDM iterations): the shipped 16³ network does not carry over to it (the paper trains one
# network per grid size, on a GPU; `scimlx bench solvers` does so, and `train_dcdm` is the API), so expect
# DCDM to stop at its iteration limit there while CG and multigrid-PCG converge.

# %% tags=["parameters"]
PAPER_SCALE = False  # True: the paper's grid (see above)

SIZE = 16  # cells per side
TOL = 1e-4  # relative residual ||b - Ax|| / ||b||
MAX_ITER = 1000  # CG and PCG
DCDM_MAX_ITER = 100  # the reference's limit
GEOMETRY_SEED, RHS_SEED = 0, 1

if PAPER_SCALE:
    SIZE = 64

# %%
import jax
import matplotlib.pyplot as plt
import numpy as np

from scimlx.datasets import FLUID, SOLID, make_geometry, poisson_system, random_rhs
from scimlx.solvers import cg, dcdm, multigrid_preconditioner, pcg, pretrained_dcdm, pretrained_info

print("JAX on", jax.devices()[0].platform)

# %% [markdown]
# ## The system
#
# `make_geometry` draws solid spheres and a box in a closed tank; `poisson_system` builds the pressure-Poisson
# operator on its fluid cells (marker-and-cell grid, the `+y` face open), matrix-free. `random_rhs` is the
# divergence of a random smooth velocity field, normalised: the kind of right-hand side a projection step
# produces.

# %%
flags = make_geometry((SIZE, SIZE, SIZE), key=jax.random.key(GEOMETRY_SEED))
system = poisson_system(flags)
b = random_rhs(system, key=jax.random.key(RHS_SEED))
print(
    f"{SIZE}³ grid: {int((np.asarray(flags) == FLUID).sum()):,} fluid cells, open faces {system.open_faces}"
)

solid = np.asarray(flags) == SOLID
k = int(np.argmax(solid.sum(axis=(0, 1))))  # the z-slice through most of the obstacles


def on_slice(field):
    """`field` on the slice z = k, solid cells masked (shown white)."""
    return np.ma.masked_where(solid[:, :, k], np.asarray(field)[:, :, k]).T


fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
axes[0].imshow(solid[:, :, k].T, origin="lower", cmap="Greys")
axes[0].set(title=f"solid cells (black), slice z = {k}", xlabel="x", ylabel="y")
fig.colorbar(axes[1].imshow(on_slice(b), origin="lower", cmap="RdBu_r"), ax=axes[1])
axes[1].set(title="right-hand side b", xlabel="x", ylabel="y")
plt.show()

# %% [markdown]
# ## The pretrained network and the solves
#
# Each solver returns a `SolveResult`: the solution, the iteration count, whether it converged, and the
# relative residual after each iteration (`residual_history`, NaN after the last).

# %%
info = pretrained_info()
print(f"pretrained network {info['name']!r}: trained at {info['recipe']['size']}³ ({info['command']})")
net = pretrained_dcdm()

results = {
    "CG": cg(system.operator, b, tol=TOL, maxiter=MAX_ITER),
    "Jacobi-PCG": pcg(system.operator, b, tol=TOL, maxiter=MAX_ITER),
    "multigrid-PCG": pcg(
        system.operator, b, tol=TOL, maxiter=MAX_ITER, preconditioner=multigrid_preconditioner(system)
    ),
    "DCDM": dcdm(system.operator, b, net, tol=TOL, max_iter=DCDM_MAX_ITER, mask=system.fluid),
}
for name, res in results.items():
    true = float(np.linalg.norm(np.asarray(b - system.operator.mv(res.x))) / np.linalg.norm(np.asarray(b)))
    print(
        f"{name:14s} {int(res.iterations):4d} iterations, converged: {bool(res.converged)}, "
        f"true relative residual {true:.1e}"
    )

# %% [markdown]
# The residual histories: DCDM needs a third to a quarter of CG's iterations at the size its network was
# trained for (each of its iterations applies the network, so on a CPU it is not faster in time), and
# multigrid-PCG needs fewer still.

# %%
plt.figure(figsize=(7, 4))
for name, res in results.items():
    history = np.asarray(res.residual_history)
    history = history[np.isfinite(history)]
    plt.semilogy(np.arange(len(history)), history, label=f"{name} ({len(history) - 1})")
plt.axhline(TOL, color="k", ls=":", lw=1, label="tolerance")
plt.xlabel("iteration")
plt.ylabel("relative residual ||b - Ax|| / ||b||")
plt.title(f"pressure Poisson, {SIZE}³ grid with obstacles")
plt.legend()
plt.show()

# %% [markdown]
# The DCDM solution on the middle slice, and how far it is from the multigrid-PCG one:

# %%
x_dcdm, x_mg = results["DCDM"].x, results["multigrid-PCG"].x
fig, axes = plt.subplots(1, 2, figsize=(9, 3.8), constrained_layout=True)
fig.colorbar(axes[0].imshow(on_slice(x_dcdm), origin="lower", cmap="RdBu_r"), ax=axes[0])
axes[0].set(title=f"DCDM solution (pressure), z = {k}", xlabel="x", ylabel="y")
fig.colorbar(axes[1].imshow(np.abs(on_slice(x_dcdm - x_mg)), origin="lower", cmap="magma"), ax=axes[1])
axes[1].set(title="|DCDM - multigrid-PCG|", xlabel="x", ylabel="y")
plt.show()

# %% [markdown]
# `scimlx bench solvers --quick` trains a network and compares CG, Jacobi-PCG, multigrid-PCG, DCDM and SciPy's
# CG at 16³, 32³ and 64³; without `--quick`, at the paper's 64³, 128³ and 256³ on a GPU.
