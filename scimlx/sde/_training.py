"""Variational inference for a [`scimlx.sde.FractionalSDE`][]: the ELBO of observed paths and its training
through [`scimlx.train.fit`][].

For one observed path `o_1..o_n` at times `t_1..t_n` with Gaussian noise `σ_obs`,

    ELBO = E_Q[Σ_i log N(o_i | X(t_i), σ_obs^2 I)] - E_Q[1/2 ∫_0^T |u|^2 dt]

(Girsanov: prior and posterior differ only by the control's shift of the common noise), estimated by
`samples` posterior paths. A control that sees the observations ahead of it (`lookahead`) amortises the
posterior over many observed paths, as a latent SDE's encoder does.
"""

from __future__ import annotations

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.validate import check_choice, check_int, check_key, check_number
from scimlx.train import FitResult, Recipe, RunOptions, fit

from ._model import _SOLVERS, FractionalSDE

__all__ = ["Lookahead", "SDEConfig", "elbo", "train_sde"]


@dataclasses.dataclass(frozen=True)
class SDEConfig(Recipe):
    """The variational recipe of a fractional SDE: the observation noise, the time step and solver, the
    Monte Carlo sizes and the optimiser (Adam). Defaults: the paper's bridge experiment.

    **Arguments:**

    - `obs_sigma`: the observation noise `σ_obs > 0`; default 0.1.
    - `dt`: the solver step; default 0.01.
    - `solver`: `"euler"` (Itô) or `"heun"` (Stratonovich; the paper's code uses a Stratonovich Milstein
        scheme, the same limit for additive noise).
    - `samples`: posterior paths per observed path per step; default 32 (the bridge's batch).
    - `lookahead`: how many future observations the control sees (0: none).
    - `kl_weight`: the weight of the path KL (1: the ELBO).
    - `learning_rate`: Adam's; default 1e-3.
    - `steps`: default 2000.
    - `batch_size`: observed paths per step; default 1.
    """

    obs_sigma: float = 0.1
    dt: float = 0.01
    solver: str = "heun"
    samples: int = 32
    lookahead: int = 0
    kl_weight: float = 1.0
    learning_rate: float = 1e-3
    steps: int = 2000
    batch_size: int = 1

    def __post_init__(self):
        check_number("obs_sigma", self.obs_sigma, low=0.0, low_open=True)
        check_number("dt", self.dt, low=0.0, low_open=True)
        check_choice("solver", self.solver, tuple(_SOLVERS))
        check_int("samples", self.samples)
        check_int("lookahead", self.lookahead, low=0)
        check_number("kl_weight", self.kl_weight, low=0.0)
        check_number("learning_rate", self.learning_rate, low=0.0, low_open=True)
        check_int("steps", self.steps)
        check_int("batch_size", self.batch_size)

    def run_defaults(self):
        return {"steps": self.steps, "batch_size": self.batch_size}


class Lookahead(eqx.Module):
    """The context of an amortised control: at time `t`, the next `count` observations after `t` and how far
    ahead each is (the last observation repeated past the end), flattened to `count (L + 1)` numbers.

    **Arguments:**

    - `times`: the observation times `(n,)`.
    - `values`: the observations `(n, L)`.
    - `count`: how many future observations.
    """

    times: Float[Array, " n"]
    values: Float[Array, "n L"]  # noqa: F821
    count: int = eqx.field(static=True)

    def evaluate(self, t):
        i = jnp.searchsorted(self.times, t, side="right") + jnp.arange(self.count)
        i = jnp.minimum(i, self.times.shape[0] - 1)
        ahead = (self.times[i] - t)[:, None].astype(self.values.dtype)
        return jnp.concatenate([self.values[i], ahead], axis=1).ravel()


def _check_observations(model, obs_times, observations):
    if not isinstance(model, FractionalSDE):
        raise TypeError(f"`model` must be a scimlx.sde.FractionalSDE, got {type(model).__name__}")
    times = np.asarray(obs_times, dtype=float)
    if times.ndim != 1 or times.size < 1 or np.any(times <= 0) or np.any(np.diff(times) <= 0):
        raise ValueError("`obs_times` must be increasing positive times (the path starts at 0)")
    obs = jnp.asarray(observations)
    if obs.ndim == 2 and model.dim == 1:
        obs = obs[..., None]
    if obs.ndim != 3 or obs.shape[1:] != (times.size, model.dim):
        raise ValueError(
            f"`observations` must have shape (num_paths, {times.size}, {model.dim}) (one row per observation "
            f"time and latent dimension), got {tuple(jnp.shape(observations))}"
        )
    return times, obs


def _check_setup(model, config, times):
    if not isinstance(config, SDEConfig):
        raise TypeError(f"`config` must be an SDEConfig, got {type(config).__name__}")
    steps = times / config.dt
    if np.any(np.abs(steps - np.round(steps)) > 1e-6 * np.maximum(1.0, steps)):
        raise ValueError(f"the observation times must lie on the solver grid of `dt`={config.dt:g}")
    want = config.lookahead * (model.dim + 1)
    have = getattr(model.control, "context_dim", None)
    if have is not None and have != want:
        raise ValueError(
            f"the control takes a context of {have} numbers, but `lookahead`={config.lookahead} gives {want} "
            f"(lookahead * (dim + 1))"
        )


