"""Checks shared by the operator tests."""

import equinox as eqx
import jax
import jax.numpy as jnp

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
