"""Variational training of a fractional SDE: the bridge posterior moves to the exact conditioned band, a
run resumed from its checkpoint is bit-identical, the exact-likelihood Hurst fit finds the index of its data,
clear errors."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx import sde
from scimlx.train import RunOptions


@pytest.mark.slow
def test_readme_bridge_posterior_approaches_the_exact_band():
    """The README's bridge: after training, the sampled posterior band is the exact conditioned one."""
    from tests.readme import run_readme_block

    ns = run_readme_block(9, "train_sde(")
    res, exact, paths = ns["res"], np.asarray(ns["exact"]), ns["paths"]
    post = np.std(np.asarray(paths), axis=0)
    prior = jax.vmap(lambda k: res.model.solve(ns["ts"], jnp.zeros(1), key=k, dt=0.05, prior=True).xs[-1, 0])(
        jax.random.split(jax.random.key(3), 2000)
    )
    assert np.mean(res.history["loss"][-50:]) < 0.2 * np.mean(res.history["loss"][:10])
    assert post[-1] < 0.3 * float(np.std(np.asarray(prior)))  # pinned at the end
    assert abs(post[20] - exact[20]) < 0.1 * exact[20]  # the band in the middle
    assert np.max(np.abs(post - exact)) < 0.2 * np.max(exact)
    omega = ns["optimal_omega"](0.7, ns["gamma_grid"](5, 20.0), 1.0, "I")  # the README's printed weights
    np.testing.assert_allclose(omega, [2.262, -1.421, 0.020, -0.311, -0.177], atol=1e-3)


@pytest.mark.slow
def test_resume_is_bit_identical(tmp_path):
    config = sde.SDEConfig(dt=0.05, solver="euler", samples=2, steps=12)
    obs = jnp.array([[0.3, -0.2], [0.1, 0.4], [0.0, 0.2], [-0.1, 0.1]])  # two full batches: one compilation
    model = sde.FractionalSDE(
        sde.LinearDrift(0.5, learn=True), sde.ConstantDiffusion(1.0, learn=True),
        sde.MLPControl(1, 3, context_dim=2, width=8, key=jax.random.key(0)),
        dim=1, hurst=0.4, learn_hurst=True, num_states=3, gamma_max=5.0,
    )  # fmt: skip
    cfg = dataclasses.replace(config, lookahead=1, batch_size=2)
    kw = dict(key=jax.random.key(4), config=cfg)
    full = sde.train_sde(model, [0.5, 1.0], obs, run=RunOptions(progress=False), **kw)
    sde.train_sde(
        model, [0.5, 1.0], obs, run=RunOptions(steps=5, checkpoint_dir=tmp_path, progress=False), **kw
    )
    resumed = sde.train_sde(
        model, [0.5, 1.0], obs, run=RunOptions(checkpoint_dir=tmp_path, resume=True, progress=False), **kw
    )
    same = jax.tree.map(lambda a, b: bool(jnp.all(a == b)), eqx.filter(full.model, eqx.is_array),
                        eqx.filter(resumed.model, eqx.is_array))  # fmt: skip
    assert all(jax.tree.leaves(same))
    assert float(full.model.hurst) != 0.4  # the Hurst index did train
    np.testing.assert_array_equal(full.history["loss"], resumed.history["loss"])


@pytest.mark.slow
def test_exact_likelihood_fit_recovers_the_index(x64):
    """On paths drawn from the linear Markov model itself (exact samples), the Kalman fit finds its H."""
    g = sde.gamma_grid(5, 20.0)
    ts = 0.05 * np.arange(1, 21)
    for hurst in (0.3, 0.75):
        omega = sde.optimal_omega(hurst, g, 1.0, "I")
        paths, _ = sde.sample_markov_fbm(jax.random.key(0), ts, omega, g, kind="I", num_paths=400)
        obs = 1.2 * paths + 0.05 * jax.random.normal(jax.random.key(1), paths.shape)
        fit = sde.fit_linear_model(obs, 0.05, obs_sigma=0.05, horizon=1.0, steps=300)
        assert fit["hurst"] == pytest.approx(hurst, abs=0.04)
        assert fit["sigma"] == pytest.approx(1.2, rel=0.1)


def test_bad_input():
    model = sde.FractionalSDE(sde.LinearDrift(), sde.ConstantDiffusion(), dim=1, num_states=2)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="observations"):
        sde.train_sde(model, [0.5, 1.0], jnp.zeros((3, 3)), key=key)
    with pytest.raises(ValueError, match="obs_times"):
        sde.train_sde(model, [1.0, 0.5], jnp.zeros((3, 2)), key=key)
    with pytest.raises(ValueError, match="grid"):
        sde.train_sde(model, [0.503, 1.0], jnp.zeros((3, 2)), key=key)
    with pytest.raises(TypeError, match="model"):
        sde.train_sde(object(), [0.5], jnp.zeros((3, 1)), key=key)
    with pytest.raises(ValueError, match="obs_sigma"):
        sde.SDEConfig(obs_sigma=0.0)
    with pytest.raises(ValueError, match="solver"):
        sde.SDEConfig(solver="rk4")
    ctrl = sde.MLPControl(1, 2, context_dim=3, width=4, key=key)
    model = sde.FractionalSDE(sde.LinearDrift(), sde.ConstantDiffusion(), ctrl, dim=1, num_states=2)
    with pytest.raises(ValueError, match="lookahead"):
        sde.train_sde(model, [0.5], jnp.zeros((3, 1)), key=key, config=sde.SDEConfig(lookahead=1))
