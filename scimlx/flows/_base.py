"""The bases of the normalising flows: an invertible layer with its log-determinant, and a flow (a stack of
layers over a standard Gaussian prior) with exact log-density and sampling."""

from __future__ import annotations

import abc
import math

import equinox as eqx
import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_int, check_key

__all__ = ["AbstractBijector", "AbstractFlow", "Chain"]


class AbstractBijector(eqx.Module):
    """An invertible map of one point, with the log-determinant of its Jacobian.

    `forward` goes from data towards the latent space (the direction of the log-density), `inverse` back
    (the direction of sampling). `initialize(x)` returns the layer after a data-dependent initialisation on
    the batch `x` (activation normalisation); most layers return themselves.
    """

    @abc.abstractmethod
    def forward(self, x: Float[Array, " d"]) -> tuple[Float[Array, " d"], Float[Array, ""]]:
        """`(y, log|det ∂y/∂x|)`."""

    @abc.abstractmethod
    def inverse(self, y: Float[Array, " d"]) -> tuple[Float[Array, " d"], Float[Array, ""]]:
        """`(x, log|det ∂x/∂y|)`."""

    def initialize(self, x: Float[Array, "n d"]) -> AbstractBijector:  # noqa: F821
        """The layer initialised on the batch `x`; by default itself."""
        del x
        return self


class Chain(AbstractBijector):
    """Layers applied in order (forward), in reverse order (inverse).

    **Arguments:**

    - `layers`: a sequence of [`AbstractBijector`][scimlx.flows.AbstractBijector]s.
    """

    layers: tuple[AbstractBijector, ...]

    def __init__(self, layers):
        layers = tuple(layers)
        for i, layer in enumerate(layers):
            if not isinstance(layer, AbstractBijector):
                raise TypeError(f"`layers[{i}]` must be an AbstractBijector, got {type(layer).__name__}")
        self.layers = layers

    def forward(self, x):
        total = jnp.zeros((), x.dtype)
        for layer in self.layers:
            x, ld = layer.forward(x)
            total = total + ld
        return x, total

    def inverse(self, y):
        total = jnp.zeros((), y.dtype)
        for layer in reversed(self.layers):
            y, ld = layer.inverse(y)
            total = total + ld
        return y, total

    def initialize(self, x):
        out = []
        for layer in self.layers:
            layer = layer.initialize(x)
            x = jax.vmap(lambda xi, layer=layer: layer.forward(xi)[0])(x)
            out.append(layer)
        return Chain(out)


@eqx.filter_jit
def _initialize(bijector: AbstractBijector, x: Array) -> AbstractBijector:
    return bijector.initialize(x)


@eqx.filter_jit
def _sample(flow: AbstractFlow, n: int, key: PRNGKeyArray, dtype) -> tuple[Array, Array]:
    z = jax.random.normal(key, (n, flow.dim), dtype)
    x, logdet = jax.vmap(flow.inverse)(z)
    return x, jax.vmap(_standard_normal_log_prob)(z) - logdet


def _standard_normal_log_prob(z: Array) -> Array:
    return -0.5 * jnp.sum(z**2) - 0.5 * z.shape[-1] * math.log(2 * math.pi)


class AbstractFlow(eqx.Module):
    """A normalising flow: an invertible map `f` from data `x` to a latent `z = f(x)` with a standard
    Gaussian prior, so `log p(x) = log N(f(x); 0, I) + log|det ∂f/∂x|` exactly, and samples are `f⁻¹(z)`,
    `z ~ N(0, I)`.

    Functions of one point (`forward`, `inverse`, `log_prob`) compose with `jax.vmap`, `jax.grad` and
    `jax.jit`; `sample` and `initialize` work on batches. Subclasses set `dim` and `bijector`.
    """

    dim: eqx.AbstractVar[int]
    bijector: eqx.AbstractVar[AbstractBijector]

    def forward(self, x: Float[Array, " d"]) -> tuple[Float[Array, " d"], Float[Array, ""]]:
        """`(z, log|det ∂z/∂x|)` at one point."""
        self._check_point("x", x)
        return self.bijector.forward(x)

    def inverse(self, z: Float[Array, " d"]) -> tuple[Float[Array, " d"], Float[Array, ""]]:
        """`(x, log|det ∂x/∂z|)` at one latent point."""
        self._check_point("z", z)
        return self.bijector.inverse(z)

    def log_prob(self, x: Float[Array, " d"]) -> Float[Array, ""]:
        """The exact log-density at one point."""
        z, logdet = self.forward(x)
        return _standard_normal_log_prob(z) + logdet

    def sample_and_log_prob(
        self, n: int, *, key: PRNGKeyArray, dtype=None
    ) -> tuple[Float[Array, "n d"], Float[Array, " n"]]:
        """`n` samples and their log-densities (one inverse pass; the log-density of `x = f⁻¹(z)` is
        `log N(z) - log|det ∂x/∂z|`)."""
        n = check_int("n", n)
        dtype = jnp.result_type(float) if dtype is None else dtype
        return _sample(self, n, check_key(key), dtype)

    def sample(self, n: int, *, key: PRNGKeyArray, dtype=None) -> Float[Array, "n d"]:
        """`n` samples."""
        return self.sample_and_log_prob(n, key=key, dtype=dtype)[0]

    def initialize(self, x: Float[Array, "n d"]):  # noqa: F821
        """The flow after the data-dependent initialisation of its activation normalisations on the batch
        `x` (each layer's input statistics set to zero mean and unit variance)."""
        x = jnp.asarray(x)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"`x` must have shape (n, {self.dim}), got {x.shape}")
        if x.shape[0] < 2:
            raise ValueError(f"`x` needs at least 2 points for the initialisation, got {x.shape[0]}")
        return eqx.tree_at(lambda f: f.bijector, self, _initialize(self.bijector, x))

    def _check_point(self, name: str, x: Array) -> None:
        if x.shape != (self.dim,):
            raise ValueError(
                f"`{name}` must be one point of shape ({self.dim},), got {x.shape}; use jax.vmap for a batch"
            )
