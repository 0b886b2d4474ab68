"""Score-based diffusion: forward noising SDEs with Gaussian marginals, denoising score matching, and the
reverse-SDE and probability-flow-ODE samplers with the ODE log-likelihood (Song et al., ICLR 2021; the
`score_sde` conventions).

Every forward SDE here is linear, `dx = f(t) x dt + g(t) dW`, so that `x_t | x_0 ~ N(m(t) x_0, s(t)^2 I)`:

| SDE | `f(t)` | `g(t)^2` | `m(t)` | `s(t)^2` |
|---|---|---|---|---|
| VP | `-β(t)/2` | `β(t)` | `exp(-∫β/2)` | `1 - m^2` |
| sub-VP | `-β(t)/2` | `β(t)(1 - exp(-2∫β))` | `exp(-∫β/2)` | `(1 - m^2)^2` |
| VE | 0 | `d σ(t)^2 / dt` | 1 | `σ(t)^2 - σ_min^2` |
| OU | `-θ` | `σ^2` | `exp(-θt)` | `σ^2 (1 - exp(-2θt)) / (2θ)` |

with `β(t) = β_min + t (β_max - β_min)` and the geometric `σ(t) = σ_min (σ_max/σ_min)^t`. The VE variance is
the exact one of the SDE started at the data (`score_sde` uses `σ(t)^2`, which adds `σ_min^2` at every time).
"""

import abc
import math
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
from equinox import AbstractClassVar, AbstractVar
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.validate import check_callable, check_choice, check_int, check_key, check_number

__all__ = [
    "OU",
    "VE",
    "VP",
    "AbstractBetaSDE",
    "AbstractForwardSDE",
    "SubVP",
    "dsm_loss",
    "ode_log_likelihood",
    "sample_probability_flow",
    "sample_reverse_sde",
]

ScoreFn = Callable[[Array, Array], Array]  # score(t, x) -> (d,)


class AbstractForwardSDE(eqx.Module):
    """A linear forward noising SDE `dx = f(t) x dt + g(t) dW` with marginals `N(m(t) x_0, s(t)^2 I)`.

    Subclasses give `f`, `g2` (`g^2`), `marginal` and `prior_std`, and the class attributes `name`, `horizon`
    (`T`) and `eps` (the smallest training and sampling time).
    """

    name: AbstractClassVar[str]
    horizon: AbstractVar[float]
    eps: AbstractVar[float]

    def __check_init__(self):
        check_number("horizon", self.horizon, low=0.0, low_open=True)
        check_number("eps", self.eps, low=0.0, high=self.horizon, low_open=True, high_open=True)

    @abc.abstractmethod
    def f(self, t: ArrayLike) -> Array:
        """The drift coefficient: the drift is `f(t) x`."""

    @abc.abstractmethod
    def g2(self, t: ArrayLike) -> Array:
        """The squared diffusion `g(t)^2`."""

    @abc.abstractmethod
    def marginal(self, t: ArrayLike) -> tuple[Array, Array]:
        """`(m(t), s(t))`: `x_t | x_0 ~ N(m x_0, s^2 I)`."""

    @abc.abstractmethod
    def prior_std(self) -> float:
        """The standard deviation of the prior `N(0, s^2 I)` the samplers start from at `T`."""

    def drift(self, t: ArrayLike, x: Array) -> Array:
        return self.f(t) * x

    def prior_sample(self, key: PRNGKeyArray, shape: tuple[int, ...]) -> Array:
        return self.prior_std() * jax.random.normal(key, shape)

    def prior_log_prob(self, x: Float[Array, " d"]) -> Array:
        s = self.prior_std()
        return -0.5 * jnp.sum(x * x) / s**2 - x.shape[-1] * (math.log(s) + 0.5 * math.log(2 * math.pi))


class AbstractBetaSDE(AbstractForwardSDE):
    """The base of the VP and sub-VP SDEs: the linear schedule `β(t) = β_min + t (β_max - β_min)` on
    `[0, 1]`, the drift `-β(t) x / 2` and `m(t) = exp(-∫β/2)`."""

    beta_min: AbstractVar[float]
    beta_max: AbstractVar[float]

    def __check_init__(self):
        check_number("beta_min", self.beta_min, low=0.0, low_open=True)
        check_number("beta_max", self.beta_max, low=self.beta_min)

    def _beta(self, t):
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def _integral(self, t):
        return self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t * t

    def f(self, t):
        return -0.5 * self._beta(t)

    def prior_std(self):
        return 1.0


