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

import diffrax
import equinox as eqx
import jax
import jax.numpy as jnp
import lineax
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


def _check_solver(solver, rtol, atol, max_steps):
    if solver is not None and not isinstance(solver, diffrax.AbstractSolver):
        raise TypeError(
            f"`solver` must be None (fixed steps) or a Diffrax solver, got {type(solver).__name__}"
        )
    if rtol is not None:
        check_number("rtol", rtol, low=0, low_open=True)
        check_number("atol", atol, low=0, low_open=True)
    check_int("max_steps", max_steps)


def _diffrax_solve(terms, solver, grid, y0, *, adaptive, rtol, atol, max_steps, adjoint=None):
    """Integrates `terms` in their own increasing time from `grid[0]` to `grid[-1]`, adaptively
    (`PIDController`) or on the grid's steps (`StepTo`); returns the final state. Reverse-time samplers pass
    `s = T - t`."""
    s_grid = grid
    if adaptive:
        controller, dt0 = diffrax.PIDController(rtol=rtol, atol=atol), s_grid[1] - s_grid[0]
    else:
        controller, dt0 = diffrax.StepTo(ts=s_grid), None
    sol = diffrax.diffeqsolve(
        terms,
        solver,
        s_grid[0],
        s_grid[-1],
        dt0,
        y0,
        stepsize_controller=controller,
        max_steps=max_steps,
        adjoint=diffrax.RecursiveCheckpointAdjoint() if adjoint is None else adjoint,
    )
    return jax.tree_util.tree_map(lambda leaf: leaf[-1], sol.ys)


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
    solver: diffrax.AbstractSolver | None = None,
    max_steps: int = 100_000,
) -> Float[Array, "num_samples dim"]:  # noqa: F821
    """Samples of the reverse-time SDE `dx = [f x - g^2 score] dt + g dW̄` from the prior at `T` down to
    `eps`: by default Euler-Maruyama on a fixed grid in a `lax.scan` (the fastest, and what the reference
    codes use), or any Diffrax SDE solver on the same grid (Brownian increments drawn per step).

    **Arguments:**

    - `score`: `score(t, x) -> (d,)`.
    - `sde`: the forward SDE.
    - `key`: a PRNG key.
    - `num_samples`, `dim`: the output's shape.
    - `steps`: uniform steps from `T` to `eps`; or
    - `ts`: the decreasing time grid itself.
    - `final_denoise`: make the last step deterministic (the probability-flow step, no noise), as the
        ODE-SDE-gap code's sampler does.
    - `solver`: `None` for the fixed-step scan, or a Diffrax solver (e.g. `diffrax.Heun()`,
        `diffrax.ShARK()`); the noise is additive, so Itô and Stratonovich solvers agree. The whole batch is
        one flat state.
    - `max_steps`: the Diffrax solve's step limit.
    """
    check_callable("score", score)
    sde = _check_sde(sde)
    key = check_key(key)
    num_samples, dim = check_int("num_samples", num_samples), check_int("dim", dim)
    _check_solver(solver, None, None, max_steps)
    grid = _time_grid(sde, steps, ts)
    k0, key = jax.random.split(key)
    x = sde.prior_sample(k0, (num_samples, dim))
    vscore = jax.vmap(score, in_axes=(None, 0))
    n = grid.shape[0] - 1

    def denoise_step(x, t, t_next):
        return x + (sde.f(t) * x - 0.5 * sde.g2(t) * vscore(t, x)) * (t_next - t)

    if solver is not None:
        noisy = grid[:-1] if final_denoise else grid
        if noisy.shape[0] > 1:
            t_start = noisy[0]

            def drift(s, y, args):  # in s = T - t: dy/ds = -(f y - g^2 score)
                t = t_start - s
                x = y.reshape(num_samples, dim)
                return (-(sde.f(t) * x - sde.g2(t) * vscore(t, x))).ravel()

            def diffusion(s, y, args):
                return lineax.DiagonalLinearOperator(
                    jnp.full(y.shape, jnp.sqrt(sde.g2(t_start - s)), y.dtype)
                )

            # fixed steps evaluate each increment once, so fresh draws per step are exact and cheap
            bm = diffrax.UnsafeBrownianPath(shape=(num_samples * dim,), key=key)
            terms = diffrax.MultiTerm(diffrax.ODETerm(drift), diffrax.ControlTerm(diffusion, bm))
            y = _diffrax_solve(
                terms,
                solver,
                t_start - noisy,
                x.ravel(),
                adaptive=False,
                rtol=None,
                atol=None,
                max_steps=max_steps,
                adjoint=diffrax.ForwardMode(),
            )
            x = y.reshape(num_samples, dim)
        return denoise_step(x, grid[-2], grid[-1]) if final_denoise else x

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
    solver: diffrax.AbstractSolver | None = None,
    rtol: float | None = 1e-5,
    atol: float = 1e-5,
    max_steps: int = 100_000,
) -> Float[Array, "num_samples dim"]:  # noqa: F821
    """Samples of the probability-flow ODE `dx/dt = f x - g^2 score / 2` from the prior at `T` down to `eps`:
    by default Euler steps on a fixed grid in a `lax.scan`, or any Diffrax ODE solver (the randomness is the
    prior draw only).

    **Arguments:**

    - `score`, `sde`, `key`, `num_samples`, `dim`, `steps`, `ts`: as for
        [`sample_reverse_sde`][scimlx.sde.sample_reverse_sde].
    - `solver`: `None` for the fixed-step Euler scan, or a Diffrax solver, e.g. `diffrax.Tsit5()`; the whole
        batch is one state, so adaptive steps are shared by the batch (as `score_sde`'s RK45 sampler).
    - `rtol`, `atol`: the tolerances of adaptive steps (`score_sde`'s `1e-5`); `rtol=None` steps on the grid
        instead (solvers without an error estimate, such as `diffrax.Euler()`, need it).
    - `max_steps`: the Diffrax solve's step limit.
    """
    check_callable("score", score)
    sde = _check_sde(sde)
    key = check_key(key)
    num_samples, dim = check_int("num_samples", num_samples), check_int("dim", dim)
    _check_solver(solver, rtol, atol, max_steps)
    grid = _time_grid(sde, steps, ts)
    x = sde.prior_sample(key, (num_samples, dim))
    vscore = jax.vmap(score, in_axes=(None, 0))

    if solver is not None:
        t_start = grid[0]

        def velocity(s, x, args):  # in s = T - t
            t = t_start - s
            return -(sde.f(t) * x - 0.5 * sde.g2(t) * vscore(t, x))

        return _diffrax_solve(
            diffrax.ODETerm(velocity), solver, t_start - grid, x, adaptive=rtol is not None, rtol=rtol,
            atol=atol, max_steps=max_steps,
        )  # fmt: skip

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
    solver: diffrax.AbstractSolver | None = None,
    rtol: float | None = 1e-5,
    atol: float = 1e-5,
    max_steps: int = 100_000,
    divergence: str = "exact",
    probes: int = 1,
    key: PRNGKeyArray | None = None,
) -> Array:
    """The log-density of the probability-flow model at `x` (time `eps`): the instantaneous change of
    variables `log p_eps(x) = log p_T(x_T) + ∫_eps^T ∇·v(t, x_t) dt`, `v = f x - g^2 score / 2`, integrated
    forward from `eps` to `T`. `p_T` is the SDE's prior, so the value carries the prior's mismatch with the
    true `p_T` (for VE, whose mean does not decay, about `|x_T| |mean| / σ_max^2`).

    **Arguments:**

    - `score`: `score(t, x) -> (d,)`.
    - `sde`: the forward SDE.
    - `x`: one point `(d,)`.
    - `steps`: Heun steps from `eps` to `T` (the fixed-step default; the first step of a Diffrax solve).
    - `solver`, `rtol`, `atol`, `max_steps`: `None` for fixed Heun steps in a `lax.scan`, or a Diffrax solver
        with adaptive tolerances (`rtol=None`: fixed steps), as
        [`sample_probability_flow`][scimlx.sde.sample_probability_flow].
    - `divergence`: `"exact"` (the Jacobian's trace, `d` forward passes) or `"hutchinson"`: the
        Skilling-Hutchinson estimate `ε^T (∂v/∂x) ε` with Rademacher probes held fixed along the path (as
        FFJORD and `score_sde` do), unbiased, one Jacobian-vector product per probe: for high dimension.
    - `probes`: Hutchinson probes averaged.
    - `key`: a PRNG key, needed by `"hutchinson"`.
    """
    check_callable("score", score)
    sde = _check_sde(sde)
    steps = check_int("steps", steps)
    _check_solver(solver, rtol, atol, max_steps)
    check_choice("divergence", divergence, ("exact", "hutchinson"))
    probes = check_int("probes", probes)
    x = jnp.asarray(x)
    if x.ndim != 1:
        raise ValueError(f"`x` must be one point (d,), got shape {x.shape}")
    if divergence == "hutchinson":
        if key is None:
            raise ValueError("`key` is needed by `divergence='hutchinson'`")
        key = check_key(key)
        eps = jax.random.rademacher(key, (probes, x.shape[0]), x.dtype)

    def velocity(t, y):
        return sde.f(t) * y - 0.5 * sde.g2(t) * score(t, y)

    def rhs(t, y):
        if divergence == "exact":
            v, jac = velocity(t, y), jax.jacfwd(lambda z: velocity(t, z))(y)
            return v, jnp.trace(jac)
        v, jvps = jax.vmap(lambda e: jax.jvp(lambda z: velocity(t, z), (y,), (e,)))(eps)
        return v[0], jnp.mean(jnp.sum(eps * jvps, axis=-1))

    grid = jnp.linspace(sde.eps, sde.horizon, steps + 1)

    if solver is not None:
        y, logdet = _diffrax_solve(
            diffrax.ODETerm(lambda t, state, args: rhs(t, state[0])), solver, grid,
            (x, jnp.zeros((), x.dtype)), adaptive=rtol is not None, rtol=rtol, atol=atol, max_steps=max_steps,
        )  # fmt: skip
        return sde.prior_log_prob(y) + logdet

    def step(carry, inp):
        y, logdet = carry
        t, t_next = inp
        h = t_next - t
        v0, d0 = rhs(t, y)
        v1, d1 = rhs(t_next, y + h * v0)
        return (y + 0.5 * h * (v0 + v1), logdet + 0.5 * h * (d0 + d1)), None

    (y, logdet), _ = jax.lax.scan(step, (x, jnp.zeros((), x.dtype)), (grid[:-1], grid[1:]))
    return sde.prior_log_prob(y) + logdet
