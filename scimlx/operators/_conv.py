"""Convolutions shared by the operators: PyTorch's layouts, initialisation and padding modes, with gradients
that XLA's CPU backend computes fast; and the `[Conv3x3 -> BatchNorm -> activation] x 2` block of the U-Nets.

On the CPU, XLA computes a convolution's weight gradient and a strided convolution's input gradient (a
convolution of a zero-dilated array) several times slower than the forward pass, and a convolution without
padding ("VALID") about three times slower than the same one with padding. So:

- [`scimlx.operators.conv`][] (a zero-padded correlation, as PyTorch's `conv{1,2,3}d`) has a custom gradient:
  the input gradient is XLA's for stride 1 and a phase-split transposed convolution (below) for stride 2; the
  weight gradient is one matrix product per kernel tap. An unpadded convolution is computed as a padded one
  with its first output dropped.
- [`scimlx.operators.conv_transpose`][] with stride 2 is split into its two phases per axis: one ordinary
  convolution (kernel `ceil(k / 2)`, `2**ndim` times the output channels) on the coarse grid, whose outputs
  interleave, instead of a convolution of a zero-dilated input that spends three quarters of its work (in 2-D)
  on zeros.

Both agree with the plain XLA formulas to round-off (tested in float64, values and gradients).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_bool, check_callable, check_choice, check_int, check_key

from ._common import BATCH_AXIS, BatchNorm

__all__ = ["Conv", "ConvTranspose", "DoubleConv", "conv", "conv_transpose"]

PaddingMode = Literal["zeros", "circular", "reflect"]
_JNP_PAD = {"zeros": "constant", "circular": "wrap", "reflect": "reflect"}


# ----------------------------------------------------------------------------------------------------------
# the correlation and its gradient
#
# Every function takes one sample, channels first `(C, *n)` (PyTorch's layout) or, with `cl` (channels last),
# `(*n, C)`; weights are always in PyTorch's layout. XLA's CPU convolutions run channels last (a
# channels-first one is transposed there and back, and its kernel is slower): a model that keeps its
# activations channels last, as MgNO does inside, saves both.


def _spatial(x: Array, cl: bool) -> tuple[int, ...]:
    return tuple(x.shape[:-1] if cl else x.shape[1:])


def _channels(x: Array, cl: bool) -> int:
    return x.shape[-1] if cl else x.shape[0]


def _grid_index(cl: bool, nd: int, per_axis) -> tuple:
    """An index that applies `per_axis` (a sequence of slices, one per spatial axis) to the spatial axes."""
    return tuple(per_axis) + (slice(None),) if cl else (slice(None),) + tuple(per_axis)


def _pad_grid(x: Array, pads, cl: bool, mode: str = "constant") -> Array:
    return jnp.pad(x, tuple(pads) + ((0, 0),) if cl else ((0, 0),) + tuple(pads), mode=mode)


def _dimension_numbers(nd: int, cl: bool) -> jax.lax.ConvDimensionNumbers:
    spatial = tuple(range(1, nd + 1)) if cl else tuple(range(2, nd + 2))
    lhs = (0, nd + 1) + spatial if cl else (0, 1) + spatial
    return jax.lax.ConvDimensionNumbers(lhs, (0, 1) + tuple(range(2, nd + 2)), lhs)


def _xla_conv(x: Array, w: Array, stride: int, pads: tuple, cl: bool) -> Array:
    nd = x.ndim - 1
    dims = _dimension_numbers(nd, cl)
    if all(p == (0, 0) for p in pads) and _spatial(x, cl) != w.shape[2:]:
        # XLA's CPU convolution without padding is ~3x slower than with: pad the low side by one stride and
        # drop the extra first output of every axis
        y = jax.lax.conv_general_dilated(
            x[None], w, (stride,) * nd, ((stride, 0),) * nd, dimension_numbers=dims
        )[0]
        return y[_grid_index(cl, nd, [slice(1, None)] * nd)]
    return jax.lax.conv_general_dilated(x[None], w, (stride,) * nd, pads, dimension_numbers=dims)[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4))
def _conv(x: Array, w: Array, stride: int, pads: tuple, cl: bool) -> Array:
    return _xla_conv(x, w, stride, pads, cl)


def _conv_fwd(x, w, stride, pads, cl):
    return _xla_conv(x, w, stride, pads, cl), (x, w)


def _conv_bwd(stride, pads, cl, residuals, g):
    x, w = residuals
    nd = x.ndim - 1
    k = w.shape[2:]
    if stride == 2:
        # the adjoint of a stride-2 correlation of the zero-padded x: the stride-2 transposed convolution
        # with the same weight (PyTorch's layouts make (C_out, C_in) of the one (C_in, C_out) of the
        # other), shifted by the low padding and cut to x's grid
        gx = _conv_transpose_s2(g, w, tuple(lo for lo, _ in pads), _spatial(x, cl), cl)
    else:
        gx = jax.vjp(lambda v: _xla_conv(v, w, stride, pads, cl), x)[1](g)[0]
    # weight gradient: per tap, the product of g with the matching (strided) window of the padded input,
    # summed over the grid
    xz = _pad_grid(x, pads, cl)
    out = _spatial(g, cl)
    axes = tuple(range(nd)) if cl else tuple(range(1, nd + 1))
    taps = []
    for tap in itertools.product(*(range(kk) for kk in k)):
        window = _grid_index(cl, nd, [slice(t, t + stride * (n - 1) + 1, stride) for t, n in zip(tap, out)])
        taps.append(jnp.tensordot(g, xz[window], axes=(axes, axes)))  # (C_out, C_in)
    gw = jnp.stack(taps, axis=-1).reshape(w.shape)
    return gx, gw


_conv.defvjp(_conv_fwd, _conv_bwd)


def _check_arguments(x, weight, channels_last, stride, padding, *, transposed: bool):
    """Validate a functional convolution's arguments; returns `(channels_last, stride, padding)`."""
    if not isinstance(channels_last, bool):
        raise TypeError(f"`channels_last` must be a bool, got {channels_last!r}")
    if x.ndim < 2:
        raise ValueError(f"`x` must be one sample with a channel axis and grid axes, got shape {x.shape}")
    c_in = _channels(x, channels_last)
    if weight.ndim != x.ndim + 1 or weight.shape[0 if transposed else 1] != c_in:
        layout = "(*n, C_in)" if channels_last else "(C_in, *n)"
        expected = "(C_in, C_out, *k)" if transposed else "(C_out, C_in, *k)"
        raise ValueError(
            f"`weight` must have shape {expected} with C_in = {c_in} and one kernel size per grid axis of "
            f"`x` {layout}; got `x` {tuple(x.shape)} and `weight` {tuple(weight.shape)}"
        )
    return channels_last, check_int("stride", stride, low=1), check_int("padding", padding, low=0)


