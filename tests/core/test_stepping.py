import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core.stepping import (
    CNAB2,
    ETDRK,
    CNEuler,
    dealias_mask,
    etdrk_coefficients,
    rfft_wavenumbers,
    rk_step,
    rollout,
)

# The Bernoulli (logistic) equation u' = lam u - u^2, one independent mode per entry of LAM (stiff ones
# included), has the exact solution u(t) = lam u0 e^{lam t} / (lam + u0 (e^{lam t} - 1)) (u0 / (1 + u0 t) at
# lam = 0).
LAM = np.array([-50.0, -5.0, -1.0, 0.0, 0.5, 1.0])
U0 = 0.8
T = 1.0


def _bernoulli(t):
    out = np.empty_like(LAM)
    for i, lam in enumerate(LAM):
        if lam == 0:
            out[i] = U0 / (1 + U0 * t)
        else:
            e = np.exp(lam * t)
            out[i] = lam * U0 * e / (lam + U0 * (e - 1))
    return out


def _minus_square(u):
    return -u * u


def _orders(errors):
    errors = np.asarray(errors)
    return np.log2(errors[:-1] / errors[1:])


# ---------------------------------------------------------------------------------------------------------
# ETDRK


@pytest.mark.parametrize("order, steps", [(1, (20, 40, 80)), (2, (20, 40, 80)), (4, (10, 20, 40))])
def test_etdrk_orders_bernoulli(x64, order, steps):
    exact = _bernoulli(T)
    errors = []
    for n in steps:
        step = ETDRK(LAM, _minus_square, T / n, order)
        u = rollout(step, jnp.full(LAM.shape, U0, dtype=jnp.complex128), 1, n)[0]
        errors.append(np.max(np.abs(np.asarray(u) - exact)))
    # measured: order 1: 1.02, 1.01; order 2: 2.05, 2.02; order 4: 4.08, 4.04 (errors 5e-7 .. 2e-9 at order 4)
    assert np.all(np.abs(_orders(errors) - order) < 0.15), errors
    assert errors[-1] > 1e-12  # well above round-off


def test_etdrk_linear_part_exact(x64):
    """With N = 0 every order integrates u' = L u exactly, for complex (dispersive) L too."""
    lam = np.array([-100.0, -1.0, 0.0, 2.0, 3j, -1 + 5j])
    for order in (1, 2, 4):
        step = ETDRK(lam, lambda u: jnp.zeros_like(u), 0.1, order)
        u = rollout(step, jnp.ones(lam.shape, jnp.complex128), 1, 10)[0]
        np.testing.assert_allclose(np.asarray(u), np.exp(lam * 1.0), rtol=1e-13, atol=1e-300)


def _direct(z, dt):
    """The phi-type coefficients from the closed forms (accurate for moderate |z|)."""
    ez, ez2 = np.exp(z), np.exp(z / 2)
    return {
        "exp": ez,
        "exp_half": ez2,
        "phi1": dt * (ez - 1) / z,
        "phi2": dt * (ez - 1 - z) / z**2,
        "q": dt * (ez2 - 1) / z,
        "f1": dt * (-4 - z + ez * (4 - 3 * z + z**2)) / z**3,
        "f2": dt * (2 + z + ez * (z - 2)) / z**3,
        "f3": dt * (-4 - 3 * z - z**2 + ez * (4 - z)) / z**3,
    }


def test_etdrk_coefficients_match_closed_forms(x64):
    dt = 0.5
    z = np.array([-40.0, -8.0, -2.5, 1.5, 4.0, 3j, -2 + 2j, 6j])
    direct = _direct(z, dt)
    for order, names in (
        (1, ("exp", "phi1")),
        (2, ("exp", "phi1", "phi2")),
        (4, ("exp", "exp_half", "q", "f1", "f2", "f3")),
    ):
        coef = etdrk_coefficients(z / dt, dt, order)
        assert set(coef) == set(names)
        for name in names:
            assert coef[name].dtype == jnp.complex128
            np.testing.assert_allclose(np.asarray(coef[name]), direct[name], rtol=1e-11, err_msg=name)


