"""Fractional Brownian motion and its Markov approximation by a weighted sum of Ornstein-Uhlenbeck processes
driven by one Brownian motion (Daems, Opper, Crevecoeur and Birdal, "Variational inference for SDEs driven by
fractional noise", ICLR 2024, after Carmona and Coutin's integral representation).

**Conventions.** With `a = H + 1/2`,

- type II (Riemann-Liouville): `B_H(t) = (1/Γ(a)) ∫_0^t (t-s)^(a-1) dW_s`, variance `t^2H / (2H Γ(a)^2)`;
- type I (Mandelbrot-Van Ness with the same `1/Γ(a)` prefactor):
  `B_H(t) = (1/Γ(a)) ∫_{-∞}^t [(t-s)^(a-1) - (-s)_+^(a-1)] dW_s`, variance `V_H t^2H` with
  `V_H = Γ(2-2H) cos(πH) / (πH (1-2H))` (`V_1/2 = 1`).

These are the processes the paper's closed-form weights target. The usual unit-variance fBM is the type-I
process divided by `sqrt(V_H)` ([`variance_factor`][scimlx.sde.variance_factor] gives the factor of either
type); every covariance and sampler here takes the same `kind` and states which one it uses.

**The approximation.** `K` speeds `γ_k > 0` and the OU processes `Y_k(t) = ∫ e^(-γ_k (t-s)) dW_s` (one `W` for
all `k`; `Y_k(0) = 0` for type II, the joint stationary law for type I); then
`B̂_H(t) = Σ_k ω_k (Y_k(t) - Y_k(0))`. The weights minimising `E ∫_0^T (B_H - B̂_H)^2 dt = ωᵀAω - 2bᵀω + c`
are `ω* = A⁻¹b`, with `A`, `b`, `c` in closed form ([`omega_system`][scimlx.sde.omega_system]).
"""

from __future__ import annotations

import numbers

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import gammainc, gammaincc, gammaln
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.validate import check_choice, check_int, check_key, check_number
from scimlx.datasets._fractional import _check_times
from scimlx.datasets._fractional import psd_sqrt as _psd_sqrt

__all__ = [
    "KINDS",
    "approximation_error",
    "exp_gammaincc",
    "gamma_grid",
    "markov_fbm_covariance",
    "omega_system",
    "optimal_omega",
    "sample_markov_fbm",
    "variance_factor",
]

KINDS = ("I", "II")
_CF_SWITCH = 10.0  # e^z Q(a, z) by the continued fraction from here on
_CF_TERMS = 40


# ----------------------------------------------------------------------------- checks


def check_hurst(hurst, name: str = "hurst"):
    """A Hurst index in (0, 1); traced values pass unchecked (a learned index is a sigmoid)."""
    if isinstance(hurst, jax.core.Tracer):
        return hurst
    if isinstance(hurst, numbers.Real) and not isinstance(hurst, bool):
        check_number(name, hurst, low=0.0, high=1.0, low_open=True, high_open=True)
        return hurst
    arr = np.asarray(hurst)
    if arr.shape != () or not np.issubdtype(arr.dtype, np.floating):
        raise TypeError(f"`{name}` must be a real scalar in (0, 1), got {hurst!r}")
    if not 0.0 < float(arr) < 1.0:
        raise ValueError(f"`{name}` must be in (0, 1), got {float(arr):g}")
    return hurst


def check_gammas(gammas, name: str = "gammas") -> Array:
    """A 1-D array of positive, finite OU speeds (at least one)."""
    if isinstance(gammas, jax.core.Tracer):
        return gammas
    arr = np.asarray(gammas, dtype=float)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"`{name}` must be a 1-D array of at least one speed, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr <= 0):
        raise ValueError(f"`{name}` must be positive and finite, got {arr}")
    return jnp.asarray(gammas)


