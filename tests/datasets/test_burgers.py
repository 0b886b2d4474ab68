"""Tests of the 1-D viscous Burgers generator (FNO recipe) against exact references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.datasets._burgers import RECIPE, burgers_1d_solve, burgers_grf, grf1_eigenvalues
from scimlx.datasets._recipe import generate

NU, A = 0.1, 2.0


def cole_hopf(x, t):
    """u = -2 nu phi_x / phi with the heat solution phi = A + exp(-4 pi^2 nu t) cos(2 pi x), A > 1."""
    e = np.exp(-4 * np.pi**2 * NU * t)
    return 4 * np.pi * NU * e * np.sin(2 * np.pi * x) / (A + e * np.cos(2 * np.pi * x))


def _cole_hopf_error(dt, s=64):
    x = np.arange(s) / s
    u = np.asarray(burgers_1d_solve(jnp.asarray(cole_hopf(x, 0.0)), nu=NU, t_final=0.5, dt=dt, n_records=5))
    exact = np.stack([cole_hopf(x, 0.1 * j) for j in range(1, 6)])
    return np.abs(u - exact).max()


def test_cole_hopf_exact_solution(x64):
    # The Fourier coefficients of u decay like (A - sqrt(A^2 - 1))^k = 0.27^k, so 64 points resolve it to
    # round-off; the ETDRK4 time error at dt = 1e-3 is ~1e-11 (measured 1.4e-11; |u| <= 0.73).
    assert _cole_hopf_error(1e-3) < 1e-10


def test_cole_hopf_fourth_order_in_time(x64):
    err = np.array([_cole_hopf_error(0.1 / n) for n in (4, 8, 16, 32)])
    orders = np.log2(err[:-1] / err[1:])
    # measured: 4.7e-6, 3.3e-7, 2.1e-8, 1.3e-9 -> orders 3.86, 3.94, 3.98
    assert np.all(orders > 3.7), (err, orders)
    assert orders[-1] == pytest.approx(4.0, abs=0.1)


@pytest.fixture(scope="module")
def grf_run():
    with jax.enable_x64(True):
        keys = jax.random.split(jax.random.key(3), 4)
        u0 = jax.vmap(lambda k: burgers_grf(64, key=k, dtype=jnp.float64))(keys)
        u = jax.vmap(lambda v: burgers_1d_solve(v, nu=NU, t_final=0.5, dt=1e-3, n_records=5))(u0)
        return np.asarray(u0), np.asarray(u)


def test_mean_conserved(grf_run):
    u0, u = grf_run
    assert np.abs(u0.mean(axis=1)).max() < 1e-14
    # the conservative flux (u^2/2)_x has no zero mode: the mean stays exactly where it started
    shifted = np.asarray(
        jax.jit(lambda v: burgers_1d_solve(v + 0.3, nu=NU, t_final=0.5, dt=1e-2))(
            jnp.asarray(u0[0], jnp.float32)
        )
    )
    assert shifted.mean() == pytest.approx(0.3, abs=1e-6)
    np.testing.assert_allclose(u.mean(axis=2), 0.0, atol=1e-14)


def test_energy_decays(grf_run):
    u0, u = grf_run
    energy = np.concatenate([(u0**2).mean(axis=1)[:, None], (u**2).mean(axis=2)], axis=1)
    assert np.all(np.diff(energy, axis=1) < 0)
    # d/dt <u^2>/2 = -nu <u_x^2> <= -nu 4 pi^2 <u^2> (Poincare, zero mean): E(t) <= E(0) e^{-8 pi^2 nu t}
    t = 0.1 * np.arange(6)
    assert np.all(energy <= energy[:, :1] * np.exp(-8 * np.pi**2 * NU * t) * (1 + 1e-12))


def test_grf_mode_variances():
    # u0 = sum lam_k (xi_k cos 2 pi k x + eta_k sin 2 pi k x): the rfft coefficient is
    # U_k = (s/2)(xi_k - i eta_k) lam_k, so a_k = 2 Re U_k / s and b_k = -2 Im U_k / s are
    # N(0, lam_k^2), all independent.
    s, n = 32, 2000
    gamma, tau, sigma = 2.0, 5.0, 25.0
    keys = jax.random.split(jax.random.key(7), n)
    u0 = np.asarray(jax.vmap(lambda k: burgers_grf(s, gamma=gamma, tau=tau, sigma=sigma, key=k))(keys), float)
    coef = np.fft.rfft(u0, axis=1)
    k = np.arange(1, s // 2)
    lam2 = 2 * sigma**2 * ((2 * np.pi * k) ** 2 + tau**2) ** (-gamma)
    np.testing.assert_allclose(
        grf1_eigenvalues(s // 2 - 1, gamma=gamma, tau=tau, sigma=sigma) ** 2, lam2, rtol=1e-12
    )
    a = 2 * coef[:, 1 : s // 2].real / s
    b = -2 * coef[:, 1 : s // 2].imag / s
    var = np.concatenate([a, b]) ** 2  # 2n draws per mode of lam_k^2 chi^2_1
    ratio = var.mean(axis=0) / lam2
    # the sample mean of 2n chi^2_1 variables has relative standard deviation sqrt(2 / (2n))
    assert np.all(np.abs(ratio - 1) < 5 * np.sqrt(2 / (2 * n))), ratio
    # the cosine and sine coefficients are uncorrelated
    corr = (a * b).mean(axis=0) / lam2
    assert np.all(np.abs(corr) < 5 / np.sqrt(n))
    # no mean, and the Nyquist mode carries lam_{s/2} (-1)^j
    assert np.abs(coef[:, 0]).max() < 1e-4 * np.abs(u0).max()
    nyq = coef[:, s // 2].real / s
    lam_nyq2 = 2 * sigma**2 * ((np.pi * s) ** 2 + tau**2) ** (-gamma)
    assert abs((nyq**2).mean() / lam_nyq2 - 1) < 5 * np.sqrt(2 / n)


def test_generate_and_pairs():
    out = generate("burgers_1d", 3, seed=0, resolution=32, dt=1e-2, chunk_size=2)
    u0, u = out.arrays["u0"], out.arrays["u"]
    assert u0.shape == (3, 32) and u.shape == (3, 32) and u.dtype == np.float32
    x, y = RECIPE.pairs(out.arrays, out.params)
    assert x.shape == (3, 1, 32) and y.shape == (3, 1, 32)
    # maximum principle of viscous Burgers: max |u(t)| <= max |u0|
    assert np.all(np.abs(u).max(axis=1) < np.abs(u0).max(axis=1))
    rec = generate("burgers_1d", 3, seed=0, resolution=32, dt=1e-2, n_records=4, subsample=2, dtype="float64")
    assert rec.arrays["u"].shape == (3, 4, 32) and rec.arrays["u"].dtype == np.float64
    x, y = RECIPE.pairs(rec.arrays, rec.params)
    assert x.shape == (3, 1, 32)
    np.testing.assert_array_equal(y[:, 0], rec.arrays["u"][:, -1])
    assert RECIPE.grid(rec.params).shape == (32,)


def test_presets():
    p = RECIPE.resolve("paper")
    assert (p["resolution"], p["subsample"], p["nu"], p["dt"]) == (1024, 8, 0.1, 1e-4)
    d = RECIPE.resolve()
    assert (d["gamma"], d["tau"], d["sigma"]) == (2.0, 5.0, 25.0)


@pytest.mark.parametrize(
    "bad, err",
    [
        ({"nu": -0.1}, ValueError),
        ({"dt": 3e-3}, ValueError),  # t_final not a multiple of dt
        ({"n_records": -1}, ValueError),
        ({"t_final": 0.0}, ValueError),
        ({"sigma": -1.0}, ValueError),
        ({"resolution": 2}, ValueError),
        ({"dealias": 1}, TypeError),
    ],
)
def test_bad_specs_raise(bad, err):
    with pytest.raises(err, match=next(iter(bad))):
        generate("burgers_1d", 2, seed=0, **bad)


def test_solver_bad_inputs():
    with pytest.raises(ValueError, match="nu"):
        burgers_1d_solve(jnp.zeros(16), nu=-1.0)
    with pytest.raises(ValueError, match="u0"):
        burgers_1d_solve(jnp.zeros((4, 4)), nu=0.1)
    with pytest.raises(ValueError, match="n_modes"):
        burgers_grf(16, n_modes=9, key=jax.random.key(0))
    with pytest.raises(TypeError, match="key"):
        burgers_grf(16, key=0)