def test_etdrk_coefficients_on_the_contour(x64):
    """A complex z at distance `radius` from 0 (where a contour around z would hit the pole) stays exact."""
    dt = 1.0
    z = np.array([-np.exp(1j * np.pi / 16), np.exp(1j * np.pi / 3), 0.49 + 0j, 0.51 + 0j])
    direct = _direct(z, dt)
    coef = etdrk_coefficients(z / dt, dt, 4)
    for name in ("q", "f1", "f2", "f3"):
        np.testing.assert_allclose(np.asarray(coef[name]), direct[name], rtol=1e-10, err_msg=name)


def test_etdrk_coefficients_near_zero(x64):
    """Finite at z = 0 and tiny |z|, where the closed forms cancel catastrophically; Taylor-series limits."""
    dt = 0.25
    z = np.array([0.0, 1e-12, -1e-9, 1e-7j])
    limits = {"phi1": 1.0, "phi2": 0.5, "q": 0.5, "f1": 1 / 6, "f2": 1 / 6, "f3": 1 / 6}
    coef = {**etdrk_coefficients(z / dt, dt, 2), **etdrk_coefficients(z / dt, dt, 4)}
    for name, limit in limits.items():
        values = np.asarray(coef[name])
        assert np.all(np.isfinite(values)), name
        # |phi(z) - phi(0)| <= |z| (every first Taylor coefficient is below 1), plus round-off
        assert np.all(np.abs(values - dt * limit) <= dt * (np.abs(z) + 1e-13)), (name, values)
    # at moderate z the series and the contour agree closely: phi1(z) = 1 + z/2 + z^2/6 + z^3/24 + ...
    small = np.array([1e-3, -1e-3])
    phi1 = np.asarray(etdrk_coefficients(small / dt, dt, 1)["phi1"])
    series = dt * (1 + small / 2 + small**2 / 6 + small**3 / 24)
    np.testing.assert_allclose(phi1, series, rtol=1e-13)


def test_etdrk_float32_and_under_jit():
    """Default precision: complex64 coefficients; the step jit-compiles and vmaps."""
    step = ETDRK(jnp.asarray(LAM, jnp.float32), _minus_square, 0.05, 4)
    assert all(c.dtype == jnp.complex64 for c in step.coefficients.values())
    u = jnp.full((3, LAM.size), U0, jnp.complex64)
    out = jax.jit(jax.vmap(step))(u)
    assert out.shape == (3, LAM.size) and out.dtype == jnp.complex64
    # traced linear operator: coefficients computed on device
    coef = jax.jit(lambda lam: etdrk_coefficients(lam, 0.05, 4)["f1"])(jnp.asarray(LAM, jnp.float32))
    ref = etdrk_coefficients(np.asarray(LAM, np.float32), 0.05, 4)["f1"]
    np.testing.assert_allclose(np.asarray(coef), np.asarray(ref), rtol=1e-4)


# ---------------------------------------------------------------------------------------------------------
# Crank-Nicolson IMEX


def test_cneuler_first_order(x64):
    exact = _bernoulli(T)
    errors = []
    for n in (20, 40, 80):
        step = CNEuler(LAM, _minus_square, T / n)
        u = rollout(step, jnp.full(LAM.shape, U0), 1, n)[0]
        errors.append(np.max(np.abs(np.asarray(u) - exact)))
    assert np.all(np.abs(_orders(errors) - 1) < 0.1), errors  # measured 1.02, 1.01


def test_cneuler_linear_part_is_crank_nicolson(x64):
    lam = np.array([-3.0, 0.5, 2j])
    dt = 0.1
    step = CNEuler(lam, lambda u: jnp.zeros_like(u), dt)
    u = step(jnp.ones(3, jnp.complex128))
    np.testing.assert_allclose(np.asarray(u), (1 + dt * lam / 2) / (1 - dt * lam / 2), rtol=1e-15)


@pytest.mark.parametrize("start", ["exact", "cneuler"])
def test_cnab2_second_order(x64, start):
    exact = _bernoulli(T)
    errors = []
    for n in (20, 40, 80):
        dt = T / n
        step = CNAB2(LAM, _minus_square, dt)
        u0 = jnp.full(LAM.shape, U0)
        u1 = jnp.asarray(_bernoulli(dt)) if start == "exact" else step.start(u0)
        traj = rollout(lambda s: (s[1], step(*s)), (u0, u1), 1, n - 1)
        errors.append(np.max(np.abs(np.asarray(traj[1][0]) - exact)))
    # measured: 2.01, 2.00 (exact start), 2.01, 2.01 (CN-Euler start)
    assert np.all(np.abs(_orders(errors) - 2) < 0.1), errors


