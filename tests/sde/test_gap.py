"""The ODE-SDE gap: the Fokker-Planck loss vanishes for an exact log-density and its Hutchinson form stays
close to the exact one, W2 between histograms has its known answers, the toy data have their moments, a short
training lowers both terms, clear errors."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx import sde
from scimlx.datasets import TOY_2D, sample_toy_2d
from scimlx.train import RunOptions


def _exact_potential(s, mu0, s0):
    def u(t, x):
        m, sd = s.marginal(t)
        var = m**2 * s0**2 + sd**2
        return -0.5 * jnp.sum((x - m * mu0) ** 2) / var - 0.5 * x.size * jnp.log(2 * jnp.pi * var)

    return u


@pytest.mark.slow
def test_fokker_planck_loss_of_exact_and_wrong_potentials(x64):
    s = sde.OU()
    exact = _exact_potential(s, jnp.array([0.3, -0.2]), 0.9)
    loss = sde.fokker_planck_loss(exact, s, key=jax.random.key(0), num_points=256, dim=2)
    assert float(loss) < 1e-12
    # the wrong diffusion's stationary law is not a solution: a clear residual
    wrong = _exact_potential(sde.OU(sigma=1.5), jnp.zeros(2), 0.9)
    assert float(sde.fokker_planck_loss(wrong, s, key=jax.random.key(0), num_points=256, dim=2)) > 1e-2
    # Hutchinson estimates (Rademacher probes; unbiasedness and 1/n variance are the core's tests) on the same
    # points (they come from the key): the mean squared residual within 2% of the exact one
    net = sde.PotentialNet(2, width=16, key=jax.random.key(1))
    keys = jax.random.split(jax.random.key(2), 8)

    def mean_loss(probes):
        def one(k):
            return sde.fokker_planck_loss(net, s, key=k, num_points=64, dim=2, n_probes=probes)

        return float(jnp.mean(jax.jit(jax.vmap(one))(keys)))

    exact_loss = mean_loss(None)
    for probes in (1, 16):
        assert mean_loss(probes) == pytest.approx(exact_loss, rel=0.02)


@pytest.mark.slow
def test_histograms_and_w2_known_answers():
    pts = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    h = sde.histogram_2d(pts, bins=9)  # nodes every 1.0 on [-4, 4]
    assert h.sum() == pytest.approx(1.0) and np.count_nonzero(h) == 4
    assert sde.w2_squared(h, h) == pytest.approx(0.0, abs=1e-12)
    shifted = sde.histogram_2d(pts + np.array([2.0, 0.0]), bins=9)
    assert sde.w2_squared(h, shifted) == pytest.approx(4.0, rel=1e-9)  # every mass moves by 2
    one = sde.histogram_2d(np.array([[0.0, 0.0]]), bins=9)
    two = sde.histogram_2d(np.array([[1.0, 1.0], [-1.0, -1.0]]), bins=9)
    assert sde.w2_squared(one, two) == pytest.approx(2.0, rel=1e-9)
    assert sde.histogram_2d(np.array([[5.0, 0.0], [0.0, 0.0]]), bins=9).sum() == pytest.approx(1.0)


@pytest.mark.slow
def test_toy_data_moments():
    n = 200_000
    blob = np.asarray(sample_toy_2d("blob", jax.random.key(0), n))
    # nine centres, scaled by 0.65: variance per axis 0.65^2 (0.2 + (4*4 + 2*16)/9)
    assert blob.var(0) == pytest.approx([0.65**2 * (0.2 + 48 / 9)] * 2, rel=0.02)
    circ = np.asarray(sample_toy_2d("circles2", jax.random.key(1), n))
    r = np.hypot(circ[:, 0], circ[:, 1])
    assert np.mean(r < 2.05) == pytest.approx(0.5, abs=0.01)
    chk = np.asarray(sample_toy_2d("checker", jax.random.key(2), n))
    cells = np.floor((chk + 3.0) / 1.5).astype(int)
    assert np.all((cells.sum(1) % 2) == 0) and np.abs(chk).max() <= 3.0
    assert chk.var(0) == pytest.approx([3.0] * 2, rel=0.02)  # uniform on [-3, 3]: 36/12


@pytest.mark.slow
def test_short_training_lowers_both_terms():
    s = sde.OU()
    config = sde.GapConfig(
        fp_weight=1.0, num_denoise=512, num_collocation=256, steps=150, boundaries=(100, 140)
    )
    net = sde.PotentialNet(2, width=32, key=jax.random.key(0))
    res = sde.train_potential(net, lambda k, n: sample_toy_2d("blob", k, n), s, key=jax.random.key(1),
                              config=config, run=RunOptions(progress=False))  # fmt: skip
    aux = res.history["aux"]
    assert np.mean(aux["dsm"][-20:]) < 0.8 * np.mean(aux["dsm"][:5])
    assert np.mean(aux["fp_residual"][-20:]) < 0.5 * np.mean(aux["fp_residual"][:5])


def test_bad_input():
    with pytest.raises(ValueError, match="name"):
        sample_toy_2d("moons", jax.random.key(0), 3)
    assert set(TOY_2D) == {"blob", "circles2", "checker"}
    with pytest.raises(ValueError, match="samples"):
        sde.histogram_2d(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="learning_rates"):
        sde.GapConfig(learning_rates=(1e-3,), boundaries=(10,))
    with pytest.raises(ValueError, match="fp_weight"):
        sde.GapConfig(fp_weight=-1.0)
    with pytest.raises(TypeError, match="model"):
        sde.train_potential(object(), lambda k, n: jnp.zeros((n, 2)), sde.OU(), key=jax.random.key(0))


@pytest.mark.slow
def test_score_net_learns_a_gaussian_score():
    """DSM alone trains the plain score network to the exact score's loss (within 1%) on Gaussian data."""
    s = sde.OU()
    config = sde.GapConfig(num_denoise=1024, steps=600, boundaries=(400, 550))
    data = lambda k, n: 0.6 * jax.random.normal(k, (n, 2))  # noqa: E731
    net = sde.ScoreNet(2, width=32, key=jax.random.key(0))
    run = RunOptions(progress=False)
    res = sde.train_potential(net, data, s, key=jax.random.key(1), config=config, run=run)

    def exact(t, x):
        m, sd = s.marginal(t)
        return -x / (m**2 * 0.36 + sd**2)

    x0 = data(jax.random.key(5), 100_000)
    learned = sde.dsm_loss(res.model.score, s, x0, key=jax.random.key(6), time_sampling="beta")
    floor = sde.dsm_loss(exact, s, x0, key=jax.random.key(6), time_sampling="beta")
    assert float(learned) == pytest.approx(float(floor), rel=0.01)
    with pytest.raises(ValueError, match="fp_weight"):
        sde.train_potential(res.model, data, s, key=jax.random.key(1), config=sde.GapConfig(fp_weight=1.0))
