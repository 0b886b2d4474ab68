"""The exact Gaussian law of a linear SDE driven by Markov-approximate fBM: one latent dimension,
`dX = -θ X dt + σ dB̂_H`, together with its `K` OU states, is the linear SDE `dZ = F Z dt + G dW` in
`Z = (X, Y_1, ..., Y_K)`, with `F = [[-θ, -σ (ω γ)ᵀ], [0, -diag γ]]` and `G = (σ ω̄, 1, ..., 1)`.

Its transitions are exact (Van Loan's matrix exponential), so its covariances, its conditioned laws
(the bridge experiment's reference band) and its likelihood (a Kalman filter: the exact evidence that the
variational ELBO bounds from below, and an exact maximum-likelihood Hurst estimate to compare the learned one
with) need no time stepping.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax.scipy.linalg import expm
from jaxtyping import Array, ArrayLike, Float

from ._fbm import check_kind

__all__ = ["augmented_system", "bridge_std", "exact_transition", "kalman_log_likelihood", "path_covariance"]


def augmented_system(
    theta: ArrayLike, sigma: ArrayLike, omega: ArrayLike, gammas: ArrayLike
) -> tuple[Float[Array, "n n"], Float[Array, " n"]]:  # noqa: F821
    """`(F, G)` of the augmented linear SDE `dZ = F Z dt + G dW`, `Z = (X, Y_1..Y_K)` (module docstring).

    **Arguments:**

    - `theta`: the drift rate `θ >= 0` of `dX = -θ X dt + σ dB̂_H`.
    - `sigma`: the noise scale `σ > 0`.
    - `omega`, `gammas`: the `K` weights and speeds.
    """
    omega, gammas = jnp.asarray(omega), jnp.asarray(gammas)
    k = gammas.shape[0]
    f = jnp.zeros((k + 1, k + 1), jnp.result_type(omega, gammas, theta, sigma))
    f = f.at[0, 0].set(-theta).at[0, 1:].set(-sigma * omega * gammas).at[1:, 1:].set(-jnp.diag(gammas))
    g = jnp.concatenate([jnp.atleast_1d(sigma * jnp.sum(omega)), jnp.ones((k,), f.dtype)])
    return f, g


def exact_transition(f: ArrayLike, g: ArrayLike, h: float) -> tuple[Array, Array]:
    """`(Φ, Q)` of the exact transition over a step `h`: `Z(t+h) = Φ Z(t) + ξ`, `ξ ~ N(0, Q)`, with
    `Φ = e^(F h)` and `Q = ∫_0^h e^(F u) G Gᵀ e^(Fᵀ u) du`, from one matrix exponential (Van Loan, 1978)."""
    f, g = jnp.asarray(f), jnp.asarray(g)
    n = f.shape[0]
    block = jnp.block([[-f, jnp.outer(g, g)], [jnp.zeros_like(f), f.T]]) * h
    e = expm(block)
    phi = e[n:, n:].T
    q = phi @ e[:n, n:]
    return phi, 0.5 * (q + q.T)


def _initial_covariance(gammas, kind, dtype):
    k = gammas.shape[0]
    p0 = jnp.zeros((k + 1, k + 1), dtype)
    if kind == "I":
        p0 = p0.at[1:, 1:].set(1.0 / (gammas[:, None] + gammas[None, :]))
    return p0


def path_covariance(
    num_steps: int, h: float, theta, sigma, omega, gammas, kind: str = "I"
) -> tuple[Float[Array, "m n n"], Float[Array, "m n n"]]:  # noqa: F821
    """The exact covariances of `Z` on the grid `t_i = i h`, `i = 0..num_steps`, from `X(0) = 0` and the OU
    states' initial law (stationary for type I, zero for type II).

    **Returns:** `(P, C)`: `P[i] = Cov(Z(t_i))` and `C[i] = Cov(Z(t_N), Z(t_i))`, `N = num_steps`.
    """
    kind = check_kind(kind)
    f, g = augmented_system(theta, sigma, omega, gammas)
    phi, q = exact_transition(f, g, h)

    def forward(p, _):
        nxt = phi @ p @ phi.T + q
        return nxt, nxt

    p0 = _initial_covariance(jnp.asarray(gammas), kind, f.dtype)
    _, ps = jax.lax.scan(forward, p0, None, length=num_steps)
    ps = jnp.concatenate([p0[None], ps])

    def backward(a, _):  # a = Φ^(N - i), walking i down from N
        return a @ phi, a

    _, powers = jax.lax.scan(backward, jnp.eye(f.shape[0], dtype=f.dtype), None, length=num_steps + 1)
    powers = powers[::-1]  # powers[i] = Φ^(N - i)
    return ps, powers @ ps


def bridge_std(num_steps: int, h: float, theta, sigma, omega, gammas, kind: str = "I", *,
               obs_sigma: float) -> Float[Array, " m"]:  # fmt: skip
    """The exact posterior standard deviation of `X(t_i)` on the grid `t_i = i h` given one noisy observation
    `X(t_N) + ε`, `ε ~ N(0, obs_sigma^2)` (the bridge experiment's analytic band; it does not depend on the
    observed value)."""
    ps, cs = path_covariance(num_steps, h, theta, sigma, omega, gammas, kind)
    var = ps[:, 0, 0] - cs[:, 0, 0] ** 2 / (ps[-1, 0, 0] + obs_sigma**2)
    return jnp.sqrt(jnp.clip(var, 0.0))


def kalman_log_likelihood(
    obs: Float[Array, " n"], h: float, theta, sigma, omega, gammas, kind: str = "I", *, obs_sigma: float
) -> Array:
    """The exact log-likelihood of observations `obs[i] = X(t_{i+1}) + ε_i` (`t_i = i h`, `X(0) = 0`,
    `ε_i ~ N(0, obs_sigma^2)`) under the linear model, by a Kalman filter over the augmented state;
    differentiable in every parameter (a Hurst index through `omega`)."""
    f, g = augmented_system(theta, sigma, omega, gammas)
    phi, q = exact_transition(f, g, h)
    gammas = jnp.asarray(gammas)
    m0 = jnp.zeros((f.shape[0],), f.dtype)
    p0 = _initial_covariance(gammas, check_kind(kind), f.dtype)
    r = obs_sigma**2

    def step(carry, y):
        m, p = carry
        m, p = phi @ m, phi @ p @ phi.T + q
        s = p[0, 0] + r
        gain = p[:, 0] / s
        innov = y - m[0]
        ll = -0.5 * (jnp.log(2 * jnp.pi * s) + innov**2 / s)
        m = m + gain * innov
        p = p - jnp.outer(gain, p[0, :])
        return (m, 0.5 * (p + p.T)), ll

    _, lls = jax.lax.scan(step, (m0, p0), jnp.asarray(obs, f.dtype))
    return jnp.sum(lls)