# ---------------------------------------------------------------------------------------------------------
# Explicit Runge-Kutta


def _rhs(t, state):
    """a' = -a^2 (a = a0 / (1 + a0 t)) and b' = cos(t) b (b = b0 e^{sin t}): autonomous and not."""
    return {"a": -(state["a"] ** 2), "b": jnp.cos(t) * state["b"]}


def _rk_exact(t):
    return {"a": 1.5 / (1 + 1.5 * t), "b": 0.7 * np.exp(np.sin(t))}


@pytest.mark.parametrize(
    "method, order", [("euler", 1), ("midpoint", 2), ("heun", 2), ("ssprk3", 3), ("rk4", 4)]
)
def test_rk_step_orders_pytree(x64, method, order):
    T_end = 2.0
    exact = _rk_exact(T_end)

    @jax.jit
    def solve(dt):
        def body(i, s):
            return rk_step(_rhs, i * dt, s, dt, method)

        s0 = {"a": jnp.asarray(1.5), "b": jnp.asarray(0.7)}
        return jax.lax.fori_loop(0, jnp.round(T_end / dt).astype(int), body, s0)

    errors = []
    for n in (20, 40, 80):
        out = solve(T_end / n)
        assert set(out) == {"a", "b"}
        errors.append(max(abs(float(out[k]) - exact[k]) for k in ("a", "b")))
    assert np.all(np.abs(_orders(errors) - order) < 0.2), (method, errors)


def test_rk_step_traced_dt_and_bad_method():
    out = jax.jit(lambda dt: rk_step(lambda t, u: -u, 0.0, jnp.ones(3), dt, "heun"))(0.1)
    np.testing.assert_allclose(np.asarray(out), 1 - 0.1 + 0.1**2 / 2, rtol=1e-6)
    with pytest.raises(ValueError, match="method"):
        rk_step(lambda t, u: u, 0.0, jnp.ones(2), 0.1, "rk45")


# ---------------------------------------------------------------------------------------------------------
# rollout


def test_rollout_shapes_and_include_init():
    traj = rollout(lambda u: u + 1, jnp.zeros(2), 4, 3)
    assert traj.shape == (4, 2)
    np.testing.assert_array_equal(np.asarray(traj[:, 0]), [3, 6, 9, 12])
    traj = rollout(lambda u: u + 1, jnp.zeros(2), 4, 3, include_init=True)
    assert traj.shape == (5, 2)
    np.testing.assert_array_equal(np.asarray(traj[:, 1]), [0, 3, 6, 9, 12])
    tree = rollout(lambda s: (s[0] * 2, s[1] + 1), (jnp.ones(()), jnp.zeros((2, 3))), 3, include_init=True)
    assert tree[0].shape == (4,) and tree[1].shape == (4, 2, 3)
    np.testing.assert_array_equal(np.asarray(tree[0]), [1, 2, 4, 8])
    assert rollout(lambda u: u + 1, jnp.zeros(2), 0).shape == (0, 2)
    with pytest.raises(ValueError, match="n_saves"):
        rollout(lambda u: u, jnp.zeros(2), -1)
    with pytest.raises(ValueError, match="save_every"):
        rollout(lambda u: u, jnp.zeros(2), 2, 0)


# ---------------------------------------------------------------------------------------------------------
# Fourier helpers


