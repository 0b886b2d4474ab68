"""Gaussian random fields of the FNO data recipes: periodic (Fourier) and Neumann (cosine) bases."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_dtype, check_int, check_number

__all__ = ["grf_neumann", "grf_periodic"]


def _check_shape(shape: Sequence[int]) -> tuple[int, ...]:
    if isinstance(shape, int):
        shape = (shape,)
    shape = tuple(shape)
    if not 1 <= len(shape) <= 3:
        raise ValueError(f"`shape` must have 1 to 3 axes, got {shape}")
    return tuple(check_int(f"shape[{i}]", n, low=2) for i, n in enumerate(shape))


def grf_periodic(
    shape: int | Sequence[int],
    *,
    alpha: float = 2.5,
    tau: float = 7.0,
    sigma: float | None = None,
    key: PRNGKeyArray,
    dtype=jnp.float32,
) -> Float[Array, "*shape"]:  # noqa: F821
    """A zero-mean Gaussian random field on the periodic unit cube, covariance `~ (-Lap + tau^2)^(-alpha)`.

    The sampler of the FNO Navier-Stokes data (`GaussianRF`): with `k` the integer wavenumbers of the
    full FFT grid, `u = Re IFFT(n^d sqrt(2) sigma (4 pi^2 |k|^2 + tau^2)^(-alpha/2) (xi + i eta))`, with
    `xi, eta` independent standard normals and the mean mode set to zero. The covariance is then
    `sigma^2 (-Laplacian + tau^2)^(-alpha)` up to the factor of the real part (FNO's convention).

    **Arguments:**

    - `shape`: grid points per axis (1 to 3 axes); the grid is `x_i = i / n`.
    - `alpha`, `tau`: smoothness and inverse length scale.
    - `sigma`: amplitude; defaults to `tau^((2 alpha - d) / 2)` as in the FNO code (`7^(3/2)` for the
        Navier-Stokes initial vorticity with `alpha = 2.5`, `tau = 7`).
    - `key`: a PRNG key (keyword-only).
    - `dtype`: the real output dtype.
    """
    shape = _check_shape(shape)
    dtype = check_dtype("dtype", dtype)
    d = len(shape)
    alpha = check_number("alpha", alpha, low=0, low_open=True)
    tau = check_number("tau", tau, low=0, low_open=True)
    if sigma is None:
        sigma = tau ** (0.5 * (2 * alpha - d))
    sigma = check_number("sigma", sigma, low=0)
    k2 = np.zeros(shape)
    for i, n in enumerate(shape):
        k = np.fft.fftfreq(n, d=1 / n)
        bshape = [1] * d
        bshape[i] = n
        k2 = k2 + (k**2).reshape(bshape)
    sqrt_eig = np.prod(shape) * np.sqrt(2) * sigma * (4 * np.pi**2 * k2 + tau**2) ** (-alpha / 2)
    sqrt_eig.flat[0] = 0.0
    k1, k2_ = jax.random.split(key)
    xi = jax.random.normal(k1, shape, dtype)
    eta = jax.random.normal(k2_, shape, dtype)
    coef = jnp.asarray(sqrt_eig, dtype) * jax.lax.complex(xi, eta)
    return jnp.real(jnp.fft.ifftn(coef)).astype(dtype)


def grf_neumann(
    shape: int | Sequence[int],
    *,
    alpha: float = 2.0,
    tau: float = 3.0,
    key: PRNGKeyArray,
    dtype=jnp.float32,
) -> Float[Array, "*shape"]:  # noqa: F821
    """A zero-mean Gaussian random field, covariance `~ (-Lap + tau^2)^(-alpha)` with Neumann conditions.

    The sampler of the FNO Darcy data (`GRF.m`): an inverse orthonormal cosine transform (DCT-II) of
    `n tau^(alpha - 1) (pi^2 |k|^2 + tau^2)^(-alpha/2) xi` with integer wavenumbers `k` from 0 to
    `n - 1`, `xi` standard normal and the mean mode set to zero.

    **Arguments:**

    - `shape`: grid points per axis (1 to 3 axes).
    - `alpha`, `tau`: smoothness and inverse length scale (FNO Darcy: `alpha = 2`, `tau = 3`).
    - `key`: a PRNG key (keyword-only).
    - `dtype`: the output dtype.
    """
    shape = _check_shape(shape)
    dtype = check_dtype("dtype", dtype)
    d = len(shape)
    alpha = check_number("alpha", alpha, low=0, low_open=True)
    tau = check_number("tau", tau, low=0, low_open=True)
    k2 = np.zeros(shape)
    for i, n in enumerate(shape):
        bshape = [1] * d
        bshape[i] = n
        k2 = k2 + (np.arange(n, dtype=float) ** 2).reshape(bshape)
    # MATLAB's GRF.m scales by s (the first axis length); for square grids this is the side.
    coef = shape[0] * tau ** (alpha - 1) * (np.pi**2 * k2 + tau**2) ** (-alpha / 2)
    coef.flat[0] = 0.0
    xi = jax.random.normal(key, shape, dtype)
    return jax.scipy.fft.idctn(jnp.asarray(coef, dtype) * xi, type=2, norm="ortho").astype(dtype)
