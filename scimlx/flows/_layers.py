"""The layers of the flows: activation normalisation, affine coupling, a reversal of the coordinates."""

from __future__ import annotations

import math
from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, PRNGKeyArray

from scimlx.core.validate import check_int, check_number

from ._base import AbstractBijector

__all__ = ["ActNorm", "AffineCoupling", "Reverse"]


class ActNorm(AbstractBijector):
    """Activation normalisation `y = (x + b) exp(clip(s, -5, 5))` (Glow; KRnet's `actnorm`), with a
    data-dependent initialisation: `b` the negated mean of the first batch and
    `s = log(1 / (σ + eps)) / log_scale_factor`, `σ` its standard deviation. With `log_scale_factor = 1`
    the output of the first batch has zero mean and unit variance per coordinate (Glow); KRnet divides the
    log-scale by 3, as the DAS code does.

    **Arguments:**

    - `dim`: coordinates.
    - `log_scale_factor`: divides the initial log-scale; default 1.
    - `eps`: added to the standard deviation at initialisation.
    """

    shift: Array
    log_scale: Array
    log_scale_factor: float = eqx.field(static=True)
    eps: float = eqx.field(static=True)

    def __init__(self, dim: int, *, log_scale_factor: float = 1.0, eps: float = 1e-6, dtype=None):
        dim = check_int("dim", dim)
        dtype = jnp.result_type(float) if dtype is None else dtype
        self.shift = jnp.zeros((dim,), dtype)
        self.log_scale = jnp.zeros((dim,), dtype)
        self.log_scale_factor = check_number("log_scale_factor", log_scale_factor, low=0, low_open=True)
        self.eps = check_number("eps", eps, low=0)

    def _log_scale(self):
        return jnp.clip(self.log_scale, -5.0, 5.0)

    def forward(self, x):
        s = self._log_scale()
        return (x + self.shift) * jnp.exp(s), jnp.sum(s)

    def inverse(self, y):
        s = self._log_scale()
        return y * jnp.exp(-s) - self.shift, -jnp.sum(s)

    def initialize(self, x):
        mean, std = jnp.mean(x, axis=0), jnp.std(x, axis=0)
        shift = (-mean).astype(self.shift.dtype)
        log_scale = (-jnp.log(std + self.eps) / self.log_scale_factor).astype(self.log_scale.dtype)
        return eqx.tree_at(lambda m: (m.shift, m.log_scale), self, (shift, log_scale))


class Reverse(AbstractBijector):
    """The coordinates in reverse order (volume preserving), between coupling layers so that every
    coordinate is transformed."""

    def forward(self, x):
        return x[::-1], jnp.zeros((), x.dtype)

    def inverse(self, y):
        return y[::-1], jnp.zeros((), y.dtype)


def _glorot_normal_mlp(mlp: eqx.nn.MLP, key: PRNGKeyArray, zero_last: bool) -> eqx.nn.MLP:
    """The MLP with Glorot-normal weights (truncated at two standard deviations, rescaled to the Glorot
    variance: TensorFlow's `GlorotNormal`) and zero biases; the last layer all zero if `zero_last`."""
    keys = jax.random.split(key, len(mlp.layers))
    layers = []
    for i, (layer, k) in enumerate(zip(mlp.layers, keys)):
        fan_out, fan_in = layer.weight.shape
        std = math.sqrt(2.0 / (fan_in + fan_out)) / 0.87962566103423978
        w = std * jax.random.truncated_normal(k, -2.0, 2.0, layer.weight.shape, layer.weight.dtype)
        if zero_last and i == len(mlp.layers) - 1:
            w = jnp.zeros_like(w)
        layers.append(eqx.tree_at(lambda m: (m.weight, m.bias), layer, (w, jnp.zeros_like(layer.bias))))
    return eqx.tree_at(lambda m: m.layers, mlp, tuple(layers))


