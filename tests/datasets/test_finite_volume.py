"""PDEBench 1-D finite-volume recipes (advection, Burgers) against exact references."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.datasets._finite_volume import (
    ADVECTION_RECIPE,
    BURGERS_RECIPE,
    PDEBENCH_ADVECTION_BETAS,
    PDEBENCH_BURGERS_NUS,
    advection_fv_solve,
    burgers_fv_solve,
    muscl_faces,
)
from scimlx.datasets._pdebench_ic import pdebench_initial_condition
from scimlx.datasets._recipe import generate, get_recipe


def _enable_x64():
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX
        from jax.experimental import enable_x64
    return enable_x64(True)


def _centres(nx):
    return (np.arange(nx) + 0.5) / nx


def _order(errors, grids):
    return [
        math.log(e0 / e1) / math.log(n1 / n0) for e0, e1, n0, n1 in zip(errors, errors[1:], grids, grids[1:])
    ]


def _tv(u):
    return np.abs(u - np.roll(u, 1, axis=-1)).sum(axis=-1)


# ----------------------------------------------------------------------------------------------------------
# (a) advection of a smooth periodic profile: exact shift, second order


def _sine_average(x_shift, nx):
    """Exact cell averages of sin(2 pi (x - x_shift)) on nx cells of [0, 1)."""
    dx = 1.0 / nx
    return np.sin(2 * np.pi * (_centres(nx) - x_shift)) * np.sin(np.pi * dx) / (np.pi * dx)


ADV_GRIDS = (64, 128, 256)
ADV_TIMES = np.arange(5) * 0.25  # 0, 1/4, 1/2, 3/4 and one full period


@pytest.fixture(scope="module")
def advection_errors():
    out = {}
    with _enable_x64():
        for nx in ADV_GRIDS:
            u = advection_fv_solve(jnp.asarray(_sine_average(0.0, nx)), beta=1.0, t_final=1.0, dt_save=0.25)
            assert u.dtype == jnp.float64 and u.shape == (5, nx)
            ref = np.stack([_sine_average(t, nx) for t in ADV_TIMES])
            out[nx] = np.abs(np.asarray(u) - ref).mean(axis=1)  # L1 error per frame
    return out


def test_advection_one_period_second_order(advection_errors):
    errors = [advection_errors[nx][-1] for nx in ADV_GRIDS]  # t = 1: back to the initial profile
    assert errors[-1] < 1e-3
    orders = _order(errors, ADV_GRIDS)
    assert all(1.7 <= p <= 2.3 for p in orders), orders


def test_advection_matches_exact_shift(advection_errors):
    for i in (1, 2, 3):  # t = 1/4, 1/2, 3/4: the profile is u0(x - t)
        errors = [advection_errors[nx][i] for nx in ADV_GRIDS]
        assert errors[-1] < 5e-4
        orders = _order(errors, ADV_GRIDS)
        assert all(1.7 <= p <= 2.3 for p in orders), (i, orders)


def test_advection_negative_speed_minmod_float32():
    nx = 128
    u = advection_fv_solve(
        jnp.asarray(_sine_average(0.0, nx), jnp.float32), beta=-2.0, t_final=0.1, dt_save=0.05
    )
    assert u.dtype == jnp.float32
    ref = _sine_average(-0.2, nx)  # u0(x + 2 t) at t = 0.1
    assert np.abs(np.asarray(u[-1]) - ref).mean() < 3e-3
    u_mm = advection_fv_solve(
        jnp.asarray(_sine_average(0.0, nx)), beta=-2.0, t_final=0.1, dt_save=0.05, limiter="minmod"
    )
    assert np.abs(np.asarray(u_mm[-1]) - ref).mean() < 1e-2  # minmod is more diffusive but consistent


def test_solvers_vmap_and_jit_over_parameters(x64):
    nx = 128
    u0 = jnp.asarray(_sine_average(0.0, nx))
    betas = jnp.asarray([0.5, -1.0, 3.0])
    solve = jax.jit(jax.vmap(lambda b: advection_fv_solve(u0, beta=b, t_final=0.25, dt_save=0.25)))
    u = np.asarray(solve(betas))
    assert u.shape == (3, 2, nx)
    for i, b in enumerate([0.5, -1.0, 3.0]):
        assert np.abs(u[i, -1] - _sine_average(b * 0.25, nx)).mean() < 2e-3, b
    nus = jnp.asarray([0.0, 0.1])
    ub = jax.jit(jax.vmap(lambda n: burgers_fv_solve(u0, nu=n, t_final=0.02, dt_save=0.01)))(nus)
    assert ub.shape == (2, 3, nx) and np.isfinite(np.asarray(ub)).all()
    # more viscosity, more decay of the energy
    energy = np.sum(np.asarray(ub[:, -1]) ** 2, axis=1)
    assert energy[1] < energy[0]


# ----------------------------------------------------------------------------------------------------------
# (b) TVD / no new extrema and (c) conservation, for a discontinuous profile


@pytest.fixture(scope="module")
def step_runs():
    nx = 64
    x = _centres(nx)
    u0 = np.where((x > 0.2) & (x < 0.5), 1.0, 0.0) - 0.5 * (x > 0.7)
    runs = {}
    with _enable_x64():
        for limiter in ("mc", "minmod"):
            runs["adv", limiter, 1.0] = advection_fv_solve(
                u0, beta=1.0, t_final=0.5, dt_save=0.01, limiter=limiter
            )
            runs["adv", limiter, -0.7] = advection_fv_solve(
                u0, beta=-0.7, t_final=0.5, dt_save=0.01, limiter=limiter
            )
            runs["burgers", limiter, 0.0] = burgers_fv_solve(
                u0, nu=0.0, t_final=0.5, dt_save=0.01, limiter=limiter
            )
            runs["burgers", limiter, 0.01] = burgers_fv_solve(
                u0, nu=0.01, t_final=0.5, dt_save=0.01, limiter=limiter
            )
    return u0, {k: np.asarray(v) for k, v in runs.items()}


def test_no_new_extrema_and_tv_decreasing(step_runs):
    u0, runs = step_runs
    for name, u in runs.items():
        assert u.dtype == np.float64 and u.shape == (51, 64)
        assert u.min() >= u0.min() - 1e-12 and u.max() <= u0.max() + 1e-12, name
        tv = _tv(u)
        assert tv[0] == pytest.approx(3.0)
        assert np.all(np.diff(tv) <= 1e-12), (name, np.diff(tv).max())


def test_conservation(step_runs):
    u0, runs = step_runs
    for name, u in runs.items():
        np.testing.assert_allclose(u.sum(axis=1), u0.sum(), rtol=0, atol=1e-12, err_msg=str(name))


def test_muscl_faces_bounded_and_exact_for_linear_data(x64):
    rng = np.random.default_rng(0)
    u = rng.normal(size=(3, 40))
    for limiter in ("mc", "minmod"):
        um, up = (np.asarray(a) for a in muscl_faces(u, limiter))
        right = np.roll(u, -1, axis=-1)
        lo, hi = np.minimum(u, right), np.maximum(u, right)
        assert np.all((um >= lo - 1e-15) & (um <= hi + 1e-15))
        assert np.all((up >= lo - 1e-15) & (up <= hi + 1e-15))
    # Linear data (away from the periodic wrap): both limiters reconstruct the exact face value.
    lin = 0.5 + 2.0 * _centres(32)
    for limiter in ("mc", "minmod"):
        um, up = (np.asarray(a) for a in muscl_faces(lin, limiter))
        faces = 0.5 + 2.0 * (np.arange(32) + 1) / 32
        np.testing.assert_allclose(um[1:-2], faces[1:-2], atol=1e-6)
        np.testing.assert_allclose(up[1:-2], faces[1:-2], atol=1e-6)
    # MC takes the central slope where it is at most twice the one-sided ones; minmod the smaller side.
    v = np.array([0.0, 1.0, 3.0, 6.0, 6.0, 0.0])
    um_mc, _ = muscl_faces(v, "mc")
    um_mm, _ = muscl_faces(v, "minmod")
    assert float(um_mc[2]) == pytest.approx(3.0 + 0.5 * 2.5)  # a = 2, b = 3, c = 2.5
    assert float(um_mm[2]) == pytest.approx(3.0 + 0.5 * 2.0)
    assert float(um_mc[4]) == pytest.approx(6.0)  # b = -6, a = 0: extremum, zero slope


# ----------------------------------------------------------------------------------------------------------
# (d) Burgers against the Cole-Hopf solution


NU_EFF, A_CH = 0.02, 1.5
BURGERS_GRIDS = (64, 128, 256)


def _cole_hopf_average(t, nx):
    """Exact cell averages of u = -2 nu phi_x / phi, phi = a + exp(-4 pi^2 nu t) cos(2 pi x)."""
    xe = np.arange(nx + 1) / nx
    log_phi = np.log(A_CH + np.exp(-4 * np.pi**2 * NU_EFF * t) * np.cos(2 * np.pi * xe))
    return -2 * NU_EFF * np.diff(log_phi) * nx


@pytest.fixture(scope="module")
def burgers_errors():
    times = np.arange(6) * 0.1
    out = {}
    with _enable_x64():
        for nx in BURGERS_GRIDS:
            u = burgers_fv_solve(
                jnp.asarray(_cole_hopf_average(0.0, nx)), nu=NU_EFF * np.pi, t_final=0.5, dt_save=0.1
            )
            ref = np.stack([_cole_hopf_average(t, nx) for t in times])
            out[nx] = np.abs(np.asarray(u) - ref)[1:].mean(axis=1)  # L1 error at t = 0.1 .. 0.5
    return out


def test_burgers_cole_hopf_second_order(burgers_errors):
    for i in range(5):
        errors = [burgers_errors[nx][i] for nx in BURGERS_GRIDS]
        assert errors[-1] < 1e-4
        orders = _order(errors, BURGERS_GRIDS)
        assert all(1.7 <= p <= 2.3 for p in orders), (i, orders)


# ----------------------------------------------------------------------------------------------------------
# (e) the initial-condition generator


@pytest.fixture(scope="module")
def ic_batch():
    nx = 64
    keys = jax.random.split(jax.random.key(1), 400)
    with _enable_x64():
        xc = jnp.asarray(_centres(nx))

        def draw(**kw):
            return np.asarray(jax.vmap(lambda k: pdebench_initial_condition(xc, key=k, **kw))(keys))

        return {
            "plain_exact": draw(exact_period=True, p_abs=0.0, p_window=0.0),
            "plain_pdebench": draw(p_abs=0.0, p_window=0.0),
            "abs": draw(p_abs=1.0, p_window=0.0),
            "window": draw(p_window=1.0),
            "default": draw(),
        }


def test_ic_fourier_support(ic_batch):
    u = ic_batch["plain_exact"]
    assert u.dtype == np.float64
    spec = np.abs(np.fft.rfft(u, axis=1)) / u.shape[1]
    allowed = [0, 1, 2, 3, 4, 6, 8]  # k n_k with k = 1..4, n_k in {0, 1, 2}: a mode drawn twice doubles
    forbidden = np.setdiff1d(np.arange(spec.shape[1]), allowed)
    assert spec[:, forbidden].max() < 1e-12
    present = spec[:, 1:] > 1e-8
    assert present.sum(axis=1).max() <= 2  # at most two distinct modes
    assert present.sum(axis=1).min() >= 1
    # the doubled wave numbers really occur (probability 1/16 each per sample)
    assert present[:, 5].any() and present[:, 7].any()


def test_ic_pdebench_period_quirk(ic_batch):
    """PDEBench's period is xc[-1] - xc[0] = 1 - dx: the data are sines of that period, not of 1."""
    u = ic_batch["plain_pdebench"]
    nx = u.shape[1]
    x = _centres(nx)
    period = 1.0 - 1.0 / nx
    cols = [np.ones(nx)]
    for m in (1, 2, 3, 4, 6, 8):
        cols += [np.sin(2 * np.pi * m * x / period), np.cos(2 * np.pi * m * x / period)]
    basis = np.stack(cols, axis=1)
    coef, *_ = np.linalg.lstsq(basis, u.T, rcond=None)
    assert np.abs(basis @ coef - u.T).max() < 1e-10
    # and they are therefore not periodic on the grid: on the 1-periodic basis they leak to other modes
    spec = np.abs(np.fft.rfft(u, axis=1)) / nx
    assert spec[:, [5, 7, 9]].max() > 1e-4