def check_kind(kind) -> str:
    return check_choice("kind", kind, KINDS, context="the fBM type: 'I' (Mandelbrot-Van Ness) or 'II'")


# ----------------------------------------------------------------------------- special functions


def _phi1(z):
    """(1 - e^-z) / z, stable near 0."""
    small = jnp.abs(z) < 1e-6
    zs = jnp.where(small, 1.0, z)
    return jnp.where(small, 1.0 - z / 2 + z * z / 6, -jnp.expm1(-zs) / zs)


def _phi2(z):
    """(z - 1 + e^-z) / z^2, stable near 0."""
    small = jnp.abs(z) < 1e-3
    zs = jnp.where(small, 1.0, z)
    return jnp.where(small, 0.5 - z / 6 + z * z / 24 - z**3 / 120, (zs + jnp.expm1(-zs)) / (zs * zs))


def exp_gammaincc(a: ArrayLike, z: ArrayLike) -> Array:
    """`e^z Q(a, z)`, the regularised upper incomplete gamma function times `e^z`, without overflow.

    Below `z = 10` it is the product itself; from there on Legendre's continued fraction
    `Γ(a, z) = e^-z z^a / (z + 1 - a - 1(1-a) / (z + 3 - a - 2(2-a) / ...))`, 40 levels evaluated from the
    bottom up (at `z >= 10` and `a <= 2` it has converged to round-off long before). Differentiable in `a` and
    `z` on both branches (the branches see clipped arguments, so neither produces a NaN gradient).

    **Arguments:**

    - `a`: the shape, `a > 0`.
    - `z`: the argument, `z >= 0`.
    """
    a, z = jnp.asarray(a), jnp.asarray(z)
    a, z = jnp.broadcast_arrays(a, z)
    big = z >= _CF_SWITCH
    z_lo = jnp.where(big, 0.0, z)
    z_hi = jnp.where(big, z, _CF_SWITCH)
    direct = jnp.exp(z_lo) * gammaincc(a, z_lo)
    tail = jnp.zeros_like(z_hi)
    for n in range(_CF_TERMS, 0, -1):
        tail = n * (n - a) / (z_hi + 2 * n + 1 - a - tail)
    frac = jnp.exp(a * jnp.log(z_hi) - gammaln(a)) / (z_hi + 1 - a - tail)
    return jnp.where(big, frac, direct)


def variance_factor(hurst: ArrayLike, kind: str = "I") -> Array:
    """The factor `v` in `Var B_H(t) = v t^2H` of the fBM of type `kind` (module docstring).

    Type I: `V_H = Γ(2-2H) cos(πH) / (πH (1-2H))`, written as `Γ(2-2H) sinc(1/2 - H) / (2H)` so that it is
    smooth through `H = 1/2` (where it is 1). Type II: `1 / (2H Γ(H+1/2)^2)`.

    **Arguments:**

    - `hurst`: the Hurst index in (0, 1).
    - `kind`: `"I"` or `"II"`.
    """
    kind = check_kind(kind)
    hurst = jnp.asarray(check_hurst(hurst))
    if kind == "I":
        return jnp.exp(gammaln(2 - 2 * hurst)) * jnp.sinc(0.5 - hurst) / (2 * hurst)
    return jnp.exp(-2 * gammaln(hurst + 0.5)) / (2 * hurst)


# ----------------------------------------------------------------------------- the weights


def gamma_grid(num_states: int, gamma_max: float = 20.0) -> Float[Array, " K"]:
    """The paper's geometric grid of OU speeds, centred on 1: `γ_k = r^(k - (K+1)/2)`, `k = 1..K`, with
    `r = γ_max^(2/(K-1))`, so that the speeds span `[1/γ_max, γ_max]` (one state: `γ = [1]`).

    **Arguments:**

    - `num_states`: `K >= 1`, the number of OU processes.
    - `gamma_max`: the largest speed, `> 1`; default 20 (the paper's bridge and video settings).
    """
    k = check_int("num_states", num_states)
    gamma_max = check_number("gamma_max", gamma_max, low=1.0, low_open=True)
    if k == 1:
        return jnp.ones((1,))
    r = gamma_max ** (2.0 / (k - 1))
    return jnp.asarray(r ** (np.arange(1, k + 1) - (k + 1) / 2))


