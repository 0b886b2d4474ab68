"""Latent Spectral Models (LSM; Wu, Hu, Luo, Wang, Long, ICML 2023) in 1, 2 and 3 dimensions.

LSM is a 5-scale U-Net whose skip connections each pass through a *Neural Spectral Block* (NSB): the map is
cut into patches, each patch is projected by attention onto a few learnable latent tokens, the tokens are
transformed by a per-channel trigonometric expansion, and attention carries them back to the points. The
layout, initialisation and ordering follow the reference code (`thuml/Latent-Spectral-Models`,
`models/LSM_2D.py` and `LSM_3D.py`), so that the parameter count matches (19,187,457 at width 64 for
Darcy) and weights can be ported:

- lift: the coordinates `linspace(0, 1, n)` of every axis are appended as channels, then `fc0` maps
  `C_in + ndim -> width` point-wise;
- zero padding on the far side of every axis (computed automatically: `pad = (16 - n % 16) % 16`, with the
  patch `(n + pad) / 16`, so that the coarsest map is one patch), cropped after the network;
- encoder `inc, down1..4` with channels `w, 2w, 4w, 8w, 8w` (max-pool 2 then two `3x3 conv -> BatchNorm
  -> ReLU`), an NSB on each of the five skips, decoder `up1..4` (aligned-corner linear upsampling, concat,
  double conv) with channels `4w, 2w, w, w`; head `Conv1x1 -> crop -> Linear(w, 128) -> GELU -> Linear`.

Models are called on one sample `(C_in, *spatial)` and hold BatchNorm statistics in an `eqx.nn.State`
(see [`scimlx.operators.apply_batch`][]). In training mode BatchNorm needs the batch: a direct call on one
sample raises a `ValueError` unless the model is in inference mode (`eqx.nn.inference_mode(model)`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_choice, check_int, check_key

from ._common import check_sample, coordinate_channels, per_axis
from ._conv import DoubleConv

__all__ = ["LSM", "NeuralSpectralBlock", "lsm_padding", "upsample_bilinear_aligned"]

_LEVELS = 4  # number of 2x max-pools: the coarsest map is (n + pad) / 16
_MULTIPLE = 2**_LEVELS
_HEAD_WIDTH = 128  # the reference head: Linear(width, 128) -> GELU -> Linear(128, C_out)


# ------------------------------------------------------------------------------------------------------------
# Geometry: padding and patches
# ------------------------------------------------------------------------------------------------------------


def lsm_padding(shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The reference padding and patch of a grid: `pad = (16 - n % 16) % 16`, `patch = (n + pad) / 16`.

    **Arguments:**

    - `shape`: the spatial shape `(n_1, ..., n_d)` of the grid.

    **Returns:**

    `(pads, patch)`: the zero padding added at the far end of every axis, and the patch size of every axis
    (the coarsest map of the U-Net, `(n + pad) / 16`, is then a single patch). For example 85 -> (11, 6),
    64 -> (0, 4), 20 -> (12, 2).
    """
    if isinstance(shape, str) or not isinstance(shape, Sequence) or len(shape) == 0:
        raise TypeError(f"`shape` must be a non-empty sequence of grid sizes, got {shape!r}")
    sizes = tuple(check_int(f"shape[{i}]", n, low=1) for i, n in enumerate(shape))
    pads = tuple((_MULTIPLE - n % _MULTIPLE) % _MULTIPLE for n in sizes)
    patch = tuple((n + p) // _MULTIPLE for n, p in zip(sizes, pads))
    return pads, patch


def _scale_sizes(n: int) -> list[int]:
    """The map sizes of the five U-Net scales (max-pool 2 with floor)."""
    sizes = [n]
    for _ in range(_LEVELS):
        sizes.append(sizes[-1] // 2)
    return sizes


def _resolve_geometry(
    shape: tuple[int, ...], padding: tuple[int, ...] | None, patch: tuple[int, ...] | None
) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The padding and patch used on a grid, checked: every scale must split into whole patches."""
    auto_pads, auto_patch = lsm_padding(shape)
    pads = auto_pads if padding is None else padding
    out_patch = []
    for axis, (n, pad) in enumerate(zip(shape, pads)):
        sizes = _scale_sizes(n + pad)
        if sizes[-1] < 1:
            raise ValueError(
                f"grid size {n} on spatial axis {axis} padded by {pad} is {n + pad}, too small for the "
                f"{_LEVELS} halvings of the U-Net: it must be at least {_MULTIPLE} (use `padding=None` for "
                f"the automatic padding {auto_pads[axis]})"
            )
        p = sizes[-1] if patch is None else patch[axis]
        if any(s % p for s in sizes):
            fits = [q for q in range(1, sizes[-1] + 1) if all(s % q == 0 for s in sizes)]
            raise ValueError(
                f"`patch` {p} does not split spatial axis {axis}: the grid size {n} padded by {pad} gives "
                f"U-Net maps of sizes {sizes}, and each must be a multiple of the patch. Patches that fit: "
                f"{fits}; with the automatic padding ({auto_pads[axis]}) any divisor of "
                f"{(n + auto_pads[axis]) // _MULTIPLE} fits (default {auto_patch[axis]})"
            )
        out_patch.append(p)
    return tuple(pads), tuple(out_patch)


# ------------------------------------------------------------------------------------------------------------
# Point-wise layers, pooling, upsampling
# ------------------------------------------------------------------------------------------------------------


def _pointwise(weight: Array, bias: Array | None, x: Array) -> Array:
    """A 1x1 convolution / point-wise linear map of `x: (C_in, *spatial)` with `weight: (C_out, C_in)`."""
    y = jnp.tensordot(weight, x, axes=1)
    if bias is not None:
        y = y + bias.reshape(bias.shape[0], *(1,) * (x.ndim - 1))
    return y


def _linear(layer: eqx.nn.Linear, x: Array) -> Array:
    return _pointwise(layer.weight, layer.bias, x)


def _conv1x1(layer: eqx.nn.Conv, x: Array) -> Array:
    w = layer.weight.reshape(layer.weight.shape[0], layer.weight.shape[1])
    return _pointwise(w, layer.bias, x)


def _maxpool2(x: Array) -> Array:
    """Max-pool 2 with stride 2 over every spatial axis of `(C, *spatial)`, odd sizes floored (PyTorch)."""
    c, *spatial = x.shape
    x = x[(slice(None),) + tuple(slice(0, 2 * (n // 2)) for n in spatial)]
    split = [c]
    for n in spatial:
        split += [n // 2, 2]
    x = x.reshape(split)
    return jnp.max(x, axis=tuple(range(2, 2 + 2 * len(spatial), 2)))


def _aligned_indices(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Neighbours and weights of linear interpolation with aligned corners: source `i (n_in-1)/(n_out-1)`."""
    if n_out == 1 or n_in == 1:
        src = np.zeros(n_out)
    else:
        src = np.arange(n_out) * ((n_in - 1) / (n_out - 1))
    lo = np.minimum(np.floor(src).astype(np.int64), n_in - 1)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, src - lo


def upsample_bilinear_aligned(
    x: Float[Array, "c *spatial"],  # noqa: F821
    scale: int = 2,
    *,
    size: int | Sequence[int] | None = None,
) -> Float[Array, "c *up"]:  # noqa: F821
    """Linear / bilinear / trilinear upsampling with aligned corners (PyTorch's `align_corners=True`).

    Output point `i` of an axis going from `n_in` to `n_out` points reads the input at
    `i (n_in - 1) / (n_out - 1)`, so the first and last points coincide; `jax.image.resize` uses half-pixel
    centres instead and gives different values.

    **Arguments:**

    - `x`: channels-first `(C, *spatial)` with 1 to 3 spatial axes.
    - `scale`: the integer upsampling factor of every spatial axis (`n_out = scale n_in`).
    - `size`: the output sizes instead (an int or one per spatial axis); overrides `scale`.

    **Returns:**

    An array `(C, *n_out)`.
    """
    if not 2 <= jnp.ndim(x) <= 4:
        raise ValueError(
            f"`x` must be channels-first (C, *spatial) with 1 to 3 spatial axes, got shape {jnp.shape(x)}"
        )
    x = jnp.asarray(x)
    if size is None:
        scale = check_int("scale", scale, low=1)
        sizes = tuple(scale * n for n in x.shape[1:])
    else:
        sizes = per_axis("size", size, x.ndim - 1, low=1)
    for axis, n_out in enumerate(sizes, start=1):
        lo, hi, frac = _aligned_indices(x.shape[axis], n_out)
        shape = [1] * x.ndim
        shape[axis] = n_out
        frac = jnp.asarray(frac, dtype=x.dtype).reshape(shape)
        x0 = jnp.take(x, jnp.asarray(lo), axis=axis)
        x1 = jnp.take(x, jnp.asarray(hi), axis=axis)
        x = x0 + frac * (x1 - x0)
    return x


# ------------------------------------------------------------------------------------------------------------
# Building blocks
# ------------------------------------------------------------------------------------------------------------


class _Up(eqx.Module):
    """Aligned-corner x2 upsampling, zero padding to the skip's size, `concat([skip, up])`, double conv."""

    conv: DoubleConv

    def __init__(self, ndim: int, c_in: int, c_out: int, *, key: PRNGKeyArray):
        self.conv = DoubleConv(ndim, c_in, c_out, c_in // 2, key=key)

    def __call__(self, x: Array, skip: Array, state: eqx.nn.State) -> tuple[Array, eqx.nn.State]:
        x = upsample_bilinear_aligned(x, 2)
        diffs = [s - n for s, n in zip(skip.shape[1:], x.shape[1:])]
        if any(diffs):  # odd sizes only (never with the automatic padding); split as the reference does
            x = jnp.pad(x, [(0, 0)] + [(d // 2, d - d // 2) for d in diffs])
        return self.conv(jnp.concatenate([skip, x], axis=0), state)


class NeuralSpectralBlock(eqx.Module):
    """The Neural Spectral Block of LSM: patch-wise attention to latent tokens, a trigonometric transition
    of the tokens, attention back to the points, and a residual.

    **Arguments:**

    - `ndim`: the number of spatial axes (1, 2 or 3).
    - `channels`: the channels `C` of the map (divisible by `n_heads`).
    - `num_basis`: the number `K` of frequencies `k pi / K`, `k = 0..K-1`, of the sin/cos expansion.
    - `num_token`: the number `T` of latent tokens.
    - `n_heads`: attention heads (8 in the reference).
    - `key`: a PRNG key.

    Called as `block(x, patch)` on `x: (C, *spatial)` with every spatial size a multiple of its patch size.
    """

    weights: Float[Array, "c basis2"]  # noqa: F722
    latent: Float[Array, "heads tokens d"]
    encoder_attn: eqx.nn.Conv
    decoder_attn: eqx.nn.Conv
    ndim: int = eqx.field(static=True)
    channels: int = eqx.field(static=True)
    num_basis: int = eqx.field(static=True)
    num_token: int = eqx.field(static=True)
    n_heads: int = eqx.field(static=True)

    def __init__(
        self, ndim: int, channels: int, num_basis: int = 12, num_token: int = 4, n_heads: int = 8, *, key
    ):
        ndim = check_choice("ndim", check_int("ndim", ndim, low=1), (1, 2, 3))
        channels = check_int("channels", channels, low=1)
        num_basis = check_int("num_basis", num_basis, low=1)
        num_token = check_int("num_token", num_token, low=1)
        n_heads = check_int("n_heads", n_heads, low=1)
        if channels % n_heads:
            raise ValueError(f"`channels` ({channels}) must be divisible by `n_heads` ({n_heads})")
        kw, kl, ke, kd = jax.random.split(check_key(key), 4)
        d = channels // n_heads
        self.weights = jax.random.uniform(kw, (channels, 2 * num_basis)) / channels
        self.latent = jax.random.uniform(kl, (n_heads, num_token, d)) / channels
        self.encoder_attn = eqx.nn.Conv(ndim, channels, 2 * channels, 1, key=ke)
        self.decoder_attn = eqx.nn.Conv(ndim, channels, channels, 1, key=kd)
        self.ndim, self.channels, self.num_basis = ndim, channels, num_basis
        self.num_token, self.n_heads = num_token, n_heads

    def _patchify(self, x: Array, patch: tuple[int, ...]) -> Array:
        """`(C, *spatial) -> (C, n_patches, patch_points)`."""
        c, *spatial = x.shape
        split = [c]
        for n, p in zip(spatial, patch):
            split += [n // p, p]
        order = [0] + list(range(1, 2 * self.ndim, 2)) + list(range(2, 2 * self.ndim + 1, 2))
        return x.reshape(split).transpose(order).reshape(c, -1, math.prod(patch))

    def _unpatchify(self, x: Array, patch: tuple[int, ...], spatial: tuple[int, ...]) -> Array:
        """`(C, n_patches, patch_points) -> (C, *spatial)`."""
        c = x.shape[0]
        grid = [n // p for n, p in zip(spatial, patch)]
        x = x.reshape(c, *grid, *patch)
        order = [0]
        for i in range(self.ndim):
            order += [1 + i, 1 + self.ndim + i]
        return x.transpose(order).reshape(c, *spatial)

    def __call__(self, x: Float[Array, "c *spatial"], patch: Sequence[int]) -> Float[Array, "c *spatial"]:  # noqa: F821
        c, *spatial = x.shape
        patch = tuple(patch)
        h, t, k = self.n_heads, self.num_token, self.num_basis
        d = c // h
        # (1) encoder: latent tokens attend to the points of each patch (no 1/sqrt(d) scaling)
        kv = self._patchify(_conv1x1(self.encoder_attn, x), patch)  # channel (head*d + j)*2 + {k, v}
        n_p, n_l = kv.shape[1], kv.shape[2]
        kv = kv.reshape(h, d, 2, n_p, n_l)
        keys, values = kv[:, :, 0], kv[:, :, 1]  # (h, d, P, L)
        attn = jax.nn.softmax(jnp.einsum("htd,hdpl->hptl", self.latent, keys), axis=-1)
        z = jnp.einsum("hptl,hdpl->hdpt", attn, values) + jnp.transpose(self.latent, (0, 2, 1))[:, :, None]
        z = z.reshape(c, n_p, t)  # channel head*d + j
        # (2) transition: z + sum_k W[c, k] sin(k pi z / K) + W[c, K + k] cos(k pi z / K)
        modes = jnp.arange(k, dtype=x.dtype) / k
        arg = modes * z[..., None] * math.pi
        basis = jnp.concatenate([jnp.sin(arg), jnp.cos(arg)], axis=-1)
        z = jnp.einsum("cptm,cm->cpt", basis, self.weights.astype(x.dtype)) + z
        # (3) decoder: the points attend to the tokens (keys = values = tokens), plus the residual
        q = self._patchify(_conv1x1(self.decoder_attn, x), patch).reshape(h, d, n_p, n_l)
        tokens = z.reshape(h, d, n_p, t)
        attn = jax.nn.softmax(jnp.einsum("hdpl,hdpt->hplt", q, tokens), axis=-1)
        out = jnp.einsum("hplt,hdpt->hdpl", attn, tokens).reshape(c, n_p, n_l)
        return self._unpatchify(out, patch, tuple(spatial)) + x


# ------------------------------------------------------------------------------------------------------------
# LSM
# ------------------------------------------------------------------------------------------------------------


class LSM(eqx.Module):
    """Latent Spectral Model: a 5-scale U-Net with a Neural Spectral Block on every skip connection.

    **Arguments:**

    - `in_channels`, `out_channels`: channels of the input and output fields.
    - `ndim`: the number of spatial axes (1, 2 or 3).
    - `width`: the channels `w` of the finest scale (the scales carry `w, 2w, 4w, 8w, 8w`); a multiple of
      `n_heads`. The reference uses 64 (Darcy, Navier-Stokes), 48 or 32.
    - `num_token`: latent tokens `T` per patch (4).
    - `num_basis`: frequencies `K` of the spectral transition (12).
    - `n_heads`: attention heads (8, hard-coded in the reference).
    - `patch`: the patch size (an int or one per axis), the same at every scale; `None` takes
      `(n + pad) / 16` on each call, which makes the coarsest map a single patch (the reference scripts).
    - `padding`: zero padding at the far end of every axis (an int or one per axis); `None` takes
      `(16 - n % 16) % 16` on each call. Every U-Net scale of the padded grid must split into patches.
    - `key`: a PRNG key.

    Called as `model(x, state, *, key=None) -> (y, state)` on one sample `x: (in_channels, *spatial)`;
    build with `eqx.nn.make_with_state(LSM)(...)` and batch with [`scimlx.operators.apply_batch`][]. In
    training mode the call must run inside `apply_batch` (BatchNorm averages over the batch; directly on
    one sample it raises a `ValueError`); `eqx.nn.inference_mode(model)(x, state)` works on one sample.
    """

    fc0: eqx.nn.Linear
    inc: DoubleConv
    down1: DoubleConv
    down2: DoubleConv
    down3: DoubleConv
    down4: DoubleConv
    up1: _Up
    up2: _Up
    up3: _Up
    up4: _Up
    outc: eqx.nn.Conv
    process1: NeuralSpectralBlock
    process2: NeuralSpectralBlock
    process3: NeuralSpectralBlock
    process4: NeuralSpectralBlock
    process5: NeuralSpectralBlock
    fc1: eqx.nn.Linear
    fc2: eqx.nn.Linear
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    width: int = eqx.field(static=True)
    patch: tuple[int, ...] | None = eqx.field(static=True)
    padding: tuple[int, ...] | None = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        ndim: int = 2,
        width: int = 64,
        num_token: int = 4,
        num_basis: int = 12,
        n_heads: int = 8,
        patch: int | Sequence[int] | None = None,
        padding: int | Sequence[int] | None = None,
        key: PRNGKeyArray,
    ):
        in_channels = check_int("in_channels", in_channels, low=1)
        out_channels = check_int("out_channels", out_channels, low=1)
        ndim = check_choice("ndim", check_int("ndim", ndim, low=1), (1, 2, 3))
        w = check_int("width", width, low=1)
        num_token = check_int("num_token", num_token, low=1)
        num_basis = check_int("num_basis", num_basis, low=1)
        n_heads = check_int("n_heads", n_heads, low=1)
        if w % n_heads:
            raise ValueError(
                f"`width` ({w}) must be a multiple of `n_heads` ({n_heads}): every scale's channels "
                f"(w, 2w, 4w, 8w) are split over the heads; e.g. width={n_heads * max(1, round(w / n_heads))}"
            )
        self.patch = None if patch is None else per_axis("patch", patch, ndim, low=1)
        self.padding = None if padding is None else per_axis("padding", padding, ndim, low=0)
        keys = iter(jax.random.split(check_key(key), 18))
        self.fc0 = eqx.nn.Linear(in_channels + ndim, w, key=next(keys))
        self.inc = DoubleConv(ndim, w, w, key=next(keys))
        self.down1 = DoubleConv(ndim, w, 2 * w, key=next(keys))
        self.down2 = DoubleConv(ndim, 2 * w, 4 * w, key=next(keys))
        self.down3 = DoubleConv(ndim, 4 * w, 8 * w, key=next(keys))
        self.down4 = DoubleConv(ndim, 8 * w, 16 * w // 2, key=next(keys))  # // 2: bilinear upsampling
        self.up1 = _Up(ndim, 16 * w, 8 * w // 2, key=next(keys))
        self.up2 = _Up(ndim, 8 * w, 4 * w // 2, key=next(keys))
        self.up3 = _Up(ndim, 4 * w, 2 * w // 2, key=next(keys))
        self.up4 = _Up(ndim, 2 * w, w, key=next(keys))
        self.outc = eqx.nn.Conv(ndim, w, w, 1, key=next(keys))
        nsb = dict(num_basis=num_basis, num_token=num_token, n_heads=n_heads)
        self.process1 = NeuralSpectralBlock(ndim, w, **nsb, key=next(keys))
        self.process2 = NeuralSpectralBlock(ndim, 2 * w, **nsb, key=next(keys))
        self.process3 = NeuralSpectralBlock(ndim, 4 * w, **nsb, key=next(keys))
        self.process4 = NeuralSpectralBlock(ndim, 8 * w, **nsb, key=next(keys))
        self.process5 = NeuralSpectralBlock(ndim, 16 * w // 2, **nsb, key=next(keys))
        self.fc1 = eqx.nn.Linear(w, _HEAD_WIDTH, key=next(keys))
        self.fc2 = eqx.nn.Linear(_HEAD_WIDTH, out_channels, key=next(keys))
        self.in_channels, self.out_channels, self.ndim, self.width = in_channels, out_channels, ndim, w

    def padding_and_patch(self, shape: Sequence[int]) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The padding and patch this model uses on a grid of spatial `shape` (raises if they do not fit)."""
        if isinstance(shape, str) or not isinstance(shape, Sequence) or len(shape) != self.ndim:
            raise ValueError(f"`shape` must hold {self.ndim} spatial sizes, got {shape!r}")
        shape = tuple(check_int(f"shape[{i}]", n, low=1) for i, n in enumerate(shape))
        return _resolve_geometry(shape, self.padding, self.patch)

    def __call__(
        self,
        x: Float[Array, "c_in *spatial"],  # noqa: F821
        state: eqx.nn.State,
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, "c_out *spatial"], eqx.nn.State]:  # noqa: F821
        del key
        check_sample(x, self.ndim, self.in_channels, " (the grid coordinates are appended by the model)")
        spatial = tuple(x.shape[1:])
        pads, patch = _resolve_geometry(spatial, self.padding, self.patch)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.float32)

        h = jnp.concatenate([x, coordinate_channels(spatial, dtype=x.dtype)], axis=0)
        h = _linear(self.fc0, h)
        if any(pads):
            h = jnp.pad(h, [(0, 0)] + [(0, p) for p in pads])

        x1, state = self.inc(h, state)
        x2, state = self.down1(_maxpool2(x1), state)
        x3, state = self.down2(_maxpool2(x2), state)
        x4, state = self.down3(_maxpool2(x3), state)
        x5, state = self.down4(_maxpool2(x4), state)
        y, state = self.up1(self.process5(x5, patch), self.process4(x4, patch), state)
        y, state = self.up2(y, self.process3(x3, patch), state)
        y, state = self.up3(y, self.process2(x2, patch), state)
        y, state = self.up4(y, self.process1(x1, patch), state)
        y = _conv1x1(self.outc, y)

        y = y[(slice(None),) + tuple(slice(0, n) for n in spatial)]
        y = jax.nn.gelu(_linear(self.fc1, y), approximate=False)  # PyTorch's F.gelu is the exact (erf) GELU
        return _linear(self.fc2, y), state
