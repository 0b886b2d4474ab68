"""Paths of fractional Brownian motion and of the fractional Ornstein-Uhlenbeck process, exact on their time
grids: the synthetic data of the variational fractional-SDE experiments (`scimlx.sde`).

Two fBM types, with the `1/Γ(H+1/2)` prefactor of the Markov-approximation paper (`a = H + 1/2`):

- type I (Mandelbrot-Van Ness): `B_H(t) = (1/Γ(a)) ∫_{-∞}^t [(t-s)^(a-1) - (-s)_+^(a-1)] dW_s`, variance
  `V_H t^2H` with `V_H = Γ(2-2H) cos(πH) / (πH (1-2H))`; divided by `sqrt(V_H)` it is the usual unit-variance
  fBM (`unit_variance=True`);
- type II (Riemann-Liouville): `B_H(t) = (1/Γ(a)) ∫_0^t (t-s)^(a-1) dW_s`, variance `t^2H / (2H Γ(a)^2)`.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
import scipy.special
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.validate import check_bool, check_choice, check_int, check_key, check_number

__all__ = ["fbm_covariance", "fbm_variance_factor", "fractional_ou_paths", "sample_fbm"]

_KINDS = ("I", "II")


def psd_sqrt(cov: ArrayLike) -> Array:
    """A square root `L` with `L Lᵀ = cov` of a symmetric positive semi-definite matrix (eigenvalues clipped
    at zero: exact up to round-off also where the matrix is numerically singular)."""
    w, v = jnp.linalg.eigh(jnp.asarray(cov))
    return v * jnp.sqrt(jnp.clip(w, 0.0))


def _check(hurst, kind) -> tuple[float, str]:
    kind = check_choice("kind", kind, _KINDS, context="the fBM type: 'I' (Mandelbrot-Van Ness) or 'II'")
    hurst = check_number("hurst", hurst, low=0.0, high=1.0, low_open=True, high_open=True)
    return hurst, kind


def _check_times(ts) -> np.ndarray:
    arr = np.asarray(ts, dtype=float)
    if arr.ndim != 1 or arr.size < 1:
        raise ValueError(f"`ts` must be a 1-D array of times, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(arr < 0):
        raise ValueError("`ts` must be finite and non-negative")
    return arr


def fbm_variance_factor(hurst: float, kind: str = "I") -> float:
    """The factor `v` in `Var B_H(t) = v t^2H` (module docstring): `V_H` for type I, `1/(2H Γ(H+1/2)^2)` for
    type II."""
    hurst, kind = _check(hurst, kind)
    if kind == "II":
        return 1.0 / (2 * hurst * math.gamma(hurst + 0.5) ** 2)
    return math.gamma(2 - 2 * hurst) * float(np.sinc(0.5 - hurst)) / (2 * hurst)


def _riemann_liouville_cross(s: float, t: float, a: float) -> float:
    """∫_0^min(s,t) (t-u)^(a-1) (s-u)^(a-1) du, by the hypergeometric closed form."""
    s, t = min(s, t), max(s, t)
    if s == 0.0:
        return 0.0
    d = t - s
    if d == 0.0:
        return s ** (2 * a - 1) / (2 * a - 1)
    # ∫_0^s v^(a-1) (v+d)^(a-1) dv = d^(a-1) s^a / a · 2F1(1-a, a; a+1; -s/d)
    return d ** (a - 1) * s**a / a * scipy.special.hyp2f1(1 - a, a, a + 1, -s / d)


def fbm_covariance(
    ts: ArrayLike, hurst: float, kind: str = "I", *, unit_variance: bool = False
) -> np.ndarray:
    """The exact covariance matrix `Cov(B_H(t_i), B_H(t_j))` of the fBM of type `kind`, in float64 NumPy.

    Type I: `V_H (t^2H + s^2H - |t-s|^2H) / 2`. Type II: `(1/Γ(a)^2) ∫_0^min(s,t) (t-u)^(a-1) (s-u)^(a-1) du`,
    in closed form through the Gauss hypergeometric function (SciPy's).

    **Arguments:**

    - `ts`: the times, non-negative.
    - `hurst`: the Hurst index in (0, 1).
    - `kind`: `"I"` or `"II"`.
    - `unit_variance`: divide by the variance factor, so that `Var B_H(1) = 1` (for type I the usual fBM).
    """
    hurst, kind = _check(hurst, kind)
    check_bool("unit_variance", unit_variance)
    ts = _check_times(ts)
    if kind == "I":
        s, t = ts[:, None], ts[None, :]
        out = (
            0.5
            * fbm_variance_factor(hurst)
            * (s ** (2 * hurst) + t ** (2 * hurst) - np.abs(t - s) ** (2 * hurst))
        )
    else:
        a, n = hurst + 0.5, ts.size
        out = np.empty((n, n))
        for i in range(n):
            for j in range(i, n):
                out[i, j] = out[j, i] = _riemann_liouville_cross(ts[i], ts[j], a)
        out /= scipy.special.gamma(a) ** 2
    return out / fbm_variance_factor(hurst, kind) if unit_variance else out


def sample_fbm(
    key: PRNGKeyArray, ts: ArrayLike, hurst: float, *, kind: str = "I", num_paths: int = 1,
    unit_variance: bool = False,
) -> Float[Array, "num_paths n"]:  # noqa: F821  # fmt: skip
    """Exact samples of fBM at the times `ts`, by a square root of the exact covariance
    ([`fbm_covariance`][scimlx.datasets.fbm_covariance]): `O(n^3)` once, then `O(n^2)` per path.

    **Arguments:**

    - `key`: a PRNG key.
    - `ts`: the times, non-negative (`B_H(0) = 0`).
    - `hurst`: the Hurst index in (0, 1).
    - `kind`: `"I"` or `"II"` (module docstring).
    - `num_paths`: the number of paths.
    - `unit_variance`: as [`fbm_covariance`][scimlx.datasets.fbm_covariance].
    """
    key = check_key(key)
    num_paths = check_int("num_paths", num_paths)
    root = psd_sqrt(fbm_covariance(ts, hurst, kind, unit_variance=unit_variance))
    z = jax.random.normal(key, (num_paths, root.shape[0]), dtype=root.dtype)
    return z @ root.T


def fractional_ou_paths(
    key: PRNGKeyArray, ts: ArrayLike, hurst: float, *, theta: float = 1.0, sigma: float = 1.0,
    kind: str = "I", num_paths: int = 1, refine: int = 10, unit_variance: bool = False,
) -> Float[Array, "num_paths n"]:  # noqa: F821  # fmt: skip
    """Paths of the fractional Ornstein-Uhlenbeck process `dX = -θ X dt + σ dB_H`, `X(0) = 0`, at the uniform
    times `ts = (1..n) h`.

    The fBM is drawn exactly on the grid refined `refine` times; each fine step is the exponential integrator
    `X <- e^(-θδ) X + σ e^(-θδ/2) ΔB_H` (the midpoint rule for `∫ e^(-θ(t-s)) dB_H(s)`), so the only error is
    that quadrature's, which vanishes as `refine` grows.

    **Arguments:**

    - `key`: a PRNG key.
    - `ts`: the uniform observation times `h, 2h, ..., n h`.
    - `hurst`: the Hurst index in (0, 1).
    - `theta`: the mean reversion `θ >= 0` (0: scaled fBM).
    - `sigma`: the noise scale `σ > 0`.
    - `kind`, `unit_variance`: the fBM (module docstring).
    - `num_paths`: the number of paths.
    - `refine`: fine steps per observation interval.
    """
    theta = check_number("theta", theta, low=0.0)
    sigma = check_number("sigma", sigma, low=0.0, low_open=True)
    refine = check_int("refine", refine)
    ts = _check_times(ts)
    h = ts[0]
    if h <= 0 or not np.allclose(ts, h * np.arange(1, ts.size + 1), rtol=1e-9, atol=1e-12):
        raise ValueError("`ts` must be the uniform times h, 2h, ..., n h (h > 0)")
    delta = h / refine
    fine = delta * np.arange(1, ts.size * refine + 1)
    b = sample_fbm(key, fine, hurst, kind=kind, num_paths=num_paths, unit_variance=unit_variance)
    db = jnp.diff(b, axis=1, prepend=jnp.zeros((num_paths, 1), b.dtype))
    decay = math.exp(-theta * delta)
    kick = sigma * math.exp(-theta * delta / 2)

    def step(x, d):
        x = decay * x + kick * d
        return x, x

    _, xs = jax.lax.scan(step, jnp.zeros((num_paths,), b.dtype), db.T)
    return xs.T[:, refine - 1 :: refine]
