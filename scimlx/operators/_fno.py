"""Fourier Neural Operator in 1, 2 and 3 dimensions (Li et al., "Fourier Neural Operator for Parametric
Partial Differential Equations", ICLR 2021).

The architecture follows the reference scripts (`fourier_1d.py`, `fourier_2d.py`, `fourier_2d_time.py`,
`fourier_3d.py` of `neuraloperator/neuraloperator`, the maintained version with GELU):

1. the grid coordinates `linspace(0, 1, n)` of every axis are appended to the input channels;
2. a point-wise lift `fc0: Linear(C_in + ndim -> width)`;
3. optional zero padding on the far side of every axis (for non-periodic problems; the Darcy script pads 9);
4. `n_layers` Fourier layers `u <- act(K(u) + W u)`, with `K` a [`scimlx.operators.SpectralConv`][] and `W`
   a 1x1 convolution with bias; no activation after the last layer;
5. the padding is cropped off;
6. the point-wise projection `fc1: Linear(width -> 128)`, activation, `fc2: Linear(128 -> C_out)`.

The spectral weights are complex; they are stored as real arrays with a trailing axis of 2 (real and
imaginary parts), so every complex weight counts as two real parameters (as in PyTorch's `view_as_real`
and the FNO scripts' `count_params`) and optimisers see plain real arrays. The FNO is stateless: it
follows the calling convention of [`scimlx.operators`][] and returns its (empty) state unchanged.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_bool, check_callable, check_choice, check_int, check_key

from ._common import check_sample, coordinate_channels, per_axis

__all__ = ["FNO", "FNO_CONFIGS", "SpectralConv"]


def gelu(x: Array) -> Array:
    """The exact (erf) GELU, as PyTorch's `F.gelu` (`jax.nn.gelu` defaults to the tanh approximation)."""
    return jax.nn.gelu(x, approximate=False)


#: The configurations of the FNO paper's experiments (keyword arguments of [`scimlx.operators.FNO`][]):
#:
#: - `burgers_1d`: Burgers, 1-D (`fourier_1d.py`): modes 16, width 64, periodic (no padding); 549,569
#:   parameters.
#: - `darcy_2d`: Darcy flow, 2-D (`fourier_2d.py`): modes 12, width 32, padding 9 on both axes as in the
#:   maintained script (the domain is not periodic); 2,368,001 parameters.
#: - `navier_stokes_2d`: Navier-Stokes vorticity, 2-D + autoregressive time (`fourier_2d_time.py`): 10 input
#:   frames -> the next frame, modes 12, width 20, periodic; 926,357 parameters.
#: - `navier_stokes_3d`: Navier-Stokes as a 3-D space-time problem (`fourier_3d.py`): the 10 input frames as
#:   channels (repeated along time) -> the solution on the (x, y, t) grid, modes 8, width 20, padding 6 on the
#:   time axis only; 6,558,377 parameters.
#:
#: All use 4 Fourier layers, GELU and the 128-wide projection. Take a copy to change a value:
#: `FNO(**{**FNO_CONFIGS["darcy_2d"], "in_channels": 3}, key=key)`.
FNO_CONFIGS: dict[str, dict] = {
    "burgers_1d": dict(in_channels=1, out_channels=1, ndim=1, modes=16, width=64, n_layers=4, padding=0),
    "darcy_2d": dict(in_channels=1, out_channels=1, ndim=2, modes=12, width=32, n_layers=4, padding=9),
    "navier_stokes_2d": dict(
        in_channels=10, out_channels=1, ndim=2, modes=12, width=20, n_layers=4, padding=0
    ),
    "navier_stokes_3d": dict(
        in_channels=10, out_channels=1, ndim=3, modes=8, width=20, n_layers=4, padding=(0, 0, 6)
    ),
}


def _check_ndim(ndim) -> int:
    return check_choice("ndim", check_int("ndim", ndim), (1, 2, 3))