def omega_system(
    hurst: ArrayLike, gammas: ArrayLike, horizon: float, kind: str = "I"
) -> tuple[Float[Array, "K K"], Float[Array, " K"], Float[Array, ""]]:  # noqa: F821
    """`(A, b, c)` of the time-integrated squared error `E ∫_0^T (B_H - B̂_H)^2 dt = ωᵀAω - 2bᵀω + c`.

    With `a = H + 1/2`, `P`, `Q` the regularised lower and upper incomplete gamma functions:

    - type II: `A_ij = [T - (1 - e^(-(γ_i+γ_j)T)) / (γ_i+γ_j)] / (γ_i+γ_j)`,
      `b_k = γ_k^-a [T P(a, γ_k T) - (a/γ_k) P(a+1, γ_k T)]`, `c = T^(2H+1) / (2H (2H+1) Γ(a)^2)`;
    - type I: `A_ij = [2T - (1 - e^(-γ_i T))/γ_i - (1 - e^(-γ_j T))/γ_j] / (γ_i+γ_j)`,
      `b_k = 2T γ_k^-a - T^a / (γ_k Γ(a+1)) + γ_k^-(a+1) [e^(-γ_k T) - e^(γ_k T) Q(a, γ_k T)]`,
      `c = V_H T^(2H+1) / (2H+1)`.

    `b_k` is the time integral of the cross-covariance `E[B_H(t)(Y_k(t) - Y_k(0))]` (checked against
    quadrature in the tests). Differentiable in `hurst`; compute it in float64 (the matrix is badly
    conditioned, see [`optimal_omega`][scimlx.sde.optimal_omega]).

    **Arguments:**

    - `hurst`: the Hurst index in (0, 1).
    - `gammas`: the `K` positive OU speeds.
    - `horizon`: `T > 0`, the time window the weights are fitted on.
    - `kind`: `"I"` (Mandelbrot-Van Ness, the paper's default) or `"II"` (Riemann-Liouville).
    """
    kind = check_kind(kind)
    hurst = jnp.asarray(check_hurst(hurst))
    g = check_gammas(gammas)
    t = check_number("horizon", horizon, low=0.0, low_open=True)
    dtype = jnp.result_type(hurst.dtype, g.dtype, float)
    hurst, g = hurst.astype(dtype), g.astype(dtype)
    a = hurst + 0.5
    gsum = g[:, None] + g[None, :]
    if kind == "II":
        amat = t * t * _phi2(gsum * t)
        b = g ** (-a) * (t * gammainc(a, g * t) - a / g * gammainc(a + 1, g * t))
        c = t ** (2 * hurst + 1) / (2 * hurst * (2 * hurst + 1)) * jnp.exp(-2 * gammaln(a))
    else:
        p = t * _phi1(g * t)
        amat = (2 * t - p[:, None] - p[None, :]) / gsum
        b = (
            2 * t * g ** (-a)
            - t**a / g * jnp.exp(-gammaln(a + 1))
            + g ** (-(a + 1)) * (jnp.exp(-g * t) - exp_gammaincc(a, g * t))
        )
        c = variance_factor(hurst, "I") * t ** (2 * hurst + 1) / (2 * hurst + 1)
    return amat, b, c


