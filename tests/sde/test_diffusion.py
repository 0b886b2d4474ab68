"""Score-based diffusion: the forward marginals against Monte Carlo of the forward SDE, the exact Gaussian
score sampled by the reverse SDE and the probability-flow ODE, the ODE likelihood against the closed form, the
DSM loss at the exact score against its known value, the Fokker-Planck residual of an exact log-density,
errors."""

import diffrax
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx import sde
from scimlx.core import FokkerPlanck, PointField

SDES = {"vp": sde.VP(), "subvp": sde.SubVP(), "ve": sde.VE(), "ou": sde.OU()}


def _gaussian_score(s, mu0, s0):
    """The exact score of p_t for data N(mu0, s0^2 I)."""

    def score(t, x):
        m, sd = s.marginal(t)
        return -(x - m * mu0) / (m**2 * s0**2 + sd**2)

    return score


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SDES))
def test_forward_marginal_against_monte_carlo(x64, name):
    s = SDES[name]
    t_end = 0.4 * s.horizon if name != "ou" else 1.0
    n, paths = 2000, 20_000
    x0 = jnp.array([1.5, -0.5])
    dt = t_end / n

    def step(x, inp):
        t, k = inp
        return x + s.f(t) * x * dt + jnp.sqrt(s.g2(t) * dt) * jax.random.normal(k, x.shape), None

    ts = jnp.arange(n) * dt

    @jax.jit
    def run(k):
        return jax.lax.scan(step, jnp.broadcast_to(x0, (paths, 2)), (ts, jax.random.split(k, n)))[0]

    x = run(jax.random.key(0))
    m, sd = s.marginal(t_end)
    se_mean = float(sd) / np.sqrt(paths)
    assert np.all(np.abs(np.asarray(x.mean(0)) - float(m) * np.asarray(x0)) < 5 * se_mean + 2e-3 * float(sd))
    var = np.asarray(x.var(0))
    assert np.all(np.abs(var / float(sd) ** 2 - 1) < 5 * np.sqrt(2 / paths) + 2e-3)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SDES))
def test_exact_score_samples_the_data(x64, name):
    s = SDES[name]
    mu0, s0 = jnp.array([1.0, -2.0]), 0.5
    score = _gaussian_score(s, mu0, s0)
    n = 20_000
    for sampler, tol in ((sde.sample_reverse_sde, 0.02), (sde.sample_probability_flow, 0.04)):
        x = jax.jit(lambda k, f=sampler: f(score, s, key=k, num_samples=n, dim=2, steps=1000))(
            jax.random.key(1)
        )
        np.testing.assert_allclose(x.mean(0), mu0, atol=tol)
        np.testing.assert_allclose(x.std(0), s0, rtol=tol)


@pytest.mark.slow
@pytest.mark.parametrize("name", list(SDES))
def test_ode_likelihood_of_a_gaussian(x64, name):
    """The probability-flow likelihood of the exact score equals log N(x; mu0, s0^2 I) (zero-mean data for
    VP, sub-VP and VE, whose prior differs from p_T by the decayed or undecayed mean)."""
    s = SDES[name]
    mu0 = jnp.array([0.8, -0.4]) if name == "ou" else jnp.zeros(2)
    s0 = 0.7
    score = _gaussian_score(s, mu0, s0)
    for x in (jnp.array([0.3, 0.1]), jnp.array([-1.0, 0.9])):
        ll = sde.ode_log_likelihood(score, s, x, steps=2000)
        m, sd = s.marginal(s.eps)
        var = m**2 * s0**2 + sd**2
        ref = -0.5 * jnp.sum((x - m * mu0) ** 2) / var - jnp.log(2 * jnp.pi * var)
        assert float(ll) == pytest.approx(float(ref), abs=2e-3)