def test_ic_bounds_abs_sign_window(ic_batch):
    for name, u in ic_batch.items():
        assert np.all(np.abs(u) < 4.0), name  # |u| <= sum of the four amplitudes A_k < 1
    u = ic_batch["abs"]
    single_sign = np.all(u >= 0, axis=1) | np.all(u <= 0, axis=1)
    assert single_sign.all()
    positive = np.all(u >= 0, axis=1)
    assert 0.3 < positive.mean() < 0.7  # random sign flip
    # the window (tanh((x - xL)/0.01) - tanh((x - xR)/0.01)) / 2 with xL >= 0.1, xR <= 0.9 kills the ends
    nx = u.shape[1]
    ends = (_centres(nx) < 0.05) | (_centres(nx) > 0.95)
    assert np.abs(ic_batch["window"][:, ends]).max() < 4.0 * 0.5 * (1 - math.tanh(5.0)) + 1e-12
    # default probabilities: about 10 % windowed (binomial, 400 draws: 40 +- 6)
    windowed = np.abs(ic_batch["default"][:, ends]).max(axis=1) < 1e-3
    assert 15 <= windowed.sum() <= 70


# ----------------------------------------------------------------------------------------------------------
# Recipes: (f) parameter lists cycle by index, generate / pairs / grid, (g) bad specs


