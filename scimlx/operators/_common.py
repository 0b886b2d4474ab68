"""Conventions of the neural operators: one sample in, batches by vmap, BatchNorm state threaded through.

Every operator is an `eqx.Module` called on one sample `x` of shape `(C_in, *spatial)` as
`model(x, state, *, key=None) -> (y, state)` with `y` of shape `(C_out, *spatial)`. Models with batch
normalisation keep their running statistics in an `eqx.nn.State`; build any operator with
`model, state = eqx.nn.make_with_state(Operator)(...)` (stateless models get an empty state and return it
unchanged). Batches go through [`scimlx.operators.apply_batch`][], which vmaps over the batch axis named
`"batch"` (the axis BatchNorm averages over) and switches between training and inference mode.

A model with BatchNorm in training mode needs that batch axis: called directly on one sample, `model(x,
state)` raises a `ValueError`. Call it through `apply_batch` (a batch of one is `x[None]`), or put it in
inference mode first, `eqx.nn.inference_mode(model)(x, state)`, which uses the running statistics.
"""

from __future__ import annotations

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float

from scimlx.core.validate import check_bool, check_int, check_key

__all__ = [
    "BATCH_AXIS",
    "BatchNorm",
    "apply_batch",
    "check_sample",
    "coordinate_channels",
    "is_conditioned",
    "per_axis",
    "vmap_batch",
]

BATCH_AXIS = "batch"


def _batch_size(axis_name: str) -> int:
    """The size of the vmapped axis `axis_name`; a `ValueError` when no such axis is bound (a model with
    BatchNorm called on one sample in training mode, outside `apply_batch`)."""
    try:
        return jax.lax.psum(1, axis_name)
    except NameError as e:  # JAX's "unbound axis name", eagerly and under jit alike
        raise ValueError(
            "BatchNorm in training mode needs the batch: call the model through "
            "`scimlx.operators.apply_batch(model, state, x)` or, for one sample, use "
            f"`eqx.nn.inference_mode(model)` (no vmapped axis named {axis_name!r} is bound here)"
        ) from e


