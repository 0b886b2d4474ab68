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
# # scimlx 3: physics-informed solvers
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/scimlx/scimlx/blob/main/notebooks/03_pinns.ipynb)
#
# A physics-informed model is trained on the residual of its PDE at collocation points (the core's
# `PointField`: autodiff of the model at a point) plus its boundary and initial conditions. A `Problem`
# pairs an equation of the core's catalogue with a box, the conditions, loss weights and a test set. This
# notebook
#
# 1. trains **Physics-Informed Gaussians** (PIG, Kang et al., ICLR 2025: a mixture of learnable Gaussians
#    feeding a small MLP) and the **MLP-PINN** baseline on the 2-D Helmholtz benchmark, same points, same
#    steps;
# 2. shows where **adaptive sampling** puts the residual points: uniform points against **adversarial
#    adaptive sampling** (AAS, Tang et al., ICLR 2024: a KRnet normalising flow that seeks large residuals,
#    trained against the PINN in one min-max game) on a sharp peak.

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
# The defaults are CPU-sized: a few hundred steps, 100 Gaussians per channel, 1,024 collocation points, which
# show the behaviour but not the papers' accuracy. `PAPER_SCALE = True` sets the papers' settings, for a GPU:
# Helmholtz at the PIG reference code's size (`get_problem(..., preset="paper")`, 800 Gaussians per channel,
# 60,001 Adam steps at 1e-2 decayed by 0.9995 per step, points redrawn every step; the MLP-PINN 4 x 128 at
# 1e-3), and for the sampling the DAS code's settings (1,000 residual points, Adam at 1e-4, 15,000 steps).

# %% tags=["parameters"]
PAPER_SCALE = False  # True: the papers' settings (a GPU; see above)

# PIG against the MLP-PINN on Helmholtz
PRESET = "quick"  # the problem's size: "quick" (CPU) or "paper"
STEPS = 300
N_GAUSSIANS = 100  # per channel
N_COLLOCATION = 1024  # residual points per draw (None: the problem's)
PINN_WIDTH, PINN_DEPTH = 64, 4
# where the residual points go, on the peak problem
SAMPLING_STEPS, SAMPLING_POINTS, SAMPLING_LR, AAS_RESAMPLE_EVERY = 400, 500, 1e-3, 100

if PAPER_SCALE:
    PRESET, STEPS, N_GAUSSIANS, N_COLLOCATION = "paper", 60_001, 800, None
    PINN_WIDTH, PINN_DEPTH = 128, 4
    SAMPLING_STEPS, SAMPLING_POINTS, SAMPLING_LR = 15_000, 1000, 1e-4
PROGRESS = PAPER_SCALE  # progress bars for the long runs

# %%
import jax
import matplotlib.pyplot as plt

from scimlx.flows import KRnet
from scimlx.pinn import (
    AAS,
    PAPER_SETTINGS,
    PIG,
    PINN,
    PINNConfig,
    Uniform,
    get_problem,
    plot_points,
    plot_solution,
    train_pinn,
)
from scimlx.train import RunOptions, count_params

print("JAX on", jax.devices()[0].platform)

# %% [markdown]
# ## PIG and the MLP-PINN on Helmholtz
#
# `Δu + k²u = f` on `[-1, 1]²` with `u = sin(a₁πx) sin(a₂πy)` and zero Dirichlet data: a highly oscillatory
# solution that MLPs fit slowly (spectral bias). Both models train with the PIG reference's recipe for this
# problem (`PAPER_SETTINGS`); the MLP at its usual learning rate.