def conv(
    x: Float[Array, "c_in *n"],  # noqa: F821
    weight: Float[Array, "c_out c_in *k"],  # noqa: F821
    *,
    stride: int = 1,
    padding: int = 0,
    channels_last: bool = False,
) -> Float[Array, "c_out *m"]:  # noqa: F821
    """PyTorch's `conv{1,2,3}d` (a correlation, zero padding) for one sample, weight `(C_out, C_in, *k)`.

    `y[o, i] = sum_{c, a} w[o, c, a] x[c, s i + a - p]` per axis (`x` is 0 outside its grid), so an axis of
    `n` cells comes out with `floor((n + 2 p - k) / s) + 1`. Its gradients are computed in a form XLA runs
    fast on the CPU (module docstring). With `channels_last`, `x` and the result are `(*n, C)` (the weight
    keeps PyTorch's layout); XLA's CPU convolutions run faster so.
    """
    cl, stride, padding = _check_arguments(x, weight, channels_last, stride, padding, transposed=False)
    nd = x.ndim - 1
    grid = _spatial(x, cl)
    if any(n + 2 * padding < kk for n, kk in zip(grid, weight.shape[2:])):
        raise ValueError(f"the grid {grid} padded by {padding} is smaller than the kernel")
    return _conv(x, weight.astype(x.dtype), stride, ((padding, padding),) * nd, cl)


# ----------------------------------------------------------------------------------------------------------
# the transposed convolution