@pytest.mark.slow
def test_diffrax_samplers_and_likelihood(x64):
    """The Diffrax routes (an SDE solver on the grid, an adaptive ODE solver) sample the data law of the exact
    score and give the closed-form likelihood, as the fixed-step scans do."""
    s, mu0, s0 = sde.OU(), jnp.array([1.0, -2.0]), 0.5
    score = _gaussian_score(s, mu0, s0)
    n = 20_000
    for solver in (diffrax.Heun(), diffrax.Euler()):
        x = sde.sample_reverse_sde(
            score, s, key=jax.random.key(1), num_samples=n, dim=2, steps=500, solver=solver
        )
        np.testing.assert_allclose(x.mean(0), mu0, atol=0.02)
        np.testing.assert_allclose(x.std(0), s0, rtol=0.02)
    x = sde.sample_probability_flow(
        score, s, key=jax.random.key(2), num_samples=n, dim=2, solver=diffrax.Tsit5(), rtol=1e-6, atol=1e-6
    )
    np.testing.assert_allclose(x.mean(0), mu0, atol=0.01)
    np.testing.assert_allclose(x.std(0), s0, rtol=0.01)
    # the ODE is deterministic given the prior draw: fixed Euler steps and Tsit5 agree as steps grow
    kw = dict(key=jax.random.key(3), num_samples=50, dim=2)
    euler = sde.sample_probability_flow(score, s, steps=4000, **kw)
    np.testing.assert_allclose(
        euler, sde.sample_probability_flow(score, s, solver=diffrax.Tsit5(), **kw), atol=5e-3
    )
    pt = jnp.array([0.3, -1.2])
    m, sd = s.marginal(s.eps)
    var = m**2 * s0**2 + sd**2
    ref = -0.5 * jnp.sum((pt - m * mu0) ** 2) / var - jnp.log(2 * jnp.pi * var)
    ll = sde.ode_log_likelihood(score, s, pt, solver=diffrax.Tsit5(), rtol=1e-7, atol=1e-7)
    assert float(ll) == pytest.approx(float(ref), abs=2e-3)  # the prior's mismatch with p_T, as below
    heun = sde.ode_log_likelihood(score, s, pt, steps=16000)  # second order: converged to ~1e-6
    assert float(ll) == pytest.approx(float(heun), abs=3e-6)
    fixed = sde.ode_log_likelihood(score, s, pt, steps=500, solver=diffrax.Heun(), rtol=None)
    assert float(fixed) == pytest.approx(float(sde.ode_log_likelihood(score, s, pt, steps=500)), abs=1e-10)


@pytest.mark.slow
def test_hutchinson_likelihood_is_unbiased_with_variance_falling_as_one_over_n(x64):
    """With a correlated Gaussian (a Jacobian with off-diagonal terms) the Hutchinson ODE likelihood averages
    to the exact one, and its variance over keys falls as 1/probes."""
    s, d = sde.OU(), 3
    a = jnp.array([[1.0, 0.6, -0.3], [0.0, 0.8, 0.5], [0.0, 0.0, 0.6]])
    cov0, mu0 = a @ a.T, jnp.array([0.5, -0.2, 0.1])

    def score(t, x):
        m, sd = s.marginal(t)
        return -jnp.linalg.solve(m**2 * cov0 + sd**2 * jnp.eye(d), x - m * mu0)

    pt = jnp.array([0.4, 0.3, -0.8])
    exact = float(sde.ode_log_likelihood(score, s, pt, steps=400))

    def runs(probes, count):
        f = lambda k: sde.ode_log_likelihood(  # noqa: E731
            score, s, pt, steps=400, divergence="hutchinson", probes=probes, key=k
        )
        return np.asarray(jax.jit(jax.vmap(f))(jax.random.split(jax.random.key(probes), count)))

    one, four = runs(1, 400), runs(4, 400)
    assert abs(one.mean() - exact) < 4 * one.std() / np.sqrt(one.size)
    assert abs(four.mean() - exact) < 4 * four.std() / np.sqrt(four.size)
    assert one.var() > 0
    ratio = one.var() / four.var()
    assert 2.5 < ratio < 6.0


