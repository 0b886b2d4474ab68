"""MEDIDA on the Kuramoto-Sivashinsky equation (noise-free, a 256-point grid of MEDIDA's L = 100 domain):
missing and wrong coefficients discovered within 1% with no false term, the corrected model forecasting far
better than the imperfect one (and stable where the imperfect one blows up); bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.control import KSModel, PolynomialDerivativeLibrary, corrected_model, medida
from scimlx.datasets import ks_solve, medida_initial_condition

N, L, DT = 256, 100.0, 5e-3


@pytest.fixture(scope="module")
def truth():
    """The ETDRK4 truth in float64: 50 time units of spin-up, then 10 time units every model step."""
    with jax.enable_x64(True):
        u0 = jnp.asarray(medida_initial_condition(N, L))
        return np.asarray(ks_solve(u0, length=L, dt=1e-3, n_steps=10_000, save_every=5, warmup_steps=50_000))


def _forecast_rmse(model, truth, start=100, steps=200):
    def body(carry, _):
        a, b = carry
        nxt = model(a, b)
        return (b, nxt), nxt

    _, out = jax.lax.scan(
        body, (jnp.asarray(truth[start - 1]), jnp.asarray(truth[start])), None, length=steps
    )
    return float(np.sqrt(np.mean((np.asarray(out[-1]) - truth[start + steps]) ** 2)))


@pytest.mark.slow
@pytest.mark.parametrize(
    ("case", "expected"), [(3, {"u_xxxx": -1.0}), (10, {"u u_x": 1.0, "u_xx": 1.0, "u_xxxx": 1.0})]
)
def test_discovers_ks_model_error(x64, truth, case, expected):
    model = KSModel.from_medida_case("KS", case, n=N, length=L, dt=DT)
    res = medida(truth, model)
    terms = res.regression.terms()
    assert set(terms) == set(expected)  # no false term
    for name, value in expected.items():
        assert terms[name][0] == pytest.approx(value, rel=1e-2)
    assert "u_xxxx" in str(res)
    imperfect, corrected = _forecast_rmse(model, truth), _forecast_rmse(res.model, truth)
    assert corrected < 0.05 * imperfect or (not np.isfinite(imperfect) and corrected < 0.05)


@pytest.mark.slow
def test_zero_correction_is_the_model(x64, truth):
    model = KSModel(N, L, DT, (1.0, 0.5, 1.0))
    lib = PolynomialDerivativeLibrary()
    same = corrected_model(model, lib, np.zeros(len(lib)))
    a, b = jnp.asarray(truth[10]), jnp.asarray(truth[11])
    np.testing.assert_allclose(same(a, b), model(a, b), atol=1e-13)


def test_bad_input():
    model = KSModel(16, 10.0, 1e-2)
    with pytest.raises(ValueError, match="truth"):
        medida(np.zeros((5, 8)), model)
    with pytest.raises(ValueError, match="three records"):
        medida(np.zeros((2, 16)), model)
    with pytest.raises(TypeError, match="model"):
        medida(np.zeros((5, 16)), "ks")
    with pytest.raises(ValueError, match="samples"):
        medida(np.zeros((5, 16)), model, samples=[1])
    with pytest.raises(ValueError, match="coefficients"):
        corrected_model(model, PolynomialDerivativeLibrary(), np.zeros(3))
    with pytest.raises(TypeError, match="library"):
        corrected_model(model, "polynomial", np.zeros(3))
