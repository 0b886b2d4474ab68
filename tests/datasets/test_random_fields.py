"""The FNO random-field samplers against their defining formulas, with the same normal draws."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.fft

from scimlx.datasets import darcy_coefficient, grf_neumann, grf_periodic


def test_grf_neumann_is_fno_grf_m(x64):
    """GRF.m: idct2 (orthonormal inverse DCT-II) of s tau^(alpha-1) (pi^2 |k|^2 + tau^2)^(-alpha/2) xi."""
    s, alpha, tau = 12, 2.0, 3.0
    key = jax.random.key(3)
    xi = np.asarray(jax.random.normal(key, (s, s), jnp.float64))
    k1, k2 = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    coef = s * tau ** (alpha - 1) * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha / 2)
    coef[0, 0] = 0.0
    expected = scipy.fft.idctn(coef * xi, type=2, norm="ortho")
    got = np.asarray(grf_neumann((s, s), alpha=alpha, tau=tau, key=key, dtype=jnp.float64))
    np.testing.assert_allclose(got, expected, atol=1e-13)
    # the Darcy coefficient thresholds exactly this field at 0
    a = np.asarray(darcy_coefficient(s, key=key, dtype=jnp.float64))
    np.testing.assert_array_equal(a, np.where(expected >= 0, 12.0, 3.0))


def test_grf_periodic_is_fno_gaussian_rf(x64):
    """GaussianRF: Re IFFT of s^d sqrt(2) sigma (4 pi^2 |k|^2 + tau^2)^(-alpha/2) (xi + i eta),
    sigma = tau^(alpha - d/2)."""
    s, alpha, tau = 8, 2.5, 7.0
    key = jax.random.key(5)
    k_xi, k_eta = jax.random.split(key)
    xi = np.asarray(jax.random.normal(k_xi, (s, s), jnp.float64))
    eta = np.asarray(jax.random.normal(k_eta, (s, s), jnp.float64))
    k = np.fft.fftfreq(s, d=1 / s)
    kx, ky = np.meshgrid(k, k, indexing="ij")
    sigma = tau ** (0.5 * (2 * alpha - 2))
    sqrt_eig = s**2 * np.sqrt(2) * sigma * (4 * np.pi**2 * (kx**2 + ky**2) + tau**2) ** (-alpha / 2)
    sqrt_eig[0, 0] = 0.0
    expected = np.real(np.fft.ifft2(sqrt_eig * (xi + 1j * eta)))
    got = np.asarray(grf_periodic((s, s), alpha=alpha, tau=tau, key=key, dtype=jnp.float64))
    np.testing.assert_allclose(got, expected, atol=1e-12)


@pytest.mark.slow
def test_grf_neumann_spectrum_decays_as_prescribed(x64):
    """The DCT coefficients of many draws have variance proportional to (pi^2 |k|^2 + tau^2)^(-alpha)."""
    s, alpha, tau, n = 16, 2.0, 3.0, 400
    keys = jax.random.split(jax.random.key(0), n)
    fields = jax.vmap(lambda k: grf_neumann((s, s), alpha=alpha, tau=tau, key=k, dtype=jnp.float64))(keys)
    c = scipy.fft.dctn(np.asarray(fields), type=2, norm="ortho", axes=(1, 2))
    var = c.var(axis=0)
    k1, k2 = np.meshgrid(np.arange(s), np.arange(s), indexing="ij")
    expected = (s * tau ** (alpha - 1)) ** 2 * (np.pi**2 * (k1**2 + k2**2) + tau**2) ** (-alpha)
    mask = (k1 + k2 > 0) & (k1 + k2 < 6)
    ratio = var[mask] / expected[mask]
    # the sample variance of n normals has relative standard deviation sqrt(2 / n) = 0.07
    assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(2 / n))
    assert var[0, 0] < 1e-20  # no mean mode


@pytest.mark.parametrize("fn", [grf_periodic, grf_neumann])
def test_bad_arguments(fn):
    with pytest.raises(ValueError, match="tau"):
        fn((8, 8), tau=0.0, key=jax.random.key(0))
    with pytest.raises(ValueError, match="dtype"):
        fn((8, 8), key=jax.random.key(0), dtype=jnp.float64)  # 64-bit mode is off here
    with pytest.raises(ValueError, match="shape"):
        fn((8, 8, 8, 8), key=jax.random.key(0))