@pytest.mark.slow
def test_dsm_loss_at_the_exact_score(x64):
    """For Gaussian data the DSM loss of the exact score is `E_t[λ(t) d (1/s^2 - 1/(m^2 s0^2 + s^2))]`."""
    s, d, s0 = sde.OU(), 2, 0.6
    score = _gaussian_score(s, jnp.zeros(d), s0)
    x0 = s0 * jax.random.normal(jax.random.key(0), (400_000, d))
    loss = sde.dsm_loss(score, s, x0, key=jax.random.key(1), weighting="variance")
    t = jnp.linspace(s.eps, s.horizon, 200_001)
    m, sd = s.marginal(t)
    ref = jnp.mean(sd**2 * d * (1 / sd**2 - 1 / (m**2 * s0**2 + sd**2)))
    assert float(loss) == pytest.approx(float(ref), rel=0.01)
    plain = sde.dsm_loss(score, s, x0[:20000], key=jax.random.key(2), time_sampling="beta")
    assert np.isfinite(float(plain)) and float(plain) > 0


@pytest.mark.slow
def test_fokker_planck_residual_of_the_exact_log_density(x64):
    """u = log p_t of the OU marginal of Gaussian data solves the core's Fokker-Planck equation."""
    s, mu0, s0 = sde.OU(), jnp.array([0.5, -1.0]), 0.8

    def u(z):
        x, t = z[:-1], z[-1]
        m, sd = s.marginal(t)
        var = m**2 * s0**2 + sd**2
        return -0.5 * jnp.sum((x - m * mu0) ** 2) / var - 0.5 * x.size * jnp.log(2 * jnp.pi * var)

    times = jax.random.uniform(jax.random.key(1), (64, 1), minval=0.05, maxval=3.0)
    pts = jnp.concatenate([jax.random.normal(jax.random.key(0), (64, 2)), times], axis=1)
    eq = FokkerPlanck(drift=lambda z: s.f(z[-1]) * z[:-1], sigma=s.sigma)
    r = jax.jit(jax.vmap(lambda p: eq.residual(PointField(u, p, time=True))))(pts)
    assert float(jnp.abs(r).max()) < 1e-6


def test_bad_input():
    with pytest.raises(ValueError, match="beta_min"):
        sde.VP(beta_min=-1.0)
    with pytest.raises(ValueError, match="sigma_max"):
        sde.VE(sigma_min=1.0, sigma_max=0.5)
    with pytest.raises(ValueError, match="theta"):
        sde.OU(theta=0.0)
    score = lambda t, x: -x  # noqa: E731
    with pytest.raises(ValueError, match="weighting"):
        sde.dsm_loss(score, sde.OU(), jnp.zeros((4, 2)), key=jax.random.key(0), weighting="snr")
    with pytest.raises(ValueError, match="x0"):
        sde.dsm_loss(score, sde.OU(), jnp.zeros(4), key=jax.random.key(0))
    with pytest.raises(TypeError, match="sde"):
        sde.sample_reverse_sde(score, "vp", key=jax.random.key(0), num_samples=2, dim=2)
    with pytest.raises(ValueError, match="num_samples"):
        sde.sample_probability_flow(score, sde.OU(), key=jax.random.key(0), num_samples=0, dim=2)
    with pytest.raises(TypeError, match="solver"):
        sde.sample_reverse_sde(score, sde.OU(), key=jax.random.key(0), num_samples=2, dim=2, solver="heun")
    with pytest.raises(ValueError, match="rtol"):
        sde.sample_probability_flow(
            score, sde.OU(), key=jax.random.key(0), num_samples=2, dim=2, solver=diffrax.Tsit5(), rtol=-1.0
        )
    with pytest.raises(ValueError, match="key"):
        sde.ode_log_likelihood(score, sde.OU(), jnp.zeros(2), divergence="hutchinson")
    with pytest.raises(ValueError, match="divergence"):
        sde.ode_log_likelihood(score, sde.OU(), jnp.zeros(2), divergence="trace")
