"""Fractional paths: fOU with θ = 0 is the scaled fBM on the same draws; the stationary fOU variance
`V_H σ² H Γ(2H) θ^-2H`; unit variance; clear errors."""

import math

import jax
import numpy as np
import pytest

from scimlx.datasets import fbm_covariance, fbm_variance_factor, fractional_ou_paths, sample_fbm


@pytest.mark.slow
def test_fractional_ou_known_answers(x64):
    ts = 0.1 * np.arange(1, 21)
    key = jax.random.key(0)
    x = fractional_ou_paths(key, ts, 0.3, theta=0.0, sigma=2.0, num_paths=3, refine=4)
    b = sample_fbm(key, 0.025 * np.arange(1, 81), 0.3, num_paths=3)
    np.testing.assert_allclose(x, 2.0 * b[:, 3::4], rtol=1e-10, atol=1e-12)
    h, theta, n = 0.7, 1.0, 4000
    x = fractional_ou_paths(jax.random.key(1), 0.5 * np.arange(1, 17), h, theta=theta, num_paths=n, refine=20)
    stationary = fbm_variance_factor(h) * h * math.gamma(2 * h) * theta ** (-2 * h)
    assert float(np.var(np.asarray(x[:, -1]))) == pytest.approx(stationary, rel=5 * math.sqrt(2 / n))
    np.testing.assert_allclose(np.diag(fbm_covariance([1.0, 2.0], 0.3, "II", unit_variance=True)),
                               [1.0, 2.0**0.6], rtol=1e-12)  # fmt: skip


def test_bad_input():
    with pytest.raises(ValueError, match="hurst"):
        sample_fbm(jax.random.key(0), [0.1], 1.5)
    with pytest.raises(ValueError, match="ts"):
        fractional_ou_paths(jax.random.key(0), [0.1, 0.3], 0.5)
    with pytest.raises(ValueError, match="sigma"):
        fractional_ou_paths(jax.random.key(0), [0.1, 0.2], 0.5, sigma=0.0)
    with pytest.raises(ValueError, match="kind"):
        fbm_covariance([0.1], 0.5, "III")
