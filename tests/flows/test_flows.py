"""The flows: invertible to round-off, log-determinants equal to the Jacobian's, densities that integrate to
one and agree with the samples, the CDF layer's identities, clear errors."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import Box
from scimlx.flows import (
    ActNorm,
    AffineCoupling,
    KRnet,
    QuadraticCDF,
    RealNVP,
    sample_in_box,
)
from tests.tiers import tiered

SQUARE = Box((-1.0, -1.0), (1.0, 1.0))


@eqx.filter_jit
def _perturbed(flow, scale, seed=0):
    """The flow with every array moved by `scale` standard-normal noise: no layer is the identity (the CDF
    layer's density and the couplings' log-gammas included)."""
    arrays, static = eqx.partition(flow, eqx.is_inexact_array)
    leaves, treedef = jax.tree.flatten(arrays)
    keys = jax.random.split(jax.random.key(seed), len(leaves))
    leaves = [x + scale * jax.random.normal(k, x.shape, x.dtype) for x, k in zip(leaves, keys)]
    return eqx.combine(jax.tree.unflatten(treedef, leaves), static)


def _flow(name):
    key = jax.random.key(3)
    if name == "krnet_2d_box":
        return KRnet(2, box=SQUARE, key=key), SQUARE
    if name == "krnet_2d_small":
        return KRnet(2, box=SQUARE, n_depth=2, width=8, n_bins=8, key=key), SQUARE
    if name == "krnet_4d_step2":
        return KRnet(4, box=Box.unit(4), n_step=2, n_depth=2, width=8, key=key), Box.unit(4)
    if name == "krnet_3d_free":
        return KRnet(3, n_depth=2, width=8, key=key), None
    if name == "realnvp_2d_box":
        return RealNVP(2, box=SQUARE, key=key), SQUARE
    return RealNVP(3, n_couplings=3, width=8, key=key), None


FLOWS = [
    "krnet_2d_small", "krnet_2d_box", "krnet_4d_step2", "krnet_3d_free", "realnvp_2d_box", "realnvp_3d_free"
]


def _points(box, dim, n, key):
    if box is None:
        return jax.random.normal(key, (n, dim))
    lo, hi = np.asarray(box.lo), np.asarray(box.hi)
    return lo + (hi - lo) * jax.random.uniform(key, (n, dim), minval=0.02, maxval=0.98)


@pytest.mark.parametrize("name", tiered(FLOWS, []))
def test_inverse_and_change_of_variables(name, x64):
    flow, box = _flow(name)
    x = _points(box, flow.dim, 64, jax.random.key(1))
    flow = _perturbed(flow.initialize(x), 0.3)

    @eqx.filter_jit
    def check(flow, x):
        z, ld = jax.vmap(flow.forward)(x)
        back, ld_inv = jax.vmap(flow.inverse)(z)
        jac = jax.vmap(jax.jacfwd(lambda xi: flow.forward(xi)[0]))(x)
        return back, ld, ld_inv, jnp.linalg.slogdet(jac)[1]

    back, ld, ld_inv, slogdet = check(flow, x)
    np.testing.assert_allclose(back, x, atol=1e-11)
    np.testing.assert_allclose(ld_inv, -ld, atol=1e-10)
    np.testing.assert_allclose(ld, slogdet, atol=1e-10)
    assert float(jnp.std(ld)) > 0.05  # a non-trivial map: the check could fail


@pytest.fixture(scope="module")
def trained_like_krnet():
    """A 2-D KRnet on the square (two couplings: the default six are checked in the slow tier), initialised
    and perturbed (a far-from-uniform density), float64."""
    with jax.enable_x64(True):  # built in float64; the tests themselves run under the `x64` fixture
        flow = KRnet(2, box=SQUARE, n_depth=2, key=jax.random.key(0))
        flow = flow.initialize(_points(SQUARE, 2, 512, jax.random.key(1)))
        # moderately: larger moves make densities peaked enough that a grid of 600² no longer resolves them
        return _perturbed(flow, 0.05, seed=4)


@pytest.mark.slow
def test_density_integrates_to_one(trained_like_krnet, x64):
    flow = trained_like_krnet
    # midpoint rule on the support (-1.01, 1.01)²; the logistic map sends the density to 0 at its edges
    m, half = 600, 1.01
    h = 2 * half / m
    c = -half + h * (np.arange(m) + 0.5)
    pts = jnp.asarray(np.stack(np.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2))
    p = eqx.filter_jit(lambda f, pts: jax.vmap(lambda x: jnp.exp(f.log_prob(x)))(pts))(flow, pts)
    total = float(jnp.sum(p)) * h * h
    assert abs(total - 1) < 2e-4, total
    inner = p.reshape(m, m)[m // 10 : -m // 10, m // 10 : -m // 10]
    assert float(jnp.std(inner) / jnp.mean(inner)) > 0.2  # far from the uniform density in the interior


@pytest.mark.slow
def test_samples_follow_the_density(trained_like_krnet, x64):
    flow = trained_like_krnet
    n, bins = 40_000, 8
    x = flow.sample(n, key=jax.random.key(7))
    assert bool(jnp.all(jnp.abs(x) < 1.01))
    counts, edges, _ = np.histogram2d(np.asarray(x[:, 0]), np.asarray(x[:, 1]), bins=bins,
                                      range=[[-1.01, 1.01]] * 2)  # fmt: skip
    # each cell's probability by a 30 x 30 midpoint rule (the edges are uniform: one grid of sub-cells)
    sub = 30
    h = (edges[1] - edges[0]) / sub
    c = edges[0] + h * (np.arange(bins * sub) + 0.5)
    pts = jnp.asarray(np.stack(np.meshgrid(c, c, indexing="ij"), -1).reshape(-1, 2))
    dens = eqx.filter_jit(lambda f, pts: jax.vmap(lambda z: jnp.exp(f.log_prob(z)))(pts))(flow, pts)
    expected = np.asarray(dens).reshape(bins, sub, bins, sub).sum(axis=(1, 3)) * h * h
    expected *= n
    z = (counts - expected) / np.sqrt(np.maximum(expected, 1.0))
    assert np.max(np.abs(z)) < 5, np.max(np.abs(z))
    chi2 = float(np.sum(z**2))
    assert chi2 < bins * bins + 5 * math.sqrt(2 * bins * bins), chi2  # chi² with ~64 dof: mean 64, sd 11


@pytest.mark.slow
def test_quadratic_cdf_layer(x64):
    layer = QuadraticCDF(3, 32)
    x = jnp.array([-60.0, -3.0, 0.2])
    y, ld = layer.forward(x)
    np.testing.assert_allclose(y, x, atol=1e-13)  # the identity at initialisation
    assert abs(float(ld)) < 1e-13
    layer = _perturbed(layer, 1.0)
    t = jnp.linspace(-55, 55, 2001)
    col = jnp.stack([t, t, t], 1)
    inside = jnp.abs(t) < 50

    @eqx.filter_jit
    def run(layer):
        y, ld = jax.vmap(layer.forward)(col)
        back, _ = jax.vmap(layer.inverse)(y)
        jac = jax.vmap(jax.jacfwd(lambda v: layer.forward(v)[0]))(col)
        # the derivative at ±bound from inside: 1 (C¹ with the identity tails)
        edge = jax.vmap(jax.grad(lambda s: layer.forward(jnp.array([s, 0.0, 0.0]))[0][0]))(
            jnp.array([-50.0 + 1e-9, 50.0 - 1e-9])
        )
        return y, ld, back, jnp.linalg.slogdet(jac)[1], edge

    y, ld, back, slogdet, edge = run(layer)
    assert bool(jnp.all(jnp.diff(y, axis=0) > 0))  # monotone
    np.testing.assert_array_equal(y[~inside], col[~inside])  # identity tails
    np.testing.assert_allclose(back, col, atol=1e-11)
    np.testing.assert_allclose(edge, [1.0, 1.0], atol=1e-6)
    np.testing.assert_allclose(slogdet[inside], ld[inside], atol=1e-10)
    assert float(jnp.std(ld[inside])) > 0.1


@pytest.mark.slow
def test_gradients_are_finite_in_the_tails(x64):
    # the CDF layer is the identity beyond ±bound; its masked branch must not poison the gradients
    layer = eqx.tree_at(lambda c: c.p, QuadraticCDF(1, 8), jnp.array([[3.0, 0, 0, -2, 0, 0, 3]]))
    flow = KRnet(1, n_depth=2, n_bins=8, key=jax.random.key(0))
    flow = eqx.tree_at(lambda f: f.bijector.layers[0].layers[1].p, flow, layer.p)

    @eqx.filter_jit
    def grads(layer, flow, y):
        g_inv = jax.vmap(jax.grad(lambda y, c: layer.inverse(y)[0][0] + layer.inverse(y)[1], argnums=(0, 1)),
                         in_axes=(0, None))(y, layer)  # fmt: skip
        g_logp = jax.vmap(eqx.filter_grad(lambda f, x: f.log_prob(x)), in_axes=(None, 0))(flow, y)
        return g_inv, g_logp

    y = jnp.array([[-200.0], [-60.0], [-49.0], [0.3], [49.0], [60.0], [200.0]])
    g_inv, g_logp = grads(layer, flow, y)
    for g in jax.tree.leaves((g_inv, eqx.filter(g_logp, eqx.is_array))):
        assert bool(jnp.all(jnp.isfinite(g)))
    tails = jnp.array([0, 1, 5, 6])
    np.testing.assert_allclose(g_inv[0][tails], 1.0)  # the identity's derivative


@pytest.mark.slow
def test_actnorm_initialisation_standardises(x64):
    x = 3.0 + 2.0 * jax.random.normal(jax.random.key(0), (500, 3))
    layer = ActNorm(3).initialize(x)
    y = jax.vmap(lambda v: layer.forward(v)[0])(x)
    np.testing.assert_allclose(jnp.mean(y, 0), 0, atol=1e-12)
    np.testing.assert_allclose(jnp.std(y, 0), 1, atol=1e-5)
    # KRnet's: the log-scale divided by 3
    layer3 = ActNorm(3, log_scale_factor=3.0).initialize(x)
    np.testing.assert_allclose(layer3.log_scale, layer.log_scale / 3, rtol=1e-12)


@pytest.mark.slow
def test_sample_in_box(x64):
    flow = _perturbed(KRnet(2, box=SQUARE, n_depth=2, width=8, n_bins=8, key=jax.random.key(0)), 0.3)
    log_prob = eqx.filter_jit(lambda f, x: jax.vmap(f.log_prob)(x))
    x, logp = sample_in_box(flow, 1000, SQUARE, key=jax.random.key(1))
    assert x.shape == (1000, 2) and bool(jnp.all(jnp.abs(x) <= 1.0))
    np.testing.assert_allclose(log_prob(flow, x), logp, atol=1e-10)
    # a box that holds part of the mass: rejection keeps what falls inside, the rest is projected onto it
    frac = float(jnp.mean(flow.sample(4000, key=jax.random.key(3))[:, 0] >= 0.97))
    assert 0.2 < frac < 0.8
    small = Box((0.97, -1.0), (1.0, 1.0))
    x, logp = sample_in_box(flow, 1000, small, key=jax.random.key(2), oversample=1.0)
    assert bool(jnp.all(x[:, 0] >= 0.97))
    projected = int(jnp.sum(x[:, 0] == 0.97))
    assert abs(projected / 1000 - (1 - frac)) < 0.1  # the share outside, now on the box's face
    np.testing.assert_allclose(log_prob(flow, x), logp, atol=1e-10)  # the density where each point is


def test_bad_input():
    key = jax.random.key(0)
    with pytest.raises((TypeError, ValueError), match="dtype"):
        KRnet(2, dtype="int32", key=key)
    with pytest.raises(ValueError, match="n_depth"):
        KRnet(2, n_depth=3, key=key)
    with pytest.raises(ValueError, match="n_step"):
        KRnet(2, n_step=3, key=key)
    with pytest.raises(ValueError, match="box"):
        KRnet(3, box=SQUARE, key=key)
    with pytest.raises(ValueError, match="n_bins"):
        QuadraticCDF(2, 31)
    with pytest.raises(ValueError, match="split"):
        AffineCoupling(3, 3, key=key)
    with pytest.raises(ValueError, match="kind"):
        AffineCoupling(3, kind="nice", key=key)
    flow = RealNVP(2, n_couplings=1, key=key)
    with pytest.raises(ValueError, match="x"):
        flow.log_prob(jnp.zeros(3))
    with pytest.raises(ValueError, match="x"):
        flow.initialize(jnp.zeros((4, 3)))
    with pytest.raises(ValueError, match="box"):
        sample_in_box(flow, 10, Box.unit(3), key=key)
    with pytest.raises(TypeError, match="flow"):
        sample_in_box(object(), 10, SQUARE, key=key)
