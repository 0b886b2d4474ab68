"""MgNO: neural operators whose linear maps are multigrid V-cycles (He, Liu, Xu; ICLR 2024).

A layer is `u <- GELU(W u + B u)`: `W` is one V-cycle of learned convolutions ([`scimlx.operators.MgConv`][])
and `B` a 1x1 convolution with bias (the "bias function"). There is no lifting and no projection beyond the
1x1 output convolution; boundary conditions enter through the padding of the convolutions (zeros for
Dirichlet data, wrap-around for periodic data, reflection).

The V-cycle follows the authors' code (`models.py`, `MgConv_DC`), with `u` the state channels (`width`)
and `f` the data channels (the layer's input):

- finest level: `u = S(f)`, then `pre - 1` smoothings `u <- u + S(f - A u)`;
- each coarser level: `u <- Pi(u)` and `f <- R(f)` (3x3 stride-2 convolutions; `f` itself is restricted, as
  the code does, or the residual `f - A u` with `restrict_residual=True`), then `pre` smoothings;
- back up, finest last: `u <- u + P(u_coarse)` (a 4x4 or 3x3 stride-2 transposed convolution), then `post`
  smoothings.

Every smoothing has its own 3x3 convolutions `A` (state -> data) and `S` (data -> state). The post-smoothing
count of the coarsest level is never used by the cycle, as in the code (and builds no weights here).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_bool, check_choice, check_int, check_key

from ._common import check_sample
from ._conv import Conv, ConvTranspose, PaddingMode
from ._fno import gelu

__all__ = ["MGNO_CONFIGS", "MgConv", "MgNO", "prolongation_kernels"]

_PADDING_MODES = ("zeros", "circular", "reflect")

_DARCY_CYCLE = ((1, 0),) * 5 + ((2, 0),)

#: The configurations of the MgNO paper (keyword arguments of [`scimlx.operators.MgNO`][]), from the
#: authors' README commands and script defaults:
#:
#: - `darcy_rough`: Darcy on a rough coefficient at 256 x 256 (`darcy20c6`): 4 layers, width 24, 6 levels
#:   `[[1, 0]] * 5 + [[2, 0]]`, zero padding; 572,661 parameters.
#: - `darcy_smooth`: Darcy on FNO's piecewise-constant data at 211 x 211: 5 layers, otherwise as above; the
#:   odd sizes (211 -> 106 -> 53 -> 27 -> 14 -> 7) give the prolongation kernels (3, 4, 3, 3, 4); 678,093
#:   parameters.
#: - `navier_stokes`: vorticity at 64 x 64, one step ahead: 5 layers, width 32, 5 levels
#:   `[[1, 0]] * 3 + [[2, 0]] * 2`, wrap-around padding, biased smoothers, a LayerNorm (affine, over the state
#:   channels and the grid: resolution-locked) after each coarse-grid correction, no 1x1 path, and the input
#:   added to the output; 2,885,194 parameters. The transposed convolutions pad with zeros, as PyTorch's
#:   do (it has no wrap-around transposed convolution), so this model is not exactly periodic.
#: - `pipe`: pipe flow at 128 x 128 with the mesh coordinates (2 channels) as input: 5 layers, width 24,
#:   levels `[[1, 0]] * 4 + [[1, 1], [2, 0]]`; 783,876 parameters.
#:
#: Take a copy to change a value: `MgNO(**{**MGNO_CONFIGS["darcy_rough"], "width": 16}, key=key)`.
MGNO_CONFIGS: dict[str, dict] = {
    "darcy_rough": dict(in_channels=1, out_channels=1, width=24, n_layers=4, num_iteration=_DARCY_CYCLE),
    "darcy_smooth": dict(
        in_channels=1, out_channels=1, width=24, n_layers=5, num_iteration=_DARCY_CYCLE, shape=(211, 211)
    ),
    "navier_stokes": dict(
        in_channels=1,
        out_channels=1,
        width=32,
        n_layers=5,
        num_iteration=((1, 0),) * 3 + ((2, 0),) * 2,
        padding_mode="circular",
        bias=True,
        variant="navier_stokes",
        shape=(64, 64),
    ),
    "pipe": dict(
        in_channels=2,
        out_channels=1,
        width=24,
        n_layers=5,
        num_iteration=((1, 0),) * 4 + ((1, 1), (2, 0)),
    ),
}


def prolongation_kernels(shape: Sequence[int], levels: int) -> tuple[tuple[int, ...], ...]:
    """The kernel sizes of the prolongations of a `levels`-level V-cycle on a grid of `shape`, finest first.

    Per axis `k = 4 - (n mod 2)`, with `n` the size of the finer grid: a 3x3 stride-2 restriction maps `n`
    cells to `ceil(n / 2)`, and the transposed convolution maps them back to `n` exactly (the rule of the
    authors' `MgConv_DC_smooth` for 211 x 211). On an even grid every kernel is 4 wide.
    """
    shape = tuple(check_int(f"shape[{i}]", n, low=1) for i, n in enumerate(_as_tuple("shape", shape)))
    levels = check_int("levels", levels, low=1)
    sizes, out = [shape], []
    for _ in range(levels - 1):
        fine = sizes[-1]
        out.append(tuple(4 - n % 2 for n in fine))
        sizes.append(tuple((n + 1) // 2 for n in fine))
    return tuple(out)


def _level_shapes(shape: tuple[int, ...], levels: int) -> list[tuple[int, ...]]:
    sizes = [shape]
    for _ in range(levels - 1):
        sizes.append(tuple((n + 1) // 2 for n in sizes[-1]))
    return sizes


def _check_cycle(num_iteration) -> tuple[tuple[int, int], ...]:
    if isinstance(num_iteration, str) or not isinstance(num_iteration, Sequence) or not num_iteration:
        raise TypeError(
            "`num_iteration` must be a non-empty list of [pre, post] pairs, one per level, got "
            f"{num_iteration!r}"
        )
    cycle = []
    for level, pair in enumerate(num_iteration):
        if isinstance(pair, str) or not isinstance(pair, Sequence) or len(pair) != 2:
            raise TypeError(f"`num_iteration[{level}]` must be a [pre, post] pair, got {pair!r}")
        pre = check_int(f"num_iteration[{level}][0]", pair[0], low=1)
        post = check_int(f"num_iteration[{level}][1]", pair[1], low=0)
        cycle.append((pre, post))
    return tuple(cycle)


class _Smoother(eqx.Module):
    """`u <- u + S(f - A u)`, or `u = S(f)` without `A` (the first step of the cycle)."""

    A: Conv | None
    S: Conv

    def __call__(self, u: Array | None, f: Array) -> Array:  # channels last
        if self.A is None:
            return self.S(f, channels_last=True)
        return u + self.S(f - self.A(u, channels_last=True), channels_last=True)


class MgConv(eqx.Module):
    """One multigrid V-cycle of learned convolutions: the linear operator of an MgNO layer.

    **Arguments:**

    - `ndim`: spatial dimensions (1, 2 or 3; the paper uses 2).
    - `state_channels`: channels of `u` (the layer's width).
    - `data_channels`: channels of `f` (the layer's input).
    - `num_iteration`: one `[pre, post]` pair of smoothing counts per level, finest first; `pre >= 1`.
    - `shape`: the grid the cycle is built for; it sets the prolongation kernels (see
        [`scimlx.operators.prolongation_kernels`][]) and, with `layer_norm`, the normalised shapes. `None`:
        any grid whose sizes stay even down to the coarsest level.
    - `padding_mode`: `"zeros"` (Dirichlet), `"circular"` (periodic) or `"reflect"`.
    - `bias`: biases in the smoothers `A` and `S`.
    - `restrict_residual`: restrict `f - A u` instead of `f` (the code's unused `use_res` option).
    - `layer_norm`: a LayerNorm (affine, over the state channels and the grid) after each coarse-grid
        correction, as the Navier-Stokes variant; needs `shape`.
    - `key`: a JAX PRNG key (keyword only).
    """

    levels: list[list[_Smoother]]
    post: list[list[_Smoother]]
    restrict_u: list[Conv]
    restrict_f: list[Conv]
    restrict_A: list[Conv] | None
    prolong: list[ConvTranspose]
    norms: list[eqx.nn.LayerNorm] | None
    num_iteration: tuple[tuple[int, int], ...] = eqx.field(static=True)
    shape: tuple[int, ...] | None = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    state_channels: int = eqx.field(static=True)
    data_channels: int = eqx.field(static=True)

    def __init__(
        self,
        ndim: int,
        state_channels: int,
        data_channels: int,
        num_iteration: Sequence[Sequence[int]],
        *,
        shape: Sequence[int] | None = None,
        padding_mode: PaddingMode = "zeros",
        bias: bool = False,
        restrict_residual: bool = False,
        layer_norm: bool = False,
        key: PRNGKeyArray,
    ):
        self.ndim = check_choice("ndim", check_int("ndim", ndim), (1, 2, 3))
        cu = self.state_channels = check_int("state_channels", state_channels, low=1)
        cf = self.data_channels = check_int("data_channels", data_channels, low=1)
        self.num_iteration = cycle = _check_cycle(num_iteration)
        check_choice("padding_mode", padding_mode, _PADDING_MODES)
        check_bool("bias", bias)
        check_bool("restrict_residual", restrict_residual)
        check_bool("layer_norm", layer_norm)
        key = check_key(key)
        n_levels = len(cycle)
        if shape is not None:
            shape = tuple(check_int(f"shape[{i}]", n, low=1) for i, n in enumerate(_as_tuple("shape", shape)))
            if len(shape) != self.ndim:
                raise ValueError(f"`shape` must have {self.ndim} entries (one per spatial axis), got {shape}")
            _check_levels(shape, n_levels)
            kernels = prolongation_kernels(shape, n_levels)
        elif layer_norm:
            raise ValueError("`layer_norm=True` needs the grid `shape` (the LayerNorm is resolution-locked)")
        else:
            kernels = ((4,) * self.ndim,) * (n_levels - 1)
        self.shape = shape

        keys = iter(jax.random.split(key, 4 * sum(p + q for p, q in cycle) + 4 * n_levels + 4))
        conv = lambda c_in, c_out, **kw: Conv(  # noqa: E731
            self.ndim, c_in, c_out, 3, padding=1, padding_mode=padding_mode, key=next(keys), **kw
        )
        smoother = lambda first=False: _Smoother(  # noqa: E731
            None if first else conv(cu, cf, bias=bias), conv(cf, cu, bias=bias)
        )
        self.levels = [
            [smoother(first=(level == 0 and i == 0)) for i in range(pre)]
            for level, (pre, _) in enumerate(cycle)
        ]
        self.post = [[smoother() for _ in range(post)] for _, post in cycle[:-1]]
        self.restrict_u = [conv(cu, cu, stride=2, bias=False) for _ in range(n_levels - 1)]
        self.restrict_f = [conv(cf, cf, stride=2, bias=False) for _ in range(n_levels - 1)]
        self.restrict_A = (
            [conv(cu, cf, bias=bias) for _ in range(n_levels - 1)] if restrict_residual else None
        )
        self.prolong = [ConvTranspose(cu, k, key=next(keys)) for k in kernels]
        if layer_norm:
            sizes = _level_shapes(shape, n_levels)
            self.norms = [eqx.nn.LayerNorm((cu, *sizes[j]), eps=1e-5) for j in range(n_levels - 1)]
        else:
            self.norms = None

    def __call__(self, f: Float[Array, "c_f *n"]) -> Float[Array, "c_u *n"]:  # noqa: F821
        """The V-cycle applied to one sample `f` of shape `(data_channels, *grid)`."""
        if f.ndim != self.ndim + 1 or f.shape[0] != self.data_channels:
            raise ValueError(
                f"MgConv expects `f` of shape ({self.data_channels}, *grid) with {self.ndim} grid axes, got "
                f"shape {f.shape}"
            )
        self.check_grid(tuple(f.shape[1:]))
        return jnp.moveaxis(self.cycle(jnp.moveaxis(f, 0, -1)), -1, 0)

    def check_grid(self, grid: tuple[int, ...]) -> None:
        """Raise a `ValueError` unless the cycle runs on `grid`: the grid it was built for, or (built
        without `shape`) one that halves evenly down to the coarsest level."""
        if self.shape is not None and grid != self.shape:
            raise ValueError(f"this MgConv was built for the grid {self.shape}; `f` has the grid {grid}")
        if self.shape is None:
            _check_levels(grid, len(self.num_iteration), even=True)

    def cycle(self, f: Float[Array, "*n c_f"]) -> Float[Array, "*n c_u"]:  # noqa: F821
        """The V-cycle on one sample laid out channels last, `(*grid, data_channels)` (no checks): the
        layout XLA's CPU convolutions run fastest in, which [`scimlx.operators.MgNO`][] keeps inside."""
        cl = dict(channels_last=True)
        states, data = [], []
        u = None
        for level, smoothers in enumerate(self.levels):
            if level > 0:
                if self.restrict_A is not None:
                    f = self.restrict_f[level - 1](f - self.restrict_A[level - 1](u, **cl), **cl)
                else:
                    f = self.restrict_f[level - 1](f, **cl)
                u = self.restrict_u[level - 1](u, **cl)
            for smooth in smoothers:
                u = smooth(u, f)
            states.append(u)
            data.append(f)
        for j in range(len(self.levels) - 2, -1, -1):
            u = states[j] + self.prolong[j](states[j + 1], **cl)
            if self.norms is not None:
                u = _layer_norm_channels_last(self.norms[j], u)
            for smooth in self.post[j]:
                u = smooth(u, data[j])
            states[j] = u
        return states[0]


def _layer_norm_channels_last(norm: eqx.nn.LayerNorm, u: Array) -> Array:
    """`norm` (a LayerNorm over `(channels, *grid)`, PyTorch's layout) applied to `u` laid out channels last:
    the statistics do not depend on the layout; only the affine weight and bias are moved, not `u`."""
    mean, var = jnp.mean(u), jnp.maximum(jnp.var(u), 0.0)
    out = (u - mean) * jax.lax.rsqrt(var + norm.eps)
    if norm.weight is not None:
        out = out * jnp.moveaxis(norm.weight, 0, -1).astype(u.dtype)
    if norm.bias is not None:
        out = out + jnp.moveaxis(norm.bias, 0, -1).astype(u.dtype)
    return out


def _as_tuple(name: str, value) -> tuple:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"`{name}` must be a sequence of grid sizes, got {value!r}")
    return tuple(value)


def _check_levels(shape: tuple[int, ...], n_levels: int, *, even: bool = False) -> None:
    """The grid survives `n_levels - 1` halvings (at least 2 cells per axis at the coarsest level); with
    `even`, every finer size is even (4-wide prolongation kernels on every level)."""
    sizes = _level_shapes(shape, n_levels)
    if min(sizes[-1]) < 2:
        raise ValueError(
            f"the grid {shape} is too small for {n_levels} levels: the coarsest level would be {sizes[-1]}; "
            f"use fewer levels (`num_iteration` pairs) or a finer grid"
        )
    if even and any(n % 2 for s in sizes[:-1] for n in s):
        raise ValueError(
            f"the grid {shape} halves to odd sizes {sizes[:-1]} within {n_levels} levels; build the model "
            f"with `shape={shape}` so that the prolongation kernels follow the grid (k = 4 - n mod 2)"
        )


class MgNO(eqx.Module):
    """The multigrid neural operator: layers `u <- GELU(MgConv(u) + Conv1x1(u))`, then a 1x1 convolution.

    Called on one sample, `model(x, state) -> (y, state)` (stateless: the state passes through), with `x` of
    shape `(in_channels, *grid)` and `y` of shape `(out_channels, *grid)`; batches through
    [`scimlx.operators.apply_batch`][]. The paper's settings are in `scimlx.operators.MGNO_CONFIGS`.

    **Arguments:**

    - `in_channels`, `out_channels`: channels of a sample in and out (the paper's code fixes 1 out).
    - `width`: state channels of every layer (24 for Darcy, 32 for Navier-Stokes).
    - `n_layers`: MgNO layers.
    - `num_iteration`: `[pre, post]` smoothing counts per level, finest first (the number of pairs is the
        number of levels).
    - `ndim`: spatial dimensions (1, 2 or 3; the paper: 2).
    - `shape`: the grid, for odd sizes (prolongation kernels `4 - n mod 2`) and the Navier-Stokes variant;
        `None`: any grid that halves evenly down to the coarsest level.
    - `padding_mode`: `"zeros"` (Dirichlet data, the Darcy default), `"circular"` (periodic) or `"reflect"`.
    - `bias`: biases in the smoothing convolutions.
    - `restrict_residual`: restrict the residual `f - A u` instead of `f`.
    - `variant`: `"darcy"` (the `MgNO_DC` layers above) or `"navier_stokes"` (`MgNO_NS`: no 1x1 path, a
        LayerNorm after each coarse-grid correction, and the input added to the output, so the network
        predicts the increment; needs `shape` and `in_channels == out_channels`).
    - `key`: a JAX PRNG key (keyword only).
    """

    convs: list[MgConv]
    linears: list[Conv] | None
    head: Conv
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    variant: str = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int = 1,
        *,
        width: int = 24,
        n_layers: int = 4,
        num_iteration: Sequence[Sequence[int]] = _DARCY_CYCLE,
        ndim: int = 2,
        shape: Sequence[int] | None = None,
        padding_mode: PaddingMode = "zeros",
        bias: bool = False,
        restrict_residual: bool = False,
        variant: Literal["darcy", "navier_stokes"] = "darcy",
        key: PRNGKeyArray,
    ):
        self.in_channels = check_int("in_channels", in_channels, low=1)
        self.out_channels = check_int("out_channels", out_channels, low=1)
        check_int("width", width, low=1)
        n_layers = check_int("n_layers", n_layers, low=1)
        self.ndim = check_choice("ndim", check_int("ndim", ndim), (1, 2, 3))
        self.variant = check_choice("variant", variant, ("darcy", "navier_stokes"))
        key = check_key(key)
        ns = variant == "navier_stokes"
        if ns and in_channels != out_channels:
            raise ValueError(
                f"the navier_stokes variant adds its input to its output: `in_channels` ({in_channels}) must "
                f"equal `out_channels` ({out_channels})"
            )
        keys = jax.random.split(key, 2 * n_layers + 1)
        self.convs = [
            MgConv(
                self.ndim,
                width,
                in_channels if i == 0 else width,
                num_iteration,
                shape=shape,
                padding_mode=padding_mode,
                bias=bias,
                restrict_residual=restrict_residual,
                layer_norm=ns,
                key=keys[i],
            )
            for i in range(n_layers)
        ]
        self.linears = (
            None
            if ns
            else [
                Conv(self.ndim, in_channels if i == 0 else width, width, 1, bias=True, key=keys[n_layers + i])
                for i in range(n_layers)
            ]
        )
        self.head = Conv(self.ndim, width, out_channels, 1, bias=False, key=keys[-1])

    @classmethod
    def from_config(cls, name: str, *, key: PRNGKeyArray, **overrides) -> MgNO:
        """The paper's configuration `name` (a key of `scimlx.operators.MGNO_CONFIGS`), with `overrides`
        replacing any of its keyword arguments: `MgNO.from_config("darcy_rough", key=key)`."""
        check_choice("name", name, tuple(MGNO_CONFIGS), context="(the MgNO configurations)")
        return cls(**{**MGNO_CONFIGS[name], **overrides}, key=key)

    @property
    def shape(self) -> tuple[int, ...] | None:
        """The grid the model was built for (`None`: any evenly halving grid)."""
        return self.convs[0].shape

    def __call__(
        self,
        x: Float[Array, "c_in *n"],  # noqa: F821
        state: eqx.nn.State,
        *,
        key: PRNGKeyArray | None = None,  # noqa: F821
    ) -> tuple[Float[Array, "c_out *n"], eqx.nn.State]:  # noqa: F821
        del key
        check_sample(x, self.ndim, self.in_channels)
        self.convs[0].check_grid(tuple(x.shape[1:]))
        u = jnp.moveaxis(x, 0, -1)  # channels last inside (faster convolutions on the CPU)
        for i, conv in enumerate(self.convs):
            v = conv.cycle(u)
            if self.linears is not None:
                v = v + self.linears[i](u, channels_last=True)
            u = gelu(v)
        y = jnp.moveaxis(self.head(u, channels_last=True), -1, 0)
        if self.variant == "navier_stokes":
            y = y + x
        return y, state
