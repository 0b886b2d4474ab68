"""CAPE: channel attention guided by PDE-parameter embeddings (Takamoto, Alesiani, Niepert; ICML 2023).

A small module reads the current state `u` and the PDE parameters `p` and guesses the next state; the base
operator (FNO, U-Net, ...) then sees `concat(u, guess)` and a 1x1 convolution mixes its output down to the
next state. The module, per sample `u` of shape `(c, *spatial)` and `p` of shape `(P,)`, with `d` the
widening factor:

- `h = GELU(Conv_k(c -> d/2)(u))` (no bias, "same" padding);
- three parameter MLPs `a_j = Lin(d/2 -> d)(GELU(Lin(P -> d/2)(p)))`, one channel weight per branch;
- the branches `y0 = Upsample_4(SpectralConv(d/2 -> d)(AvgPool_4(h))) * a0` (global, on a 4x coarser grid),
  `y1 = Conv_1x1(d/2 -> d)(h) * a1` and `y2 = DepthwiseConv_k(d/2 -> d)(h) * a2` (local);
- `y = Conv_1x1(d -> c n_cape)(GELU(y0 + y1 + y2 + Conv_1x1(d/2 -> d)(h)))`;
- the guess of the next `n_cape` states: `repeat(u) + LN(y)` (`combine="add"`, the reference's 1-D block)
  or `repeat(u) (1 + LN(y))` (`"multiply"`, its 2-D block), `LN` a layer norm over the spatial axes (which
  fixes the grid, as in the reference).

This follows `PrmEmbd.py` of the reference code; the differences are options, with the reference's
behaviour available: the parameters enter the MLPs as they are (`param_transform="identity"`; the reference's
2-D block feeds `sigmoid(log p)`, which is undefined for `p <= 0`: `"sigmoid_log"`), and the convolutions may
wrap around (`padding="circular"`) on periodic data where the reference pads with zeros (which shows as
artefacts at the edges of its guesses). On a 2-D grid the spectral branch keeps at most `n / 8` modes per
leading axis (the pooled grid's `n / 4` halved); the reference's 9 modes on the 16 x 16 pooled grid of its
64 x 64 data overlap (the second write wins), so its 2-D default here is 8.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_choice, check_int, check_key

from ._common import check_sample
from ._fno import SpectralConv, gelu, max_modes

__all__ = ["CAPE", "CAPEModule", "curriculum_t_ar"]

_PADDING = {"zeros": "ZEROS", "circular": "CIRCULAR"}


def _conv(ndim, c_in, c_out, kernel, *, key, bias=True, groups=1, padding="zeros") -> eqx.nn.Conv:
    """A PyTorch-initialised convolution, "same" padding with zeros or wrap-around."""
    return eqx.nn.Conv(
        ndim, c_in, c_out, kernel, padding="SAME", groups=groups, use_bias=bias,
        padding_mode=_PADDING[padding], key=key,
    )  # fmt: skip


def _avg_pool(x: Array, factor: int) -> Array:
    """Average over non-overlapping `factor`-cells of every spatial axis of `(C, *spatial)`."""
    shape = [x.shape[0]]
    for n in x.shape[1:]:
        shape += [n // factor, factor]
    return x.reshape(shape).mean(axis=tuple(range(2, 2 * x.ndim, 2)))


def _upsample_nearest(x: Array, factor: int) -> Array:
    """Nearest-neighbour upsampling by `factor` on every spatial axis (PyTorch's `F.interpolate`)."""
    for axis in range(1, x.ndim):
        x = jnp.repeat(x, factor, axis=axis)
    return x


class _ParamMLP(eqx.Module):
    """`Lin(d/2 -> d)(GELU(Lin(P -> d/2)(p)))`: the channel weights of one branch."""

    first: eqx.nn.Linear
    second: eqx.nn.Linear

    def __init__(self, n_params: int, width: int, *, key: PRNGKeyArray):
        k1, k2 = jax.random.split(key)
        self.first = eqx.nn.Linear(n_params, width // 2, key=k1)
        self.second = eqx.nn.Linear(width // 2, width, key=k2)

    def __call__(self, p: Array) -> Array:
        return self.second(gelu(self.first(p)))


class CAPEModule(eqx.Module):
    """CAPE's parameter-embedding block: a guess of the next states from the state and the PDE parameters.

    **Arguments:**

    - `channels`: channels `c` of the state.
    - `n_params`: the number `P` of PDE parameters.
    - `shape`: the spatial grid (each axis a multiple of 4); the layer norm is over it.
    - `width`: the widening factor `d` (even; 64 in the reference).
    - `kernel_size`: of the input and depthwise convolutions (5).
    - `n_cape`: states guessed ahead (the reference's `num_channels_PrmEmb`, 1).
    - `modes`: Fourier modes of the spectral branch on the pooled grid (16 in 1-D, 8 in 2-D by default).
    - `padding`: `"zeros"` (the reference) or `"circular"` (periodic data).
    - `combine`: `"add"` or `"multiply"` (default: the reference's, `"add"` in 1-D, `"multiply"` otherwise).
    - `param_transform`: `"identity"` or `"sigmoid_log"` (the reference's 2-D block; needs `p > 0`).
    - `key`: a PRNG key for the initialisation.
    """

    conv_in: eqx.nn.Conv
    spectral: SpectralConv
    attn_pointwise: eqx.nn.Conv
    depthwise: eqx.nn.Conv
    pointwise: eqx.nn.Conv
    head: eqx.nn.Conv
    mlps: tuple[_ParamMLP, _ParamMLP, _ParamMLP]
    norm: eqx.nn.LayerNorm
    channels: int = eqx.field(static=True)
    n_params: int = eqx.field(static=True)
    shape: tuple[int, ...] = eqx.field(static=True)
    n_cape: int = eqx.field(static=True)
    combine: str = eqx.field(static=True)
    param_transform: str = eqx.field(static=True)

    def __init__(
        self,
        channels: int,
        n_params: int,
        shape: Sequence[int],
        *,
        width: int = 64,
        kernel_size: int = 5,
        n_cape: int = 1,
        modes: int | Sequence[int] | None = None,
        padding: Literal["zeros", "circular"] = "zeros",
        combine: Literal["add", "multiply"] | None = None,
        param_transform: Literal["identity", "sigmoid_log"] = "identity",
        key: PRNGKeyArray,
    ):
        self.channels = check_int("channels", channels)
        self.n_params = check_int("n_params", n_params)
        if isinstance(shape, (str, bytes)) or not isinstance(shape, Sequence) or not shape:
            raise TypeError(f"`shape` must be the spatial grid, a non-empty sequence of ints, got {shape!r}")
        self.shape = tuple(check_int("shape", n) for n in shape)
        ndim = len(self.shape)
        if ndim not in (1, 2, 3):
            raise ValueError(f"`shape` must have 1, 2 or 3 spatial axes, got {self.shape}")
        if any(n % 4 for n in self.shape):
            raise ValueError(
                f"`shape` {self.shape}: every axis must be a multiple of 4 (the spectral branch works on the "
                "grid average-pooled by 4)"
            )
        width = check_int("width", width, low=2)
        if width % 2:
            raise ValueError(f"`width` must be even (the first layers have width / 2 channels), got {width}")
        kernel_size = check_int("kernel_size", kernel_size)
        self.n_cape = check_int("n_cape", n_cape)
        if modes is None:
            modes = 16 if ndim == 1 else 8
        check_choice("padding", padding, tuple(_PADDING))
        self.combine = check_choice(
            "combine",
            ("add" if ndim == 1 else "multiply") if combine is None else combine,
            ("add", "multiply"),
        )
        self.param_transform = check_choice("param_transform", param_transform, ("identity", "sigmoid_log"))
        key = check_key(key)

        half = width // 2
        ks = jax.random.split(key, 9)
        self.conv_in = _conv(ndim, self.channels, half, kernel_size, key=ks[0], bias=False, padding=padding)
        self.spectral = SpectralConv(half, width, modes, ndim=ndim, key=ks[1])
        pooled = tuple(n // 4 for n in self.shape)
        fits = max_modes(pooled)
        if any(m > f for m, f in zip(self.spectral.modes, fits)):
            raise ValueError(
                f"`modes`={self.spectral.modes} do not fit the grid {self.shape} pooled by 4 to {pooled}: at "
                f"most {fits} (n // 2 on the leading axes, n // 2 + 1 on the last)"
            )
        self.attn_pointwise = _conv(ndim, half, width, 1, key=ks[2])
        self.depthwise = _conv(
            ndim, half, width, kernel_size, key=ks[3], bias=False, groups=half, padding=padding
        )
        self.pointwise = _conv(ndim, half, width, 1, key=ks[4])
        self.head = _conv(ndim, width, self.channels * self.n_cape, 1, key=ks[5])
        self.mlps = tuple(_ParamMLP(self.n_params, width, key=k) for k in ks[6:9])
        self.norm = eqx.nn.LayerNorm(self.shape, eps=1e-5)

    def check_input(self, u, p) -> None:
        """Raise a `ValueError` unless `u` is one state `(channels, *shape)` and `p` its `(n_params,)`."""
        check_sample(u, len(self.shape), self.channels)
        if tuple(u.shape[1:]) != self.shape:
            raise ValueError(
                f"`x` has the grid {tuple(u.shape[1:])} but the CAPE module was built for {self.shape} (its "
                "layer norm is over the grid)"
            )
        if tuple(jnp.shape(p)) != (self.n_params,):
            raise ValueError(
                f"`pde_params` must be the {self.n_params} PDE parameters of one sample, shape "
                f"({self.n_params},), got shape {tuple(jnp.shape(p))}"
            )

    def __call__(
        self,
        u: Float[Array, "c *spatial"],  # noqa: F821
        p: Float[Array, " n_params"],
    ) -> Float[Array, "c_ncape *spatial"]:  # noqa: F821
        """The guess of the next `n_cape` states, `(channels * n_cape, *spatial)` (state-major)."""
        self.check_input(u, p)
        p = jnp.asarray(p, u.dtype)
        if self.param_transform == "sigmoid_log":
            p = jax.nn.sigmoid(jnp.log(p))
        a0, a1, a2 = (mlp(p) for mlp in self.mlps)
        bcast = (-1,) + (1,) * len(self.shape)
        h = gelu(self.conv_in(u))
        y0 = _upsample_nearest(self.spectral(_avg_pool(h, 4)), 4) * a0.reshape(bcast)
        y1 = self.attn_pointwise(h) * a1.reshape(bcast)
        y2 = self.depthwise(h) * a2.reshape(bcast)
        y = self.head(gelu(y0 + y1 + y2 + self.pointwise(h)))
        y = jax.vmap(self.norm)(y)
        repeated = jnp.tile(u, (self.n_cape,) + (1,) * len(self.shape))
        return repeated + y if self.combine == "add" else repeated * (1.0 + y)


class CAPE(eqx.Module):
    """A base operator conditioned on PDE parameters by a [`CAPEModule`][scimlx.operators.CAPEModule].

    Called on one sample as `model(x, state, *, pde_params, key=None) -> (y, state)`: the module's guess is
    concatenated to `x`, the base maps the `channels (1 + n_cape)` channels to as many, and a 1x1
    convolution mixes them down to the `channels` of the next state. Batches go through
    `apply_batch(model, state, x, pde_params=p)`; the state is the base's (BatchNorm of a U-Net), so build a
    stateful base with `eqx.nn.make_with_state` and pass its state.

    **Arguments:**

    - `base`: an operator of the suite (FNO, U-Net, ...) with `in_channels == out_channels ==
        channels * (1 + n_cape)` (the reference widens the base's input and output this way).
    - `channels`, `n_params`, `shape`, `key`, and the module's options (`width`, `kernel_size`, `n_cape`,
        `modes`, `padding`, `combine`, `param_transform`): as for [`CAPEModule`][scimlx.operators.CAPEModule].
    """

    conditioned: ClassVar[bool] = True  # takes `pde_params`

    cape: CAPEModule
    base: eqx.Module
    mix: eqx.nn.Conv
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)

    def __init__(
        self,
        base: eqx.Module,
        *,
        channels: int,
        n_params: int,
        shape: Sequence[int],
        width: int = 64,
        kernel_size: int = 5,
        n_cape: int = 1,
        modes: int | Sequence[int] | None = None,
        padding: Literal["zeros", "circular"] = "zeros",
        combine: Literal["add", "multiply"] | None = None,
        param_transform: Literal["identity", "sigmoid_log"] = "identity",
        key: PRNGKeyArray,
    ):
        if not isinstance(base, eqx.Module) or not callable(base):
            raise TypeError(f"`base` must be an operator (a callable eqx.Module), got {type(base).__name__}")
        wide = check_int("channels", channels) * (1 + check_int("n_cape", n_cape))
        for name in ("in_channels", "out_channels"):
            got = getattr(base, name, None)
            if got != wide:
                raise ValueError(
                    f"`base` must have {name}={wide} (channels * (1 + n_cape) = {channels} * {1 + n_cape}), "
                    f"got {got}"
                )
        key = check_key(key)
        k1, k2 = jax.random.split(key)
        self.cape = CAPEModule(
            channels, n_params, shape, width=width, kernel_size=kernel_size, n_cape=n_cape, modes=modes,
            padding=padding, combine=combine, param_transform=param_transform, key=k1,
        )  # fmt: skip
        if getattr(base, "ndim", len(self.cape.shape)) != len(self.cape.shape):
            raise ValueError(
                f"`base` has ndim={base.ndim} but `shape` {self.cape.shape} has {len(shape)} axes"
            )
        self.base = base
        self.in_channels = self.out_channels = self.cape.channels
        self.ndim = len(self.cape.shape)
        self.mix = _conv(self.ndim, wide, self.cape.channels, 1, key=k2)

    def guess(
        self,
        x: Float[Array, "c *spatial"],  # noqa: F821
        *,
        pde_params: Float[Array, " n_params"],  # noqa: F821
    ) -> Float[Array, "c_ncape *spatial"]:  # noqa: F821
        """The module's guess of the next `n_cape` states (what CAPE's auxiliary loss trains)."""
        return self.cape(x, pde_params)

    def with_guess(self, x, state=None, *, pde_params, key=None):
        """`(y, guess, state)`: the prediction, the module's guess, the new state."""
        guess = self.cape(x, pde_params)
        y, state = self.base(jnp.concatenate([x, guess], axis=0), state, key=key)
        return self.mix(y), guess, state

    def __call__(
        self,
        x: Float[Array, "c *spatial"],  # noqa: F821
        state: eqx.nn.State | None = None,
        *,
        pde_params: Float[Array, " n_params"],
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, "c *spatial"], eqx.nn.State | None]:  # noqa: F821
        """**Arguments:** `x`, one state `(channels, *shape)`; `state`, the base's; `pde_params`, the
        `(n_params,)` PDE parameters; `key`, for the base.

        **Returns:** `(y, state)`, `y` the next state `(channels, *shape)`."""
        y, _, state = self.with_guess(x, state, pde_params=pde_params, key=key)
        return y, state


def curriculum_t_ar(epoch, *, epochs: int, warmup: int, t_train: int):
    """CAPE's curriculum: the number of leading rollout steps fed back autoregressively at `epoch`.

    `t_ar = clip(floor(t_train (1 + tanh((e - 0.5) / 0.2)) / 2), 1, t_train)` with
    `e = (epoch - warmup) / (epochs - warmup)`: teacher forcing early (`t_ar = 1`), fully autoregressive at
    the end. Steps `t < t_ar` (counted from the first predicted frame `t = t_in`) take the model's prediction
    as the next input, the others the true frame. Works on a traced `epoch` (no recompilation per epoch).

    **Arguments:**

    - `epoch`: the 0-based epoch (int or integer array).
    - `epochs`: the run's epochs; `warmup`: its warm-up epochs (`< epochs`).
    - `t_train`: the number of frames of a training rollout (the reference's `t_train`).
    """
    epochs = check_int("epochs", epochs)
    warmup = check_int("warmup", warmup, low=0)
    t_train = check_int("t_train", t_train)
    if warmup >= epochs:
        raise ValueError(f"`warmup` ({warmup}) must be below `epochs` ({epochs})")
    e = (jnp.asarray(epoch, jnp.float32) - warmup) / (epochs - warmup)
    t_norm = 0.5 * (1.0 + jnp.tanh((e - 0.5) / 0.2))
    return jnp.clip(jnp.floor(t_train * t_norm).astype(jnp.int32), 1, t_train)
