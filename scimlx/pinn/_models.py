"""Point models for physics-informed solvers: the MLP baseline [`PINN`][scimlx.pinn.PINN] and Physics-Informed
Gaussians [`PIG`][scimlx.pinn.PIG]. Each maps one point `z = (x[, t])` to a scalar, so that a
[`PointField`][scimlx.core.PointField] differentiates it; [`map_points`][scimlx.pinn.map_points] evaluates any
function of one point over many points in chunks."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core import Box
from scimlx.core.validate import check_bool, check_callable, check_dtype, check_int, check_key, check_number
from scimlx.train import Fixed


def map_points(
    fn: Callable[[Array], Array],
    points: Float[Array, "n d"],
    chunk_size: int | None = None,
) -> Array:
    """Evaluate `fn` (a function of one point) at every row of `points`.

    With `chunk_size`, the points are processed `chunk_size` at a time (`jax.lax.map` over vmapped chunks,
    each chunk rematerialised in the backward pass), so that memory holds one chunk's intermediates, not all
    of them: PIG's `n_points x n_gaussians` kernel matrix is the case in point.

    **Arguments:**

    - `fn`: a function of one point `(d,)`.
    - `points`: `(n, d)`.
    - `chunk_size`: points per chunk; `None` evaluates all at once (one `jax.vmap`).

    **Returns:** `fn` stacked over the points, `(n, *out)`.
    """
    if not callable(fn):
        raise TypeError(f"`fn` must be a function of one point, got {type(fn).__name__}")
    points = jnp.asarray(points)
    if points.ndim != 2:
        raise ValueError(f"`points` must have shape (n, d), got {points.shape}")
    chunk_size = check_int("chunk_size", chunk_size, optional=True)
    if chunk_size is None or chunk_size >= points.shape[0]:
        return jax.vmap(fn)(points)
    return jax.lax.map(jax.checkpoint(lambda z: fn(z)), points, batch_size=chunk_size)


def _glorot_normal(key, shape, dtype):
    fan_out, fan_in = shape
    std = np.sqrt(2.0 / (fan_in + fan_out))
    return std * jax.random.truncated_normal(key, -2.0, 2.0, shape, dtype) / 0.87962566103423978


def _linear(in_size: int, out_size: int, key: PRNGKeyArray, dtype) -> eqx.nn.Linear:
    """A linear layer with Glorot-normal weights (truncated at two standard deviations, rescaled to the
    Glorot variance, as `jax.nn.initializers.glorot_normal`) and zero biases."""
    layer = eqx.nn.Linear(in_size, out_size, key=key, dtype=dtype)
    w = _glorot_normal(key, (out_size, in_size), dtype)
    return eqx.tree_at(lambda m: (m.weight, m.bias), layer, (w, jnp.zeros((out_size,), dtype)))


def _check_box(box: Box | None, in_size: int) -> None:
    if box is not None:
        if not isinstance(box, Box):
            raise TypeError(f"`box` must be a scimlx Box or None, got {type(box).__name__}")
        if box.ndim != in_size:
            raise ValueError(f"`box` has {box.ndim} dimensions but `in_size` is {in_size}")


class PointModel(eqx.Module):
    """Base of the point models: `model(z)` is a scalar, `model.predict(points)` evaluates many points.

    Arrays a point model holds but does not train (input shifts and scales, Fourier matrices, frozen means)
    are [`scimlx.train.Fixed`][]: no optimiser sees them, and [`scimlx.train.count_params`][] leaves them out.
    """

    def predict(self, points: Float[Array, "n d"], chunk_size: int | None = None) -> Float[Array, " n"]:
        """The model at every row of `points`, chunked as in [`map_points`][scimlx.pinn.map_points]."""
        return map_points(self, points, chunk_size)


class PINN(PointModel):
    """The MLP baseline of physics-informed neural networks: tanh layers with Glorot-normal weights and zero
    biases, optionally after random Fourier features.

    **Arguments:**

    - `in_size`: coordinates per point (space, then time).
    - `width`: hidden units per layer; default 128.
    - `depth`: hidden layers; default 4.
    - `box`: if given, inputs are first mapped affinely from this box to `[-1, 1]^d`.
    - `fourier_features`: if given, the (normalised) input `z` is replaced by `[cos(zB), sin(zB)]` with
        `B ~ N(0, fourier_scale²)` of shape `(d, fourier_features // 2)`, fixed (JAX-PI's `FourierEmbs`; a
        [`scimlx.train.Fixed`][], like the input map).
    - `fourier_scale`: the standard deviation of `B`; default 1.
    - `activation`: default `jnp.tanh`.
    - `dtype`: parameter dtype.
    - `key`: a PRNG key.
    """

    layers: tuple[eqx.nn.Linear, ...]
    fourier: Fixed | None
    shift: Fixed | None
    scale: Fixed | None
    activation: Callable[[Array], Array] = eqx.field(static=True)

    def __init__(
        self,
        in_size: int,
        width: int = 128,
        depth: int = 4,
        *,
        box: Box | None = None,
        fourier_features: int | None = None,
        fourier_scale: float = 1.0,
        activation: Callable[[Array], Array] = jnp.tanh,
        dtype=None,
        key: PRNGKeyArray,
    ):
        in_size = check_int("in_size", in_size)
        width = check_int("width", width)
        depth = check_int("depth", depth)
        fourier_features = check_int("fourier_features", fourier_features, low=2, optional=True)
        fourier_scale = check_number("fourier_scale", fourier_scale, low=0, low_open=True)
        check_callable("activation", activation)
        _check_box(box, in_size)
        key = check_key(key)
        dtype = jnp.result_type(float) if dtype is None else check_dtype("dtype", dtype)
        kf, *keys = jax.random.split(key, depth + 2)
        if fourier_features is not None:
            b = fourier_scale * jax.random.normal(kf, (in_size, fourier_features // 2), dtype)
            self.fourier = Fixed(b)
            first = 2 * (fourier_features // 2)
        else:
            self.fourier, first = None, in_size
        sizes = [first] + [width] * depth + [1]
        self.layers = tuple(_linear(a, b, k, dtype) for a, b, k in zip(sizes[:-1], sizes[1:], keys))
        if box is not None:
            lo, hi = np.asarray(box.lo), np.asarray(box.hi)
            self.shift = Fixed(jnp.asarray((lo + hi) / 2, dtype))
            self.scale = Fixed(jnp.asarray(2 / (hi - lo), dtype))
        else:
            self.shift = self.scale = None
        self.activation = activation

    def __call__(self, z: Float[Array, " d"]) -> Float[Array, ""]:
        if self.shift is not None:
            z = (z - self.shift.value) * self.scale.value
        if self.fourier is not None:
            zb = z @ self.fourier.value
            z = jnp.concatenate([jnp.cos(zb), jnp.sin(zb)])
        for layer in self.layers[:-1]:
            z = self.activation(layer(z))
        return self.layers[-1](z)[0]


def _rotation(params: Array) -> Array:
    """Rotations from unnormalised `(cos, sin)` pairs (2-D) or quaternions `(w, x, y, z)` (3-D)."""
    q = params / jnp.linalg.norm(params, axis=-1, keepdims=True)
    if params.shape[-1] == 2:
        c, s = q[..., 0], q[..., 1]
        return jnp.stack([jnp.stack([c, -s], -1), jnp.stack([s, c], -1)], -2)
    w, x, y, z = (q[..., i] for i in range(4))
    return jnp.stack(
        [
            jnp.stack([1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)], -1),
            jnp.stack([2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)], -1),
            jnp.stack([2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)], -1),
        ],
        -2,
    )


class PIG(PointModel):
    """Physics-Informed Gaussians (Kang et al., ICLR 2025): learnable Gaussian feature embeddings and a small
    tanh MLP, as the reference code computes them.

    Feature channel `c` at a point is `Σ_i w_ci exp(-½ Σ_j ((x̂_j - μ_cij) / σ_cij)²)`, where `x̂` is the
    point mapped affinely from `box` to `[0, grid_range]^d`: `channels` channels of `n_gaussians`
    Gaussians each, every Gaussian with its own mean, per-axis scale (a standard deviation, unconstrained
    as in the reference: only its square enters) and scalar weight. The features go through
    `Linear(channels, hidden)`, tanh, `Linear(hidden, 1)`. Initialisation as the reference:
    `μ ~ U[0, grid_range)`, `σ = sigma_init`, `w ~ N(0, 0.01²)`, Glorot-normal MLP weights, zero biases.

    With `full_covariance=True` the quadratic form is `|diag(1/σ) Rᵀ(x̂ - μ)|²` with a rotation `R` per
    Gaussian (a normalised `(cos, sin)` pair in 2-D, a unit quaternion in 3-D, initialised to the
    identity), the reference's `Gaussian3d_Full` parameterisation. The reference uses it to fine-tune a
    diagonal model, which [`PIG.with_full_covariance`][scimlx.pinn.PIG.with_full_covariance] does.

    **Arguments:**

    - `in_size`: coordinates per point (space, then time).
    - `n_gaussians`: Gaussians per channel (the reference's `num_gaussians`).
    - `channels`: feature channels `k` (the MLP's input size); default 4.
    - `box`: the problem's domain; `None` means the inputs already lie in `[0, grid_range]^d`.
    - `grid_range`: the side of the cube the inputs are mapped to; default 2.
    - `sigma_init`: the initial scale of every Gaussian; default 0.1.
    - `hidden`: the MLP's hidden units (default 16); `None` drops the MLP and sums the channels (the
        paper's "no MLP" ablation).
    - `full_covariance`: rotated (non-diagonal) Gaussians, `in_size` 2 or 3 only.
    - `learn_means`: train the means (default); `False` freezes them (the paper's fixed-μ ablation): `mu` is
        then a [`scimlx.train.Fixed`][], which no optimiser moves.
    - `dtype`: parameter dtype.
    - `key`: a PRNG key.
    """

    mu: Float[Array, "k n d"] | Fixed
    sigma: Float[Array, "k n d"]
    weight: Float[Array, "k n"]
    rotation: Array | None
    mlp: tuple[eqx.nn.Linear, ...] | None
    shift: Fixed
    scale: Fixed

    def __init__(
        self,
        in_size: int,
        n_gaussians: int,
        *,
        channels: int = 4,
        box: Box | None = None,
        grid_range: float = 2.0,
        sigma_init: float = 0.1,
        hidden: int | None = 16,
        full_covariance: bool = False,
        learn_means: bool = True,
        dtype=None,
        key: PRNGKeyArray,
    ):
        in_size = check_int("in_size", in_size)
        if isinstance(n_gaussians, bool) or not isinstance(n_gaussians, (int, np.integer)):
            raise TypeError(f"`n_gaussians` must be a positive integer, got {n_gaussians!r}")
        if n_gaussians < 1:
            raise ValueError(f"`n_gaussians` must be >= 1 (a PIG needs Gaussians), got {n_gaussians}")
        channels = check_int("channels", channels)
        grid_range = check_number("grid_range", grid_range, low=0, low_open=True)
        sigma_init = check_number("sigma_init", sigma_init, low=0, low_open=True)
        hidden = check_int("hidden", hidden, optional=True)
        full_covariance = check_bool("full_covariance", full_covariance)
        learn_means = check_bool("learn_means", learn_means)
        if full_covariance and in_size not in (2, 3):
            raise ValueError(f"`full_covariance` needs `in_size` 2 or 3 (rotations), got {in_size}")
        _check_box(box, in_size)
        key = check_key(key)
        dtype = jnp.result_type(float) if dtype is None else check_dtype("dtype", dtype)
        kmu, kw, k1, k2 = jax.random.split(key, 4)
        shape = (channels, int(n_gaussians), in_size)
        mu = jax.random.uniform(kmu, shape, dtype, 0.0, grid_range)
        self.mu = mu if learn_means else Fixed(mu)
        self.sigma = jnp.full(shape, sigma_init, dtype)
        self.weight = 0.01 * jax.random.normal(kw, shape[:2], dtype)
        if full_covariance:
            ident = np.zeros(4 if in_size == 3 else 2)
            ident[0] = 1.0
            self.rotation = jnp.broadcast_to(jnp.asarray(ident, dtype), shape[:2] + ident.shape)
        else:
            self.rotation = None
        if hidden is None:
            self.mlp = None
        else:
            self.mlp = (_linear(channels, hidden, k1, dtype), _linear(hidden, 1, k2, dtype))
        if box is None:
            shift, scale = jnp.zeros(in_size, dtype), jnp.ones(in_size, dtype)
        else:
            lo, hi = np.asarray(box.lo), np.asarray(box.hi)
            shift, scale = jnp.asarray(lo, dtype), jnp.asarray(grid_range / (hi - lo), dtype)
        self.shift, self.scale = Fixed(shift), Fixed(scale)

    @property
    def learn_means(self) -> bool:
        """Whether the means are trained."""
        return not isinstance(self.mu, Fixed)

    @property
    def means(self) -> Float[Array, "k n d"]:
        """The means, trained or fixed."""
        return self.mu.value if isinstance(self.mu, Fixed) else self.mu

    @property
    def n_gaussians(self) -> int:
        return self.means.shape[1]

    @property
    def channels(self) -> int:
        return self.means.shape[0]

    def normalise(self, z: Float[Array, "... d"]) -> Float[Array, "... d"]:
        """Map points from the domain to `[0, grid_range]^d`."""
        return (z - self.shift.value) * self.scale.value

    def features(self, z: Float[Array, " d"]) -> Float[Array, " k"]:
        """The `channels` Gaussian features at one point."""
        diff = self.normalise(z) - self.means  # (k, n, d)
        if self.rotation is not None:
            diff = jnp.einsum("knji,knj->kni", _rotation(self.rotation), diff)
        quad = jnp.sum((diff / self.sigma) ** 2, axis=-1)
        return jnp.sum(self.weight * jnp.exp(-0.5 * quad), axis=-1)

    def __call__(self, z: Float[Array, " d"]) -> Float[Array, ""]:
        f = self.features(z)
        if self.mlp is None:
            return jnp.sum(f)
        return self.mlp[1](jnp.tanh(self.mlp[0](f)))[0]

    def with_full_covariance(self) -> PIG:
        """The same model with rotations added at the identity (the reference's fine-tuning start)."""
        if self.rotation is not None:
            return self
        mu = self.means
        d = mu.shape[-1]
        if d not in (2, 3):
            raise ValueError(f"full covariance needs 2 or 3 input coordinates, the model has {d}")
        ident = np.zeros(4 if d == 3 else 2)
        ident[0] = 1.0
        rot = jnp.broadcast_to(jnp.asarray(ident, mu.dtype), mu.shape[:2] + ident.shape)
        return eqx.tree_at(lambda m: m.rotation, self, rot, is_leaf=lambda x: x is None)