# %%
problem = get_problem("helmholtz_2d", preset=PRESET)
print(f"{problem.name}: {problem.description}")
settings = PAPER_SETTINGS["helmholtz_2d"]
pig_options = {k: v for k, v in settings["pig"].items() if k != "n_gaussians"}
recipe = {**settings["train"], "steps": STEPS, "n_collocation": N_COLLOCATION}
run = RunOptions(eval_every=max(STEPS // 20, 1), progress=PROGRESS)

pig = PIG(problem.ndim, N_GAUSSIANS, box=problem.box, key=jax.random.key(0), **pig_options)
res_pig = train_pinn(problem, pig, key=jax.random.key(1), config=PINNConfig(**recipe), run=run)
mlp = PINN(problem.ndim, PINN_WIDTH, PINN_DEPTH, box=problem.box, key=jax.random.key(0))
res_mlp = train_pinn(
    problem, mlp, key=jax.random.key(1), config=PINNConfig(**{**recipe, "learning_rate": 1e-3}), run=run
)
for name, res in (("PIG", res_pig), ("MLP-PINN", res_mlp)):
    print(
        f"{name:8s} {count_params(res.model):>7,} parameters | relative L2 after {STEPS} steps "
        f"{res.final_error:.3f} | {1e3 * res.seconds_per_step:.1f} ms per step"
    )

# %% [markdown]
# The test error during training (evaluated every `STEPS / 20` steps), then each model's prediction, the exact
# solution and the error on the test grid (`plot_solution`).

# %%
plt.figure(figsize=(6, 3.6))
for name, res in (("PIG", res_pig), ("MLP-PINN", res_mlp)):
    plt.semilogy(res.errors[:, 0], res.errors[:, 1], "o-", ms=3, label=name)
plt.xlabel("step")
plt.ylabel("test relative L2")
plt.title(f"{problem.name}: training")
plt.legend()
plt.show()

# %%
plot_solution(problem, res_pig.model)
plt.show()
plot_solution(problem, res_mlp.model)
plt.show()

# %% [markdown]
# ## Where the residual points go: uniform against adversarial adaptive sampling
#
# `-Δu = s` on `[-1, 1]²` with the sharp peak `u = exp(-1000 |x - (½, ½)|²)`: uniform points rarely land on
# the peak, where the residual is large. `train_pinn(..., sampler=...)` chooses the residual points:
# `Uniform()` (the default), `RAR` and `RAD` (residual-based refinement and distribution), `DAS` (a
# normalising flow fitted between stages) and `AAS`, in which a KRnet flow ascends the expected normalised
# squared residual under its density (minus a Sobolev penalty) while the PINN descends the residual at the
# flow's points: one min-max game, one update of each per step. Both runs train the same 6 x 32 network for
# the same steps.
#
# At this CPU scale neither run solves the problem (its relative L2 stays large; see `benchmarks/RESULTS.md`
# for 3,000 steps over three seeds): what to look at is where the points go and how flat the squared
# residual becomes (its coefficient of variation, CV, is 0 for a flat profile).

# %%
peak = get_problem("peak_2d", PRESET, n_collocation=SAMPLING_POINTS)
print(f"{peak.name}: {peak.description}")
sampling_recipe = PINNConfig(
    steps=SAMPLING_STEPS, learning_rate=SAMPLING_LR, decay_rate=1.0, resample_every=100
)
sampling_run = RunOptions(eval_every=max(SAMPLING_STEPS // 10, 1), progress=PROGRESS)
samplers = {
    "uniform": Uniform(),
    "AAS": AAS(
        KRnet(peak.ndim, box=peak.box, key=jax.random.key(3)),
        learning_rate=SAMPLING_LR,
        resample_every=AAS_RESAMPLE_EVERY,
    ),
}
sampled = {}
for name, sampler in samplers.items():
    net = PINN(peak.ndim, 32, 6, box=peak.box, key=jax.random.key(1))
    res = train_pinn(
        peak, net, key=jax.random.key(2), sampler=sampler, config=sampling_recipe, run=sampling_run
    )
    sampled[name] = res
    print(f"{name:8s} relative L2 {res.final_error:.3g} | residual CV {res.residual_cv:.1f}")

# %% [markdown]
# The exact solution, the model, and the squared residual on the test grid (log scale) with the residual
# points on top: a uniform draw, and the flow's final points for AAS (`res.fit.state["points"]`).

# %%
plot_points(
    peak, sampled["uniform"].model, peak.sample(key=jax.random.key(4))["residual"], title="uniform points"
)
plt.show()
plot_points(
    peak, sampled["AAS"].model, sampled["AAS"].fit.state["points"], title="adversarial adaptive sampling"
)
plt.show()

# %% [markdown]
# `scimlx bench pinn --quick` runs PIG and the MLP-PINN on all five PIG benchmarks (Helmholtz, Klein-Gordon,
# flow mixing, nonlinear diffusion, Allen-Cahn), and `--cases 'sampling/*'` compares every sampler over
# several seeds; without `--quick`, at the papers' scale on a GPU.
