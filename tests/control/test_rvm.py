"""The relevance vector machine: it matches scikit-learn's ARD regression on the same problem, recovers a
known sparse model, is invariant to the columns' units when standardised, and refuses bad input."""

import numpy as np
import pytest

from scimlx.control import rvm


def _problem(seed=0, n=500, m=12, noise=0.01):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, m)) * rng.uniform(0.1, 10, m)
    w = np.zeros(m)
    w[[1, 4, 7]] = [2.0, -0.5, 0.3]
    return x, x @ w + noise * rng.normal(size=n), w


@pytest.mark.slow
def test_matches_ard_regression(x64):
    """Same updates as scikit-learn's ARDRegression (whose Gamma hyperpriors are 1e-6, negligible): the same
    kept terms, coefficients to 1e-8, posterior standard deviations to 1e-4 relative."""
    from sklearn.linear_model import ARDRegression

    x, y, _ = _problem()
    ours = rvm(x, y, threshold_alpha=1e4, tol=1e-6, standardise=False)
    ard = ARDRegression(fit_intercept=False, threshold_lambda=1e4, tol=1e-10, max_iter=3000).fit(x, y)
    kept = np.asarray(ours.kept)
    np.testing.assert_array_equal(np.flatnonzero(kept), np.flatnonzero(ard.coef_ != 0))
    np.testing.assert_allclose(ours.coefficients, ard.coef_, atol=1e-8)
    np.testing.assert_allclose(np.asarray(ours.std)[kept], np.sqrt(np.diag(ard.sigma_)), rtol=1e-4)
    assert bool(ours.converged)


@pytest.mark.slow
def test_recovers_a_sparse_model_in_any_units(x64):
    """With standardisation and MEDIDA's threshold and tolerance, the support is found and the coefficients
    are within 1%; rescaling a column by 1e3 rescales its coefficient and changes nothing else."""
    x, y, w = _problem(seed=1)
    names = [f"t{i}" for i in range(x.shape[1])]
    res = rvm(x, y, names=names)
    assert set(res.terms()) == {"t1", "t4", "t7"}
    np.testing.assert_allclose(np.asarray(res.coefficients)[[1, 4, 7]], w[[1, 4, 7]], rtol=1e-2)
    assert "t4" in str(res) and "t0" not in str(res)
    scaled = x.copy()
    scaled[:, 4] *= 1e3
    res2 = rvm(scaled, y, names=names)
    np.testing.assert_array_equal(np.asarray(res2.kept), np.asarray(res.kept))
    c1, c2 = np.asarray(res.coefficients), np.asarray(res2.coefficients)
    np.testing.assert_allclose(c2[4] * 1e3, c1[4], rtol=1e-9)
    np.testing.assert_allclose(np.delete(c2, 4), np.delete(c1, 4), rtol=1e-9, atol=1e-15)


def test_bad_input():
    x, y = np.ones((5, 2)), np.ones(5)
    with pytest.raises(ValueError, match="library"):
        rvm(np.ones(5), y)
    with pytest.raises(ValueError, match="target"):
        rvm(x, np.ones(4))
    with pytest.raises(ValueError, match="threshold_alpha"):
        rvm(x, y, threshold_alpha=-1.0)
    with pytest.raises(ValueError, match="names"):
        rvm(x, y, names=["a"])
    with pytest.raises(ValueError, match="identically zero"):
        rvm(np.zeros((5, 2)), y)
    with pytest.raises(ValueError, match="finite"):
        rvm(np.full((5, 2), np.nan), y)