def test_advection_recipe_cycles_beta():
    betas = (0.5, -1.0, 2.0)
    g = generate(
        "advection_1d",
        5,
        seed=0,
        dtype="float64",
        resolution=256,  # the phase error of MUSCL on the fastest mode (m = 4, beta = 2) stays below 0.01
        beta=betas,
        t_final=0.1,
        dt_save=0.05,
        exact_period=True,
        chunk_size=4,
    )
    u, beta = g.arrays["u"], g.arrays["beta"]
    assert u.shape == (5, 3, 256) and u.dtype == np.float64
    np.testing.assert_array_equal(beta, [0.5, -1.0, 2.0, 0.5, -1.0])
    # each sample moved with its own speed: the phase of its strongest Fourier mode turns by -2 pi m beta t
    for i in range(5):
        s0, s1 = np.fft.rfft(u[i, 0]), np.fft.rfft(u[i, -1])
        m = 1 + int(np.argmax(np.abs(s0[1:])))
        turned = np.angle(s1[m] / s0[m])
        expected = -2 * np.pi * m * beta[i] * 0.1
        assert abs(np.angle(np.exp(1j * (turned - expected)))) < 0.05, (i, m, turned, expected)
    x, y = ADVECTION_RECIPE.pairs(g.arrays, g.params)
    assert x.shape == (5, 1, 256) and y.shape == (5, 2, 256)
    np.testing.assert_array_equal(x[:, 0], u[:, 0])