def optimal_omega(
    hurst: ArrayLike, gammas: ArrayLike, horizon: float, kind: str = "I", *, ridge: float = 1e-12
) -> Float[Array, " K"]:
    """The closed-form optimal weights `ω* = A⁻¹b` of the Markov approximation on `[0, horizon]`.

    `A` is a Cauchy-like matrix and very badly conditioned (type II, `T = 1`, `γ_max = 20`: condition number
    about 8e6 at `K = 5`, 1e16 at `K = 10`), so the solve is a Cholesky factorisation of the equilibrated
    matrix `D A D + ridge I` (`D = diag(A)^-1/2`), and float64 is advised (needed for gradients in `H` at
    `K >= 8`). The ridge, relative to the unit diagonal of the equilibrated matrix, changes the weights only
    where `A` is numerically singular. Differentiable in `hurst` (through the incomplete gamma functions), so
    a learned Hurst index recomputes its weights inside the training step.

    **Arguments:**

    - `hurst`, `gammas`, `horizon`, `kind`: as [`omega_system`][scimlx.sde.omega_system].
    - `ridge`: the relative ridge, `>= 0`; default 1e-12.
    """
    ridge = check_number("ridge", ridge, low=0.0)
    amat, b, _ = omega_system(hurst, gammas, horizon, kind)
    d = jax.lax.rsqrt(jnp.diag(amat))
    scaled = d[:, None] * amat * d[None, :] + ridge * jnp.eye(amat.shape[0], dtype=amat.dtype)
    factor = jax.scipy.linalg.cho_factor(scaled, lower=True)
    return d * jax.scipy.linalg.cho_solve(factor, d * b)


def approximation_error(
    omega: ArrayLike, hurst: ArrayLike, gammas: ArrayLike, horizon: float, kind: str = "I"
) -> Array:
    """The relative time-integrated squared error `(ωᵀAω - 2bᵀω + c) / c` of the weights `omega` (zero for a
    perfect approximation, 1 for `ω = 0`).

    **Arguments:**

    - `omega`: the `K` weights.
    - `hurst`, `gammas`, `horizon`, `kind`: as [`omega_system`][scimlx.sde.omega_system].
    """
    amat, b, c = omega_system(hurst, gammas, horizon, kind)
    omega = jnp.asarray(omega, dtype=amat.dtype)
    if omega.shape != b.shape:
        raise ValueError(f"`omega` must have shape {b.shape} (one weight per speed), got {omega.shape}")
    return (omega @ amat @ omega - 2 * b @ omega + c) / c


# ----------------------------------------------------------------------------- covariances


def _ou_cross(ti, tj, g, kind):
    """Cov(Y_i(t), Y_j(s)) for the OU states driven by one Brownian motion (broadcast over t and s)."""
    gi, gj = g[:, None], g[None, :]
    gsum = gi + gj
    lo = jnp.minimum(ti, tj)
    base = 1.0 / gsum if kind == "I" else lo * _phi1(gsum * lo)  # Cov(Y_i(m), Y_j(m)) at m = min(t, s)
    return jnp.exp(-gi * (ti - lo) - gj * (tj - lo)) * base


def markov_fbm_covariance(
    ts: ArrayLike, omega: ArrayLike, gammas: ArrayLike, kind: str = "I"
) -> Float[Array, "n n"]:  # noqa: F821
    """The exact covariance matrix of the Markov approximation `B̂_H(t) = Σ_k ω_k (Y_k(t) - Y_k(0))` at the
    times `ts`, from the closed-form cross-covariances of the OU states (for `t >= s`,
    `Cov(Y_i(t), Y_j(s)) = e^(-γ_i (t-s)) Cov(Y_i(s), Y_j(s))`, the last `1/(γ_i+γ_j)` for the stationary
    type I and `(1 - e^(-(γ_i+γ_j)s))/(γ_i+γ_j)` for type II).

    **Arguments:**

    - `ts`: the times, non-negative.
    - `omega`: the `K` weights.
    - `gammas`: the `K` positive speeds.
    - `kind`: `"I"` or `"II"`.
    """
    kind = check_kind(kind)
    g = check_gammas(gammas)
    omega = jnp.asarray(omega)
    if omega.shape != g.shape:
        raise ValueError(f"`omega` must have the shape of `gammas` {g.shape}, got {omega.shape}")
    ts = jnp.asarray(_check_times(ts), dtype=jnp.result_type(g.dtype, float))

    def cov(t, s):
        c = _ou_cross(t, s, g, kind) - _ou_cross(t, 0.0, g, kind)
        c = c - _ou_cross(0.0, s, g, kind) + _ou_cross(0.0, 0.0, g, kind)
        return omega @ c @ omega

    return jax.vmap(lambda t: jax.vmap(lambda s: cov(t, s))(ts))(ts)


