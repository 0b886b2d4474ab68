"""Closing the ODE-SDE gap of score-based diffusion through the Fokker-Planck equation (Deveney, Stanczuk,
Kreusser, Budd and Schönlieb, 2023): a scalar potential `u(t, x) ≈ log p_t(x)` whose gradient is the score,
trained by denoising score matching plus `w_R` times the mean squared residual of the log-density
Fokker-Planck equation (the core's [`FokkerPlanck`][scimlx.core.FokkerPlanck]); and the paper's evaluation,
exact optimal transport between 64 x 64 histograms of the ODE samples, the SDE samples and the data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core import FokkerPlanck, PointField
from scimlx.core.validate import check_callable, check_choice, check_int, check_key, check_number
from scimlx.train import FitResult, Recipe, RunOptions, fit

from ._diffusion import AbstractForwardSDE, _check_sde, dsm_loss

__all__ = [
    "GapConfig",
    "PotentialNet",
    "ScoreNet",
    "fokker_planck_loss",
    "gap_time_grid",
    "histogram_2d",
    "train_potential",
    "w2_squared",
]


def _softplus(beta: float) -> Callable[[Array], Array]:
    return lambda z: jax.nn.softplus(beta * z) / beta


def _time_mlp(dim, out, width, depth, beta, key) -> eqx.nn.MLP:
    """The MLP of `(t, x)` both networks use, its arguments checked."""
    dim = check_int("dim", dim)
    width, depth = check_int("width", width), check_int("depth", depth)
    beta = check_number("beta", beta, low=0.0, low_open=True)
    return eqx.nn.MLP(dim + 1, dim if out is None else out, width, depth, _softplus(beta), key=check_key(key))


def _with_time(t, x):
    return jnp.concatenate([jnp.reshape(t, (1,)).astype(x.dtype), x])


class PotentialNet(eqx.Module):
    """A scalar potential `u(t, x) ≈ log p_t(x)`, its score `∇_x u` (conservative by construction): the
    paper's MLP of `(t, x)`, three hidden layers of 80 units with `softplus(β z)/β`, `β = 100` (smooth second
    derivatives for the Fokker-Planck residual).

    **Arguments:**

    - `dim`: the data dimension.
    - `width`, `depth`: default 80 and 3.
    - `beta`: the softplus sharpness; default 100.
    - `key`: a PRNG key.
    """

    mlp: eqx.nn.MLP
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, *, width: int = 80, depth: int = 3, beta: float = 100.0, key: PRNGKeyArray):
        self.mlp = _time_mlp(dim, "scalar", width, depth, beta, key)
        self.dim = dim

    def __call__(self, t: ArrayLike, x: Float[Array, " d"]) -> Array:
        """`u(t, x)`."""
        return self.mlp(_with_time(t, x))

    def score(self, t: ArrayLike, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """`∇_x u(t, x)`."""
        return jax.grad(lambda y: self(t, y))(x)


class ScoreNet(eqx.Module):
    """A plain score network `s(t, x) ≈ ∇ log p_t(x)`: an MLP of `(t, x)` with `d` outputs (not
    conservative; no log-density, so no Fokker-Planck residual), the baseline beside
    [`PotentialNet`][scimlx.sde.PotentialNet].

    **Arguments:**

    - `dim`: the data dimension.
    - `width`, `depth`: default 80 and 3.
    - `beta`: the softplus sharpness; default 100.
    - `key`: a PRNG key.
    """

    mlp: eqx.nn.MLP
    dim: int = eqx.field(static=True)

    def __init__(self, dim: int, *, width: int = 80, depth: int = 3, beta: float = 100.0, key: PRNGKeyArray):
        self.mlp = _time_mlp(dim, None, width, depth, beta, key)
        self.dim = dim

    def score(self, t: ArrayLike, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """`s(t, x)`."""
        return self.mlp(_with_time(t, x))


def fokker_planck_loss(
    potential: Callable[[Array, Array], Array],
    sde: AbstractForwardSDE,
    *,
    key: PRNGKeyArray,
    num_points: int,
    dim: int,
    half_width: float = 3.5,
    n_probes: int | None = None,
) -> Array:
    """The mean squared residual of the log-density Fokker-Planck equation of `sde` for the potential
    `u(t, x)`, at collocation points uniform in `[eps, T] x [-half_width, half_width]^dim` (the paper: 50,000
    per step in `[1e-5, 10] x [-3.5, 3.5]^2`): `R = u_t + ∇·μ + μ·∇u - g^2 (Δu + |∇u|^2) / 2`, `μ = f(t) x`,
    exact derivatives by autodiff, or Hutchinson estimates of `Δu` and `∇·μ` with `n_probes`.
    """
    check_callable("potential", potential)
    sde = _check_sde(sde)
    key = check_key(key)
    num_points, dim = check_int("num_points", num_points), check_int("dim", dim)
    half_width = check_number("half_width", half_width, low=0.0, low_open=True)
    k_t, k_x, k_p = jax.random.split(key, 3)
    t = jax.random.uniform(k_t, (num_points, 1), minval=sde.eps, maxval=sde.horizon)
    x = jax.random.uniform(k_x, (num_points, dim), minval=-half_width, maxval=half_width)
    pts = jnp.concatenate([x, t], axis=1)
    eq = FokkerPlanck(
        drift=lambda z: sde.f(z[-1]) * z[:-1], sigma=lambda t: jnp.sqrt(sde.g2(t)), n_probes=n_probes
    )

    def one(z, k):
        field = PointField(lambda y: potential(y[-1], y[:-1]), z, time=True)
        return eq.residual(field, key=k) if n_probes else eq.residual(field)

    r = jax.vmap(one)(pts, jax.random.split(k_p, num_points))
    return jnp.mean(r**2)


@dataclasses.dataclass(frozen=True)
class GapConfig(Recipe):
    """The recipe of the ODE-SDE-gap paper's training (its `OUPINN_loop.py`), defaults its GPU settings.

    **Arguments:**

    - `fp_weight`: `w_R`, the weight of the Fokker-Planck residual; the paper runs 0, 0.1, 1 and 10.
    - `num_denoise`: data points per step for the DSM loss; default 200,000.
    - `num_collocation`: residual points per step; default 50,000.
    - `half_width`: the collocation box `[-3.5, 3.5]^d`.
    - `time_sampling`, `weighting`: of the DSM loss; default `"beta"` (`T Beta(1, 2) + eps`) and `"none"`.
    - `learning_rates`, `boundaries`: Adam's piecewise-constant rate: 1e-3, then 1e-4 from step 25,000, then
        1e-5 from 90,000.
    - `steps`: default 100,000.
    """

    fp_weight: float = 0.0
    num_denoise: int = 200_000
    num_collocation: int = 50_000
    half_width: float = 3.5
    time_sampling: str = "beta"
    weighting: str = "none"
    learning_rates: tuple[float, ...] = (1e-3, 1e-4, 1e-5)
    boundaries: tuple[int, ...] = (25_000, 90_000)
    steps: int = 100_000

    def __post_init__(self):
        check_number("fp_weight", self.fp_weight, low=0.0)
        check_int("num_denoise", self.num_denoise)
        check_int("num_collocation", self.num_collocation)
        check_number("half_width", self.half_width, low=0.0, low_open=True)
        check_choice("time_sampling", self.time_sampling, ("uniform", "beta"))
        check_choice("weighting", self.weighting, ("none", "variance", "likelihood"))
        if len(self.learning_rates) != len(self.boundaries) + 1:
            raise ValueError("`learning_rates` needs one more entry than `boundaries`")
        for lr in self.learning_rates:
            check_number("learning_rates", lr, low=0.0, low_open=True)
        check_int("steps", self.steps)

    def run_defaults(self):
        return {"steps": self.steps}

    def make_optimizer(self) -> optax.GradientTransformation:
        scales = {
            b: self.learning_rates[i + 1] / self.learning_rates[i] for i, b in enumerate(self.boundaries)
        }
        return optax.adam(optax.piecewise_constant_schedule(self.learning_rates[0], scales))


def train_potential(
    model: PotentialNet,
    sample_data: Callable[[PRNGKeyArray, int], Array],
    sde: AbstractForwardSDE,
    *,
    key: PRNGKeyArray,
    config: GapConfig = GapConfig(),
    run: RunOptions = RunOptions(),
) -> FitResult:
    """Train a potential by DSM plus `w_R` times the Fokker-Planck residual, through [`scimlx.train.fit`][]:
    every step draws `num_denoise` data points (`sample_data(key, n)`), their noising times and noise, and
    `num_collocation` residual points.

    **Arguments:**

    - `model`: a [`PotentialNet`][scimlx.sde.PotentialNet], or a [`ScoreNet`][scimlx.sde.ScoreNet] for DSM
        alone (`fp_weight = 0`).
    - `sample_data`: `sample_data(key, n) -> (n, d)`, e.g. `partial(scimlx.datasets.sample_toy_2d, "checker")`
        with the key and count as the last arguments.
    - `sde`: the forward SDE (the paper's is `OU()`).
    - `key`: a PRNG key.
    - `config`: the [`GapConfig`][scimlx.sde.GapConfig].
    - `run`: the [`scimlx.train.RunOptions`][].

    **Returns:** the [`scimlx.train.FitResult`][]; the history logs the DSM and residual terms.
    """
    if not isinstance(model, PotentialNet | ScoreNet):
        raise TypeError(f"`model` must be a PotentialNet or a ScoreNet, got {type(model).__name__}")
    check_callable("sample_data", sample_data)
    sde = _check_sde(sde)
    key = check_key(key)
    if not isinstance(config, GapConfig):
        raise TypeError(f"`config` must be a GapConfig, got {type(config).__name__}")
    if isinstance(model, ScoreNet) and config.fp_weight > 0:
        raise ValueError(
            "`fp_weight` > 0 needs a PotentialNet: a ScoreNet has no log-density to take a residual of"
        )
    run = run.with_defaults(steps=config.steps)

    def loss_fn(m, batch, *, key):
        k_dsm, k_fp = jax.random.split(key)
        dsm = dsm_loss(m.score, sde, batch, key=k_dsm, weighting=config.weighting,
                       time_sampling=config.time_sampling)  # fmt: skip
        aux = {"dsm": dsm}
        if config.fp_weight > 0:
            fp = fokker_planck_loss(m, sde, key=k_fp, num_points=config.num_collocation, dim=m.dim,
                                    half_width=config.half_width)  # fmt: skip
            aux["fp_residual"] = fp
            return dsm + config.fp_weight * fp, aux
        return dsm, aux

    return fit(
        model, loss_fn, lambda k: sample_data(k, config.num_denoise), config.make_optimizer(), key=key,
        run=run, has_aux=True, config={**config.as_config(), "sde": sde.name},
    )  # fmt: skip


def histogram_2d(
    samples: Float[ArrayLike, "n 2"],  # noqa: F821
    *,
    bins: int = 64,
    half_width: float = 4.0,
) -> np.ndarray:
    """The paper's histogram: samples with `|x|, |y| < half_width` assigned to the nearest node of a
    `bins x bins` grid on `[-half_width, half_width]^2` (spacing `2 half_width / (bins - 1)`), normalised to
    sum to one (float64 NumPy, shape `(bins, bins)`)."""
    bins = check_int("bins", bins, low=2)
    half_width = check_number("half_width", half_width, low=0.0, low_open=True)
    x = np.asarray(samples, dtype=float)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"`samples` must have shape (n, 2), got {x.shape}")
    x = x[np.all(np.abs(x) < half_width, axis=1)]
    if x.shape[0] == 0:
        raise ValueError("no sample lies inside the histogram's box")
    h = 2 * half_width / (bins - 1)
    idx = np.clip(np.rint((x + half_width) / h).astype(int), 0, bins - 1)
    counts = np.zeros((bins, bins))
    np.add.at(counts, (idx[:, 0], idx[:, 1]), 1.0)
    return counts / counts.sum()


def w2_squared(hist_a: ArrayLike, hist_b: ArrayLike, *, half_width: float = 4.0) -> float:
    """The squared 2-Wasserstein distance between two histograms on the same grid of
    [`histogram_2d`][scimlx.sde.histogram_2d], by exact optimal transport (POT's network simplex, `ot.emd2`,
    with the squared Euclidean cost between nodes). The paper's 64 x 64 grids make a transport problem of
    4,096 x 4,096 arcs: about two minutes each on two CPU cores; 32 x 32 takes seconds."""
    import ot

    a, b = np.asarray(hist_a, float), np.asarray(hist_b, float)
    if a.shape != b.shape or a.ndim != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"the histograms must be square and of one shape, got {a.shape} and {b.shape}")
    bins = a.shape[0]
    nodes = np.linspace(-half_width, half_width, bins)
    grid = np.stack(np.meshgrid(nodes, nodes, indexing="ij"), axis=-1).reshape(-1, 2)
    ia, ib = a.ravel() > 0, b.ravel() > 0  # only the occupied nodes enter the transport problem
    cost = ot.dist(grid[ia], grid[ib], metric="sqeuclidean")
    wa, wb = a.ravel()[ia], b.ravel()[ib]
    return float(ot.emd2(wa / wa.sum(), wb / wb.sum(), cost, numItermax=10_000_000))


def gap_time_grid(horizon: float = 10.0, steps: int = 800) -> Float[Array, " m"]:  # noqa: F821
    """The sampling grid of the ODE-SDE-gap code: from `T` down, `steps - 10` steps of `T/steps`, then the
    remaining `10 T/steps` in 100 steps ten times finer, ending at 0 (891 times for the default 800)."""
    steps = check_int("steps", steps, low=11)
    horizon = check_number("horizon", horizon, low=0.0, low_open=True)
    dt = horizon / steps
    coarse = jnp.linspace(horizon, 10 * dt, steps - 9)
    fine = jnp.linspace(10 * dt, 0.0, 101)
    return jnp.concatenate([coarse, fine[1:]])