def test_burgers_recipe_float32_cycles_nu_and_grid():
    nus = (0.01, 0.1)
    g = generate("burgers_1d_pdebench", 3, seed=1, resolution=32, nu=nus, t_final=0.04, dt_save=0.02, t_in=2)
    u, nu = g.arrays["u"], g.arrays["nu"]
    assert u.shape == (3, 3, 32) and u.dtype == np.float32 and np.isfinite(u).all()
    np.testing.assert_allclose(nu, [0.01, 0.1, 0.01], rtol=1e-7)
    np.testing.assert_allclose(u.sum(axis=2), u[:, :1].sum(axis=2).repeat(3, axis=1), atol=1e-4)  # conserved
    x, y = BURGERS_RECIPE.pairs(g.arrays, g.params)
    assert x.shape == (3, 2, 32) and y.shape == (3, 1, 32)
    grid = BURGERS_RECIPE.grid(g.params)
    assert grid.shape == (32,) and grid.periodic == (True,)
    np.testing.assert_allclose(np.asarray(grid.axes()[0]), _centres(32), atol=1e-6)
    assert grid.spacing[0] == pytest.approx(1 / 32)


def test_recipe_registry_and_presets():
    assert get_recipe("advection_1d") is ADVECTION_RECIPE
    assert get_recipe("burgers_1d_pdebench") is BURGERS_RECIPE
    assert len(PDEBENCH_ADVECTION_BETAS) == 8 and len(PDEBENCH_BURGERS_NUS) == 12
    p = ADVECTION_RECIPE.resolve("paper")
    assert p["resolution"] == 1024 and p["beta"] == PDEBENCH_ADVECTION_BETAS
    p = BURGERS_RECIPE.resolve("paper", nu=[0.1, 0.2])
    assert p["nu"] == (0.1, 0.2) and p["cfl"] == 0.25 and p["t_final"] == 2.0 and p["dt_save"] == 0.01
    assert 0.007 in BURGERS_RECIPE.resolve("cape")["nu"]