# ----------------------------------------------------------------------------- sampling


def sample_markov_fbm(
    key: PRNGKeyArray,
    ts: ArrayLike,
    omega: ArrayLike,
    gammas: ArrayLike,
    *,
    kind: str = "I",
    num_paths: int = 1,
) -> tuple[Float[Array, "num_paths n"], Float[Array, "num_paths n K"]]:  # noqa: F821
    """Exact samples of the augmented Markov process: the OU states `Y_k(t)` (one Brownian motion for all
    `k`) and the approximation `B̂_H(t) = Σ_k ω_k (Y_k(t) - Y_k(0))`, at the increasing times `ts`.

    Each step is the exact Gaussian transition `Y(t+h) = e^(-γh) Y(t) + ξ`,
    `Cov(ξ_i, ξ_j) = (1 - e^(-(γ_i+γ_j)h)) / (γ_i+γ_j)`; the start is `Y(0) = 0` (type II) or a draw of the
    stationary law `Cov = 1/(γ_i+γ_j)` (type I). No time-step error: the covariance of the samples is
    [`markov_fbm_covariance`][scimlx.sde.markov_fbm_covariance].

    **Arguments:**

    - `key`: a PRNG key.
    - `ts`: increasing non-negative times; the process starts at time 0 (prepended when `ts[0] > 0`, not
      returned).
    - `omega`, `gammas`, `kind`: as [`markov_fbm_covariance`][scimlx.sde.markov_fbm_covariance].
    - `num_paths`: the number of paths.

    **Returns:** `(paths, states)`, shapes `(num_paths, n)` and `(num_paths, n, K)`.
    """
    key = check_key(key)
    kind = check_kind(kind)
    num_paths = check_int("num_paths", num_paths)
    g = check_gammas(gammas)
    omega = jnp.asarray(omega)
    if omega.shape != g.shape:
        raise ValueError(f"`omega` must have the shape of `gammas` {g.shape}, got {omega.shape}")
    times = _check_times(ts)
    if np.any(np.diff(times) <= 0):
        raise ValueError("`ts` must be strictly increasing")
    dtype = jnp.result_type(g.dtype, float)
    g = g.astype(dtype)
    full = np.concatenate([[0.0], times]) if times[0] > 0 else times
    gsum = g[:, None] + g[None, :]
    k0, key = jax.random.split(key)
    if kind == "I":
        y0 = jax.random.normal(k0, (num_paths, g.size), dtype) @ _psd_sqrt(1.0 / gsum).T
    else:
        y0 = jnp.zeros((num_paths, g.size), dtype)

    def step(y, inp):
        h, k = inp
        root = _psd_sqrt(h * _phi1(gsum * h))
        y = jnp.exp(-g * h) * y + jax.random.normal(k, y.shape, dtype) @ root.T
        return y, y

    hs = jnp.asarray(np.diff(full), dtype)
    _, ys = jax.lax.scan(step, y0, (hs, jax.random.split(key, hs.size)))
    states = jnp.concatenate([y0[None], ys], axis=0).transpose(1, 0, 2)  # (num_paths, n_full, K)
    if times[0] > 0:
        states = states[:, 1:]
    paths = (states - y0[:, None, :]) @ omega.astype(dtype)
    return paths, states