class VP(AbstractBetaSDE):
    """The variance-preserving SDE (DDPM's limit): `g^2 = β(t)`, variance `1 - m^2`.

    **Arguments:**

    - `beta_min`, `beta_max`: default 0.1 and 20 (`score_sde`).
    - `eps`: the smallest time; default 1e-5.
    """

    name: ClassVar[str] = "vp"
    beta_min: float = 0.1
    beta_max: float = 20.0
    horizon: float = 1.0
    eps: float = 1e-5

    def g2(self, t):
        return self._beta(t)

    def marginal(self, t):
        return jnp.exp(-0.5 * self._integral(t)), jnp.sqrt(-jnp.expm1(-self._integral(t)))


class SubVP(AbstractBetaSDE):
    """The sub-variance-preserving SDE: VP's drift, `g^2 = β(t)(1 - exp(-2∫β))`, variance `(1 - m^2)^2`.

    **Arguments:** as [`VP`][scimlx.sde.VP].
    """

    name: ClassVar[str] = "subvp"
    beta_min: float = 0.1
    beta_max: float = 20.0
    horizon: float = 1.0
    eps: float = 1e-5

    def g2(self, t):
        return self._beta(t) * -jnp.expm1(-2 * self._integral(t))

    def marginal(self, t):
        return jnp.exp(-0.5 * self._integral(t)), -jnp.expm1(-self._integral(t))


class VE(AbstractForwardSDE):
    """The variance-exploding SDE with the geometric schedule `σ(t) = σ_min (σ_max/σ_min)^t` on `[0, 1]`:
    `g(t)^2 = dσ^2/dt = 2 σ(t)^2 ln(σ_max/σ_min)`, variance `σ(t)^2 - σ_min^2` (exact, module docstring).

    **Arguments:**

    - `sigma_min`, `sigma_max`: default 0.01 and 50 (`score_sde`).
    - `eps`: default 1e-5.
    """

    name: ClassVar[str] = "ve"
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    horizon: float = 1.0
    eps: float = 1e-5

    def __check_init__(self):
        check_number("sigma_min", self.sigma_min, low=0.0, low_open=True)
        check_number("sigma_max", self.sigma_max, low=self.sigma_min, low_open=True)

    def _sigma(self, t):
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def f(self, t):
        return jnp.zeros_like(jnp.asarray(t, float))

    def g2(self, t):
        return 2 * self._sigma(t) ** 2 * math.log(self.sigma_max / self.sigma_min)

    def marginal(self, t):
        t = jnp.asarray(t, float)
        ratio = 2 * t * math.log(self.sigma_max / self.sigma_min)
        return jnp.ones_like(t), self.sigma_min * jnp.sqrt(jnp.expm1(ratio))

    def prior_std(self):
        return math.sqrt(self.sigma_max**2 - self.sigma_min**2)


class OU(AbstractForwardSDE):
    """The Ornstein-Uhlenbeck SDE `dx = -θ x dt + σ dW`, stationary law `N(0, σ^2/(2θ) I)`: the forward
    process of the ODE-SDE-gap paper (`θ = σ = 1`, `T = 10`).

    **Arguments:**

    - `theta`: `θ > 0`; default 1.
    - `sigma`: `σ > 0`; default 1.
    - `horizon`: `T`; default 10.
    - `eps`: default 1e-5.
    """

    name: ClassVar[str] = "ou"
    theta: float = 1.0
    sigma: float = 1.0
    horizon: float = 10.0
    eps: float = 1e-5

    def __check_init__(self):
        check_number("theta", self.theta, low=0.0, low_open=True)
        check_number("sigma", self.sigma, low=0.0, low_open=True)

    def f(self, t):
        return jnp.full_like(jnp.asarray(t, float), -self.theta)

    def g2(self, t):
        return jnp.full_like(jnp.asarray(t, float), self.sigma**2)

    def marginal(self, t):
        t = jnp.asarray(t, float)
        var = self.sigma**2 * -jnp.expm1(-2 * self.theta * t) / (2 * self.theta)
        return jnp.exp(-self.theta * t), jnp.sqrt(var)

    def prior_std(self):
        return self.sigma / math.sqrt(2 * self.theta)


