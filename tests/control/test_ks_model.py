"""MEDIDA's imperfect KS model (CNAB2): second order against an ETDRK4 reference, the model-error target it
defines tends to the missing terms at first order, its extra terms against closed forms, the case table,
bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.control import MEDIDA_CASES, KSModel
from scimlx.core.stepping import rollout
from scimlx.datasets import kassam_trefethen_initial_condition, ks_solve, spectral_derivative

PI = np.pi
KT_L, KT_N = 32 * PI, 128
FINE_DT = 1 / 1024  # the ETDRK4 reference step
FINE_SAVE = 8  # the reference keeps every 1/128


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
    with jax.enable_x64(True):
        u0 = jnp.asarray(kassam_trefethen_initial_condition(KT_N, KT_L))
        traj = ks_solve(u0, length=KT_L, dt=FINE_DT, n_steps=2048, save_every=FINE_SAVE)
        return np.asarray(traj, dtype=np.float64)


def _at(reference, t):
    """The reference state at time t (a multiple of 1/128)."""
    j = t * 1024 / FINE_SAVE
    assert abs(j - round(j)) < 1e-12
    return reference[int(round(j))]


def test_cnab2_model_second_order(x64, kt_reference):
    T = 2.0
    errors = []
    for dt in (1 / 16, 1 / 32, 1 / 64):
        model = KSModel(KT_N, KT_L, dt)
        n = int(round(T / dt))

        def step(state, model=model):
            prev, cur = state
            return cur, model(prev, cur)

        start = (jnp.asarray(_at(kt_reference, 0.0)), jnp.asarray(_at(kt_reference, dt)))
        traj = rollout(step, start, n - 1)
        errors.append(np.max(np.abs(np.asarray(traj[1][-1]) - _at(kt_reference, T))))
    # measured: 3.3e-5, 8.3e-6, 2.1e-6
    for e_coarse, e_fine in zip(errors, errors[1:]):
        assert 1.8 <= _observed_order(e_coarse, e_fine) <= 2.2, errors


@pytest.mark.parametrize(
    "model_coefficients, extra",
    [((1.0, 0.0, 1.0), None), ((0.0, 1.0, 1.0), None), ((1.0, 1.0, 1.0), 0.5)],
    ids=["l2=0", "l1=0", "KSpu3x c=0.5"],
)
def test_model_error_target(x64, kt_reference, model_coefficients, extra):
    """MEDIDA's target y = (truth[t] - model(truth[t-2dt], truth[t-dt])) / dt tends to the missing terms.

    With u_t + sum_i l_i phi_i = 0 for the truth and the model, y -> sum_i (l_model_i - l_true_i) phi_i(u)
    to first order in dt, e.g. (l2_model - l2_true) u_xx for a wrong l2.
    """
    t = 1.0
    devs = []
    for dt in (1 / 32, 1 / 64, 1 / 128):
        if extra is None:
            model = KSModel(KT_N, KT_L, dt, model_coefficients)
        else:
            model = KSModel(KT_N, KT_L, dt, model_coefficients, extra_linear=lambda k: 1j * extra * k**3)
        u2, u1, u = (_at(kt_reference, t - 2 * dt), _at(kt_reference, t - dt), _at(kt_reference, t))
        y = (u - np.asarray(model(jnp.asarray(u2), jnp.asarray(u1)))) / dt
        w = np.asarray(model_coefficients) - 1.0
        target = (
            w[0] * u * _spectral(u, KT_L, 1) + w[1] * _spectral(u, KT_L, 2) + w[2] * _spectral(u, KT_L, 4)
        )
        if extra is not None:
            target = target + extra * _spectral(u, KT_L, 3)
        devs.append(np.max(np.abs(y - target)) / np.max(np.abs(target)))
    # measured (relative): l2 = 0: 3.3e-3, 1.6e-3, 8.2e-4; KSpu3x: 9.6e-3, 4.6e-3, 2.3e-3; first order
    assert devs[-1] < 1e-2, devs
    for d_coarse, d_fine in zip(devs, devs[1:]):
        assert 0.85 <= _observed_order(d_coarse, d_fine) <= 1.15, devs


def test_model_extra_terms_exact(x64):
    """The model's right-hand side with MEDIDA's extra terms against closed forms, u = sin x + 0.5 cos 2x."""
    n, length = 32, 2 * PI
    x = length * np.arange(n) / n
    u = np.sin(x) + 0.5 * np.cos(2 * x)
    u_x = np.cos(x) - np.sin(2 * x)
    u_xx = -np.sin(x) - 2 * np.cos(2 * x)
    u_xxx = -np.cos(x) + 4 * np.sin(2 * x)
    u_xxxx = np.sin(x) + 8 * np.cos(2 * x)
    ks = -(u * u_x + u_xx + u_xxxx)

    model = KSModel.from_medida_case("KSpu3x", 2, n=n, length=length, dt=0.01)  # (1, 1, 1, c = 0.5)
    np.testing.assert_allclose(np.asarray(model.tendency(jnp.asarray(u))), ks - 0.5 * u_xxx, atol=1e-12)

    model = KSModel.from_medida_case("KSpu3x_Du3", 1, n=n, length=length, dt=0.01)  # lam = 1.5
    np.testing.assert_allclose(
        np.asarray(model.tendency(jnp.asarray(u))), ks - 1.5 * 1.5 * u**2 * u_x, atol=1e-12
    )

    model = KSModel.from_medida_case("KS", 4, n=n, length=length, dt=0.01)  # (1, 0, 0)
    np.testing.assert_allclose(np.asarray(model.tendency(jnp.asarray(u))), -u * u_x, atol=1e-12)
    np.testing.assert_allclose(np.asarray(spectral_derivative(jnp.asarray(u), length, 3)), u_xxx, atol=1e-12)


def test_medida_cases_table():
    assert MEDIDA_CASES[("KS", 1)] == (0.0, 1.0, 1.0)
    assert MEDIDA_CASES[("KS", 10)] == (2.0, 2.0, 2.0)
    assert MEDIDA_CASES[("KS", 12)] == (0.5, 0.0, 1.0)
    assert MEDIDA_CASES[("KSpu3x", 23)] == (1.0, 1.0, 0.0, 0.5)
    assert MEDIDA_CASES[("KSpu3x_Du3", 3)] == (1.0, 1.0, 1.0, 0.015)
    assert sum(f == "KS" for f, _ in MEDIDA_CASES) == 12
    with pytest.raises(ValueError, match="MEDIDA case"):
        KSModel.from_medida_case("KS", 13)


def test_float32_jit_and_vmap():
    """The model keeps the input's float32, jit-compiles and vmaps."""
    u0 = jnp.asarray(kassam_trefethen_initial_condition(KT_N, KT_L), jnp.float32)
    model = KSModel(KT_N, KT_L, 1 / 64)
    batch = jnp.stack([u0, 2 * u0])
    out = jax.jit(jax.vmap(model))(batch, batch)
    assert out.shape == (2, KT_N) and out.dtype == jnp.float32
    np.testing.assert_allclose(np.asarray(out[0]), np.asarray(model(u0, u0)), rtol=1e-5, atol=1e-5)


def test_bad_input():
    with pytest.raises(ValueError, match="n"):
        KSModel(33, 1.0, 0.1)
    with pytest.raises(ValueError, match="extra_linear"):
        KSModel(32, 1.0, 0.1, extra_linear=np.ones(5))
    with pytest.raises(TypeError, match="extra_nonlinear"):
        KSModel(32, 1.0, 0.1, extra_nonlinear=3.0)
    with pytest.raises(ValueError, match="u"):
        KSModel(32, 1.0, 0.1)(np.zeros(32), np.zeros(16))