def max_modes(shape: Sequence[int]) -> tuple[int, ...]:
    """The most Fourier modes a [`scimlx.operators.SpectralConv`][] can keep on a grid of this shape.

    `n // 2` on every axis but the last (both the positive and the negative corner are kept, and they must not
    overlap), `n // 2 + 1` on the last axis (the one-sided `rfft` axis).
    """
    shape = tuple(int(n) for n in shape)
    return tuple(n // 2 for n in shape[:-1]) + (shape[-1] // 2 + 1,)


class SpectralConv(eqx.Module):
    """The Fourier layer of the FNO: `rfftn`, a complex linear map on the lowest modes, `irfftn`.

    On the last axis the modes `0 .. m-1` of the one-sided transform are kept; on every other axis both
    the positive `0 .. m-1` and the negative `-m .. -1` frequencies, giving `2**(ndim-1)` corners, each
    with its own complex weight `(in_channels, out_channels, *modes)` (the reference's `weights1`,
    `weights2`, ...; corner `j` takes the negative frequencies on axis `a` when bit `a` of `j` is set).
    All other modes are set to zero. Weights are initialised as `U(0, 1) / (in_channels * out_channels)`
    for the real and the imaginary part. The transform is unnormalised forward and `1/N` backward (NumPy's
    and PyTorch's default), so the layer maps a band-limited function to the same function at every
    resolution that resolves it.

    A layer: it is called on one sample `(in_channels, *spatial)` without state.

    **Arguments:**

    - `in_channels`, `out_channels`: channel counts.
    - `modes`: the number of modes kept per axis, an int (the same on every axis) or one per axis.
    - `ndim`: the number of spatial axes; defaults to `len(modes)` for a tuple and to 2 for an int.
    - `key`: a PRNG key for the initialisation.
    """

    weights: tuple[Float[Array, "cin cout *modes 2"], ...]  # noqa: F821
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)
    ndim: int = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | Sequence[int],
        *,
        ndim: int | None = None,
        key: PRNGKeyArray,
    ):
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        if ndim is None:
            ndim = len(modes) if isinstance(modes, Sequence) and not isinstance(modes, str) else 2
        self.ndim = _check_ndim(ndim)
        self.modes = per_axis("modes", modes, self.ndim, low=1)
        key = check_key(key)
        scale = 1.0 / (self.in_channels * self.out_channels)
        shape = (self.in_channels, self.out_channels, *self.modes, 2)
        keys = jax.random.split(key, 2 ** (self.ndim - 1))
        self.weights = tuple(scale * jax.random.uniform(k, shape) for k in keys)

    def check_grid(self, shape: Sequence[int], name: str = "x") -> None:
        """Raise a `ValueError` naming `name` if the grid `shape` is too coarse for the modes."""
        shape = tuple(shape)
        if len(shape) != self.ndim:
            raise ValueError(f"`{name}` must have {self.ndim} spatial axes, got the grid {shape}")
        fits = max_modes(shape)
        if any(m > f for m, f in zip(self.modes, fits)):
            need = tuple(2 * m for m in self.modes[:-1]) + (2 * self.modes[-1] - 2,)
            raise ValueError(
                f"`{name}`: the grid {shape} is too coarse for modes={self.modes}: a grid keeps at most "
                f"n // 2 modes on the leading axes and n // 2 + 1 on the last, here {fits}; use "
                f"modes <= {fits} or a grid of at least {tuple(max(n, 1) for n in need)} points"
            )

    def _complex_weight(self) -> Array:
        """All corners assembled into one `(in, out, 2*m_1, ..., 2*m_{d-1}, m_d)` complex weight."""
        ws = [jax.lax.complex(w[..., 0], w[..., 1]) for w in self.weights]
        lead = self.ndim - 1

        def assemble(bits: tuple[int, ...]) -> Array:
            if len(bits) == lead:
                return ws[sum(b << a for a, b in enumerate(bits))]
            return jnp.concatenate([assemble(bits + (0,)), assemble(bits + (1,))], axis=2 + len(bits))

        return assemble(())

    def __call__(self, x: Float[Array, "cin *spatial"], *, key=None) -> Float[Array, "cout *spatial"]:  # noqa: F821
        """**Arguments:** `x`, one sample `(in_channels, *spatial)`. Returns `(out_channels, *spatial)`."""
        del key
        if x.ndim != self.ndim + 1 or x.shape[0] != self.in_channels:
            raise ValueError(
                f"`x` must have shape (in_channels={self.in_channels}, *spatial) with {self.ndim} spatial "
                f"axes, got {x.shape}"
            )
        spatial = x.shape[1:]
        self.check_grid(spatial)
        if _use_dft(spatial, self.modes):
            low = _kept_modes_dft(x, self.modes)
            out = jnp.einsum("i...,io...->o...", low, self._complex_weight().astype(low.dtype))
            return _inverse_kept_modes_dft(out, spatial, self.modes).astype(x.dtype)
        axes = tuple(range(1, self.ndim + 1))
        x_ft = jnp.fft.rfftn(x, axes=axes)
        # Gather the kept modes: both corners on the leading axes, the lowest modes on the rfft axis.
        low = x_ft
        for a, m in zip(axes[:-1], self.modes[:-1]):
            n = low.shape[a]
            low = jnp.concatenate(
                [jax.lax.slice_in_dim(low, 0, m, axis=a), jax.lax.slice_in_dim(low, n - m, n, axis=a)], axis=a
            )
        low = jax.lax.slice_in_dim(low, 0, self.modes[-1], axis=axes[-1])
        out = jnp.einsum("i...,io...->o...", low, self._complex_weight())
        # Scatter back to the full spectrum, zeros elsewhere.
        for a, m, n in zip(axes[:-1], self.modes[:-1], spatial[:-1]):
            zshape = list(out.shape)
            zshape[a] = n - 2 * m
            pos, neg = jnp.split(out, 2, axis=a)
            out = jnp.concatenate([pos, jnp.zeros(zshape, out.dtype), neg], axis=a)
        pad = [(0, 0)] * (out.ndim - 1) + [(0, spatial[-1] // 2 + 1 - self.modes[-1])]
        out = jnp.pad(out, pad)
        return jnp.fft.irfftn(out, s=spatial, axes=axes).astype(x.dtype)


# The kept modes as matrix products (a truncated DFT) instead of FFTs: the layer needs a few modes per axis
# (Darcy: 24 x 12 of 94 x 48), and a product with the `n x m` DFT matrix of each axis runs near the CPU's
# peak where an FFT of an awkward length (94 = 2 x 47) runs at a few GFLOP/s. Same values to round-off.


def _use_dft(spatial: Sequence[int], modes: Sequence[int]) -> bool:
    """Whether the truncated DFT is cheaper than the FFTs: few kept modes per axis against `log2(N)`."""
    kept = sum(2 * m for m in modes[:-1]) + modes[-1]
    return kept <= 8 * math.log2(max(math.prod(spatial), 2))


def _frequencies(n: int, m: int, one_sided: bool) -> np.ndarray:
    """The kept frequencies of an axis of `n` points: `0..m-1` (one-sided) or `0..m-1, -m..-1`."""
    return np.arange(m) if one_sided else np.concatenate([np.arange(m), np.arange(n - m, n)])


def _along(x: Array, axis: int, matrix) -> Array:
    """Contract axis `axis` of `x` with the first axis of `matrix`, the result's axis in its place."""
    return jnp.moveaxis(jnp.tensordot(x, matrix, axes=((axis,), (0,))), -1, axis)


def _kept_modes_dft(x: Array, modes: Sequence[int]) -> Array:
    """`rfftn(x)` over the spatial axes of `(C, *n)`, only at the kept modes (the corners' order)."""
    nd = x.ndim - 1
    real = jnp.zeros((), x.dtype).real.dtype if jnp.iscomplexobj(x) else x.dtype
    n, m = x.shape[-1], modes[-1]
    angle = -2 * np.pi * np.outer(np.arange(n), _frequencies(n, m, True)) / n
    y = jax.lax.complex(_along(x, nd, np.cos(angle).astype(real)), _along(x, nd, np.sin(angle).astype(real)))
    for axis in range(nd - 1, 0, -1):
        n, m = x.shape[axis], modes[axis - 1]
        angle = -2 * np.pi * np.outer(np.arange(n), _frequencies(n, m, False)) / n
        y = _along(y, axis, np.exp(1j * angle).astype(y.dtype))
    return y


def _inverse_kept_modes_dft(y: Array, spatial: Sequence[int], modes: Sequence[int]) -> Array:
    """`irfftn` (NumPy's normalisation, `s=spatial`) of a spectrum that is zero but at the kept modes `y`."""
    nd = y.ndim - 1
    for axis in range(1, nd):
        n, m = spatial[axis - 1], modes[axis - 1]
        angle = 2 * np.pi * np.outer(_frequencies(n, m, False), np.arange(n)) / n
        y = _along(y, axis, (np.exp(1j * angle) / n).astype(y.dtype))
    # the one-sided axis: y[j] = sum_k c_k Re(Y_k e^{2 pi i k j / n}) / n, c_k = 2 but for the mean and the
    # Nyquist mode (1), whose imaginary parts are dropped as irfft does
    n, m = spatial[-1], modes[-1]
    k = _frequencies(n, m, True)
    c = np.where((k == 0) | (2 * k == n), 1.0, 2.0)[:, None] / n
    angle = 2 * np.pi * np.outer(k, np.arange(n)) / n
    real = y.real.dtype
    return _along(y.real, nd, (c * np.cos(angle)).astype(real)) - _along(
        y.imag, nd, (c * np.sin(angle)).astype(real)
    )


def _pointwise(c_in: int, c_out: int, ndim: int, key) -> eqx.nn.Conv:
    """A point-wise linear map over channels (PyTorch `Linear`/`Conv 1x1` with bias and its init)."""
    return eqx.nn.Conv(ndim, c_in, c_out, kernel_size=1, key=key)


def _apply_pointwise(conv: eqx.nn.Conv, x: Array) -> Array:
    """`conv(x)` for a 1x1 convolution, as a channel contraction (faster than a convolution on CPU)."""
    w = conv.weight.reshape(conv.weight.shape[:2])
    return jnp.einsum("oi,i...->o...", w, x) + conv.bias


class FNO(eqx.Module):
    """The Fourier Neural Operator in 1, 2 or 3 dimensions, on one sample `(C_in, *spatial)`.

    Lift `fc0` (point-wise, `C_in + ndim -> width`, the grid coordinates appended), optional zero padding
    on the far side, `n_layers` Fourier layers `act(SpectralConv(u) + Conv1x1(u))` (no activation after
    the last), crop, projection `fc1: width -> projection`, activation, `fc2: projection -> C_out`.
    Stateless: called as `model(x, state) -> (y, state)` with the state returned unchanged. See
    `FNO_CONFIGS` for the paper's configurations (Darcy: modes 12, width 32; Burgers: modes 16, width 64;
    Navier-Stokes: modes 12, width 20).

    **Arguments:**

    - `in_channels`, `out_channels`: channels of the input and output fields.
    - `ndim`: number of spatial axes, 1, 2 or 3.
    - `modes`: Fourier modes kept per axis (int or one per axis); the padded grid must resolve them
      (`modes <= n // 2`, `<= n // 2 + 1` on the last axis).
    - `width`: channels of the Fourier layers.
    - `n_layers`: number of Fourier layers.
    - `append_grid`: append the coordinates `linspace(0, 1, n)` of each axis to the input (as the
      reference does).
    - `padding`: zeros added on the far side of each axis before the Fourier layers and cropped after
      (int or one per axis); 0 for periodic problems.
    - `projection`: hidden width of the projection (128 in the reference).
    - `activation`: the non-linearity; default exact GELU (PyTorch's `F.gelu`).
    - `key`: a PRNG key for the initialisation.
    """

    fc0: eqx.nn.Conv
    spectral_convs: tuple[SpectralConv, ...]
    pointwise_convs: tuple[eqx.nn.Conv, ...]
    fc1: eqx.nn.Conv
    fc2: eqx.nn.Conv
    in_channels: int = eqx.field(static=True)
    out_channels: int = eqx.field(static=True)
    ndim: int = eqx.field(static=True)
    modes: tuple[int, ...] = eqx.field(static=True)
    width: int = eqx.field(static=True)
    n_layers: int = eqx.field(static=True)
    append_grid: bool = eqx.field(static=True)
    padding: tuple[int, ...] = eqx.field(static=True)
    projection: int = eqx.field(static=True)
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        *,
        ndim: int = 2,
        modes: int | Sequence[int] = 12,
        width: int = 32,
        n_layers: int = 4,
        append_grid: bool = True,
        padding: int | Sequence[int] = 0,
        projection: int = 128,
        activation: Callable[[Array], Array] = gelu,
        key: PRNGKeyArray,
    ):
        self.in_channels = check_int("in_channels", in_channels)
        self.out_channels = check_int("out_channels", out_channels)
        self.ndim = _check_ndim(ndim)
        self.modes = per_axis("modes", modes, self.ndim, low=1)
        self.width = check_int("width", width)
        self.n_layers = check_int("n_layers", n_layers)
        self.append_grid = check_bool("append_grid", append_grid)
        self.padding = per_axis("padding", padding, self.ndim, low=0)
        self.projection = check_int("projection", projection)
        check_callable("activation", activation)
        self.activation = activation
        key = check_key(key)

        k0, k1, k2, *ks = jax.random.split(key, 3 + 2 * self.n_layers)
        lift_in = self.in_channels + (self.ndim if append_grid else 0)
        self.fc0 = _pointwise(lift_in, self.width, self.ndim, k0)
        self.spectral_convs = tuple(
            SpectralConv(self.width, self.width, self.modes, key=k) for k in ks[: self.n_layers]
        )
        self.pointwise_convs = tuple(
            _pointwise(self.width, self.width, self.ndim, k) for k in ks[self.n_layers :]
        )
        self.fc1 = _pointwise(self.width, self.projection, self.ndim, k1)
        self.fc2 = _pointwise(self.projection, self.out_channels, self.ndim, k2)

    def check_input(self, x) -> None:
        """Raise a `ValueError` if the sample `x` does not fit the model (channels, axes, grid vs modes)."""
        note = (
            " (the grid coordinates are appended by the model; do not include them)"
            if self.append_grid
            else ""
        )
        check_sample(x, self.ndim, self.in_channels, note)
        shape = tuple(x.shape)
        padded = tuple(n + p for n, p in zip(shape[1:], self.padding))
        fits = max_modes(padded)
        if any(m > f for m, f in zip(self.modes, fits)):
            raise ValueError(
                f"`x`: the grid {shape[1:]} (padded by {self.padding} to {padded}) is too coarse for "
                f"modes={self.modes}: at most {fits} modes fit (n // 2 on the leading axes, n // 2 + 1 on "
                f"the last); lower `modes` or use a finer grid"
            )

    def __call__(
        self,
        x: Float[Array, "cin *spatial"],  # noqa: F821
        state: eqx.nn.State | None = None,
        *,
        key: PRNGKeyArray | None = None,
    ) -> tuple[Float[Array, "cout *spatial"], eqx.nn.State | None]:  # noqa: F821
        """**Arguments:** `x`, one sample `(in_channels, *spatial)`; `state`, returned unchanged; `key`,
        unused.

        **Returns:** `(y, state)` with `y` of shape `(out_channels, *spatial)`.
        """
        del key
        self.check_input(x)
        spatial = x.shape[1:]
        if self.append_grid:
            x = jnp.concatenate([x, coordinate_channels(spatial, dtype=x.dtype)], axis=0)
        h = _apply_pointwise(self.fc0, x)
        if any(self.padding):
            h = jnp.pad(h, [(0, 0)] + [(0, p) for p in self.padding])
        for i, (spec, pw) in enumerate(zip(self.spectral_convs, self.pointwise_convs)):
            h = spec(h) + _apply_pointwise(pw, h)
            if i < self.n_layers - 1:
                h = self.activation(h)
        if any(self.padding):
            h = h[(slice(None),) + tuple(slice(0, n) for n in spatial)]
        y = _apply_pointwise(self.fc2, self.activation(_apply_pointwise(self.fc1, h)))
        return y, state
