import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core.geometry import Grid
from scimlx.datasets._kuramoto_sivashinsky import (
    RECIPE,
    kassam_trefethen_initial_condition,
    ks_linear_operator,
    ks_nonlinear,
    ks_solve,
    medida_initial_condition,
    random_initial_condition,
)
from scimlx.datasets._recipe import generate

PI = np.pi
KT_L, KT_N = 32 * PI, 128
FINE_DT = 1 / 1024  # the ETDRK4 reference step (its error is ~1e-16 at T = 2, far below what is measured)
FINE_SAVE = 8  # the reference keeps every 1/128


def _enable_x64():
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX
        from jax.experimental import enable_x64
    return enable_x64(True)


def _spectral(u, length, order):
    """The order-th derivative by numpy's FFT (independent of the code under test)."""
    n = u.shape[-1]
    k = 2 * PI * np.fft.fftfreq(n, d=length / n)
    sym = (1j * k) ** order
    if order % 2:
        sym[n // 2] = 0
    return np.real(np.fft.ifft(sym * np.fft.fft(u)))


def _observed_order(e_coarse, e_fine, ratio=2.0):
    return np.log(e_coarse / e_fine) / np.log(ratio)


@pytest.fixture(scope="module")
def kt_reference():
    """Kassam-Trefethen setting, ETDRK4 in float64 with dt = 1/1024, kept every 1/128 on t in [0, 2]."""
    with _enable_x64():
        u0 = jnp.asarray(kassam_trefethen_initial_condition(KT_N, KT_L))
        traj = ks_solve(u0, length=KT_L, dt=FINE_DT, n_steps=2048, save_every=FINE_SAVE)
        return np.asarray(traj, dtype=np.float64)


def _at(reference, t):
    """The reference state at time t (a multiple of 1/128)."""
    j = t * 1024 / FINE_SAVE
    assert abs(j - round(j)) < 1e-12
    return reference[int(round(j))]


# ---------------------------------------------------------------------------------------------------------
# (a) fourth order in time


def test_etdrk4_fourth_order_in_time(x64, kt_reference):
    u0 = jnp.asarray(kassam_trefethen_initial_condition(KT_N, KT_L))
    ref = kt_reference[-1]  # t = 2
    errors = {}
    for dt in (1 / 8, 1 / 16, 1 / 32):
        n = int(round(2 / dt))
        u = ks_solve(u0, length=KT_L, dt=dt, n_steps=n, save_every=n, include_init=False)
        assert u.dtype == jnp.float64 and u.shape == (1, KT_N)
        errors[dt] = np.max(np.abs(np.asarray(u[0]) - ref))
    # errors far above round-off (|u| ~ 2, eps ~ 2e-16): the measured ones are ~5e-9, 3e-10, 2e-11
    assert errors[1 / 32] > 1e-12
    assert errors[1 / 8] < 1e-7
    for coarse, fine in ((1 / 8, 1 / 16), (1 / 16, 1 / 32)):
        p = _observed_order(errors[coarse], errors[fine])
        assert 3.6 <= p <= 4.4, (coarse, fine, p, errors)


def test_lower_etdrk_orders(x64, kt_reference):
    u0 = jnp.asarray(kassam_trefethen_initial_condition(KT_N, KT_L))
    ref = kt_reference[-1]
    for order, lo, hi in ((1, 0.8, 1.2), (2, 1.8, 2.2)):
        errs = []
        for dt in (1 / 64, 1 / 128):
            n = int(round(2 / dt))
            u = ks_solve(u0, length=KT_L, dt=dt, n_steps=n, save_every=n, include_init=False, order=order)
            errs.append(np.max(np.abs(np.asarray(u[0]) - ref)))
        assert lo <= _observed_order(*errs) <= hi, (order, errs)


# ---------------------------------------------------------------------------------------------------------
# exact references for the terms: the nonlinearity and the Cole-Hopf solution of viscous Burgers


def test_nonlinear_term_exact(x64):
    n, length, l1 = 32, 2 * PI, 0.7
    x = length * np.arange(n) / n
    u = np.sin(x) + 0.5 * np.cos(3 * x)
    u_x = np.cos(x) - 1.5 * np.sin(3 * x)
    exact = -l1 * u * u_x  # modes <= 6, resolved without aliasing on 32 points
    for dealias in (False, True):
        n_hat = ks_nonlinear(n, length, l1, dealias=dealias)(jnp.fft.rfft(jnp.asarray(u)))
        np.testing.assert_allclose(np.fft.irfft(np.asarray(n_hat), n), exact, atol=1e-13)
    lin = ks_linear_operator(n, length, (l1, 0.3, 0.2))
    k = np.arange(n // 2 + 1.0)
    np.testing.assert_allclose(lin, 0.3 * k**2 - 0.2 * k**4, rtol=1e-14, atol=1e-12)


def test_cole_hopf_viscous_burgers(x64):
    """u_t + u u_x = nu u_xx, i.e. coefficients (1, -nu, 0): u = -2 nu (log phi)_x, phi_t = nu phi_xx."""
    n, length, nu, c0, a, T = 128, 2 * PI, 0.1, 1.2, 1.0, 1.0
    x = length * np.arange(n) / n

    def exact(t):
        e = a * np.exp(-nu * t)
        return 2 * nu * e * np.sin(x) / (c0 + e * np.cos(x))

    u = ks_solve(
        jnp.asarray(exact(0.0)),
        length=length,
        dt=0.005,
        n_steps=200,
        save_every=100,
        coefficients=(1, -nu, 0),
    )
    assert u.shape == (3, n)
    for j, t in enumerate((0.0, 0.5, T)):
        err = np.max(np.abs(np.asarray(u[j]) - exact(t)))
        assert err < 1e-11, (t, err)  # measured 1.8e-12 (the ETDRK4 time error; 2.8e-11 at dt = 0.01)


# ---------------------------------------------------------------------------------------------------------
# (b) conservation of the mean, (c) linear growth rates


def test_mean_conserved(x64):
    n, length = 64, 22.0
    u0 = random_initial_condition(n, key=jax.random.key(1), dtype=jnp.float64) + 0.3
    u = ks_solve(u0, length=length, dt=0.1, n_steps=3000, save_every=1000, dealias=True)
    mean0 = float(jnp.mean(u0))
    assert abs(mean0 - 0.3) < 1e-14
    drift = np.max(np.abs(np.asarray(u).mean(-1) - mean0))
    assert drift < 1e-12, drift
    assert np.asarray(u[-1]).std() > 0.5  # the state did evolve (chaotic, not decayed)


def test_linear_growth_rate(x64):
    """A tiny single-mode perturbation grows at l2 k^2 - l3 k^4 (exact linear theory)."""
    n, length, T, eps = 128, KT_L, 4.0, 1e-9
    x = length * np.arange(n) / n
    for coefficients in ((1.0, 1.0, 1.0), (1.0, 2.0, 0.5)):
        for m in (5, 8, 20):  # k = 5/16 and 1/2 (unstable), 5/4 (damped)
            k = 2 * PI * m / length
            u0 = eps * np.cos(k * x + 0.3)
            u = ks_solve(
                jnp.asarray(u0), length=length, dt=0.25, n_steps=16, save_every=16, coefficients=coefficients
            )
            amp = np.abs(np.fft.rfft(np.asarray(u))[:, m])
            rate = np.log(amp[1] / amp[0]) / T
            exact = coefficients[1] * k**2 - coefficients[2] * k**4
            assert abs(rate - exact) < 1e-8, (coefficients, m, rate, exact)


def test_initial_conditions():
    u = medida_initial_condition(1024, 100.0)
    x = -50 + 100 * np.arange(1024) / 1024
    np.testing.assert_allclose(u, -np.cos(2 * PI * x / 100) * (1 + np.sin(-2 * PI * x / 100)), atol=1e-15)
    v = kassam_trefethen_initial_condition(128)
    x = 32 * PI * np.arange(128) / 128
    np.testing.assert_allclose(v, np.cos(x / 16) * (1 + np.sin(x / 16)), atol=1e-14)
    w = np.asarray(random_initial_condition(64, key=jax.random.key(0), cutoff=5, amplitude=2.0))
    assert w.dtype == np.float32
    assert abs(np.max(np.abs(w)) - 2.0) < 1e-6 and abs(w.mean()) < 1e-6
    spectrum = np.abs(np.fft.rfft(w))
    assert np.all(spectrum[6:] < 1e-4 * spectrum.max()) and spectrum[1:6].min() > 0


# ---------------------------------------------------------------------------------------------------------
# (d) the recipe: chaotic, bounded trajectories; generate, pairs, grid


@pytest.fixture(scope="module")
def generated():
    return generate("kuramoto_sivashinsky", 3, seed=0, n_records=40, chunk_size=2)


def test_generate_defaults_bounded_and_chaotic(generated):
    u = generated.arrays["u"]
    assert u.shape == (3, 40, 128) and u.dtype == np.float32
    assert np.all(np.isfinite(u))
    # on the attractor of the L = 64 KS equation: |u| stays below ~4 (measured max 3.5 over 400 time units),
    # the mean stays 0, and the trajectories are far from a steady or decayed state
    assert np.abs(u).max() < 5.0
    assert np.abs(u.mean(-1)).max() < 1e-5
    assert u.std() > 0.8
    change = np.abs(u[:, -1] - u[:, 0]).max(-1)
    assert np.all(change > 1.0)
    # samples differ (independent random initial conditions)
    assert np.abs(u[0] - u[1]).max() > 1.0


def test_sensitive_dependence(x64):
    """Two trajectories 1e-8 apart separate by orders of magnitude (positive Lyapunov exponent)."""
    u0 = random_initial_condition(128, key=jax.random.key(3), dtype=jnp.float64)
    pert = 1e-8 * jnp.sin(2 * PI * 3 * jnp.arange(128) / 128)
    both = jnp.stack([u0, u0 + pert])
    traj = ks_solve(both, length=64.0, dt=0.25, n_steps=600, save_every=200, warmup_steps=400)
    assert traj.shape == (2, 4, 128)
    sep = np.abs(np.asarray(traj[0] - traj[1])).max(-1)
    assert sep[-1] > 1e3 * sep[0], sep  # measured: 4e-5 -> 1.8 over 150 time units
    assert np.abs(np.asarray(traj)).max() < 5.0


def test_pairs_and_grid(generated):
    params = dict(generated.params)
    x, y = RECIPE.pairs(generated.arrays, params)
    u = generated.arrays["u"]
    assert x.shape == (3, 1, 128) and y.shape == (3, 1, 128)
    np.testing.assert_array_equal(x[:, 0], u[:, 0])
    np.testing.assert_array_equal(y[:, 0], u[:, 1])
    params.update(t_in=2, t_out=3, pairing="sliding")
    x, y = RECIPE.pairs(generated.arrays, params)
    assert x.shape == (3 * 36, 2, 128) and y.shape == (3 * 36, 3, 128)
    np.testing.assert_array_equal(x[36 + 5], u[1, 5:7])
    np.testing.assert_array_equal(y[36 + 5], u[1, 7:10])
    grid = RECIPE.grid(params)
    assert isinstance(grid, Grid) and grid.shape == (128,) and grid.periodic == (True,)
    assert grid.box.lo == (0.0,) and grid.box.hi == (64.0,)
    medida = RECIPE.resolve("medida")
    assert medida["resolution"] == 1024 and medida["dt"] == 1e-3 and medida["warmup_time"] == 100.0
    assert RECIPE.grid(medida).box.lo == (-50.0,)
    assert RECIPE.resolve("paper") == medida


def test_generate_deterministic_ic_float64():
    out = generate(
        "kuramoto_sivashinsky",
        1,
        seed=0,
        preset="kassam_trefethen",
        n_records=3,
        record_every=0.25,
        dt=0.125,
        dtype="float64",
    )
    u = out.arrays["u"]
    assert u.shape == (1, 3, 128) and u.dtype == np.float64
    np.testing.assert_allclose(u[0, 0], kassam_trefethen_initial_condition(128), atol=1e-14)


# ---------------------------------------------------------------------------------------------------------
# (e) bad specifications raise before any work


@pytest.mark.parametrize(
    "override, error",
    [
        ({"resolution": 127}, ValueError),
        ({"resolution": 2}, ValueError),
        ({"resolution": 64.0}, TypeError),
        ({"dt": 0.0}, ValueError),
        ({"dt": -0.1}, ValueError),
        ({"length": -1.0}, ValueError),
        ({"ic": "gaussian"}, ValueError),
        ({"warmup_time": 0.3}, ValueError),
        ({"coefficients": (1.0, 1.0)}, ValueError),
        ({"coefficients": "111"}, TypeError),
        ({"order": 3}, ValueError),
        ({"t_in": 20, "t_out": 20}, ValueError),
        ({"pairing": "random"}, ValueError),
        ({"ic_cutoff": 64}, ValueError),
        ({"dealias": 1}, TypeError),
        ({"n_records": 0}, ValueError),
        ({"record_every": 0}, ValueError),
        ({"record_every": 0.3}, ValueError),
    ],
)
def test_bad_recipe_params_raise(override, error):
    with pytest.raises(error, match=next(iter(override))):
        generate("kuramoto_sivashinsky", 2, seed=0, **override)


def test_deterministic_ic_refuses_copies(tmp_path):
    """A fixed initial condition gives one trajectory: more samples would be identical copies."""
    with pytest.raises(ValueError, match="distinct sample"):
        generate("kuramoto_sivashinsky", 2, seed=0, ic="medida")
    from scimlx.datasets import load

    with pytest.raises(ValueError, match="`n_train` \\+ `n_test`"):
        load("kuramoto_sivashinsky", preset="paper", data_dir=tmp_path)  # default 1000 + 200


def test_bad_solver_arguments_raise():
    u0 = np.zeros(32)
    with pytest.raises(ValueError, match="u0"):
        ks_solve(np.zeros(31), length=1.0, dt=0.1, n_steps=1)
    with pytest.raises(ValueError, match="dt"):
        ks_solve(u0, length=1.0, dt=0.0, n_steps=1)
    with pytest.raises(ValueError, match="length"):
        ks_solve(u0, length=-1.0, dt=0.1, n_steps=1)
    with pytest.raises(ValueError, match="save_every"):
        ks_solve(u0, length=1.0, dt=0.1, n_steps=5, save_every=2)
    with pytest.raises(ValueError, match="order"):
        ks_solve(u0, length=1.0, dt=0.1, n_steps=1, order=3)
    with pytest.raises(TypeError, match="u0"):
        ks_solve(u0 + 0j, length=1.0, dt=0.1, n_steps=1)
    with pytest.raises(ValueError, match="n"):
        medida_initial_condition(1023)


def test_float32_default_and_transforms(kt_reference):
    """float32 by default, close to the float64 reference."""
    u0 = jnp.asarray(kassam_trefethen_initial_condition(KT_N, KT_L), jnp.float32)
    u = ks_solve(u0, length=KT_L, dt=1 / 8, n_steps=16, save_every=16, include_init=False)
    assert u.dtype == jnp.float32
    err = np.max(np.abs(np.asarray(u[0], np.float64) - kt_reference[-1]))
    assert err < 1e-4, err  # float32 round-off growth; the time error at dt = 1/8 is 5e-9
