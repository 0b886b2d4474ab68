"""The two-layer QG model of MEDIDA-QG: PV inversion, the dealiased Jacobian and the library's terms exact on
trigonometric fields, the linear terms of the tendency against closed forms, Rossby waves at second order in
time; MEDIDA on it (noise-free, every point observed) finds the cases' missing terms; the RFF interpolator;
bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.control import (
    QG_CASES,
    QGLibrary,
    RFFInterpolator,
    TwoLayerQG,
    corrected_qg_model,
    medida_qg,
    qg_case_error,
    qg_topography,
)
from scimlx.core import Box


def _fields(model):
    x, y = model.coordinates
    return np.meshgrid(x, y), 2 * np.pi / model.lx, 2 * np.pi / model.ly


def test_inversion_and_jacobian_exact(x64):
    m = TwoLayerQG(16, 32, 10.0, 20.0)
    (X, Y), kx, ly = _fields(m)
    rng = np.random.default_rng(0)
    q = rng.normal(size=(2, 32, 16))
    q -= q.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(m.potential_vorticity(m.streamfunction(q)), q, atol=1e-12)
    a = np.sin(3 * kx * X + 2 * ly * Y)
    b = np.cos(kx * X) * np.sin(5 * ly * Y)
    a_x, a_y = 3 * kx * np.cos(3 * kx * X + 2 * ly * Y), 2 * ly * np.cos(3 * kx * X + 2 * ly * Y)
    b_x, b_y = -kx * np.sin(kx * X) * np.sin(5 * ly * Y), 5 * ly * np.cos(kx * X) * np.cos(5 * ly * Y)
    jac = m._real(m.jacobian_hat(m._hat(jnp.asarray(a)), m._hat(jnp.asarray(b))))
    np.testing.assert_allclose(jac, a_x * b_y - a_y * b_x, atol=1e-12)


def test_linear_tendency_and_library_exact(x64):
    """Without advection, β and the jet, `∂_t q_1 = τ_d (ψ_1 - ψ_2) - ν∇⁸q_1` and `∂_t q_2 = -τ_d (ψ_1 - ψ_2)
    - τ_f ∇²ψ_2 - ν∇⁸q_2`; the library's terms of `ψ_1 = sin(kx + 2ly)`, `ψ_2 = cos(3ly)`."""
    m = TwoLayerQG(
        16, 32, 10.0, 20.0, c_jac=0.0, beta=0.0, u1=0.0, tau_d1=0.3, tau_d2=0.2, tau_f=0.7, nu=1e-3
    )
    (X, Y), kx, ly = _fields(m)
    p1, p2 = np.sin(kx * X + 2 * ly * Y), np.cos(3 * ly * Y)
    k1, k2 = kx**2 + 4 * ly**2, 9 * ly**2
    q1, q2 = -k1 * p1 - (p1 - p2), -k2 * p2 + (p1 - p2)
    hyper1 = (kx**8 + (2 * ly) ** 8) * (-k1 * p1 - p1) + (3 * ly) ** 8 * p2
    hyper2 = (kx**8 + (2 * ly) ** 8) * p1 + (3 * ly) ** 8 * (-k2 * p2 - p2)
    expected = np.stack([0.3 * (p1 - p2) - 1e-3 * hyper1, -0.3 * (p1 - p2) + 0.7 * k2 * p2 - 1e-3 * hyper2])
    np.testing.assert_allclose(m.tendency(np.stack([q1, q2])), expected, atol=1e-12)

    theta = QGLibrary(split_gradient=True)(m, jnp.asarray(np.stack([p1, p2])))
    cols = dict(zip(QGLibrary(split_gradient=True).names, np.moveaxis(np.asarray(theta), -1, 0)))
    np.testing.assert_allclose(cols["lap(psi1)"], -k1 * p1, atol=1e-12)
    np.testing.assert_allclose(cols["psi1_x"], kx * np.cos(kx * X + 2 * ly * Y), atol=1e-12)
    np.testing.assert_allclose(cols["psi2_y"], -3 * ly * np.sin(3 * ly * Y), atol=1e-12)
    np.testing.assert_allclose(cols["psi2_x"], 0.0, atol=1e-12)
    # J(ψ_1, q_1) = J(ψ_1, ψ_2): the rest of q_1 is a function of ψ_1's phase
    j1 = kx * np.cos(kx * X + 2 * ly * Y) * (-3 * ly * np.sin(3 * ly * Y))
    np.testing.assert_allclose(cols["J1"], j1, atol=1e-12)
    np.testing.assert_allclose(cols["y"], Y, atol=1e-12)
    summed = QGLibrary()(m, jnp.asarray(np.stack([p1, p2])))
    np.testing.assert_allclose(summed[..., 2], cols["psi1_x"] + cols["psi1_y"], atol=1e-12)