@pytest.mark.parametrize(
    "shape, lengths", [((16,), 3.0), ((8, 6), (1.0, 2.5)), ((4, 6, 10), 2 * np.pi), ((7, 9), (1.0, 1.0))]
)
def test_rfft_wavenumbers_match_numpy(shape, lengths):
    ks = rfft_wavenumbers(shape, lengths)
    d = len(shape)
    ls = (lengths,) * d if np.isscalar(lengths) else lengths
    x = np.random.default_rng(0).standard_normal(shape)
    coef_shape = np.fft.rfftn(x).shape
    assert len(ks) == d
    for i, (k, n, length) in enumerate(zip(ks, shape, ls)):
        freq = np.fft.rfftfreq(n, length / n) if i == d - 1 else np.fft.fftfreq(n, length / n)
        assert k.shape == tuple(coef_shape[i] if j == i else 1 for j in range(d))
        np.testing.assert_allclose(k.ravel(), 2 * np.pi * freq, rtol=1e-14)
    # spectral differentiation with them is exact for a resolved mode
    if d == 2 and shape == (8, 6):
        X, Y = np.meshgrid(np.arange(8) / 8 * ls[0], np.arange(6) / 6 * ls[1], indexing="ij")
        f = np.sin(2 * np.pi * 3 * X / ls[0]) * np.cos(2 * np.pi * 2 * Y / ls[1])
        fx = np.fft.irfftn(1j * ks[0] * np.fft.rfftn(f), shape, axes=(0, 1))
        np.testing.assert_allclose(
            fx,
            2 * np.pi * 3 / ls[0] * np.cos(2 * np.pi * 3 * X / ls[0]) * np.cos(2 * np.pi * 2 * Y / ls[1]),
            atol=1e-12,
        )


def _kept(n, full):
    """Integer wavenumbers of an axis (fft or rfft ordering) and whether the 2/3 rule keeps them."""
    k = np.array([j if j <= n // 2 else j - n for j in range(n)]) if full else np.arange(n // 2 + 1)
    kmax = n // 2
    return np.array([3 * abs(int(j)) <= 2 * kmax for j in k])


@pytest.mark.parametrize("shape", [(12,), (48,), (64,), (10,), (7,), (12, 18), (6, 8, 16)])
def test_dealias_mask_two_thirds(shape):
    mask = dealias_mask(shape)
    d = len(shape)
    expected = np.ones([1] * d, bool)
    for i, n in enumerate(shape):
        keep = _kept(n, full=i < d - 1)
        expected = expected & keep.reshape([keep.size if j == i else 1 for j in range(d)])
    assert mask.shape == np.fft.rfftn(np.zeros(shape)).shape
    np.testing.assert_array_equal(mask, expected)
    if shape == (12,):
        np.testing.assert_array_equal(np.nonzero(mask)[0], [0, 1, 2, 3, 4])  # |k| <= 2/3 * 6 = 4
    if shape == (64,):
        assert mask.sum() == 22  # k = 0 .. 21 (2/3 * 32 = 21.3)


# ---------------------------------------------------------------------------------------------------------
# bad arguments


def test_bad_arguments_raise():
    lam = np.array([-1.0, 0.0])
    with pytest.raises(ValueError, match="dt"):
        etdrk_coefficients(lam, 0.0)
    with pytest.raises(ValueError, match="order"):
        etdrk_coefficients(lam, 0.1, order=3)
    with pytest.raises(ValueError, match="n_circle"):
        etdrk_coefficients(lam, 0.1, n_circle=0)
    with pytest.raises(ValueError, match="radius"):
        etdrk_coefficients(lam, 0.1, radius=-1.0)
    with pytest.raises(TypeError, match="nonlinear"):
        ETDRK(lam, "not callable", 0.1)
    with pytest.raises(ValueError, match="dt"):
        ETDRK(lam, _minus_square, -0.1)
    for cls in (CNEuler, CNAB2):
        with pytest.raises(ValueError, match="dt"):
            cls(lam, _minus_square, 0.0)
        with pytest.raises(TypeError, match="nonlinear"):
            cls(lam, None, 0.1)
    with pytest.raises(ValueError, match="lengths"):
        rfft_wavenumbers((8, 8), (1.0, 2.0, 3.0))
    with pytest.raises(ValueError, match="lengths"):
        rfft_wavenumbers((8,), -1.0)
    with pytest.raises(ValueError, match="shape"):
        rfft_wavenumbers((0,), 1.0)
    with pytest.raises(ValueError, match="fraction"):
        dealias_mask((8,), 0.0)
    with pytest.raises(ValueError, match="fraction"):
        dealias_mask((8,), 1.5)


def test_modules_are_pytrees():
    step = ETDRK(LAM, _minus_square, 0.1)
    leaves = jax.tree_util.tree_leaves(eqx.filter(step, eqx.is_array))
    assert len(leaves) == 6  # exp, exp_half, q, f1, f2, f3
    cn = CNAB2(LAM, _minus_square, 0.1)
    assert len(jax.tree_util.tree_leaves(eqx.filter(cn, eqx.is_array))) == 2
