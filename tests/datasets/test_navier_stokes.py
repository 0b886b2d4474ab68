"""Tests of the 2-D vorticity Navier-Stokes generator against exact references."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.datasets import grf_periodic
from scimlx.datasets._navier_stokes import (
    RECIPE,
    fno_forcing,
    navier_stokes_2d_solve,
    ns_vorticity_rhs,
    velocity_from_vorticity,
)
from scimlx.datasets._recipe import generate


def _mesh(s):
    x = np.arange(s) / s
    return np.meshgrid(x, x, indexing="ij")


def _smooth_w0(s):
    """A smooth field with several wavenumber shells (so the advection term does not vanish)."""
    x, y = _mesh(s)
    return (
        np.sin(2 * np.pi * x) * np.cos(4 * np.pi * y)
        + 0.5 * np.cos(2 * np.pi * (x + y))
        + 0.3 * np.sin(2 * np.pi * (3 * x + y))
        + 0.2 * np.cos(4 * np.pi * y)
    )


@pytest.mark.parametrize("scheme", ["cn_euler", "etdrk4"])
def test_taylor_green_decay(x64, scheme):
    # w0 is a Laplacian eigenfunction (|k|^2 = 4 pi^2 * 5), so psi ~ w and u . grad w = 0 exactly: the
    # unforced solution is w0 exp(-nu |k|^2 t).
    s, nu, dt = 16, 0.01, 0.01
    x, y = _mesh(s)
    w0 = np.sin(2 * np.pi * x) * np.sin(4 * np.pi * y) + np.cos(2 * np.pi * (2 * x + y))
    lam = nu * 20 * np.pi**2
    t = 0.25 * np.arange(1, 5)
    w = navier_stokes_2d_solve(
        jnp.asarray(w0), nu=nu, n_records=4, record_every=0.25, dt=dt, forcing=None, scheme=scheme
    )
    exact = np.exp(-lam * t)[:, None, None] * w0
    err = np.abs(np.asarray(w) - exact).max(axis=(1, 2)) / np.abs(exact).max(axis=(1, 2))
    if scheme == "etdrk4":
        # The linear part is integrated exactly: round-off only.
        assert err.max() < 1e-12
    else:
        # Crank-Nicolson: ln[(1 - z/2)/(1 + z/2)] = -z - z^3/12 - z^5/80 - ..., z = nu |k|^2 dt, so the
        # relative error after time t is at most lam t z^2 / 12 (1 + z^2); it is also that leading term.
        z = lam * dt
        bound = lam * t * z**2 / 12
        assert np.all(err <= bound * (1 + z**2))
        assert np.all(err >= bound * (1 - lam * t * z**2))


def test_velocity_and_rhs_of_single_mode(x64):
    # w = cos(2 pi x): psi = w / (4 pi^2), u = psi_y = 0, v = -psi_x = sin(2 pi x) / (2 pi).
    s = 8
    x, _ = _mesh(s)
    w = np.cos(2 * np.pi * x)
    vel = np.asarray(velocity_from_vorticity(jnp.asarray(w)))
    np.testing.assert_allclose(vel[0], 0, atol=1e-14)
    np.testing.assert_allclose(vel[1], np.sin(2 * np.pi * x) / (2 * np.pi), atol=1e-14)
    # dw/dt = nu Lap w + f (the advection vanishes).
    rhs = np.asarray(ns_vorticity_rhs(jnp.asarray(w), nu=0.1))
    np.testing.assert_allclose(
        rhs, -0.1 * 4 * np.pi**2 * w + np.asarray(fno_forcing(s, dtype=jnp.float64)), atol=1e-13
    )


def test_enstrophy_budget(x64):
    # d/dt <w^2>/2 = -nu <|grad w|^2> + <f w> (the advection term integrates to zero).
    s, nu, h = 32, 0.01, 0.01
    w0 = jnp.asarray(_smooth_w0(s))
    w = np.asarray(navier_stokes_2d_solve(w0, nu=nu, n_records=12, record_every=h, dt=1e-3, scheme="etdrk4"))
    w = np.concatenate([np.asarray(w0)[None], w])
    ens = 0.5 * (w**2).mean(axis=(1, 2))
    # fourth-order central differences in time, truncation O(h^4)
    d_ens = (-ens[4:] + 8 * ens[3:-1] - 8 * ens[1:-3] + ens[:-4]) / (12 * h)
    f = np.asarray(fno_forcing(s, dtype=jnp.float64))
    k = 2 * np.pi * np.fft.fftfreq(s, 1 / s)

    def grad_sq(a):
        ah = np.fft.fft2(a)
        gx = np.fft.ifft2(1j * k[:, None] * ah).real
        gy = np.fft.ifft2(1j * k[None, :] * ah).real
        return (gx**2 + gy**2).mean()

    budget = np.array([-nu * grad_sq(w[j]) + (f * w[j]).mean() for j in range(2, len(w) - 2)])
    forcing_term = np.array([(f * w[j]).mean() for j in range(2, len(w) - 2)])
    assert np.abs(forcing_term).min() > 0.02  # the forcing term is a visible part of the budget
    # measured: 3.5e-7 (time differences and the dealiasing of the tiny |k| > 10 content)
    assert np.abs(d_ens - budget).max() / np.abs(budget).max() < 1e-5


def test_time_convergence_orders(x64):
    s, nu, t = 32, 0.01, 0.5
    w0 = jnp.asarray(_smooth_w0(s))

    def run(scheme, n):
        return np.asarray(navier_stokes_2d_solve(w0, nu=nu, record_every=t, dt=t / n, scheme=scheme))[0]

    ref = run("etdrk4", 512)

    def orders(scheme, ns):
        err = np.array([np.linalg.norm(run(scheme, n) - ref) / np.linalg.norm(ref) for n in ns])
        return err, np.log2(err[:-1] / err[1:])

    err4, p4 = orders("etdrk4", [4, 8, 16])
    err1, p1 = orders("cn_euler", [16, 32, 64])
    # measured: etdrk4 1.9e-6, 1.1e-7, 7.1e-9 (orders 4.02, 4.01); cn_euler orders 1.03, 1.01
    assert np.all(np.abs(p4 - 4) < 0.15), (err4, p4)
    assert np.all(np.abs(p1 - 1) < 0.1), (err1, p1)


def test_grf_initial_vorticity_spectrum(x64):
    # FNO: w_hat = s^2 sqrt(2) sigma (4 pi^2 |k|^2 + tau^2)^(-alpha/2) (xi + i eta), real part taken,
    # so E|FFT(w)_k|^2 = A_k^2 = 2 s^4 sigma^2 (4 pi^2 |k|^2 + tau^2)^(-alpha) away from k = 0 and Nyquist.
    s, n, alpha, tau = 32, 64, 2.5, 7.0
    sigma = tau ** ((2 * alpha - 2) / 2)
    keys = jax.random.split(jax.random.key(1), n)
    w = np.asarray(
        jax.vmap(lambda k: grf_periodic((s, s), alpha=alpha, tau=tau, key=k, dtype=jnp.float64))(keys)
    )
    assert np.abs(w.mean(axis=(1, 2))).max() < 1e-14 * np.abs(w).max()
    kk = np.fft.fftfreq(s, 1 / s)
    kx, ky = np.meshgrid(kk, kk, indexing="ij")
    k2 = kx**2 + ky**2
    expected = 2 * s**4 * sigma**2 * (4 * np.pi**2 * k2 + tau**2) ** (-alpha)
    power = np.abs(np.fft.fft2(w)) ** 2
    keep = (k2 > 0) & (np.abs(kx) < s // 2) & (np.abs(ky) < s // 2)
    shells = np.rint(np.sqrt(k2)).astype(int)
    for r in range(1, s // 2):
        sel = keep & (shells == r)
        ratio = (power[:, sel] / expected[sel]).mean()
        # |FFT(w)_k|^2 / A_k^2 ~ Exp(1); k and -k are conjugate, so n * (#modes) / 2 independent draws
        n_eff = n * sel.sum() / 2
        assert abs(ratio - 1) < 5 / np.sqrt(n_eff), (r, ratio)
    # spectral slope: log E|w_hat_k|^2 against log(4 pi^2 |k|^2 + tau^2) over all modes (measured -2.496)
    slope = np.polyfit(np.log(4 * np.pi**2 * k2 + tau**2)[keep], np.log(power[:, keep].mean(axis=0)), 1)[0]
    assert slope == pytest.approx(-alpha, abs=0.05)


@pytest.fixture(scope="module")
def tiny():
    return dict(resolution=8, n_records=3, t_in=2, t_out=1, record_every=0.1, dt=0.01, chunk_size=2)


def test_generate_and_pairs(tiny):
    out = generate("navier_stokes_2d", 3, seed=0, **tiny)
    w0, w = out.arrays["w0"], out.arrays["w"]
    assert w0.shape == (3, 8, 8) and w.shape == (3, 3, 8, 8)
    assert w.dtype == np.float32 and np.all(np.isfinite(w))
    x, y = RECIPE.pairs(out.arrays, out.params)
    assert x.shape == (3, 2, 8, 8) and y.shape == (3, 1, 8, 8)
    np.testing.assert_array_equal(y[:, 0], w[:, 2])
    assert RECIPE.grid(out.params).shape == (8, 8)
    # subsampling keeps every r-th point of the fine grid
    sub = generate("navier_stokes_2d", 3, seed=0, **{**tiny, "resolution": 4, "subsample": 2})
    np.testing.assert_array_equal(sub.arrays["w0"], out.arrays["w0"][:, ::2, ::2])
    np.testing.assert_allclose(sub.arrays["w"], out.arrays["w"][:, :, ::2, ::2], rtol=1e-5, atol=1e-6)


def test_paper_preset_resolves():
    p = RECIPE.resolve("paper")
    assert (p["resolution"], p["subsample"], p["dt"], p["nu"], p["n_records"]) == (64, 4, 1e-4, 1e-5, 20)


@pytest.mark.parametrize(
    "bad, err",
    [
        ({"nu": -1e-5}, ValueError),
        ({"nu": 0.0}, ValueError),
        ({"resolution": 63}, ValueError),
        ({"t_in": 15, "t_out": 10}, ValueError),
        ({"scheme": "rk4"}, ValueError),
        ({"dt": 3e-4}, ValueError),  # record_every not a multiple of dt
        ({"resolution": 64.0}, TypeError),
        ({"dealias": "yes"}, TypeError),
        ({"bogus": 1}, ValueError),
    ],
)
def test_bad_specs_raise(bad, err):
    with pytest.raises(err, match=next(iter(bad)) if next(iter(bad)) != "bogus" else "unknown"):
        generate("navier_stokes_2d", 2, seed=0, **bad)


def test_solver_bad_inputs():
    w = jnp.zeros((15, 15))
    with pytest.raises(ValueError, match="even"):
        navier_stokes_2d_solve(w, nu=1e-3)
    with pytest.raises(ValueError, match="w0"):
        navier_stokes_2d_solve(jnp.zeros((8, 6)), nu=1e-3)
    with pytest.raises(ValueError, match="nu"):
        navier_stokes_2d_solve(jnp.zeros((8, 8)), nu=-1.0)
    with pytest.raises(ValueError, match="scheme"):
        navier_stokes_2d_solve(jnp.zeros((8, 8)), nu=1e-3, scheme="euler")
    with pytest.raises(ValueError, match="forcing"):
        navier_stokes_2d_solve(jnp.zeros((8, 8)), nu=1e-3, forcing=jnp.zeros((4, 4)))


def test_advection_term_exact(x64):
    """For w = cos 2 pi x + cos 4 pi y (-Lap psi = w, u = psi_y, v = -psi_x) the advection is
    u . grad w = -1.5 sin 2 pi x sin 4 pi y: the right-hand side is known in closed form, sign included."""
    from scimlx.datasets import fno_forcing, ns_vorticity_rhs

    s, nu = 32, 0.01
    x = np.arange(s) / s
    X, Y = np.meshgrid(x, x, indexing="ij")
    w = np.cos(2 * np.pi * X) + np.cos(4 * np.pi * Y)
    advection = -1.5 * np.sin(2 * np.pi * X) * np.sin(4 * np.pi * Y)
    lap = -4 * np.pi**2 * np.cos(2 * np.pi * X) - 16 * np.pi**2 * np.cos(4 * np.pi * Y)
    rhs = np.asarray(ns_vorticity_rhs(jnp.asarray(w), nu=nu, forcing="fno"))
    expected = -advection + nu * lap + np.asarray(fno_forcing(s, dtype=jnp.float64))
    np.testing.assert_allclose(rhs, expected, atol=1e-12)