@pytest.mark.slow
def test_rossby_waves_second_order_in_time(x64):
    """Barotropic and baroclinic Rossby waves of one wavevector (the Jacobians vanish): phase speeds
    `-βk/K²` and `-βk/(K² + 2)`; leapfrog without the filter is second order."""
    L, T = 2 * np.pi * 4, 8.0
    errors = []
    for dt in (0.2, 0.1, 0.05):
        m = TwoLayerQG(16, 16, L, L, dt, beta=1.0, u1=0.0, tau_d1=0.0, tau_d2=0.0, tau_f=0.0, nu=0.0,
                       robert=0.0)  # fmt: skip
        (X, Y), kx, ly = _fields(m)
        k, l_ = 2 * kx, ly
        K2 = k**2 + l_**2
        w_bt, w_bc = -k / K2, -k / (K2 + 2)

        def psi(t, X=X, Y=Y, k=k, l_=l_, w_bt=w_bt, w_bc=w_bc):
            a, b = np.cos(k * X + l_ * Y - w_bt * t), 0.5 * np.sin(k * X + l_ * Y - w_bc * t)
            return np.stack([a + b, a - b])

        q0 = m.potential_vorticity(psi(0.0))
        out = m.run(q0, round(T / dt), save_every=round(T / dt))
        errors.append(float(np.max(np.abs(np.asarray(m.streamfunction(out[-1])) - psi(T)))))
    # measured: 2.0e-2, 5.0e-3, 1.25e-3 (the Euler start is first order but one step: O(dt²) overall)
    for e_coarse, e_fine in zip(errors, errors[1:]):
        assert 1.8 < np.log2(e_coarse / e_fine) < 2.2, errors


def test_case_errors():
    assert qg_case_error(1001) == (
        {"psi1": pytest.approx(-0.1), "psi2": pytest.approx(0.1), "psi_R": pytest.approx(0.1)},
        {"psi1": pytest.approx(0.1), "psi2": pytest.approx(-0.1), "psi_R": pytest.approx(-0.1)},
    )
    assert qg_case_error(1004) == ({"J1": -0.5}, {"J2": -0.5})
    assert qg_case_error(1006) == ({}, {"lap(psi2)": pytest.approx(0.3)})
    assert qg_case_error(1009) == ({"psi1_x": -0.196}, {"psi2_x": -0.196})
    assert len(QG_CASES) == 9
    names = set(QGLibrary(split_gradient=True).names)
    for case in QG_CASES:
        one, two = qg_case_error(case)
        assert set(one) <= names and set(two) <= names
    with pytest.raises(ValueError, match="case"):
        qg_case_error(1010)


def test_topography():
    """The reference's mountains, its y-exponent as coded; a run with them keeps the PV finite."""
    m = TwoLayerQG(16, 32)
    r = qg_topography(m)
    x, y = m.coordinates
    i, j = np.argmin(np.abs(y)), np.argmin(np.abs(x))
    assert r.shape == (32, 16) and r[i, j] == pytest.approx(20.0, rel=0.05)
    one = qg_topography(m, heights=(1.0,), centres=((0.0, 0.0),))
    xx, yy = np.meshgrid(x, y)
    np.testing.assert_allclose(one, np.exp(-(xx**2) / 50 - yy**2 / 20))
    with pytest.raises(ValueError, match="heights"):
        qg_topography(m, heights=(1.0, 2.0))


@pytest.fixture(scope="module")
def qg_states():
    """A 48 x 96 reference run (half the paper's resolution): 50 time units of spin-up, then 50 records."""
    with jax.enable_x64(True):
        ref = TwoLayerQG(48, 96)
        q0 = 1e-2 * jax.random.normal(jax.random.key(0), (2, 96, 48))
        return ref, np.asarray(jax.jit(lambda q: ref.run(q, 4000, save_every=40))(q0))[50:]


