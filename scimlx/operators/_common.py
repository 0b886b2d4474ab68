"""Conventions of the neural operators: one sample in, batches by vmap, BatchNorm state threaded through.

Every operator is an `eqx.Module` called on one sample `x` of shape `(C_in, *spatial)` as
`model(x, state, *, key=None) -> (y, state)` with `y` of shape `(C_out, *spatial)`. Models with batch
normalisation keep their running statistics in an `eqx.nn.State`; build any operator with
`model, state = eqx.nn.make_with_state(Operator)(...)` (stateless models get an empty state and return it
unchanged). Batches go through [`scimlx.operators.apply_batch`][], which vmaps over the batch axis named
`"batch"` (the axis BatchNorm averages over) and switches between training and inference mode.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PyTree

__all__ = ["BATCH_AXIS", "apply_batch", "coordinate_channels", "count_params"]

BATCH_AXIS = "batch"


def coordinate_channels(shape: Sequence[int], dtype=jnp.float32) -> Float[Array, "d *shape"]:  # noqa: F821
    """The coordinates `linspace(0, 1, n)` of every axis as channels `(d, *shape)` (FNO and LSM lifts)."""
    axes = [jnp.linspace(0.0, 1.0, n, dtype=dtype) for n in shape]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"))


def apply_batch(
    model: eqx.Module,
    state: eqx.nn.State | None,
    x: Float[Array, "batch c *spatial"],  # noqa: F821
    *,
    inference: bool = False,
    key=None,
) -> tuple[Array, eqx.nn.State | None]:
    """Apply an operator to a batch `(B, C_in, *spatial)`: returns `(B, C_out, *spatial)` and the new state.

    **Arguments:**

    - `model`, `state`: the operator and its state (from `eqx.nn.make_with_state`).
    - `x`: the batch.
    - `inference`: use BatchNorm's running statistics (and leave them unchanged) instead of the batch's.
    - `key`: a PRNG key for stochastic layers (split over the batch), or `None`.
    """
    if inference:
        model = eqx.nn.inference_mode(model)
    keys = None if key is None else jax.random.split(key, x.shape[0])
    fn = jax.vmap(
        lambda xi, s, k: model(xi, s, key=k),
        axis_name=BATCH_AXIS,
        in_axes=(0, None, None if keys is None else 0),
        out_axes=(0, None),
    )
    return fn(x, state, keys)


def count_params(model: PyTree) -> int:
    """The number of trainable scalars (inexact array leaves) of a model."""
    leaves = jax.tree_util.tree_leaves(eqx.filter(model, eqx.is_inexact_array))
    return int(sum(leaf.size for leaf in leaves))
