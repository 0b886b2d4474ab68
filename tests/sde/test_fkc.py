"""Feynman-Kac correctors: the log-weight rate's reductions, `β = 1` as the plain reverse SDE, unbiased
resampling schemes, ESS-triggered against every-step resampling, the exact product of two 2-D mixture experts
and an annealed 1-D mixture's mode mass (FKC right, the uncorrected sampler wrong), mixtures' exact products,
errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx import sde

VE = sde.VE(sigma_max=10.0)


def _experts():
    """The FKC notebook's "up" and "down" experts (built under the float64 fixture)."""
    up = sde.GaussianMixture.isotropic([0.5, 0.5], [[-1.5, 1.5], [1.5, 1.5]], 0.4)
    return up, sde.GaussianMixture.isotropic([0.5, 0.5], [[-1.5, -1.5], [1.5, -1.5]], 0.4)


@pytest.mark.slow
def test_log_weight_rate_reduces_to_each_case(x64):
    """The general `Σ β_i` rate gives the annealing, product and guidance forms (module docstring)."""
    s, d, t = sde.VP(), 3, 0.37
    s1, s2 = jax.random.normal(jax.random.key(0), (2, d))
    f, g2 = float(s.f(t)), float(s.g2(t))
    dummy = lambda t, x: x  # noqa: E731
    for beta in (0.5, 1.0, 3.0):
        rate = sde.fkc_log_weight_rate(sde.Annealed(dummy, beta), s, t, s1[None])
        ref = (beta - 1) * d * f + 0.5 * g2 * beta * (beta - 1) * s1 @ s1
        assert float(rate) == pytest.approx(float(ref), rel=1e-12, abs=1e-14)
    rate = sde.fkc_log_weight_rate(sde.Product((dummy, dummy)), s, t, jnp.stack([s1, s2]))
    assert float(rate) == pytest.approx(float(d * f + g2 * s1 @ s2), rel=1e-12)
    w = 2.5
    rate = sde.fkc_log_weight_rate(sde.Guided(dummy, dummy, w), s, t, jnp.stack([s1, s2]))
    diff = s2 - s1
    assert float(rate) == pytest.approx(float(0.5 * g2 * w * (w - 1) * diff @ diff), rel=1e-12)
    assert float(sde.fkc_log_weight_rate(sde.Annealed(dummy, 1.0), s, t, s1[None])) == 0.0