@pytest.mark.parametrize(
    "name, overrides, error",
    [
        ("burgers_1d_pdebench", {"nu": -0.01}, ValueError),
        ("burgers_1d_pdebench", {"nu": (0.1, -1.0)}, ValueError),
        ("advection_1d", {"beta": 0.0}, ValueError),
        ("advection_1d", {"beta": (1.0, 0)}, ValueError),
        ("advection_1d", {"beta": "fast"}, TypeError),
        ("advection_1d", {"cfl": 0.0}, ValueError),
        ("advection_1d", {"cfl": 1.5}, ValueError),
        ("burgers_1d_pdebench", {"cfl": -0.25}, ValueError),
        ("advection_1d", {"resolution": 8}, ValueError),
        ("advection_1d", {"resolution": 64.0}, TypeError),
        ("burgers_1d_pdebench", {"limiter": "superbee"}, ValueError),
        ("advection_1d", {"t_final": 1.0, "dt_save": 0.3}, ValueError),
        ("advection_1d", {"t_in": 201}, ValueError),
        ("advection_1d", {"exact_period": 1}, TypeError),
        ("advection_1d", {"viscosity": 1.0}, ValueError),
        ("advection_1d", {"t_out": 201}, ValueError),
    ],
)
def test_bad_recipe_specs_raise_before_work(name, overrides, error):
    with pytest.raises(error, match="|".join(overrides)):  # the message names the parameter
        generate(name, 2, seed=0, **overrides)


def test_pairs_with_t_in_and_t_out():
    g = generate("advection_1d", 2, seed=0, resolution=32, t_final=0.1, dt_save=0.02)
    u = g.arrays["u"]
    x, y = ADVECTION_RECIPE.pairs(
        g.arrays, ADVECTION_RECIPE.resolve(resolution=32, t_final=0.1, dt_save=0.02, t_in=2, t_out=3)
    )
    np.testing.assert_array_equal(x, u[:, :2])
    np.testing.assert_array_equal(y, u[:, 2:5])
    x, y = ADVECTION_RECIPE.pairs(g.arrays, g.params)
    assert x.shape == (2, 1, 32) and y.shape == (2, 5, 32)


def test_bad_solver_inputs_raise():
    u0 = jnp.asarray(np.sin(2 * np.pi * _centres(16)), jnp.float32)
    with pytest.raises(ValueError, match="beta"):
        advection_fv_solve(u0, beta=0.0)
    with pytest.raises(ValueError, match="nu"):
        burgers_fv_solve(u0, nu=-1.0)
    with pytest.raises(ValueError, match="nu"):
        burgers_fv_solve(u0, nu=jnp.asarray([0.1, 0.2]))
    with pytest.raises(ValueError, match="cfl"):
        advection_fv_solve(u0, beta=1.0, cfl=0.0)
    with pytest.raises(ValueError, match="cfl"):
        burgers_fv_solve(u0, nu=0.1, cfl=2.0)
    with pytest.raises(ValueError, match="limiter"):
        advection_fv_solve(u0, beta=1.0, limiter="vanleer")
    with pytest.raises(ValueError, match="u0"):
        advection_fv_solve(u0[:3], beta=1.0)
    with pytest.raises(ValueError, match="u0"):
        advection_fv_solve(u0[None], beta=1.0)
    with pytest.raises(TypeError, match="u0"):
        advection_fv_solve(jnp.arange(16), beta=1.0)
    with pytest.raises(ValueError, match="t_final"):
        burgers_fv_solve(u0, nu=0.1, t_final=0.015, dt_save=0.01)
    with pytest.raises(ValueError, match="limiter"):
        muscl_faces(u0, "superbee")
    with pytest.raises(ValueError, match="k_tot|key|xc"):
        pdebench_initial_condition(jnp.zeros((4, 4)), key=jax.random.key(0))
    with pytest.raises(TypeError, match="key"):
        pdebench_initial_condition(jnp.asarray(_centres(16)), key=0)
