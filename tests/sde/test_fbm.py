"""Markov-approximate fBM: the pinned optimal weights, the H = 1/2 identities, the b-vector against
quadrature, the stable incomplete gamma function, the closed-form covariances against exact samples and the
linear system's matrix exponentials, gradients in H against finite differences, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate
import scipy.special

from scimlx import sde

# (kind, T, H): ω at K = 5, γ_max = 20, computed independently in float64 (four decimals)
PINNED = {
    ("II", 1.0, 0.7): [-0.9348, 3.2680, -1.7713, 0.1156, -0.3155],
    ("I", 1.0, 0.7): [2.2620, -1.4206, 0.0198, -0.3107, -0.1770],
    ("I", 6.0, 0.7): [2.2980, -1.6985, 0.3768, -0.6942, 0.0769],
}


@pytest.mark.slow
def test_pinned_weights_and_brownian_identities(x64):
    g = sde.gamma_grid(5, 20.0)
    np.testing.assert_allclose(g, [0.05, 0.2236068, 1.0, 4.472136, 20.0], rtol=1e-6)
    for (kind, t, h), omega in PINNED.items():
        np.testing.assert_allclose(sde.optimal_omega(h, g, t, kind), omega, atol=6e-5)
    # at H = 1/2 type I is Brownian motion: the weights sum to 1 (its quadratic variation) ...
    assert abs(float(jnp.sum(sde.optimal_omega(0.5, g, 1.0, "I"))) - 1.0) < 1e-9
    # ... and type II is W itself, which the OU states reproduce almost exactly
    err = sde.approximation_error(sde.optimal_omega(0.5, g, 1.0, "II"), 0.5, g, 1.0, "II")
    assert abs(float(err)) < 1e-9
    np.testing.assert_allclose(
        [float(sde.variance_factor(h)) for h in (0.1, 0.3, 0.5, 0.7, 0.9)],
        [3.5245, 1.3834, 1.0, 0.99509, 1.9303], rtol=1e-4,
    )  # fmt: skip


@pytest.mark.slow
def test_relative_errors_table(x64):
    """The relative time-integrated errors at T = 1, γ_max = 20 (type II / type I), two digits."""
    table = {  # K: [(H, type II, type I)]
        2: [(0.1, 0.24, 0.32), (0.3, 1.1e-2, 3.7e-2), (0.7, 1.2e-2, 0.20), (0.9, 4.8e-2, 0.70)],
        5: [(0.1, 0.23, 0.31), (0.3, 7.8e-3, 1.7e-2), (0.7, 1.3e-4, 9.8e-2), (0.9, 5.9e-5, 0.51)],
        10: [(0.1, 0.20, 0.28), (0.3, 5.6e-3, 1.3e-2), (0.7, 6.6e-5, 7.2e-2), (0.9, 2.5e-5, 0.46)],
    }
    for k, rows in table.items():
        g = sde.gamma_grid(k, 20.0)
        for h, e2, e1 in rows:
            for kind, ref in (("II", e2), ("I", e1)):
                err = float(sde.approximation_error(sde.optimal_omega(h, g, 1.0, kind), h, g, 1.0, kind))
                assert err == pytest.approx(ref, rel=0.06, abs=1e-6), (k, h, kind)
    # the optimum is a minimum: any perturbation of ω raises the error
    g = sde.gamma_grid(5, 20.0)
    w = sde.optimal_omega(0.3, g, 1.0, "II")
    base = float(sde.approximation_error(w, 0.3, g, 1.0, "II"))
    for i in range(5):
        assert float(sde.approximation_error(w.at[i].add(1e-3), 0.3, g, 1.0, "II")) > base


@pytest.mark.slow
def test_b_vector_against_quadrature(x64):
    """b_k = ∫_0^T E[B_H(t)(Y_k(t) - Y_k(0))] dt, the integrand computed by quadrature of the kernels."""
    h, t_end = 0.7, 1.7
    a = h + 0.5
    gammas = np.array([0.3, 1.3, 6.0])
    for kind in ("I", "II"):
        _, b, c = sde.omega_system(h, gammas, t_end, kind)
        for k, gam in enumerate(gammas):

            def cross(t, gam=gam):
                # type II: (1/Γ(a)) ∫_0^t (t-s)^(a-1) e^(-γ(t-s)) ds; type I adds the stationary start
                inner = scipy.integrate.quad(lambda s: (t - s) ** (a - 1) * np.exp(-gam * (t - s)), 0, t)[0]
                if kind == "II":
                    return inner / scipy.special.gamma(a)
                # E[B(t) Y(t)] - E[B(t) Y(0)] with B's kernel over (-inf, t] and Y's e^(-γ(t-s))
                past = scipy.integrate.quad(
                    lambda s: ((t - s) ** (a - 1) - (-s) ** (a - 1))
                    * (np.exp(-gam * (t - s)) - np.exp(gam * s)),
                    -np.inf, 0,
                )[0]  # fmt: skip
                return (inner + past) / scipy.special.gamma(a)

            ref = scipy.integrate.quad(cross, 0, t_end)[0]
            assert float(b[k]) == pytest.approx(ref, rel=1e-6), (kind, gam)
        var = [scipy.integrate.quad(lambda t: sde.fbm_covariance([t], h, kind)[0, 0], 0, t_end)[0]]
        assert float(c) == pytest.approx(var[0], rel=1e-8)


@pytest.mark.slow
def test_exp_gammaincc_and_its_gradient(x64):
    for a in (0.6, 1.2, 1.45):
        for z in (0.3, 4.0, 9.99, 10.0, 25.0, 300.0):
            ref = float(scipy.special.gammaincc(a, z) * np.exp(z))
            assert float(sde.exp_gammaincc(a, z)) == pytest.approx(ref, rel=1e-12), (a, z)
    assert np.isfinite(float(sde.exp_gammaincc(1.2, 5000.0)))
    for z in (3.0, 30.0):  # both branches, in a and in z
        da = jax.grad(sde.exp_gammaincc, argnums=0)(1.2, z)
        dz = jax.grad(sde.exp_gammaincc, argnums=1)(1.2, z)
        fd_a = (sde.exp_gammaincc(1.2 + 1e-6, z) - sde.exp_gammaincc(1.2 - 1e-6, z)) / 2e-6
        fd_z = (sde.exp_gammaincc(1.2, z + 1e-6) - sde.exp_gammaincc(1.2, z - 1e-6)) / 2e-6
        assert float(da) == pytest.approx(float(fd_a), rel=1e-6)
        assert float(dz) == pytest.approx(float(fd_z), rel=1e-6)


@pytest.mark.slow
def test_weights_differentiable_in_hurst(x64):
    g = sde.gamma_grid(8, 20.0)
    for kind in ("I", "II"):
        f = jax.jit(lambda h: sde.optimal_omega(h, g, 2.0, kind))
        jac = jax.jacfwd(f)(0.63)
        rev = jax.jacrev(f)(0.63)
        # central differences with a wide step: A is near-singular (type II, K = 8: condition ~1e12 after
        # equilibration), so narrower steps are dominated by round-off
        fd = (f(0.63 + 1e-4) - f(0.63 - 1e-4)) / 2e-4
        assert np.all(np.isfinite(jac))
        np.testing.assert_allclose(jac, fd, rtol=1e-3, atol=1e-6 * float(jnp.abs(fd).max()))
        np.testing.assert_allclose(rev, jac, rtol=1e-5)  # both modes, through a near-singular solve


@pytest.mark.slow
def test_covariances_against_exact_samples(x64):
    """The exact samplers' empirical covariances against the closed forms (5 standard errors)."""
    ts = np.array([0.25, 0.5, 1.0, 1.5])
    n = 20_000
    g = sde.gamma_grid(4, 10.0)
    for kind in ("I", "II"):
        w = sde.optimal_omega(0.3, g, 1.5, kind)
        paths, states = sde.sample_markov_fbm(jax.random.key(1), ts, w, g, kind=kind, num_paths=n)
        cov = np.asarray(sde.markov_fbm_covariance(ts, w, g, kind))
        emp = np.cov(np.asarray(paths).T)
        se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
        assert np.all(np.abs(emp - cov) < 5 * se), kind
        # the states themselves: OU transitions from the stated start
        y = np.asarray(states[:, -1, :])
        start = 1.0 / (g[:, None] + g[None, :]) if kind == "I" else 0.0
        gs = g[:, None] + g[None, :]
        ref = np.exp(-gs * 1.5) * start + (1 - np.exp(-gs * 1.5)) / gs
        assert np.abs(np.cov(y.T) - ref).max() < 5 * np.sqrt(2 * ref.max() ** 2 / n)
        fbm = np.asarray(sde.sample_fbm(jax.random.key(2), ts, 0.3, kind=kind, num_paths=n))
        cov = sde.fbm_covariance(ts, 0.3, kind)
        se = np.sqrt((cov**2 + np.outer(np.diag(cov), np.diag(cov))) / n)
        assert np.all(np.abs(np.cov(fbm.T) - cov) < 5 * se), kind
    # type II's covariance against quadrature of its kernel; type I's variance is V_H t^2H
    a = 0.8
    ref = scipy.integrate.quad(lambda u: (1.0 - u) ** (a - 1) * (0.6 - u) ** (a - 1), 0, 0.6)[0]
    got = sde.fbm_covariance([0.6, 1.0], a - 0.5, "II")[0, 1] * scipy.special.gamma(a) ** 2
    assert got == pytest.approx(ref, rel=1e-7)


