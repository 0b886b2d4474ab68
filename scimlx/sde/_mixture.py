"""Gaussian mixtures with closed-form diffused scores, exact products and integer powers: the ground truth of
the Feynman-Kac-corrector checks, and score functions that plug into every sampler.

Under a linear forward SDE (`x_t | x_0 ~ N(m x_0, s^2 I)`) a mixture `Σ_k w_k N(μ_k, C_k)` stays a mixture,
`Σ_k w_k N(m μ_k, m^2 C_k + s^2 I)`, so its score is exact at every time. The product of two mixtures is a
mixture of `K_1 K_2` components, `N(μ_1, C_1) N(μ_2, C_2) = N(μ_1; μ_2, C_1 + C_2) N(μ, C)` with
`C = (C_1^{-1} + C_2^{-1})^{-1}` and `μ = C (C_1^{-1} μ_1 + C_2^{-1} μ_2)`; an integer power is a repeated
product. Products are built on the host in float64 NumPy and prune components of negligible weight.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.validate import check_int, check_key, check_number

from ._diffusion import AbstractForwardSDE, ScoreFn, _check_sde

__all__ = ["GaussianMixture", "mode_masses"]


class GaussianMixture(eqx.Module):
    """A Gaussian mixture `Σ_k w_k N(μ_k, C_k)` in `d` dimensions.

    **Arguments:**

    - `weights`: `(K,)`, non-negative, normalised on construction.
    - `means`: `(K, d)`.
    - `covs`: `(K, d, d)`, symmetric positive definite.
    """

    weights: Float[Array, " K"]  # noqa: F821
    means: Float[Array, "K d"]  # noqa: F821
    covs: Float[Array, "K d d"]  # noqa: F821

    def __init__(self, weights: ArrayLike, means: ArrayLike, covs: ArrayLike):
        w, mu, c = np.asarray(weights, float), np.asarray(means, float), np.asarray(covs, float)
        if mu.ndim != 2:
            raise ValueError(f"`means` must have shape (K, d), got {mu.shape}")
        k, d = mu.shape
        if w.shape != (k,):
            raise ValueError(f"`weights` must have shape ({k},), got {w.shape}")
        if c.shape != (k, d, d):
            raise ValueError(f"`covs` must have shape ({k}, {d}, {d}), got {c.shape}")
        if not np.all(np.isfinite(w)) or np.any(w < 0) or w.sum() <= 0:
            raise ValueError("`weights` must be finite, non-negative and not all zero")
        if not np.allclose(c, np.swapaxes(c, 1, 2)) or np.any(np.linalg.eigvalsh(c) <= 0):
            raise ValueError("`covs` must be symmetric positive definite")
        self.weights = jnp.asarray(w / w.sum())
        self.means = jnp.asarray(mu)
        self.covs = jnp.asarray(c)

    @classmethod
    def isotropic(cls, weights: ArrayLike, means: ArrayLike, std: ArrayLike) -> "GaussianMixture":
        """Components `N(μ_k, std_k^2 I)`; `std` a scalar or `(K,)`."""
        mu = np.asarray(means, float)
        if mu.ndim != 2:
            raise ValueError(f"`means` must have shape (K, d), got {mu.shape}")
        std = np.broadcast_to(np.asarray(std, float), (mu.shape[0],))
        if np.any(std <= 0):
            raise ValueError("`std` must be positive")
        return cls(weights, mu, std[:, None, None] ** 2 * np.eye(mu.shape[1]))

    @property
    def dim(self) -> int:
        return self.means.shape[1]

    def _precisions(self):
        """`(C_k^{-1}, log det C_k)`: independent of the point, so computed once under `vmap`."""
        return jnp.linalg.inv(self.covs), jnp.linalg.slogdet(self.covs)[1]

    def component_log_probs(self, x: Float[Array, " d"]) -> Float[Array, " K"]:  # noqa: F821
        """`log w_k + log N(x; μ_k, C_k)` for one point."""
        prec, logdet = self._precisions()
        diff = x - self.means
        quad = jnp.sum(diff * jnp.einsum("kij,kj->ki", prec, diff), axis=1)
        return jnp.log(self.weights) - 0.5 * (quad + logdet + self.dim * jnp.log(2 * jnp.pi))

    def log_prob(self, x: Float[Array, " d"]) -> Array:
        """The log-density at one point."""
        return jax.scipy.special.logsumexp(self.component_log_probs(x))

    def score(self, x: Float[Array, " d"]) -> Float[Array, " d"]:
        """`∇ log p = -Σ_k r_k C_k^{-1} (x - μ_k)` at one point, `r` the components' responsibilities."""
        prec, logdet = self._precisions()
        diff = x - self.means
        grads = -jnp.einsum("kij,kj->ki", prec, diff)
        logits = jnp.log(self.weights) + 0.5 * jnp.sum(diff * grads, axis=1) - 0.5 * logdet
        return jax.nn.softmax(logits) @ grads

    def sample(self, key: PRNGKeyArray, num: int) -> Float[Array, "num d"]:  # noqa: F821
        """`num` exact samples."""
        key = check_key(key)
        num = check_int("num", num)
        k_c, k_z = jax.random.split(key)
        comp = jax.random.choice(k_c, self.weights.shape[0], (num,), p=self.weights)
        z = jax.random.normal(k_z, (num, self.dim), self.means.dtype)
        chol = jnp.linalg.cholesky(self.covs)
        return self.means[comp] + jnp.einsum("nij,nj->ni", chol[comp], z)

    def diffused(self, sde: AbstractForwardSDE, t: ArrayLike) -> "GaussianMixture":
        """The marginal at time `t` of the forward SDE started from this mixture (traceable in `t`)."""
        sde = _check_sde(sde)
        m, s = sde.marginal(jnp.asarray(t, self.means.dtype))
        eye = jnp.eye(self.dim, dtype=self.means.dtype)
        # `tree_at` skips the host-side checks of `__init__`: `t` may be traced
        return eqx.tree_at(lambda g: (g.means, g.covs), self, (m * self.means, m**2 * self.covs + s**2 * eye))

    def score_fn(self, sde: AbstractForwardSDE) -> ScoreFn:
        """The exact score `score(t, x) = ∇ log p_t(x)` of the diffused mixture, for any sampler."""
        sde = _check_sde(sde)
        return lambda t, x: self.diffused(sde, t).score(x)

    def product(self, other: "GaussianMixture", *, prune: float = 1e-10) -> "GaussianMixture":
        """The normalised product `p q / Z`, exactly, dropping components of relative weight below
        `prune`."""
        if not isinstance(other, GaussianMixture):
            raise TypeError(f"`other` must be a GaussianMixture, got {type(other).__name__}")
        if other.dim != self.dim:
            raise ValueError(f"the mixtures' dimensions differ: {self.dim} and {other.dim}")
        check_number("prune", prune, low=0.0, high=1.0, high_open=True)
        w1, m1, c1 = (np.asarray(a, float) for a in (self.weights, self.means, self.covs))
        w2, m2, c2 = (np.asarray(a, float) for a in (other.weights, other.means, other.covs))
        p1, p2 = np.linalg.inv(c1), np.linalg.inv(c2)
        prec = p1[:, None] + p2[None, :]
        cov = np.linalg.inv(prec)
        h = np.einsum("iab,ib->ia", p1, m1)[:, None] + np.einsum("jab,jb->ja", p2, m2)[None, :]
        mean = np.einsum("ijab,ijb->ija", cov, h)
        s = c1[:, None] + c2[None, :]
        diff = m1[:, None] - m2[None, :]
        _, logdet = np.linalg.slogdet(s)
        quad = np.einsum("ija,ija->ij", diff, np.linalg.solve(s, diff[..., None])[..., 0])
        logz = (
            np.log(w1)[:, None] + np.log(w2)[None, :] - 0.5 * (quad + logdet + self.dim * np.log(2 * np.pi))
        )
        logw = (logz - logz.max()).ravel()
        keep = logw >= np.log(prune) if prune > 0 else np.ones(logw.shape, bool)
        d = self.dim
        return GaussianMixture(np.exp(logw[keep]), mean.reshape(-1, d)[keep], cov.reshape(-1, d, d)[keep])

    def power(self, n: int, *, prune: float = 1e-10) -> "GaussianMixture":
        """The normalised integer power `p^n / Z`, exactly, by repeated products (pruned as `product`)."""
        n = check_int("n", n)
        out = self
        for _ in range(n - 1):
            out = out.product(self, prune=prune)
        return out


def mode_masses(samples: Float[ArrayLike, "n d"], mixture: GaussianMixture) -> np.ndarray:  # noqa: F821
    """The fraction of samples assigned to each component of `mixture` (the most responsible one):
    `(K,)`, float64 NumPy."""
    if not isinstance(mixture, GaussianMixture):
        raise TypeError(f"`mixture` must be a GaussianMixture, got {type(mixture).__name__}")
    x = jnp.asarray(samples)
    if x.ndim != 2 or x.shape[1] != mixture.dim:
        raise ValueError(f"`samples` must have shape (n, {mixture.dim}), got {x.shape}")
    comp = jax.jit(jax.vmap(lambda p: jnp.argmax(mixture.component_log_probs(p))))(x)
    return np.bincount(np.asarray(comp), minlength=mixture.weights.shape[0]) / x.shape[0]