@pytest.mark.slow
def test_beta_one_is_the_plain_reverse_sde(x64):
    """With `β = 1` the weights stay zero, resampling is the identity, and the particles are those of the
    uncorrected run with the same key."""
    s = sde.OU()
    score = sde.GaussianMixture.isotropic([0.3, 0.7], [[-1.0], [2.0]], 0.5).score_fn(s)
    kw = dict(key=jax.random.key(3), num_samples=64, dim=1, steps=60)
    fkc = sde.sample_fkc(sde.Annealed(score, 1.0), s, **kw)
    plain = sde.sample_fkc(sde.Annealed(score, 1.0), s, corrected=False, **kw)
    assert np.all(np.asarray(fkc.log_weights) == 0.0)
    np.testing.assert_allclose(fkc.ess, 64.0, rtol=1e-12)
    np.testing.assert_allclose(fkc.samples, plain.samples, rtol=0, atol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("method", sde.RESAMPLING)
def test_resampling_is_unbiased(x64, method):
    """The mean offspring count of each particle over many draws is `N w_i`, within four standard errors."""
    logw = jnp.log(jnp.array([0.05, 0.3, 0.02, 0.23, 0.4]))
    n, draws = logw.shape[0], 40_000
    idx = jax.jit(jax.vmap(lambda k: sde.resample(k, logw, method=method)))(
        jax.random.split(jax.random.key(0), draws)
    )
    counts = jax.vmap(lambda i: jnp.bincount(i, length=n))(idx).astype(float)
    expected = n * np.exp(np.asarray(logw))
    se = np.asarray(counts.std(0)) / np.sqrt(draws)
    assert np.all(np.abs(np.asarray(counts.mean(0)) - expected) <= 4 * se + 1e-12)
    if method in ("systematic", "residual"):  # low variance: counts within one of N w_i
        assert np.all(np.abs(np.asarray(counts) - expected) < 1.0 + 1e-12)


@pytest.mark.slow
def test_ess_triggered_matches_every_step(x64):
    """An annealed Gaussian `N(μ, σ^2)^β = N(μ, σ^2/β)`: weighted estimates of the mean and variance
    agree with the exact ones, resampling every step or when the ESS falls below half, weights accumulated."""
    s, mu, sig, beta = sde.OU(), 0.7, 0.6, 2.5
    mix = sde.GaussianMixture.isotropic([1.0], [[mu]], sig)
    target = sde.Annealed(mix.score_fn(s), beta)
    run = jax.jit(
        lambda k, thr: sde.sample_fkc(
            target, s, key=k, num_samples=4000, dim=1, steps=400, ess_threshold=thr
        ),
        static_argnums=1,
    )
    for thr in (None, 0.5):
        means, variances, resampled = [], [], []
        for seed in range(4):
            r = run(jax.random.key(seed), thr)
            w = np.asarray(sde.normalised_weights(r.log_weights))
            x = np.asarray(r.samples[:, 0])
            m = np.sum(w * x)
            means.append(m)
            variances.append(np.sum(w * (x - m) ** 2))
            resampled.append(float(r.resampled.mean()))
        assert np.mean(means) == pytest.approx(mu, abs=0.02)
        assert np.mean(variances) == pytest.approx(sig**2 / beta, rel=0.05)
        if thr is not None:
            assert 0 < np.mean(resampled) < 0.5  # it resampled, but not at every step


@pytest.mark.slow
@pytest.mark.parametrize("resampling", ["systematic", "birth_death"])
def test_product_of_two_mixture_experts(x64, resampling):
    """The up and down experts' product has modes at (±1.5, 0), std 0.4/sqrt(2) and equal masses: FKC finds
    them over three seeds; the summed scores without weights come out too narrow."""
    up, down = _experts()
    exact = up.product(down)
    np.testing.assert_allclose(np.sqrt(exact.covs[:, 0, 0]), 0.4 / np.sqrt(2), rtol=1e-12)
    target = sde.Product((up.score_fn(VE), down.score_fn(VE)))
    run = jax.jit(
        lambda k, corrected: sde.sample_fkc(target, VE, key=k, num_samples=6000, dim=2, steps=500,
                                            corrected=corrected, resampling=resampling),
        static_argnums=1,
    )  # fmt: skip
    stds, masses, plain = [], [], []
    for seed in range(3):
        x = np.asarray(run(jax.random.key(seed), True).samples)
        stds.append(x[:, 1].std())
        masses.append(sde.mode_masses(x, exact)[exact.means[:, 0] > 1].sum())
        plain.append(np.asarray(run(jax.random.key(seed), False).samples)[:, 1].std())
    assert np.mean(stds) == pytest.approx(0.4 / np.sqrt(2), rel=0.05)
    assert np.mean(masses) == pytest.approx(0.5, abs=0.05)
    assert np.max(plain) < 0.25


@pytest.mark.slow
def test_annealed_mixture_mode_mass(x64):
    """`(0.2 N(-2, 0.5^2) + 0.8 N(2, 0.5^2))^2`: the left mode's mass is `0.04/0.68 = 0.0588` and the
    modes' std `0.5/sqrt(2)`; FKC with the target-score SDE finds both over four seeds; the uncorrected
    sampler's modes come out 20% too narrow; with tempered noise FKC is closer than without weights."""
    s = VE
    mix = sde.GaussianMixture.isotropic([0.2, 0.8], [[-2.0], [2.0]], 0.5)
    exact = mix.power(2)
    left = float(exact.weights[exact.means[:, 0] < 0].sum())
    assert left == pytest.approx(0.04 / 0.68, rel=1e-6)
    target = sde.Annealed(mix.score_fn(s), 2.0)

    def stats(corrected, noise):
        f = jax.jit(lambda k: sde.sample_fkc(target, s, key=k, num_samples=4000, dim=1, steps=500,
                                             corrected=corrected, noise=noise).samples[:, 0])  # fmt: skip
        xs = [np.asarray(f(jax.random.key(i))) for i in range(4)]
        return np.mean([(x < 0).mean() for x in xs]), np.mean([x[x > 0].std() for x in xs])

    width = 0.5 / np.sqrt(2)
    mass, std = stats(True, "target")
    assert mass == pytest.approx(left, abs=0.015)
    assert std == pytest.approx(width, rel=0.05)
    _, plain_std = stats(False, "target")
    assert plain_std < 0.9 * width
    _, tempered_std = stats(True, "tempered")
    _, plain_tempered_std = stats(False, "tempered")
    assert abs(tempered_std - width) < 0.5 * abs(plain_tempered_std - width)


@pytest.mark.slow
def test_guided_gaussians(x64):
    """Guidance `q_u^{1-w} q_c^w` of `q_u = N(0, 1)` and `q_c = N(1, 0.5^2)` at `w = 2` is `N(8/7, 1/7)`: FKC
    samples it over three seeds (mean and variance from the weighted particles); the guided score without
    weights does not."""
    s = sde.OU()
    unc = sde.GaussianMixture.isotropic([1.0], [[0.0]], 1.0)
    cond = sde.GaussianMixture.isotropic([1.0], [[1.0]], 0.5)
    target = sde.Guided(unc.score_fn(s), cond.score_fn(s), 2.0)

    def moments(corrected):
        f = jax.jit(lambda k: sde.sample_fkc(target, s, key=k, num_samples=4000, dim=1, steps=400,
                                             corrected=corrected))  # fmt: skip
        out = []
        for seed in range(3):
            r = f(jax.random.key(seed))
            w = np.asarray(sde.normalised_weights(r.log_weights))
            x = np.asarray(r.samples[:, 0])
            m = np.sum(w * x)
            out.append((m, np.sum(w * (x - m) ** 2)))
        return np.mean(out, axis=0)

    mean, var = moments(True)
    assert mean == pytest.approx(8 / 7, abs=0.03)
    assert var == pytest.approx(1 / 7, rel=0.06)
    _, plain_var = moments(False)
    assert abs(plain_var - 1 / 7) > 0.15 / 7


@pytest.mark.slow
def test_progress_bar_changes_nothing(x64, capsys):
    """`progress=True` draws a bar from the compiled loop and returns the same particles."""
    s = sde.OU()
    target = sde.Annealed(sde.GaussianMixture.isotropic([1.0], [[0.5]], 0.7).score_fn(s), 2.0)
    kw = dict(key=jax.random.key(0), num_samples=32, dim=1, steps=50)
    quiet = sde.sample_fkc(target, s, **kw)
    loud = jax.jit(lambda: sde.sample_fkc(target, s, progress=True, **kw))()
    np.testing.assert_array_equal(np.asarray(quiet.samples), np.asarray(loud.samples))
    assert "50/50" in capsys.readouterr().err


@pytest.mark.slow
def test_mixture_power_and_diffused_score(x64):
    """An integer power equals the sum of log-densities up to a constant; the diffused score equals the
    gradient of the diffused mixture's log-density by finite differences."""
    up, _ = _experts()
    x = jax.random.normal(jax.random.key(0), (6, 2)) * 2
    cube = up.power(3)
    diff = jax.vmap(cube.log_prob)(x) - 3 * jax.vmap(up.log_prob)(x)
    np.testing.assert_allclose(diff - diff[0], 0.0, atol=1e-10)
    score = up.score_fn(sde.VP())
    t, h = 0.3, 1e-6
    p = up.diffused(sde.VP(), t)
    fd = jnp.array([(p.log_prob(x[0] + h * e) - p.log_prob(x[0] - h * e)) / (2 * h) for e in jnp.eye(2)])
    np.testing.assert_allclose(score(t, x[0]), fd, rtol=1e-6)


@pytest.mark.slow
def test_sample_distances(x64):
    """W2^2 of a translated copy is the squared shift; MMD and TV vanish on identical sets; TV of disjoint
    sets is one; MMD grows with the shift."""
    x = np.asarray(jax.random.normal(jax.random.key(0), (300, 2)))
    shift = np.array([0.3, -0.4])
    assert sde.w2_samples(x, x + shift) == pytest.approx(0.25, rel=1e-9)
    assert sde.mmd_rbf(x, x) == pytest.approx(0.0, abs=1e-12)
    assert 0 < sde.mmd_rbf(x, x + 0.1) < sde.mmd_rbf(x, x + shift)
    small = 0.1 * x
    assert sde.total_variation(small, small) == 0.0
    assert sde.total_variation(small - 0.5, small + 0.5, bins=50) == pytest.approx(1.0)


@pytest.mark.slow
def test_readme_fkc_example_runs():
    from tests.readme import run_readme_block

    ns = run_readme_block(10, "sample_fkc(")
    assert float(ns["res"].samples[:, 1].std()) < 0.25  # the last loop's run: uncorrected, too narrow
    fkc = sde.sample_fkc(ns["target"], ns["sde"], key=jax.random.key(0), num_samples=4000, dim=2, steps=500)
    assert float(fkc.samples[:, 1].std()) == pytest.approx(0.4 / np.sqrt(2), rel=0.05)


def test_bad_input():
    score = lambda t, x: -x  # noqa: E731
    with pytest.raises(ValueError, match="beta"):
        sde.Annealed(score, 0.0)
    with pytest.raises(TypeError, match="experts"):
        sde.Product([score, score])
    with pytest.raises(ValueError, match="powers"):
        sde.Product((score, score), powers=(1.0,))
    with pytest.raises(ValueError, match="positive sum"):
        sde.Product((score, score), powers=(0.5, -0.5))
    with pytest.raises(TypeError, match="target"):
        sde.sample_fkc(score, VE, key=jax.random.key(0), num_samples=4, dim=1)
    with pytest.raises(ValueError, match="resampling"):
        sde.sample_fkc(
            sde.Annealed(score, 2.0), VE, key=jax.random.key(0), num_samples=4, dim=1, resampling="x"
        )
    with pytest.raises(ValueError, match="ess_threshold"):
        sde.sample_fkc(
            sde.Annealed(score, 2.0), VE, key=jax.random.key(0), num_samples=4, dim=1, ess_threshold=2
        )
    with pytest.raises(ValueError, match="noise"):
        sde.sample_fkc(sde.Annealed(score, 2.0), VE, key=jax.random.key(0), num_samples=4, dim=1, noise=-1.0)
    with pytest.raises(ValueError, match="method"):
        sde.resample(jax.random.key(0), jnp.zeros(3), method="sorted")
    with pytest.raises(ValueError, match="covs"):
        sde.GaussianMixture([1.0], [[0.0, 0.0]], [[[1.0, 2.0], [2.0, 1.0]]])
    with pytest.raises(ValueError, match="weights"):
        sde.GaussianMixture([-1.0], [[0.0]], [[[1.0]]])
    with pytest.raises(ValueError, match="bandwidths"):
        sde.mmd_rbf(np.zeros((3, 2)), np.zeros((3, 2)), bandwidths=(0.0,))
    with pytest.raises(ValueError, match="samples"):
        sde.w2_samples(np.zeros((3, 2)), np.zeros((3, 3)))