def _phase_plan(k: int, p: int, n: int, out: int):
    """Per axis, for the stride-2 transposed convolution of kernel `k`, padding `p`, `n` cells in and `out`
    out: the window width, each phase's first tap offset and crop start, the padding of the phase convolution,
    and the kernel index of each (phase, window tap) (`k` where the tap falls outside the kernel).

    Output `o = 2 m + r` takes `x[m + d] w[r + p - 2 d]` for every `d` with the kernel index in `[0, k)`;
    phase `r` reads the window `x[m + d0(r) + e]`, `e < ceil(k / 2)`.
    """
    width = -(-k // 2)
    d0 = [-((-(r + p - k + 1)) // 2) for r in (0, 1)]  # ceil((r + p - k + 1) / 2)
    dmin = min(d0)
    half = -(-out // 2)
    shifts = [d - dmin for d in d0]
    n_conv = half + max(shifts)  # convolution outputs needed
    lo = -dmin
    hi = n_conv - 1 + width - 1 - lo - (n - 1)
    index = np.full((2, width), k)
    for r, e in itertools.product((0, 1), range(width)):
        a = r + p - 2 * (d0[r] + e)
        if 0 <= a < k:
            index[r, e] = a
    return width, shifts, half, (lo, hi), index.reshape(-1)


def _conv_transpose_s2(
    x: Array, weight: Array, padding: tuple[int, ...], out: tuple[int, ...], cl: bool
) -> Array:
    """The stride-2 transposed convolution of one sample, weight `(C_in, C_out, *k)`, per-axis padding, cut
    to the output grid `out`, as one convolution per phase block (see the module docstring)."""
    nd = x.ndim - 1
    c_out, k = weight.shape[1], weight.shape[2:]
    plans = [_phase_plan(kk, p, n, o) for kk, p, n, o in zip(k, padding, _spatial(x, cl), out)]
    # the phase kernels: (2^nd C_out, C_in, *width), the phases of every axis leading, C_out last
    wt = jnp.pad(jnp.swapaxes(weight, 0, 1), ((0, 0), (0, 0)) + ((0, 1),) * nd)  # index k reads 0
    kernel = wt[(slice(None), slice(None)) + np.ix_(*[plan[4] for plan in plans])]
    widths = [plan[0] for plan in plans]
    kernel = kernel.reshape(kernel.shape[:2] + tuple(v for w_ in widths for v in (2, w_)))
    perm = [2 + 2 * j for j in range(nd)] + [0, 1] + [3 + 2 * j for j in range(nd)]
    kernel = jnp.transpose(kernel, perm).reshape((2**nd * c_out, _channels(x, cl), *widths))
    # negative padding (a window that starts inside the grid) crops instead
    x = x[_grid_index(cl, nd, [slice(max(-plan[3][0], 0), None) for plan in plans])]
    pads = tuple((max(plan[3][0], 0), max(plan[3][1], 0)) for plan in plans)
    y = _conv(x, kernel.astype(x.dtype), 1, pads, cl)
    if cl:  # (*Q, 2, .., 2, C_out): axis j's phases at nd + j
        y = y.reshape(y.shape[:-1] + (2,) * nd + (c_out,))
        phase_axis, grid_axis = (lambda j: nd + j), (lambda j: j)
    else:  # (2, .., 2, C_out, *Q)
        y = y.reshape((2,) * nd + (c_out,) + y.shape[1:])
        phase_axis, grid_axis = (lambda j: j), (lambda j: nd + 1 + j)
    # each phase's outputs start at its own shift: crop every phase to `half` outputs, then interleave
    for j, (_, shifts, half, _, _) in enumerate(plans):
        # after taking a phase, the grid axis j sits one place lower in the channels-first layout
        g = grid_axis(j) if cl else grid_axis(j) - 1
        y = jnp.stack(
            [
                jax.lax.slice_in_dim(jnp.take(y, r, axis=phase_axis(j)), shifts[r], shifts[r] + half, axis=g)
                for r in (0, 1)
            ],
            axis=phase_axis(j),
        )
    halves = tuple(2 * plan[2] for plan in plans)
    if cl:
        perm = [v for j in range(nd) for v in (j, nd + j)] + [2 * nd]
        y = jnp.transpose(y, perm).reshape(halves + (c_out,))
    else:
        perm = [nd] + [v for j in range(nd) for v in (nd + 1 + j, j)]
        y = jnp.transpose(y, perm).reshape((c_out,) + halves)
    return y[_grid_index(cl, nd, [slice(0, o) for o in out])]


def conv_transpose(
    x: Float[Array, "c_in *n"],  # noqa: F821
    weight: Float[Array, "c_in c_out *k"],  # noqa: F821
    *,
    stride: int = 2,
    padding: int = 1,
    channels_last: bool = False,
) -> Float[Array, "c_out *m"]:  # noqa: F821
    """PyTorch's `conv_transpose{1,2,3}d` for one sample, weight `(C_in, C_out, *k)` as PyTorch stores it.

    `y[o, s i + a - p] += sum_c x[c, i] w[c, o, a]` per axis, so an axis of `n` cells comes out with
    `(n - 1) s - 2 p + k`: with `s = 2, p = 1` that is `2 n` for `k = 4` and `2 n - 1` for `k = 3`. Stride 2
    runs as one convolution per phase block (module docstring); other strides as XLA's convolution of the
    zero-dilated input. With `channels_last`, `x` and the result are `(*n, C)`.
    """
    cl, stride, padding = _check_arguments(x, weight, channels_last, stride, padding, transposed=True)
    ndim = x.ndim - 1
    k = weight.shape[2:]
    if padding > min(k) - 1:
        raise ValueError(f"`padding` ({padding}) must be at most the kernel size - 1 ({min(k) - 1})")
    out = tuple((n - 1) * stride - 2 * padding + kk for n, kk in zip(_spatial(x, cl), k))
    weight = weight.astype(x.dtype)
    if stride == 2:
        return _conv_transpose_s2(x, weight, (padding,) * ndim, out, cl)
    # the adjoint of a strided convolution: dilate the input, pad by k - 1 - p, correlate with the flipped
    # kernel whose in/out axes are swapped
    w = jnp.flip(jnp.swapaxes(weight, 0, 1), axis=tuple(range(2, 2 + ndim)))
    pad = [(kk - 1 - padding, kk - 1 - padding) for kk in k]
    dims = _dimension_numbers(ndim, cl)
    return jax.lax.conv_general_dilated(
        x[None], w, (1,) * ndim, pad, lhs_dilation=(stride,) * ndim, dimension_numbers=dims
    )[0]


# ----------------------------------------------------------------------------------------------------------
# modules


def batch_norm(channels: int) -> BatchNorm:
    """PyTorch's `BatchNorm{1,2,3}d` defaults (momentum 0.1, eps 1e-5), over `apply_batch`'s batch axis."""
    return BatchNorm(channels, momentum=0.1, eps=1e-5, axis_name=BATCH_AXIS)


def _uniform(key, shape, bound) -> Array:
    return jax.random.uniform(key, shape, minval=-bound, maxval=bound)


class Conv(eqx.Module):
    """A convolution with PyTorch's weight layout `(C_out, C_in, *k)`, initialisation and padding modes.

    Called on one sample `(C_in, *n)`; the padding (`padding` cells per side, in `padding_mode`) comes first,
    then the strided correlation ([`scimlx.operators.conv`][], whose gradients run fast on the CPU).

    **Arguments:**

    - `ndim`: spatial dimensions.
    - `in_channels`, `out_channels`: channels in and out.
    - `kernel`: kernel size (every axis).
    - `stride`: stride (every axis).
    - `padding`: cells of padding per side.
    - `padding_mode`: `"zeros"`, `"circular"` (wrap-around) or `"reflect"`.
    - `bias`: add a bias per output channel.
    - `key`: a JAX PRNG key (keyword only); weights and bias `U(+-1/sqrt(C_in k^ndim))` as PyTorch's.
    """

    weight: Array
    bias: Array | None
    stride: int = eqx.field(static=True)
    padding: int = eqx.field(static=True)
    padding_mode: str = eqx.field(static=True)

    def __init__(
        self,
        ndim: int,
        in_channels: int,
        out_channels: int,
        kernel: int,
        *,
        stride: int = 1,
        padding: int = 0,
        padding_mode: PaddingMode = "zeros",
        bias: bool,
        key: PRNGKeyArray,
    ):
        ndim = check_int("ndim", ndim, low=1)
        in_channels = check_int("in_channels", in_channels, low=1)
        out_channels = check_int("out_channels", out_channels, low=1)
        kernel = check_int("kernel", kernel, low=1)
        stride = check_int("stride", stride, low=1)
        padding = check_int("padding", padding, low=0)
        check_choice("padding_mode", padding_mode, tuple(_JNP_PAD))
        check_bool("bias", bias)
        wkey, bkey = jax.random.split(check_key(key))
        bound = 1.0 / math.sqrt(in_channels * kernel**ndim)
        self.weight = _uniform(wkey, (out_channels, in_channels) + (kernel,) * ndim, bound)
        self.bias = _uniform(bkey, (out_channels,), bound) if bias else None
        self.stride, self.padding, self.padding_mode = stride, padding, padding_mode

    def __call__(
        self,
        x: Float[Array, "c_in *n"],  # noqa: F821
        *,
        channels_last: bool = False,
    ) -> Float[Array, "c_out *m"]:  # noqa: F821
        """The convolution of one sample `(C_in, *n)`, or `(*n, C_in)` with `channels_last`."""
        cl = channels_last
        nd = x.ndim - 1
        w = self.weight.astype(x.dtype)
        if all(kk == 1 for kk in w.shape[2:]) and self.stride == 1 and not self.padding:
            w2 = w.reshape(w.shape[:2])  # a 1x1 convolution: one product
            y = jnp.tensordot(x, w2, axes=(-1, 1)) if cl else jnp.tensordot(w2, x, axes=(1, 0))
        elif self.padding and self.padding_mode != "zeros":
            pads = ((self.padding, self.padding),) * nd
            x = _pad_grid(x, pads, cl, mode=_JNP_PAD[self.padding_mode])
            y = _conv(x, w, self.stride, ((0, 0),) * nd, cl)
        else:
            y = _conv(x, w, self.stride, ((self.padding, self.padding),) * nd, cl)
        if self.bias is not None:
            b = self.bias.astype(x.dtype)
            y = y + (b if cl else b.reshape((-1,) + (1,) * nd))
        return y


class ConvTranspose(eqx.Module):
    """A stride-2, padding-1 transposed convolution without bias, kernel per axis, weight `(C, C, *k)`;
    PyTorch's initialisation `U(+-1/sqrt(C k...))` (PyTorch takes a transposed convolution's fan-in from its
    output channels).

    **Arguments:**

    - `channels`: channels in and out.
    - `kernel`: the kernel size of each axis.
    - `key`: a JAX PRNG key (keyword only).
    """

    weight: Array

    def __init__(self, channels: int, kernel: tuple[int, ...], *, key: PRNGKeyArray):
        channels = check_int("channels", channels, low=1)
        if isinstance(kernel, str) or not hasattr(kernel, "__len__") or not len(kernel):
            raise TypeError(f"`kernel` must be a sequence of kernel sizes, one per axis, got {kernel!r}")
        kernel = tuple(check_int(f"kernel[{i}]", k, low=2) for i, k in enumerate(kernel))
        bound = 1.0 / math.sqrt(channels * math.prod(kernel))
        self.weight = _uniform(check_key(key), (channels, channels) + kernel, bound)

    def __call__(self, x: Float[Array, "c *n"], *, channels_last: bool = False) -> Float[Array, "c *m"]:  # noqa: F821
        """The transposed convolution of one sample `(C, *n)`, or `(*n, C)` with `channels_last`."""
        return conv_transpose(x, self.weight, stride=2, padding=1, channels_last=channels_last)


class DoubleConv(eqx.Module):
    """`[Conv3x3 (no bias) -> BatchNorm -> activation] x 2`, the block of the U-Nets (PDEBench's `_block`
    with tanh, LSM's `DoubleConv` with ReLU); Equinox convolutions, BatchNorm over the batch axis.

    It computes channels last, and its convolutions' weight gradients over the whole batch at once (fast on
    the CPU; the function and its first derivatives are XLA's to round-off) by a custom reverse-mode rule:
    forward-mode derivatives (`jax.jvp`) through the block raise, and second derivatives are untested.

    **Arguments:**

    - `ndim`: spatial dimensions.
    - `c_in`, `c_out`: channels in and out.
    - `c_mid`: channels between the two convolutions (default `c_out`).
    - `activation`: the activation after each normalisation (default ReLU).
    - `key`: a JAX PRNG key (keyword only).
    """

    conv1: eqx.nn.Conv
    norm1: BatchNorm
    conv2: eqx.nn.Conv
    norm2: BatchNorm
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        ndim: int,
        c_in: int,
        c_out: int,
        c_mid: int | None = None,
        *,
        activation: Callable[[Array], Array] = jax.nn.relu,
        key: PRNGKeyArray,
    ):
        ndim = check_int("ndim", ndim, low=1)
        c_in, c_out = check_int("c_in", c_in, low=1), check_int("c_out", c_out, low=1)
        c_mid = c_out if c_mid is None else check_int("c_mid", c_mid, low=1)
        check_callable("activation", activation)
        key = check_key(key)
        k1, k2 = jax.random.split(key)
        self.conv1 = eqx.nn.Conv(ndim, c_in, c_mid, 3, padding=1, use_bias=False, key=k1)
        self.norm1 = batch_norm(c_mid)
        self.conv2 = eqx.nn.Conv(ndim, c_mid, c_out, 3, padding=1, use_bias=False, key=k2)
        self.norm2 = batch_norm(c_out)
        self.activation = activation

    def __call__(
        self, x: Array, state: eqx.nn.State, *, channels_last: bool = False
    ) -> tuple[Array, eqx.nn.State]:
        """The block on one sample `(C_in, *n)`, or `(*n, C_in)` with `channels_last` (XLA's CPU convolutions
        run channels last: a model that keeps its activations so saves a transposition per convolution)."""
        check_bool("channels_last", channels_last)
        if not channels_last:  # computed channels last all the same: two transpositions instead of eight
            y, state = self(jnp.moveaxis(x, 0, -1), state, channels_last=True)
            return jnp.moveaxis(y, -1, 0), state
        x, state = self.norm1(_same_conv(self.conv1, x, True), state, channels_last=True)
        x = self.activation(x)
        x, state = self.norm2(_same_conv(self.conv2, x, True), state, channels_last=True)
        return self.activation(x), state


def _same_conv(layer: eqx.nn.Conv, x: Array, cl: bool) -> Array:
    """An `eqx.nn.Conv` without bias, stride 1 and zero padding `(k - 1) / 2` (the blocks' 3x3), in either
    layout; with an odd kernel, its weight gradient is computed over the whole batch at once
    (`_batch_weight_grad`)."""
    w = layer.weight.astype(x.dtype)
    k = w.shape[2:]
    if len(set(k)) == 1 and k[0] % 2:
        return _same_conv_fast(x, w, cl)
    return _same_xla(x, w, cl)


def _same_xla(x: Array, w: Array, cl: bool) -> Array:
    nd = x.ndim - 1
    pads = tuple((k // 2, k // 2) for k in w.shape[2:])
    return jax.lax.conv_general_dilated(
        x[None], w, (1,) * nd, pads, dimension_numbers=_dimension_numbers(nd, cl)
    )[0]


@functools.partial(jax.custom_vjp, nondiff_argnums=(2,))
def _same_conv_fast(x: Array, w: Array, cl: bool) -> Array:
    return _same_xla(x, w, cl)


def _same_conv_fast_fwd(x, w, cl):
    return _same_xla(x, w, cl), (x, w)


def _same_conv_fast_bwd(cl, residuals, g):
    x, w = residuals
    gx = jax.vjp(lambda v: _same_xla(v, w, cl), x)[1](g)[0]
    return gx, _weight_grad(cl, w.shape[2])(x, g).astype(w.dtype)


_same_conv_fast.defvjp(_same_conv_fast_fwd, _same_conv_fast_bwd)


@functools.cache
def _weight_grad(cl: bool, k: int) -> Callable[[Array, Array], Array]:
    """The weight gradient of one sample `(x, g)`; under `vmap` (the batch of `apply_batch`), that of the
    whole batch at once, divided by its size for every sample (the sum over the samples that follows gives the
    batch's). Second derivatives through it are untested."""

    @jax.custom_batching.custom_vmap
    def grad(x: Array, g: Array) -> Array:
        return _batch_weight_grad(x[None], g[None], cl, k)

    @grad.def_vmap
    def _(axis_size, in_batched, x, g):
        if not in_batched[0]:
            x = jnp.broadcast_to(x, (axis_size,) + x.shape)
        if not in_batched[1]:
            g = jnp.broadcast_to(g, (axis_size,) + g.shape)
        total = _batch_weight_grad(x, g, cl, k) / axis_size
        return jnp.broadcast_to(total, (axis_size,) + total.shape), True

    return grad


def _batch_weight_grad(x: Array, g: Array, cl: bool, k: int) -> Array:
    """The weight gradient `(C_out, C_in, k, .., k)` of a stride-1 'same' correlation with an odd kernel `k`,
    summed over a batch `x: (B, *n, C_in)`, `g: (B, *n, C_out)` (channels first with `cl=False`).

    XLA's own weight gradient is a convolution with the grid as its kernel and the batch as its features,
    which runs two to five times slower than the forward pass on the CPU. Here, on grids with many points per
    channel (`prod(n) >= 9 max(C_in, C_out)`), the batch is stacked along the first axis (with `k - 1` zero
    rows between samples, so that no window reaches into the next one) and `_same_conv_weight_grad` makes it
    one matrix product; on coarser grids it is one product per kernel tap, `(C_out, B prod(n)) x (B prod(n),
    C_in)`.
    """
    if not cl:
        x, g = jnp.moveaxis(x, 1, -1), jnp.moveaxis(g, 1, -1)
    nd = x.ndim - 2
    p = k // 2
    n, c_in, c_out = x.shape[1:-1], x.shape[-1], g.shape[-1]
    if math.prod(n) >= 9 * max(c_in, c_out):
        fold = ((0, 0), (p, p)) + ((0, 0),) * nd
        stack = lambda v: jnp.pad(v, fold).reshape((-1,) + v.shape[2:])  # noqa: E731
        return _same_conv_weight_grad(stack(x), stack(g), k)
    xz = jnp.pad(x, ((0, 0),) + ((p, p),) * nd + ((0, 0),))
    g2 = g.reshape(-1, c_out).T
    taps = [
        jnp.dot(g2, xz[(slice(None),) + tuple(slice(t, t + m) for t, m in zip(tap, n))].reshape(-1, c_in))
        for tap in itertools.product(*(range(k) for _ in range(nd)))
    ]
    return jnp.stack(taps, axis=-1).reshape((c_out, c_in) + (k,) * nd)


def _same_conv_weight_grad(x: Array, g: Array, k: int) -> Array:
    """The weight gradient `(C_out, C_in, k, .., k)` of a stride-1 'same' correlation with an odd kernel `k`,
    for one channels-last sample `x: (*n, C_in)` and output cotangent `g: (*n, C_out)`, as one matrix product.

    `dw[o, i, a, t] = sum_{h, r} g[h, r, o] x_pad[h + a, r + t, i]` (`a` the tap of the first axis, `t` those
    of the others). The shifts `t` of the other axes become channels of `x` (`k^(nd-1)` copies), the
    shifts `a` of the first axis channels of `g` (`k` copies, `g[h - a]` on the padded rows), and the sum
    over the grid is then a single product `(k C_out, P) x (P, k^(nd-1) C_in)` whose operands are
    contiguous. XLA's own weight gradient (a convolution with the grid as the kernel) is about twice as slow
    on the CPU for grids much larger than the channel counts.
    """
    nd = x.ndim - 1
    p = k // 2
    n = x.shape[:-1]
    xz = jnp.pad(x, ((p, p),) * nd + ((0, 0),))
    shifts = list(itertools.product(*(range(k) for _ in range(nd - 1))))
    xw = jnp.concatenate(
        [xz[(slice(None),) + tuple(slice(t, t + m) for t, m in zip(tap, n[1:]))] for tap in shifts], axis=-1
    )  # (n_0 + 2p, *n[1:], k^(nd-1) C_in), channel (t, i)
    gp = jnp.pad(g, ((k - 1, k - 1),) + ((0, 0),) * nd)
    gs = jnp.concatenate(
        [gp[k - 1 - a : k - 1 - a + n[0] + 2 * p] for a in range(k)], axis=-1
    )  # channel (a, o)
    c_in, c_out = x.shape[-1], g.shape[-1]
    m = jnp.dot(gs.reshape(-1, k * c_out).T, xw.reshape(-1, len(shifts) * c_in))
    m = m.reshape((k, c_out) + (k,) * (nd - 1) + (c_in,))  # (a, o, t..., i)
    return jnp.transpose(m, (1, nd + 1, 0) + tuple(range(2, nd + 1)))  # (o, i, a, t...)
