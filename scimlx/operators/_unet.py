"""The U-Net baseline of the operator benchmarks, as PDEBench and CAPE build it, in 1, 2 and 3 dimensions.

The architecture is PDEBench's `UNet1d/2d/3d(in_channels, out_channels, init_features=32)`
(`pdebench/models/unet/unet.py`, itself adapted from mateuszbuda's brain-segmentation U-Net; CAPE's
`CAPE/models/unet/unet.py` is the same file):

- encoder blocks with `width * 2**l` channels, `l = 0 .. depth-1`, each `[Conv3x3 (no bias) -> BatchNorm ->
  tanh] x 2`, followed by `MaxPool(2)`;
- a bottleneck block with `width * 2**depth` channels;
- per scale, from the coarsest: `ConvTranspose(kernel 2, stride 2, with bias)` halving the channels,
  concatenation `[upsampled, skip]` and a decoder block;
- a final `Conv1x1` (with bias) to `out_channels`.

The activation is **tanh**, as in PDEBench and CAPE (the brain-segmentation original uses ReLU; the U-Net of
the Neural-Solver-Library, used as the LSM benchmark's baseline, is a different design: the LSM backbone with
bilinear upsampling, ReLU and a lift/projection). `depth=4` and `width=32` give the PDEBench model.

PDEBench needs every side divisible by `2**depth`; this U-Net instead pads each spatial axis with zeros on the
far side up to the next multiple of `2**depth` (85 -> 96 at depth 4) and crops the output back, so any grid
works (the Neural-Solver-Library pads the same way). Batch normalisation keeps its running statistics in an
`eqx.nn.State` (see [`scimlx.operators.apply_batch`][] for training and inference modes).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_bool, check_callable, check_choice, check_int, check_key

from ._common import check_sample, coordinate_channels
from ._conv import DoubleConv

__all__ = ["UNet"]


def _up_conv(ndim: int, c_in: int, c_out: int, key) -> eqx.nn.ConvTranspose:
    """`ConvTranspose(kernel 2, stride 2)` with PyTorch's initialisation.

    PyTorch draws a transposed convolution's weight and bias from `U(+-1/sqrt(fan_in))` with `fan_in` taken
    from its `(in, out, k...)` weight as `out * k**ndim`; Equinox uses `in * k**ndim`. The PyTorch bound is
    used here.
    """
    kc, kw, kb = jax.random.split(key, 3)
    conv = eqx.nn.ConvTranspose(ndim, c_in, c_out, kernel_size=2, stride=2, key=kc)
    bound = 1.0 / math.sqrt(c_out * 2**ndim)
    weight = jax.random.uniform(kw, conv.weight.shape, conv.weight.dtype, -bound, bound)
    bias = jax.random.uniform(kb, conv.bias.shape, conv.bias.dtype, -bound, bound)
    return eqx.tree_at(lambda c: (c.weight, c.bias), conv, (weight, bias))


def _max_pool2(x: Array, *, channels_last: bool = False) -> Array:
    """Max pooling with kernel 2 and stride 2 on every spatial axis (sides even) of `(C, *n)` or `(*n, C)`."""
    if channels_last:
        *spatial, c = x.shape
        split = [v for n in spatial for v in (n // 2, 2)] + [c]
        return jnp.max(x.reshape(split), axis=tuple(range(1, 2 * len(spatial), 2)))
    c, *spatial = x.shape
    split = [c]
    for n in spatial:
        split += [n // 2, 2]
    return jnp.max(x.reshape(split), axis=tuple(range(2, 2 * len(spatial) + 1, 2)))


def _up_conv_cl(conv: eqx.nn.ConvTranspose, x: Array) -> Array:
    """`conv(x)` for the kernel-2, stride-2 transposed convolution on a channels-last sample `(*n, C_in)`.

    Its windows do not overlap: output `2 i + a` (per axis) is `sum_c x[i, c] w[o, c, 1 - a] + b[o]` (Equinox
    stores the kernel flipped with respect to PyTorch), one contraction over the channels and an interleaving
    reshape, instead of a convolution of the zero-dilated input (three quarters zeros in 2-D, and its gradient
    is slower still on the CPU).
    """
    nd = x.ndim - 1
    w = jnp.flip(conv.weight, axis=tuple(range(2, 2 + nd))).astype(x.dtype)  # (O, I, 2, .., 2)
    y = jnp.tensordot(x, w, axes=((nd,), (1,)))  # (*n, O, 2, .., 2)
    perm = [v for j in range(nd) for v in (j, nd + 1 + j)] + [nd]  # (n_1, a_1, .., n_d, a_d, O)
    y = jnp.transpose(y, perm).reshape(tuple(2 * n for n in x.shape[:-1]) + (w.shape[0],))
    return y + conv.bias.reshape(-1).astype(x.dtype)


class UNet(eqx.Module):
    """The PDEBench/CAPE U-Net (tanh, batch norm, transposed convolutions) on one sample `(C, *spatial)`.

    Encoder blocks of `width, 2 width, ..., 2**(depth-1) width` channels with max pooling, a bottleneck of
    `2**depth width`, transposed-convolution upsampling with skip concatenation, decoder blocks and a 1x1
    output convolution. Each block is `[Conv3x3 (no bias) -> BatchNorm -> tanh] x 2`. Any grid works: each
    axis is zero-padded on the far side to a multiple of `2**depth` and the output is cropped back. Stateful
    (batch norm): build with `eqx.nn.make_with_state(UNet)(...)`, call as `model(x, state) -> (y, state)`
    inside `apply_batch`; outside it, on one sample, only in inference mode (`eqx.nn.inference_mode(model)`:
    in training mode batch norm needs the batch, and a direct call raises a `ValueError`).

    **Arguments:**

    - `in_channels`, `out_channels`: channels of the input and output fields.
    - `ndim`: number of spatial axes, 1, 2 or 3.
    - `width`: channels of the first block (PDEBench's `init_features`, 32).
    - `depth`: number of poolings (4 in PDEBench).
    - `append_grid`: append the coordinates `linspace(0, 1, n)` of each axis to the input (PDEBench does not).
    - `activation`: the non-linearity of the blocks; default `tanh` as PDEBench and CAPE.
    - `key`: a PRNG key for the initialisation.
    """

    encoders: tuple[DoubleConv, ...]
    bottleneck: DoubleConv
    up_convs: tuple[eqx.nn.ConvTranspose, ...]
    decoders: tuple[DoubleConv, ...]
    head: eqx.nn.Conv
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    depth: int = eqx.field(static=True)
    append_grid: bool = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        ndim: int = 2,
        width: int = 32,
        depth: int = 4,
        append_grid: bool = False,
        activation: Callable[[Array], Array] = jnp.tanh,
        key: PRNGKeyArray,
    ):
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        ndim = check_choice("ndim", check_int("ndim", ndim), (1, 2, 3))
        self.ndim = ndim
        self.width = check_int("width", width)
        self.depth = check_int("depth", depth)
        self.append_grid = check_bool("append_grid", append_grid)
        check_callable("activation", activation)
        key = check_key(key)

        keys = iter(jax.random.split(key, 3 * self.depth + 2))
        chans = [self.width * 2**level for level in range(self.depth + 1)]
        c_in = self.in_channels + (ndim if append_grid else 0)
        self.encoders = tuple(
            DoubleConv(
                ndim,
                c_in if level == 0 else chans[level - 1],
                chans[level],
                activation=activation,
                key=next(keys),
            )  # fmt: skip
            for level in range(self.depth)
        )
        self.bottleneck = DoubleConv(ndim, chans[-2], chans[-1], activation=activation, key=next(keys))
        levels = range(self.depth - 1, -1, -1)  # coarsest first
        self.up_convs = tuple(_up_conv(ndim, chans[lv + 1], chans[lv], next(keys)) for lv in levels)
        self.decoders = tuple(
            DoubleConv(ndim, 2 * chans[lv], chans[lv], activation=activation, key=next(keys)) for lv in levels
        )
        self.head = eqx.nn.Conv(ndim, chans[0], self.out_channels, kernel_size=1, key=next(keys))

    def pad_widths(self, spatial_shape: Sequence[int]) -> tuple[int, ...]:
        """The zeros added on the far side of each axis: up to the next multiple of `2**depth`."""
        m = 2**self.depth
        return tuple((-int(n)) % m for n in spatial_shape)

    def check_input(self, x) -> None:
        """Raise a `ValueError` if the sample `x` does not fit the model (channels, number of axes)."""
        note = " (the grid coordinates are appended by the model)" if self.append_grid else ""
        check_sample(x, self.ndim, self.in_channels, note)

    def __call__(
        self,
        x: Float[Array, "cin *spatial"],  # noqa: F821
        state: eqx.nn.State,
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, "cout *spatial"], eqx.nn.State]:  # noqa: F821
        """**Arguments:** `x`, one sample `(in_channels, *spatial)`; `state`, the batch-norm state; `key`,
        unused.

        **Returns:** `(y, state)` with `y` of shape `(out_channels, *spatial)` and the updated state
        (unchanged in inference mode).
        """
        del key
        self.check_input(x)
        spatial = x.shape[1:]
        if self.append_grid:
            x = jnp.concatenate([x, coordinate_channels(spatial, dtype=x.dtype)], axis=0)
        pads = self.pad_widths(spatial)
        if any(pads):
            x = jnp.pad(x, [(0, 0)] + [(0, p) for p in pads])
        # channels last inside: XLA's CPU convolutions run so (channels first costs two transpositions each)
        h = jnp.moveaxis(x, 0, -1)
        skips = []
        for block in self.encoders:
            h, state = block(h, state, channels_last=True)
            skips.append(h)
            h = _max_pool2(h, channels_last=True)
        h, state = self.bottleneck(h, state, channels_last=True)
        for up, block, skip in zip(self.up_convs, self.decoders, reversed(skips)):
            h = jnp.concatenate([_up_conv_cl(up, h), skip], axis=-1)
            h, state = block(h, state, channels_last=True)
        w = self.head.weight.reshape(self.head.weight.shape[:2]).astype(h.dtype)
        y = jnp.tensordot(w, h, axes=((1,), (self.ndim,))) + self.head.bias.astype(h.dtype)
        if any(pads):
            y = y[(slice(None),) + tuple(slice(0, n) for n in spatial)]
        return y, state