@pytest.mark.slow
def test_linear_system_matches_the_closed_forms(x64):
    """The augmented linear SDE's exact covariances equal the closed-form ones (θ = 0), and its Kalman
    likelihood equals the Gaussian density of the observations."""
    from scipy.stats import multivariate_normal

    g = sde.gamma_grid(5, 20.0)
    for kind in ("I", "II"):
        w = sde.optimal_omega(0.7, g, 2.0, kind)
        ps, cs = sde.path_covariance(20, 0.1, 0.0, 1.3, w, g, kind)
        cov = 1.69 * np.asarray(sde.markov_fbm_covariance(np.arange(21) * 0.1, w, g, kind))
        np.testing.assert_allclose(ps[:, 0, 0], np.diag(cov), atol=1e-12)
        np.testing.assert_allclose(cs[:, 0, 0], cov[-1], atol=1e-12)
        obs = np.random.default_rng(0).normal(size=20)
        ll = sde.kalman_log_likelihood(obs, 0.1, 0.0, 1.3, w, g, kind, obs_sigma=0.2)
        ref = multivariate_normal(np.zeros(20), cov[1:, 1:] + 0.04 * np.eye(20)).logpdf(obs)
        assert float(ll) == pytest.approx(ref, rel=1e-11)
    # with a drift, the transition against a fine Euler recursion of the covariance (first order)
    f, gvec = sde.augmented_system(0.8, 1.0, w, g)
    phi, q = sde.exact_transition(f, gvec, 0.2)
    errs = []
    for m in (200, 400):
        p, step = np.zeros_like(np.asarray(q)), 0.2 / m
        mat = np.eye(6) + step * np.asarray(f)
        for _ in range(m):
            p = mat @ p @ mat.T + step * np.outer(gvec, gvec)
        errs.append(np.abs(p - np.asarray(q)).max())
    assert errs[1] < 0.6 * errs[0] and errs[1] < 1e-3
    np.testing.assert_allclose(phi, jax.scipy.linalg.expm(0.2 * f), rtol=1e-12, atol=1e-14)


def test_bad_input():
    g = sde.gamma_grid(3)
    with pytest.raises(ValueError, match="hurst"):
        sde.optimal_omega(1.2, g, 1.0)
    with pytest.raises(ValueError, match="hurst"):
        sde.variance_factor(0.0)
    with pytest.raises(ValueError, match="num_states"):
        sde.gamma_grid(0)
    with pytest.raises(ValueError, match="gammas"):
        sde.optimal_omega(0.3, [1.0, -2.0], 1.0)
    with pytest.raises(ValueError, match="gammas"):
        sde.omega_system(0.3, np.ones((2, 2)), 1.0)
    with pytest.raises(ValueError, match="kind"):
        sde.optimal_omega(0.3, g, 1.0, "III")
    with pytest.raises(ValueError, match="horizon"):
        sde.optimal_omega(0.3, g, 0.0)
    with pytest.raises(ValueError, match="omega"):
        sde.markov_fbm_covariance([0.1, 0.2], jnp.ones(2), g)
    with pytest.raises(ValueError, match="ts"):
        sde.sample_markov_fbm(jax.random.key(0), [0.2, 0.1], jnp.ones(3), g)
