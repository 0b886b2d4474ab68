"""The ensemble Kalman filter: on a linear-Gaussian problem its analysis ensemble has the Kalman filter's mean
and covariance within sampling error (both update routes, a matrix and a function as operator); the
Gaspari-Cohn taper's values; localisation with an infinite radius changes nothing; bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.control import EnKF, GaspariCohn, gaspari_cohn


def _linear_gaussian():
    rng = np.random.default_rng(0)
    n, p = 4, 2
    a = rng.normal(size=(n, n))
    cov = a @ a.T + 0.5 * np.eye(n)
    mean = rng.normal(size=n)
    h = rng.normal(size=(p, n))
    std = np.array([0.7, 0.4])
    y = h @ mean + np.array([0.9, -0.6])
    s = h @ cov @ h.T + np.diag(std**2)
    gain = cov @ h.T @ np.linalg.inv(s)
    return cov, mean, h, std, y, mean + gain @ (y - h @ mean), (np.eye(n) - gain @ h) @ cov


@pytest.mark.slow
@pytest.mark.parametrize("members", [400, 40_000])
def test_linear_gaussian_equals_the_kalman_filter(x64, members):
    """40,000 members with a matrix operator, once; 400 members with a function operator, mean and covariance
    averaged over 100 repetitions: both within sampling error of the Kalman filter."""
    cov, mean, h, std, y, mean_a, cov_a = _linear_gaussian()
    chol = np.linalg.cholesky(cov)
    reps = 1 if members > 1000 else 100
    op = jnp.asarray(h) if members > 1000 else (lambda x: jnp.asarray(h) @ x)
    filt = EnKF(obs_std=jnp.asarray(std), obs_operator=op)

    @jax.jit
    def run(key):
        k1, k2 = jax.random.split(key)
        ens = mean + jax.random.normal(k1, (members, 4)) @ chol.T
        xa = filt.analysis(ens, jnp.asarray(y), key=k2)
        return xa.mean(0), jnp.cov(xa.T)

    means, covs = jax.vmap(run)(jax.random.split(jax.random.key(1), reps))
    m, c = np.asarray(means).mean(0), np.asarray(covs).mean(0)
    se = np.sqrt(np.diag(cov_a) / (members * reps))
    assert np.all(np.abs(m - mean_a) < 5 * se + 1e-3 * np.sqrt(np.diag(cov_a)))
    np.testing.assert_allclose(c, cov_a, atol=0.04 * np.abs(cov_a).max())


@pytest.mark.slow
def test_gaspari_cohn_values():
    r = jnp.array([0.0, 0.5, 1.0, 1.5, 2.0, 3.0])
    g = np.asarray(gaspari_cohn(r))
    assert g[0] == pytest.approx(1.0) and g[4] == pytest.approx(0.0, abs=1e-12) and g[5] == 0.0
    assert g[1] == pytest.approx(1 - 5 / 12 + 0.625 / 8 + 0.5 / 16 - 0.25 / 32, rel=1e-6)
    assert g[2] == pytest.approx(5 / 24, rel=1e-6)
    assert np.all(np.diff(g) <= 0)


@pytest.mark.slow
def test_wide_localisation_changes_nothing(x64):
    """A taper wider than the domain is 1 everywhere up to O((d/c)^2): the localised analysis equals the plain
    one to that order; a narrow periodic taper leaves far state points untouched."""
    n = 16
    coords = jnp.arange(n, dtype=float)
    ens = jax.random.normal(jax.random.key(0), (50, n)) + jnp.sin(coords)
    obs = jnp.zeros(2)
    h = jnp.zeros((2, n)).at[0, 3].set(1.0).at[1, 11].set(1.0)
    plain = EnKF(obs_std=0.3, obs_operator=h).analysis(ens, obs, key=jax.random.key(1))
    wide = EnKF(
        obs_std=0.3, obs_operator=h, localisation=GaspariCohn(1e6, coords, jnp.array([3.0, 11.0]))
    ).analysis(ens, obs, key=jax.random.key(1))
    np.testing.assert_allclose(wide, plain, atol=1e-8)
    narrow = GaspariCohn(1.0, coords, jnp.array([3.0, 11.0]), period=float(n))
    local = EnKF(obs_std=0.3, obs_operator=h, localisation=narrow).analysis(ens, obs, key=jax.random.key(1))
    far = np.array([0, 7, 15])  # at distance >= 2 radii from both observations (periodically)
    np.testing.assert_allclose(np.asarray(local)[:, far], np.asarray(ens)[:, far], rtol=0, atol=1e-12)


@pytest.mark.slow
def test_both_update_routes_equal_the_explicit_gain(x64):
    """With more state points than members the update goes through a members x members matrix; it equals the
    explicit gain `A^T Y (Y^T Y + R)^{-1}` applied to the same perturbed innovations."""
    members, n = 4, 30
    ens = jax.random.normal(jax.random.key(0), (members, n))
    obs = jax.random.normal(jax.random.key(1), (n,))
    key = jax.random.key(2)
    out = EnKF(obs_std=0.2).analysis(ens, obs, key=key)
    x = np.asarray(ens)
    a = (x - x.mean(0)) / np.sqrt(members - 1)
    eps = 0.2 * np.asarray(jax.random.normal(key, (members, n)))
    gain = a.T @ a @ np.linalg.inv(a.T @ a + 0.04 * np.eye(n))
    np.testing.assert_allclose(out, x + (obs + eps - x) @ gain.T, atol=1e-10)


def test_bad_input():
    with pytest.raises(ValueError, match="obs_std"):
        EnKF(obs_std=-0.1)
    with pytest.raises(ValueError, match="inflation"):
        EnKF(obs_std=0.1, inflation=0.5)
    with pytest.raises(ValueError, match="obs_operator"):
        EnKF(obs_std=0.1, obs_operator=jnp.ones(3))
    filt = EnKF(obs_std=0.1)
    with pytest.raises(ValueError, match="two members"):
        filt.analysis(jnp.ones((1, 3)), jnp.ones(3), key=jax.random.key(0))
    with pytest.raises(ValueError, match="observation"):
        filt.analysis(jnp.ones((4, 3)), jnp.ones(2), key=jax.random.key(0))
    with pytest.raises(ValueError, match="radius"):
        GaspariCohn(0.0, jnp.arange(3.0), jnp.arange(2.0))