class BatchNorm(eqx.Module):
    """Batch normalisation with PyTorch's semantics, for one sample inside `jax.vmap(..., axis_name="batch")`.

    Training mode normalises with the batch mean and (biased) variance over the batch and spatial axes and
    updates the running statistics as PyTorch does: `running = (1 - momentum) running + momentum batch`, the
    variance unbiased, starting from mean 0 and variance 1. Inference mode (`eqx.nn.inference_mode`)
    normalises with the running statistics. (`eqx.nn.BatchNorm` differs: it debiases running averages
    that start from variance 1, which overestimates the variance early in training, and keeps the biased
    variance.) Training mode outside a vmap over `axis_name` (one sample, no batch) raises a `ValueError`.

    **Arguments:**

    - `channels`: the number of channels (axis 0 of a sample).
    - `momentum`: PyTorch's momentum (0.1).
    - `eps`: added to the variance (1e-5).
    - `axis_name`: the vmapped batch axis (`"batch"`).
    """

    weight: Array
    bias: Array
    state_index: eqx.nn.StateIndex
    inference: bool
    momentum: float = eqx.field(static=True)
    eps: float = eqx.field(static=True)
    axis_name: str = eqx.field(static=True)

    def __init__(
        self, channels: int, *, momentum: float = 0.1, eps: float = 1e-5, axis_name: str = BATCH_AXIS
    ):
        self.weight = jnp.ones((channels,))
        self.bias = jnp.zeros((channels,))
        self.state_index = eqx.nn.StateIndex((jnp.zeros((channels,)), jnp.ones((channels,))))
        self.inference = False
        self.momentum = momentum
        self.eps = eps
        self.axis_name = axis_name

    def __call__(
        self, x: Array, state: eqx.nn.State, *, key=None, channels_last: bool = False
    ) -> tuple[Array, eqx.nn.State]:
        """Normalise one sample `(C, *spatial)`, or `(*spatial, C)` with `channels_last`."""
        check_bool("channels_last", channels_last)
        if channels_last:
            shape, axes = (-1,), tuple(range(x.ndim - 1))
            channels = x.shape[-1]
        else:
            shape, axes = (-1,) + (1,) * (x.ndim - 1), tuple(range(1, x.ndim))
            channels = x.shape[0]
        if self.inference:
            mean, var = state.get(self.state_index)
        else:
            count = _batch_size(self.axis_name) * (x.size // channels)
            mean = jax.lax.pmean(jnp.mean(x, axis=axes), self.axis_name)
            var = jax.lax.pmean(jnp.mean((x - mean.reshape(shape)) ** 2, axis=axes), self.axis_name)
            unbiased = var * count / max(count - 1, 1)
            running_mean, running_var = state.get(self.state_index)
            m = self.momentum
            state = state.set(
                self.state_index,
                (
                    jax.lax.stop_gradient((1 - m) * running_mean + m * mean),
                    jax.lax.stop_gradient((1 - m) * running_var + m * unbiased),
                ),
            )
        out = (x - mean.reshape(shape)) / jnp.sqrt(var.reshape(shape) + self.eps)
        return out * self.weight.reshape(shape) + self.bias.reshape(shape), state


def per_axis(name: str, value, ndim: int, *, low: int) -> tuple[int, ...]:
    """An int (the same on every axis) or a sequence of `ndim` ints, each `>= low`, as a tuple; a
    `ValueError`/`TypeError` naming `name` otherwise."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != ndim:
            raise ValueError(f"`{name}` must have one entry per spatial axis ({ndim}), got {tuple(value)}")
        return tuple(check_int(f"{name}[{i}]", v, low=low) for i, v in enumerate(value))
    return (check_int(name, value, low=low),) * ndim


def check_sample(x, ndim: int, in_channels: int, note: str = "") -> None:
    """Raise a `ValueError` unless `x` is one sample `(in_channels, *spatial)` with `ndim` non-empty axes."""
    shape = tuple(jnp.shape(x))
    if len(shape) != ndim + 1:
        raise ValueError(
            f"`x` must be one sample (C_in={in_channels}, *spatial) with {ndim} spatial axes "
            f"(batches go through `apply_batch`), got shape {shape}"
        )
    if shape[0] != in_channels:
        raise ValueError(
            f"`x` has {shape[0]} channels but the model was built with in_channels={in_channels}{note}"
        )
    if any(n < 1 for n in shape[1:]):
        raise ValueError(f"`x` has an empty spatial axis, got shape {shape}")


def coordinate_channels(shape: Sequence[int], dtype=jnp.float32) -> Float[Array, "d *shape"]:  # noqa: F821
    """The coordinates `linspace(0, 1, n)` of every axis as channels `(d, *shape)` (FNO and LSM lifts)."""
    axes = [jnp.linspace(0.0, 1.0, n, dtype=dtype) for n in shape]
    return jnp.stack(jnp.meshgrid(*axes, indexing="ij"))


_ORDER = "the arguments are `apply_batch(model, state, x)`"


def _check_batch_arguments(model, state, x) -> None:
    """The argument checks of `apply_batch`, before any tracing: kinds, order and the batch axis."""
    if isinstance(model, tuple) and len(model) == 2 and isinstance(model[1], eqx.nn.State):
        raise TypeError(
            "`model` is a (model, state) pair: unpack what `eqx.nn.make_with_state` returns, "
            "`model, state = eqx.nn.make_with_state(Operator)(...)`, and pass both"
        )
    if isinstance(model, eqx.nn.State) or not isinstance(model, eqx.Module) or not callable(model):
        what = "an `eqx.nn.State`" if isinstance(model, eqx.nn.State) else _kind(model)
        raise TypeError(f"`model` must be an operator (a callable `eqx.Module`), got {what}: {_ORDER}")
    if state is not None and not isinstance(state, eqx.nn.State):
        raise TypeError(
            "`state` must be an `eqx.nn.State` (from `eqx.nn.make_with_state`) or None, got "
            f"{_kind(state)}: {_ORDER}"
        )
    if isinstance(x, eqx.nn.State) or not (hasattr(x, "shape") and hasattr(x, "ndim")):
        what = "an `eqx.nn.State`" if isinstance(x, eqx.nn.State) else _kind(x)
        raise TypeError(f"`x` must be an array batch (B, C_in, *spatial), got {what}: {_ORDER}")
    shape = tuple(x.shape)
    if x.ndim < 2:
        raise ValueError(
            f"`x` must be a batch (B, C_in, *spatial) with a leading batch axis, got shape {shape}: "
            "for one sample `x`, pass `x[None]`"
        )
    ndim, channels = getattr(model, "ndim", None), getattr(model, "in_channels", None)
    if isinstance(ndim, int) and isinstance(channels, int) and x.ndim != ndim + 2:  # a grid operator
        one_sample = x.ndim == ndim + 1 and shape[0] == channels
        hint = ": this looks like one sample; a batch of one is `x[None]`" if one_sample else ""
        raise ValueError(
            f"`x` must be a batch (B, C_in={channels}, *spatial) with a leading batch axis and {ndim} "
            f"spatial {'axis' if ndim == 1 else 'axes'}, got shape {shape}{hint}"
        )


def _kind(value) -> str:
    """A short description of a value for a message: an array's shape, else its type's name."""
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return f"an array of shape {tuple(value.shape)}"
    return type(value).__name__


def apply_batch(
    model: eqx.Module,
    state: eqx.nn.State | None,
    x: Float[Array, "batch c *spatial"],  # noqa: F821
    *,
    pde_params: Float[Array, "batch p"] | None = None,  # noqa: F821
    inference: bool = False,
    key=None,
) -> tuple[Array, eqx.nn.State | None]:
    """Apply an operator to a batch `(B, C_in, *spatial)`: returns `(B, C_out, *spatial)` and the new state.

    **Arguments:**

    - `model`, `state`: the operator and its state (from `eqx.nn.make_with_state`; `state` may be `None`
      for a stateless model).
    - `x`: the batch, with a leading batch axis (one sample `x` is the batch `x[None]`).
    - `pde_params`: the PDE parameters of each sample `(B, P)`, for a parameter-conditioned operator
      ([`scimlx.operators.CAPE`][]), which needs them; other operators take none.
    - `inference`: use BatchNorm's running statistics (and leave them unchanged) instead of the batch's.
    - `key`: a PRNG key for stochastic layers (split over the batch), or `None`.

    Arguments of the wrong kind or in the wrong order (e.g. `apply_batch(model, x, state)`), and a batch
    without its batch axis, raise a `TypeError`/`ValueError` that names the argument, before any work.
    """
    _check_batch_arguments(model, state, x)
    pde_params = _check_pde_params(model, pde_params, x.shape[0])
    inference = check_bool("inference", inference)
    key = None if key is None else check_key(key)
    if inference:
        model = eqx.nn.inference_mode(model)
    if pde_params is None:
        return vmap_batch(lambda xi, s, k: model(xi, s, key=k), state, x, key)
    return vmap_batch(lambda xi, s, k, p: model(xi, s, key=k, pde_params=p), state, x, key, pde_params)


def vmap_batch(call, state, x, key, *per_sample):
    """`call(x_i, state, key_i, *per_sample_i)` over the batch axis named `"batch"` (BatchNorm's), the state
    shared and returned once; every output but the last (the state) is batched."""
    keys = None if key is None else jax.random.split(key, x.shape[0])
    in_axes = (0, None, None if keys is None else 0) + (0,) * len(per_sample)

    def one(*args):
        *outs, new_state = call(*args)
        return tuple(outs), new_state

    outs, new_state = jax.vmap(one, axis_name=BATCH_AXIS, in_axes=in_axes, out_axes=(0, None))(
        x, state, keys, *per_sample
    )
    return (*outs, new_state)


def is_conditioned(model) -> bool:
    """Whether `model` is conditioned on PDE parameters (takes `pde_params`, as CAPE does)."""
    return getattr(type(model), "conditioned", False) is True


def _check_pde_params(model, pde_params, batch: int):
    """The PDE parameters `(B, P)` a conditioned model needs, or `None` for one that takes none."""
    conditioned = is_conditioned(model)
    if pde_params is None:
        if conditioned:
            raise ValueError(
                "`pde_params` is required: this operator is conditioned on the PDE parameters of each "
                "sample, `apply_batch(model, state, x, pde_params=p)` with `p` of shape (B, P)"
            )
        return None
    if not conditioned:
        raise ValueError(
            f"`pde_params` given, but {type(model).__name__} is not conditioned on PDE parameters"
        )
    p = jnp.asarray(pde_params)
    if p.ndim != 2 or p.shape[0] != batch:
        raise ValueError(f"`pde_params` must have shape (B={batch}, P), got {tuple(p.shape)}")
    return p
