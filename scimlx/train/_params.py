"""What an optimiser trains: trainable arrays versus [`scimlx.train.Fixed`][] ones, and one parameter count.

A model's trainable parameters are its inexact (floating or complex) array leaves, except

- arrays wrapped in [`Fixed`][scimlx.train.Fixed] (input shifts and scales, random Fourier features, frozen
  Gaussian centres): they never reach the optimiser, so neither a learning rate nor a (coupled) weight decay
  moves them;
- the initial values held by `eqx.nn.StateIndex` (BatchNorm's running statistics are state, not
  parameters).
"""

from __future__ import annotations

import math
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PyTree

__all__ = ["Fixed", "count_params", "trainable", "trainable_mask"]


class Fixed(eqx.Module):
    """An array (or PyTree of arrays) that a model holds but does not train.

    [`scimlx.train.fit`][] leaves it out of the parameters it differentiates and updates, and
    [`scimlx.train.count_params`][] does not count it. Read it with `.value`, which also stops gradients,
    so a hand-written `eqx.filter_grad` sees zero for it.

    **Arguments:**

    - `array`: the fixed array(s).
    """

    array: PyTree[Array]

    @property
    def value(self) -> PyTree[Array]:
        """The array(s), behind `jax.lax.stop_gradient`."""
        return jax.tree.map(jax.lax.stop_gradient, self.array)


def _is_excluded(x: Any) -> bool:
    return isinstance(x, Fixed | eqx.nn.StateIndex)


def trainable_mask(model: PyTree) -> PyTree[bool]:
    """A filter spec of `model` for `eqx.partition`: `True` at its trainable arrays.

    Trainable: inexact array leaves outside [`Fixed`][scimlx.train.Fixed] and `eqx.nn.StateIndex`.
    """
    return jax.tree.map(
        lambda x: False if _is_excluded(x) else _is_inexact(x), model, is_leaf=_is_excluded
    )


def _is_inexact(x: Any) -> bool:
    """An inexact array, or its shape and dtype alone (a model built by `eqx.filter_eval_shape`)."""
    if isinstance(x, jax.ShapeDtypeStruct):
        return bool(jnp.issubdtype(x.dtype, jnp.inexact))
    return eqx.is_inexact_array(x)


def trainable(model: PyTree) -> PyTree:
    """The trainable arrays of `model` (the rest replaced by `None`), what an optimiser is given."""
    return eqx.filter(model, trainable_mask(model))


def count_params(model: PyTree, *, complex_as_real: bool = True) -> int:
    """The number of trainable scalars of a model (see [`trainable`][scimlx.train.trainable]).

    **Arguments:**

    - `model`: any PyTree, typically an Equinox module; one built by `eqx.filter_eval_shape` (shapes only,
        nothing allocated) counts the same.
    - `complex_as_real`: count a complex weight as two real parameters (default: what a real optimiser
        updates, and the FNO reference scripts' `count_params`); `False` counts it once (PyTorch's
        `numel`, as the LSM reference counts).
    """
    leaves = jax.tree.leaves(trainable(model))
    per = 2 if complex_as_real else 1
    return int(sum(math.prod(x.shape) * (per if jnp.issubdtype(x.dtype, jnp.complexfloating) else 1)
                   for x in leaves))