def _check_sde(sde):
    if not isinstance(sde, AbstractForwardSDE):
        raise TypeError(f"`sde` must be a forward SDE (VP, SubVP, VE, OU), got {type(sde).__name__}")
    return sde


def dsm_loss(
    score: ScoreFn,
    sde: AbstractForwardSDE,
    x0: Float[Array, "n d"],  # noqa: F821
    *,
    key: PRNGKeyArray,
    weighting: str = "none",
    time_sampling: str = "uniform",
) -> Array:
    """The denoising score-matching loss `E_t E_{x_0, x_t} [λ(t) |score(t, x_t) - ∇ log p(x_t | x_0)|^2]`,
    with `∇ log p(x_t | x_0) = -(x_t - m x_0)/s^2`, averaged over the batch (squared norms summed over
    dimensions).

    **Arguments:**

    - `score`: `score(t, x) -> (d,)` for one point.
    - `sde`: the forward SDE.
    - `x0`: data `(n, d)`.
    - `key`: a PRNG key (times and noise).
    - `weighting`: `λ(t)`: `"none"` (1, the ODE-SDE-gap code), `"variance"` (`s^2`, `score_sde`'s default)
        or `"likelihood"` (`g^2`, the likelihood weighting).
    - `time_sampling`: `"uniform"` on `[eps, T]`, or `"beta"`: `T Beta(1, 2) + eps`, more small times (the
        ODE-SDE-gap code).
    """
    check_callable("score", score)
    sde = _check_sde(sde)
    key = check_key(key)
    check_choice("weighting", weighting, ("none", "variance", "likelihood"))
    check_choice("time_sampling", time_sampling, ("uniform", "beta"))
    x0 = jnp.asarray(x0)
    if x0.ndim != 2:
        raise ValueError(f"`x0` must have shape (n, d), got {x0.shape}")
    k_t, k_z = jax.random.split(key)
    n = x0.shape[0]
    if time_sampling == "uniform":
        t = jax.random.uniform(k_t, (n,), x0.dtype, sde.eps, sde.horizon)
    else:
        t = sde.horizon * jax.random.beta(k_t, 1.0, 2.0, (n,), x0.dtype) + sde.eps
    z = jax.random.normal(k_z, x0.shape, x0.dtype)
    m, s = sde.marginal(t)
    xt = m[:, None] * x0 + s[:, None] * z
    pred = jax.vmap(score)(t, xt)
    sq = jnp.sum((pred + z / s[:, None]) ** 2, axis=-1)
    if weighting == "variance":
        sq = sq * s**2
    elif weighting == "likelihood":
        sq = sq * sde.g2(t)
    return jnp.mean(sq)


def _time_grid(sde, steps, ts):
    if ts is None:
        steps = check_int("steps", steps)
        return jnp.linspace(sde.horizon, sde.eps, steps + 1)
    ts = jnp.asarray(ts, float)
    if ts.ndim != 1 or ts.shape[0] < 2:
        raise ValueError("`ts` must be a 1-D grid of at least two times, from T down")
    return ts


def sample_reverse_sde(
    score: ScoreFn,
    sde: AbstractForwardSDE,
    *,
    key: PRNGKeyArray,
    num_samples: int,
    dim: int,
    steps: int = 1000,
    ts: ArrayLike | None = None,
    final_denoise: bool = False,
) -> Float[Array, "num_samples dim"]:  # noqa: F821
    """Samples of the reverse-time SDE `dx = [f x - g^2 score] dt + g dW̄` from the prior at `T` down to
    `eps`, by Euler-Maruyama on a fixed grid (fixed steps compile once and are what the reference codes use).

    **Arguments:**

    - `score`: `score(t, x) -> (d,)`.
    - `sde`: the forward SDE.
    - `key`: a PRNG key.
    - `num_samples`, `dim`: the output's shape.
    - `steps`: uniform steps from `T` to `eps`; or
    - `ts`: the decreasing time grid itself.
    - `final_denoise`: make the last step deterministic (the probability-flow step, no noise), as the
        ODE-SDE-gap code's sampler does.
    """
    check_callable("score", score)
    sde = _check_sde(sde)
    key = check_key(key)
    num_samples, dim = check_int("num_samples", num_samples), check_int("dim", dim)
    grid = _time_grid(sde, steps, ts)
    k0, key = jax.random.split(key)
    x = sde.prior_sample(k0, (num_samples, dim))
    vscore = jax.vmap(score, in_axes=(None, 0))
    n = grid.shape[0] - 1

    def step(x, inp):
        i, t, t_next, k = inp
        dt = t_next - t  # negative
        ode = jnp.asarray(final_denoise) & (i == n - 1)  # the last step without noise
        weight = jnp.where(ode, 0.5, 1.0)
        noise = jnp.where(ode, 0.0, jnp.sqrt(sde.g2(t) * -dt)) * jax.random.normal(k, x.shape, x.dtype)
        return x + (sde.f(t) * x - weight * sde.g2(t) * vscore(t, x)) * dt + noise, None

    inputs = (jnp.arange(n), grid[:-1], grid[1:], jax.random.split(key, n))
    x, _ = jax.lax.scan(step, x, inputs)
    return x