@pytest.mark.slow
@pytest.mark.parametrize("case", [1004, 1006, 1009])
def test_medida_qg_discovers_case(x64, qg_states, case):
    ref, states = qg_states
    model = TwoLayerQG.from_case(case, nx=48, ny=96)
    res = medida_qg(states, ref, model, samples=5, library=QGLibrary(split_gradient=True), boundary_cut=10)
    for layer, expected in zip(res.layers, qg_case_error(case)):
        terms = {n: c for n, (c, _) in layer.terms().items()}
        scale = max(abs(v) for e in qg_case_error(case) for v in e.values())
        for name, value in expected.items():
            assert terms[name] == pytest.approx(value, rel=1e-2)
        # anything else is at the time-discretisation level (measured: below 3.1e-3 against 0.3 in 1006)
        assert all(abs(c) < 0.02 * scale for n, c in terms.items() if n not in expected), terms
    assert "q2_t = model +" in str(res)
    # the corrected model follows the reference where the imperfect one drifts
    q = jnp.asarray(states[-1])
    n = 200

    def rmse(m):
        return float(
            jnp.sqrt(jnp.mean((m.run(q, n, save_every=n)[-1] - ref.run(q, n, save_every=n)[-1]) ** 2))
        )

    assert rmse(res.model) < 0.2 * rmse(model)


@pytest.mark.slow
def test_reference_library_misses_beta(x64, qg_states):
    """The reference's summed gradient cannot carry a missing `β ∂_x ψ`: no term within 20% of it."""
    ref, states = qg_states
    res = medida_qg(states, ref, TwoLayerQG.from_case(1009, nx=48, ny=96), samples=5, boundary_cut=10)
    terms = {n: c for n, (c, _) in res.layers[0].terms().items()}
    assert abs(terms.get("grad(psi1)", 0.0) + 0.196) > 0.04, terms


@pytest.mark.slow
def test_rff_interpolator_recovers_a_smooth_field(x64):
    rng = np.random.default_rng(0)
    box = Box((-1.0, -2.0), (1.0, 2.0))
    pts = rng.uniform((-1, -2), (1, 2), size=(400, 2))
    f = lambda p: np.sin(np.pi * p[:, 0]) * np.cos(0.5 * np.pi * p[:, 1])  # noqa: E731
    grid = rng.uniform((-1, -2), (1, 2), size=(500, 2))
    interp = RFFInterpolator(frequencies=32, sigma=0.1, width=32, depth=2, steps=3000, learning_rate=3e-3)
    out = interp(pts, f(pts), box, grid, key=jax.random.key(0))
    err = np.linalg.norm(np.asarray(out) - f(grid)) / np.linalg.norm(f(grid))
    assert err < 0.04, err  # measured 0.022


def test_bad_input():
    ref, model = TwoLayerQG(16, 32), TwoLayerQG(16, 32, tau_f=0.0)
    states = np.zeros((3, 2, 32, 16))
    with pytest.raises(ValueError, match="nx"):
        TwoLayerQG(15, 32)
    with pytest.raises(ValueError, match="topography"):
        TwoLayerQG(16, 32, topography=np.zeros((16, 16)))
    with pytest.raises(ValueError, match="robert"):
        TwoLayerQG(16, 32, robert=0.7)
    with pytest.raises(ValueError, match="states"):
        medida_qg(np.zeros((3, 2, 16, 16)), ref, model)
    with pytest.raises(ValueError, match="share the grid"):
        medida_qg(states, ref, TwoLayerQG(16, 32, dt=0.01))
    with pytest.raises(TypeError, match="model"):
        medida_qg(states, ref, "qg")
    with pytest.raises(ValueError, match="sensors"):
        medida_qg(states, ref, model, sensors=0.0)
    with pytest.raises(ValueError, match="key"):
        medida_qg(states, ref, model, noise=0.01, boundary_cut=2)
    with pytest.raises(ValueError, match="boundary_cut"):
        medida_qg(states, ref, model, boundary_cut=8)
    with pytest.raises(ValueError, match="coefficients"):
        corrected_qg_model(model, QGLibrary(), np.zeros((2, 3)))
    with pytest.raises(TypeError, match="library"):
        corrected_qg_model(model, "lib", np.zeros((2, 10)))
    with pytest.raises(ValueError, match="psi"):
        QGLibrary()(model, np.zeros((2, 16, 16)))
    with pytest.raises(ValueError, match="frequencies"):
        RFFInterpolator(frequencies=0)
