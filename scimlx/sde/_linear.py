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

__all__ = [
    "augmented_system",
    "bridge_std",
    "exact_transition",
    "fit_linear_model",
    "kalman_log_likelihood",
    "path_covariance",
]


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


def fit_linear_model(
    obs: Float[Array, "num_paths n"],  # noqa: F821
    h: float,
    *,
    kind: str = "I",
    num_states: int = 5,
    gamma_max: float = 20.0,
    horizon: float = 1.0,
    obs_sigma: float,
    learn_theta: bool = False,
    hurst: float = 0.5,
    steps: int = 400,
    learning_rate: float = 0.05,
) -> dict[str, float]:
    """The maximum-likelihood Hurst index (and `σ`, and `θ` if `learn_theta`) of the linear model
    `dX = -θ X dt + σ dB̂_H` for paths observed at `h, 2h, ..., n h` with noise `obs_sigma`: Adam on the exact
    Kalman log-likelihood ([`kalman_log_likelihood`][scimlx.sde.kalman_log_likelihood]) of all paths, the
    weights `ω(H)` recomputed in the graph.

    The variational ELBO of the same model is a lower bound of this likelihood, so this is the Hurst index
    the variational fit aims at when its posterior is exact.

    **Returns:** a dict with `hurst`, `sigma`, `theta` and `log_likelihood` (mean per path).
    """
    import optax

    from scimlx.core.validate import check_int, check_number

    from ._fbm import gamma_grid, optimal_omega

    steps = check_int("steps", steps)
    check_number("obs_sigma", obs_sigma, low=0.0, low_open=True)
    obs = jnp.asarray(obs)
    if obs.ndim != 2:
        raise ValueError(f"`obs` must have shape (num_paths, n), got {obs.shape}")
    gammas = gamma_grid(num_states, gamma_max).astype(obs.dtype)
    params = {"logit": jnp.log(hurst / (1 - hurst)), "log_sigma": jnp.zeros(()), "log_theta": jnp.zeros(())}
    params = jax.tree.map(lambda x: jnp.asarray(x, obs.dtype), params)

    def unpack(p):
        theta = jnp.exp(p["log_theta"]) if learn_theta else jnp.zeros((), obs.dtype)
        return jax.nn.sigmoid(p["logit"]), jnp.exp(p["log_sigma"]), theta

    def nll(p):
        hh, sigma, theta = unpack(p)
        omega = optimal_omega(hh, gammas, horizon, kind)
        ll = jax.vmap(
            lambda o: kalman_log_likelihood(o, h, theta, sigma, omega, gammas, kind, obs_sigma=obs_sigma)
        )
        return -jnp.mean(ll(obs))

    opt = optax.adam(learning_rate)

    @jax.jit
    def run(p):
        def step(carry, _):
            p, s = carry
            value, grad = jax.value_and_grad(nll)(p)
            updates, s = opt.update(grad, s, p)
            return (optax.apply_updates(p, updates), s), value

        (p, _), _ = jax.lax.scan(step, (p, opt.init(p)), None, length=steps)
        return p, -nll(p)

    params, loglik = run(params)
    hh, sigma, theta = unpack(params)
    return {"hurst": float(hh), "sigma": float(sigma), "theta": float(theta), "log_likelihood": float(loglik)}