class AffineCoupling(AbstractBijector):
    """An affine coupling layer: the first `split` coordinates `x₁` pass unchanged and parameterise an
    affine map of the rest, `y₂ = a(x₁) ⊙ x₂ + t(x₁)`, from an MLP of `x₁` whose outputs interleave the shift
    logits (even entries) and the scale logits (odd entries).

    Two parameterisations:

    - `"krnet"` (KRnet; the DAS code's `affine_coupling`): `a = 1 + α tanh(h_s)` with `α = 0.6`,
        `t = exp(clip(γ, -5, 5)) tanh(h_t)` with a learned vector `γ` (initially 0): bounded scales keep
        training stable. `log|det| = Σ log(1 + α tanh(h_s))`. Glorot-normal weights, zero biases (the last
        layer too is random, as in DAS: the layer does not start as the identity).
    - `"realnvp"` (Dinh, Sohl-Dickstein & Bengio, ICLR 2017): `a = exp(tanh(h_s))`, `t = h_t`; the last
        layer starts at zero, so the layer starts as the identity.

    **Arguments:**

    - `dim`: coordinates.
    - `split`: how many leading coordinates condition the rest (default `dim // 2`).
    - `width`: hidden units of the MLP's hidden layers; default 24 (DAS).
    - `depth`: hidden layers; default 2 (DAS's `NN2`).
    - `kind`: `"krnet"` or `"realnvp"`.
    - `activation`: of the hidden layers; default ReLU (DAS).
    - `scale_bound`: `α` of the KRnet parameterisation (`0 < α < 1`); default 0.6.
    - `key`: a PRNG key.
    """

    mlp: eqx.nn.MLP
    log_gamma: Array | None
    dim: int = eqx.field(static=True)
    split: int = eqx.field(static=True)
    kind: str = eqx.field(static=True)
    scale_bound: float = eqx.field(static=True)

    def __init__(
        self,
        dim: int,
        split: int | None = None,
        *,
        width: int = 24,
        depth: int = 2,
        kind: str = "krnet",
        activation: Callable[[Array], Array] = jax.nn.relu,
        scale_bound: float = 0.6,
        dtype=None,
        key: PRNGKeyArray,
    ):
        dim = check_int("dim", dim, low=2)
        split = dim // 2 if split is None else check_int("split", split)
        if split >= dim:
            raise ValueError(
                f"`split` must be below `dim`={dim} (one coordinate at least is transformed), got {split}"
            )
        if kind not in ("krnet", "realnvp"):
            raise ValueError(f"`kind` must be 'krnet' or 'realnvp', got {kind!r}")
        dtype = jnp.result_type(float) if dtype is None else dtype
        rest = dim - split
        k_mlp, k_init = jax.random.split(key)
        mlp = eqx.nn.MLP(
            split, 2 * rest, check_int("width", width), check_int("depth", depth), activation=activation,
            dtype=dtype, key=k_mlp,
        )  # fmt: skip
        self.mlp = _glorot_normal_mlp(mlp, k_init, zero_last=kind == "realnvp")
        self.log_gamma = jnp.zeros((rest,), dtype) if kind == "krnet" else None
        self.dim, self.split, self.kind = dim, split, kind
        self.scale_bound = check_number(
            "scale_bound", scale_bound, low=0, high=1, low_open=True, high_open=True
        )

    def _params(self, x1):
        h = self.mlp(x1)
        ht, hs = h[0::2], h[1::2]
        if self.kind == "krnet":
            log_a = jnp.log1p(self.scale_bound * jnp.tanh(hs))
            t = jnp.exp(jnp.clip(self.log_gamma, -5.0, 5.0)) * jnp.tanh(ht)
        else:
            log_a, t = jnp.tanh(hs), ht
        return log_a, t

    def forward(self, x):
        x1, x2 = x[: self.split], x[self.split :]
        log_a, t = self._params(x1)
        return jnp.concatenate([x1, jnp.exp(log_a) * x2 + t]), jnp.sum(log_a)

    def inverse(self, y):
        y1, y2 = y[: self.split], y[self.split :]
        log_a, t = self._params(y1)
        return jnp.concatenate([y1, (y2 - t) * jnp.exp(-log_a)]), -jnp.sum(log_a)
