"""Checks shared by the operator tests."""

import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from scimlx.operators import apply_batch


def assert_gradients_finite_and_nonzero(model, state, x, target):
    """The gradient of a squared error through `apply_batch` is finite and non-zero in every leaf."""

    @eqx.filter_jit
    @eqx.filter_grad
    def grad(m):
        y, _ = apply_batch(m, state, x)
        return jnp.sum((y - target) ** 2)

    leaves = jax.tree_util.tree_leaves_with_path(eqx.filter(grad(model), eqx.is_inexact_array))
    assert len(leaves) == len(jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array)))
    for path, g in leaves:
        name = jax.tree_util.keystr(path)
        assert bool(jnp.all(jnp.isfinite(g))), name
        assert bool(jnp.any(g != 0)), name


def rbg_key(seed: int):
    """A PRNG key whose draws compile fast on a CPU: with the default threefry every new weight shape costs
    a compilation when a model initialises (~15 s for a small LSM), which dominates these tests."""
    return jax.random.key(seed, impl="rbg")


def filled(build, seed: int, dtype=jnp.float32):
    """What `build()` makes (a model, or the `(model, state)` of `eqx.nn.make_with_state`), its weights drawn
    by NumPy: nothing to compile, unlike an initialisation (one compilation per weight shape), for tests of
    shapes, states and errors that do not depend on the initial distribution. Arrays of two or more axes are
    N(0, 1 / fan_in) with `fan_in` the product of the trailing axes, vectors N(0, 0.1^2); BatchNorm's running
    statistics start as initialised (mean 0, variance 1)."""
    rng = np.random.default_rng(seed)

    def fill(x):
        if isinstance(x, jax.ShapeDtypeStruct) and jnp.issubdtype(x.dtype, jnp.inexact):
            std = 1.0 / math.sqrt(math.prod(x.shape[1:])) if len(x.shape) >= 2 else 0.1
            return jnp.asarray(std * rng.normal(size=x.shape), dtype)
        return x

    skeleton = eqx.filter_eval_shape(build)
    if not isinstance(skeleton, tuple):
        return jax.tree_util.tree_map(fill, skeleton)
    model, state = skeleton
    # the state holds BatchNorm's (running mean, running variance) pairs, in order
    leaves, tree = jax.tree_util.tree_flatten(state)
    assert len(leaves) % 2 == 0, "a state other than BatchNorm's"
    stats = [(jnp.zeros if i % 2 == 0 else jnp.ones)(x.shape, dtype) for i, x in enumerate(leaves)]
    return jax.tree_util.tree_map(fill, model), jax.tree_util.tree_unflatten(tree, stats)
