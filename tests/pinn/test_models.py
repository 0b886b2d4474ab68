"""PINN and PIG: formulas, chunking, gradients, bad input."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import Box
from scimlx.pinn import PIG, PINN, get_problem, map_points
from scimlx.train import Fixed, RunOptions, adam_l2, count_params, fit


def _key(i=0):
    return jax.random.key(i, impl="rbg")


def test_pig_features_match_the_direct_formula(x64):
    box = Box((-1.0, -1.0, 0.0), (1.0, 1.0, 10.0))
    model = PIG(3, 7, channels=3, box=box, grid_range=2.0, sigma_init=0.3, key=_key())
    model = eqx.tree_at(lambda m: m.sigma, model, model.sigma * jax.random.uniform(_key(1), model.sigma.shape,
                                                                                    minval=0.5, maxval=2.0))
    z = np.array([0.3, -0.7, 4.0])
    xh = (z - np.array(box.lo)) * 2.0 / (np.array(box.hi) - np.array(box.lo))  # into [0, 2]^3
    mu, sig, w = map(np.asarray, (model.mu, model.sigma, model.weight))
    direct = np.array([
        sum(w[c, i] * np.exp(-0.5 * np.sum(((xh - mu[c, i]) / sig[c, i]) ** 2)) for i in range(7))
        for c in range(3)
    ])
    np.testing.assert_allclose(model.features(jnp.asarray(z)), direct, rtol=1e-12)
    h = np.tanh(np.asarray(model.mlp[0].weight) @ direct + np.asarray(model.mlp[0].bias))
    out = np.asarray(model.mlp[1].weight) @ h + np.asarray(model.mlp[1].bias)
    np.testing.assert_allclose(model(jnp.asarray(z)), out[0], rtol=1e-12)


def test_pig_initialisation_follows_the_reference():
    model = PIG(2, 4000, box=Box((-4.0, -4.0), (4.0, 4.0)), grid_range=2.0, sigma_init=0.1, key=_key())
    assert model.mu.shape == model.sigma.shape == (4, 4000, 2) and model.weight.shape == (4, 4000)
    assert float(model.mu.min()) >= 0.0 and float(model.mu.max()) < 2.0
    assert abs(float(model.mu.mean()) - 1.0) < 0.02
    assert bool(jnp.all(model.sigma == 0.1))
    assert abs(float(model.weight.std()) - 0.01) < 5e-4
    assert model.mlp[0].weight.shape == (16, 4) and model.mlp[1].weight.shape == (1, 16)
    assert count_params(model) == 4 * 4000 * 5 + 4 * 16 + 16 + 16 + 1


@pytest.mark.slow
def test_full_covariance_rotates_the_gaussians(x64):
    model = PIG(2, 5, sigma_init=0.2, key=_key())
    model = eqx.tree_at(lambda m: m.sigma, model, model.sigma.at[..., 1].set(0.5))
    full = PIG(2, 5, sigma_init=0.2, full_covariance=True, key=_key())
    full = eqx.tree_at(lambda m: m.sigma, full, model.sigma)
    z = jnp.array([0.7, 1.1])
    np.testing.assert_allclose(full.features(z), model.features(z), rtol=1e-13)  # identity rotation
    np.testing.assert_allclose(model.with_full_covariance().features(z), model.features(z), rtol=1e-13)
    # a quarter turn exchanges the roles of the two scales
    rot = jnp.broadcast_to(jnp.array([0.0, 3.0]), full.rotation.shape)  # unnormalised (cos, sin) = (0, 1)
    turned = eqx.tree_at(lambda m: m.rotation, full, rot)
    swapped = eqx.tree_at(lambda m: m.sigma, model, model.sigma[..., ::-1])
    np.testing.assert_allclose(turned.features(z), swapped.features(z), rtol=1e-12)
    full3 = PIG(3, 4, full_covariance=True, key=_key())
    assert full3.rotation.shape == (4, 4, 4)
    diag3 = PIG(3, 4, key=_key())
    np.testing.assert_allclose(full3.features(jnp.ones(3)), diag3.features(jnp.ones(3)), rtol=1e-6)


@pytest.mark.slow
def test_chunked_evaluation_equals_unchunked(x64):
    model = PIG(3, 50, key=_key())
    pts = jax.random.uniform(_key(2), (37, 3), minval=0.0, maxval=2.0)
    whole = model.predict(pts)
    # equal up to float64 round-off, which scales with the largest outputs (a near-zero one may differ by
    # 5e-14 of itself when chunks vectorise differently)
    scale = np.abs(whole).max()
    np.testing.assert_allclose(model.predict(pts, chunk_size=8), whole, rtol=1e-14, atol=1e-14 * scale)
    problem = get_problem("klein_gordon_2p1d", preset="quick")
    batch = problem.sample(64, key=_key(3))
    ga, gb = (
        eqx.filter_jit(eqx.filter_value_and_grad(lambda m, c=c: problem.loss(m, batch, chunk_size=c)[0]))(
            model
        )
        for c in (None, 16)
    )
    for x, y in zip(jax.tree.leaves(ga), jax.tree.leaves(gb)):
        np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-14)


@pytest.mark.slow
def test_gradients_reach_means_scales_and_weights():
    problem = get_problem("helmholtz_2d", preset="quick")
    model = PIG(2, 20, box=problem.box, key=_key())
    batch = problem.sample(128, key=_key(1))
    g = eqx.filter_jit(jax.grad(lambda m: problem.loss(m, batch)[0]))(model)
    for name in ("mu", "sigma", "weight"):
        leaf = getattr(g, name)
        assert bool(jnp.all(jnp.isfinite(leaf))) and float(jnp.abs(leaf).max()) > 0, name
        assert float(jnp.mean(jnp.abs(leaf) > 0)) > 0.9, name
    for layer in g.mlp:
        assert float(jnp.abs(layer.weight).max()) > 0
    frozen = PIG(2, 20, box=problem.box, learn_means=False, key=_key())
    gf = eqx.filter_jit(jax.grad(lambda m: problem.loss(m, batch)[0]))(frozen)
    assert isinstance(gf.mu, Fixed) and float(jnp.abs(gf.mu.array).max()) == 0.0
    assert float(jnp.abs(gf.sigma).max()) > 0


@pytest.mark.slow
def test_pig_gradient_matches_finite_differences(x64):
    problem = get_problem("klein_gordon_2p1d", preset="quick")
    model = PIG(3, 6, box=problem.box, sigma_init=0.5, key=_key())
    batch = problem.sample(32, key=_key(1))

    @jax.jit
    def loss_of(mu):
        return problem.loss(eqx.tree_at(lambda m: m.mu, model, mu), batch)[0]

    g = jax.jit(jax.grad(loss_of))(model.mu)
    # a random direction on the ascent side of every component, so that the directional derivative
    # sum(g * d) has no cancellation and a relative tolerance is meaningful
    d = jnp.sign(g) * jnp.abs(jax.random.normal(_key(2), model.mu.shape))
    eps = 1e-6
    fd = (loss_of(model.mu + eps * d) - loss_of(model.mu - eps * d)) / (2 * eps)
    np.testing.assert_allclose(jnp.sum(g * d), fd, rtol=1e-6)


def test_pinn_mlp_and_fourier_features():
    box = Box((-1.0, 0.0), (1.0, 2.0))
    model = PINN(2, 32, 3, box=box, key=_key())
    assert [layer.weight.shape for layer in model.layers] == [(32, 2), (32, 32), (32, 32), (1, 32)]
    assert all(float(jnp.abs(layer.bias).max()) == 0 for layer in model.layers)
    std = float(jnp.std(model.layers[1].weight))
    assert abs(std - np.sqrt(2 / 64)) < 0.03  # Glorot normal
    # box corners map to +-1
    z = jnp.array([1.0, 2.0])
    np.testing.assert_allclose((z - model.shift.value) * model.scale.value, [1.0, 1.0])
    ff = PINN(2, 16, 2, fourier_features=20, fourier_scale=2.0, key=_key())
    assert ff.fourier.value.shape == (2, 10) and ff.layers[0].weight.shape == (16, 20)
    assert model(z).shape == () and ff(z).shape == ()
    assert count_params(ff) == 16 * 20 + 16 + 16 * 16 + 16 + 16 + 1


def _fixed_arrays(model):
    return [np.asarray(x.array) for x in jax.tree.leaves(model, is_leaf=lambda x: isinstance(x, Fixed))
            if isinstance(x, Fixed)]


@pytest.mark.slow
def test_fixed_arrays_survive_coupled_weight_decay():
    """Coupled L2 decay moves every array the optimiser sees; the fixed means, input map and Fourier matrix
    must come out bit-identical, while the trained arrays move."""
    problem = get_problem("helmholtz_2d", preset="quick", n_collocation=64, n_boundary=16, test_resolution=8)
    pig = PIG(2, 10, box=problem.box, learn_means=False, key=_key())
    pinn = PINN(2, 8, 2, box=problem.box, fourier_features=8, key=_key(1))
    assert len(_fixed_arrays(pig)) == 3 and len(_fixed_arrays(pinn)) == 3  # (mu,) shift, scale (, fourier)

    def loss_fn(m, batch, *, key):
        return problem.loss(m, batch)[0]

    for model in (pig, pinn):
        out = fit(model, loss_fn, lambda k: problem.sample(64, key=k), adam_l2(1e-2, weight_decay=0.5),
                  key=_key(2), run=RunOptions(steps=5, progress=False)).model
        for before, after in zip(_fixed_arrays(model), _fixed_arrays(out)):
            assert before.tobytes() == after.tobytes()
        moved = [not np.array_equal(a, b) for a, b in zip(jax.tree.leaves(eqx.filter(model, eqx.is_array)),
                                                         jax.tree.leaves(eqx.filter(out, eqx.is_array)))]
        assert sum(moved) == len(moved) - 3  # everything else trained


def test_map_points_rejects_bad_points():
    with pytest.raises(ValueError, match="points"):
        map_points(lambda z: z[0], jnp.ones(3))
    with pytest.raises(TypeError, match="fn"):
        map_points(3, jnp.ones((3, 2)))


def test_bad_model_input():
    with pytest.raises(ValueError, match="n_gaussians"):
        PIG(2, 0, key=_key())
    with pytest.raises(TypeError, match="n_gaussians"):
        PIG(2, 2.5, key=_key())
    with pytest.raises(ValueError, match="box"):
        PIG(2, 4, box=Box((0, 0, 0), (1, 1, 1)), key=_key())
    with pytest.raises(ValueError, match="full_covariance"):
        PIG(4, 4, full_covariance=True, key=_key())
    with pytest.raises(ValueError, match="sigma_init"):
        PIG(2, 4, sigma_init=0.0, key=_key())
    with pytest.raises(ValueError, match="box"):
        PINN(3, 8, 2, box=Box((0, 0), (1, 1)), key=_key())
    with pytest.raises(TypeError, match="key"):
        PINN(2, 8, 2, key=0)


@pytest.mark.slow
def test_plot_solution_shows_model_reference_and_error(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from scimlx.pinn import plot_solution

    problem = get_problem("flow_mixing_2p1d", preset="quick", test_resolution=8)
    fig = plot_solution(problem, problem.exact, time=2.0, path=tmp_path / "fm.png")
    assert (tmp_path / "fm.png").stat().st_size > 0
    assert "rel. L2 0.00e+00" in fig.axes[2].get_title()  # the exact solution against itself
    ac = get_problem("allen_cahn_1d", preset="quick", test_x=16, test_t=6)
    fig = plot_solution(ac, lambda z: z[0] ** 2)
    assert len(fig.axes) == 6  # three images and their colour bars
    # the model and the reference share one colour scale
    assert fig.axes[0].images[0].get_clim() == fig.axes[1].images[0].get_clim()
    with pytest.raises(TypeError, match="problem"):
        plot_solution("allen_cahn_1d", problem.exact)