def _path_elbo(model, times, obs, x0, key, config):
    """The ELBO of one observed path `(n, L)`, averaged over `config.samples` posterior paths."""
    ts = np.concatenate([[0.0], times])
    args = None
    if config.lookahead:
        args = Lookahead(jnp.asarray(times, obs.dtype), obs, config.lookahead)

    def one(k):
        sol = model.solve(ts, x0, key=k, dt=config.dt, args=args, solver=config.solver)
        resid = (obs - sol.xs[1:]) / config.obs_sigma
        loglik = -0.5 * jnp.sum(resid**2) - obs.size * jnp.log(config.obs_sigma * jnp.sqrt(2 * jnp.pi))
        return loglik, sol.kl[-1]

    loglik, kl = jax.vmap(one)(jax.random.split(key, config.samples))
    return jnp.mean(loglik), jnp.mean(kl)


def elbo(
    model: FractionalSDE,
    obs_times: ArrayLike,
    observations: ArrayLike,
    *,
    key: PRNGKeyArray,
    config: SDEConfig = SDEConfig(),
    x0: ArrayLike | None = None,
) -> tuple[Float[Array, " num_paths"], Float[Array, " num_paths"]]:  # noqa: F821
    """The ELBO of each observed path and its path-KL part (module docstring), by `config.samples` posterior
    paths each.

    **Arguments:**

    - `model`: the [`FractionalSDE`][scimlx.sde.FractionalSDE].
    - `obs_times`: increasing positive observation times on the `config.dt` grid (the paths start at 0).
    - `observations`: `(num_paths, n, L)` (or `(num_paths, n)` for `L = 1`).
    - `key`: a PRNG key.
    - `config`: the [`SDEConfig`][scimlx.sde.SDEConfig] (`obs_sigma`, `dt`, `solver`, `samples`,
        `lookahead`).
    - `x0`: the start `(L,)`; default zero.

    **Returns:** `(elbo, kl)`, one of each per observed path.
    """
    key = check_key(key)
    times, obs = _check_observations(model, obs_times, observations)
    _check_setup(model, config, times)
    x0 = jnp.zeros((model.dim,), obs.dtype) if x0 is None else jnp.asarray(x0, obs.dtype)
    keys = jax.random.split(key, obs.shape[0])
    run = eqx.filter_jit(
        lambda m, o, k: jax.vmap(lambda oo, kk: _path_elbo(m, times, oo, x0, kk, config))(o, k)
    )
    loglik, kl = run(model, obs, keys)
    return loglik - kl, kl


def train_sde(
    model: FractionalSDE,
    obs_times: ArrayLike,
    observations: ArrayLike,
    *,
    key: PRNGKeyArray,
    config: SDEConfig = SDEConfig(),
    run: RunOptions = RunOptions(),
    x0: ArrayLike | None = None,
) -> FitResult:
    """Fit a fractional SDE to observed paths by maximising the ELBO ([`elbo`][scimlx.sde.elbo]) with Adam,
    through [`scimlx.train.fit`][]: the control, and whatever else of the model is trainable (a learned Hurst
    index, a learned drift or diffusion).

    **Arguments:**

    - `model`: the [`FractionalSDE`][scimlx.sde.FractionalSDE] to train.
    - `obs_times`, `observations`, `x0`: as [`elbo`][scimlx.sde.elbo].
    - `key`: a PRNG key (minibatches and Brownian paths).
    - `config`: the [`SDEConfig`][scimlx.sde.SDEConfig].
    - `run`: the [`scimlx.train.RunOptions`][] (length and batch size default to the recipe's; the batch is
        capped at the number of paths): checkpoints, resume, progress.

    **Returns:** the [`scimlx.train.FitResult`][]; its history logs the negative ELBO (`loss`), the path KL
    and the Hurst index per step.
    """
    key = check_key(key)
    times, obs = _check_observations(model, obs_times, observations)
    _check_setup(model, config, times)
    if not isinstance(run, RunOptions):
        raise TypeError(f"`run` must be a scimlx.train.RunOptions, got {type(run).__name__}")
    run = run.with_defaults(steps=config.steps, batch_size=min(config.batch_size, obs.shape[0]))
    x0 = jnp.zeros((model.dim,), obs.dtype) if x0 is None else jnp.asarray(x0, obs.dtype)
    if x0.shape != (model.dim,):
        raise ValueError(f"`x0` must have shape ({model.dim},), got {x0.shape}")

    def loss_fn(m, batch, *, key):
        keys = jax.random.split(key, batch.shape[0])
        loglik, kl = jax.vmap(lambda o, k: _path_elbo(m, times, o, x0, k, config))(batch, keys)
        loss = -jnp.mean(loglik - config.kl_weight * kl)
        return loss, {"kl": jnp.mean(kl), "hurst": m.hurst}

    return fit(
        model, loss_fn, obs, optax.adam(config.learning_rate), key=key, run=run, has_aux=True,
        config={**config.as_config(), "kind": model.kind, "num_states": model.num_states,
                "learn_hurst": model.learn_hurst, "num_paths": int(obs.shape[0])},
    )  # fmt: skip