def sample_probability_flow(
    score: ScoreFn,
    sde: AbstractForwardSDE,
    *,
    key: PRNGKeyArray,
    num_samples: int,
    dim: int,
    steps: int = 1000,
    ts: ArrayLike | None = None,
) -> Float[Array, "num_samples dim"]:  # noqa: F821
    """Samples of the probability-flow ODE `dx/dt = f x - g^2 score / 2` from the prior at `T` down to `eps`,
    by Euler steps on a fixed grid (arguments as [`sample_reverse_sde`][scimlx.sde.sample_reverse_sde]; the
    randomness is the prior draw only)."""
    check_callable("score", score)
    sde = _check_sde(sde)
    key = check_key(key)
    num_samples, dim = check_int("num_samples", num_samples), check_int("dim", dim)
    grid = _time_grid(sde, steps, ts)
    x = sde.prior_sample(key, (num_samples, dim))
    vscore = jax.vmap(score, in_axes=(None, 0))

    def step(x, inp):
        t, t_next = inp
        return x + (sde.f(t) * x - 0.5 * sde.g2(t) * vscore(t, x)) * (t_next - t), None

    x, _ = jax.lax.scan(step, x, (grid[:-1], grid[1:]))
    return x


def ode_log_likelihood(
    score: ScoreFn,
    sde: AbstractForwardSDE,
    x: Float[Array, " d"],
    *,
    steps: int = 1000,
) -> Array:
    """The log-density of the probability-flow model at `x` (time `eps`): the instantaneous change of
    variables `log p_eps(x) = log p_T(x_T) + ∫_eps^T ∇·v(t, x_t) dt`, `v = f x - g^2 score / 2`, integrated
    forward by Heun's method on a uniform grid with the exact divergence (the Jacobian's trace; for high
    dimension a Hutchinson estimate would replace it). `p_T` is the SDE's prior, so the value carries the
    prior's mismatch with the true `p_T` (for VE, whose mean does not decay, about `|x_T| |mean| / σ_max^2`).

    **Arguments:**

    - `score`: `score(t, x) -> (d,)`.
    - `sde`: the forward SDE.
    - `x`: one point `(d,)`.
    - `steps`: Heun steps from `eps` to `T`.
    """
    check_callable("score", score)
    sde = _check_sde(sde)
    steps = check_int("steps", steps)
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"`x` must be one point (d,), got shape {x.shape}")

    def velocity(t, y):
        return sde.f(t) * y - 0.5 * sde.g2(t) * score(t, y)

    def rhs(t, y):
        v, jac = velocity(t, y), jax.jacfwd(lambda z: velocity(t, z))(y)
        return v, jnp.trace(jac)

    grid = jnp.linspace(sde.eps, sde.horizon, steps + 1)

    def step(carry, inp):
        y, logdet = carry
        t, t_next = inp
        h = t_next - t
        v0, d0 = rhs(t, y)
        v1, d1 = rhs(t_next, y + h * v0)
        return (y + 0.5 * h * (v0 + v1), logdet + 0.5 * h * (d0 + d1)), None

    (y, logdet), _ = jax.lax.scan(step, (x, jnp.zeros((), x.dtype)), (grid[:-1], grid[1:]))
    return sde.prior_log_prob(y) + logdet
