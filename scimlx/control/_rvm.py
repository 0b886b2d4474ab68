"""Sparse Bayesian regression: Tipping's relevance vector machine (RVM, JMLR 2001) with MacKay's fixed-point
updates, the regression MEDIDA uses to pick the terms of a model's error from a library.

The model `y = Φ w + ε`, `ε ~ N(0, β^{-1})`, `w_i ~ N(0, α_i^{-1})`. Each iteration computes the posterior
`Σ = (diag(α) + β Φ^T Φ)^{-1}`, `m = β Σ Φ^T y`, then `γ_i = 1 - α_i Σ_ii`, `α_i ← γ_i / m_i^2`,
`β ← (n - Σ γ) / |y - Φ m|^2`, and prunes the terms with `α_i ≥ threshold_alpha` (their weights are zero). It
stops when the kept `α` move by less than `tol` (after at least two iterations) or after `max_iter`.

Everything runs on the Gram matrix `Φ^T Φ`, `Φ^T y` and `y^T y`, so the cost per iteration is `O(m^3)` for `m`
terms, whatever the number of rows; the loop is a `lax.while_loop` with a mask for the pruned terms (their
block of the matrix is replaced by the identity), so it compiles once.

Standardisation (`standardise=True`, the default) divides each column by its root mean square and `y` by its
own, fits, and maps the weights and their standard deviations back: `w_i = w'_i rms(y) / rms(Φ_i)`. Columns
are not centred (a centred column would smuggle in an intercept that a model-error library must not have), and
the pruning threshold then applies to standardised weights, which makes it comparable across terms of very
different magnitudes (the reference code asks for standardisation but a keyword reset silently skips it).
"""

from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from scimlx.core.validate import check_bool, check_int, check_number

__all__ = ["RVMResult", "rvm"]


class RVMResult(eqx.Module):
    """A fitted relevance vector machine.

    **Arguments:**

    - `coefficients`: `(m,)` the posterior mean weights in the original units (zero for pruned terms).
    - `std`: `(m,)` their posterior standard deviations (zero for pruned terms).
    - `kept`: `(m,)` which terms survived the pruning.
    - `alpha`: `(m,)` the final prior precisions (of the standardised problem when standardised).
    - `noise_precision`: `β`, of the standardised problem when standardised.
    - `iterations`: how many iterations ran.
    - `converged`: whether the `tol` test stopped it (rather than `max_iter`).
    - `names`: the terms' names, if given.
    """

    coefficients: Float[Array, " m"]
    std: Float[Array, " m"]
    kept: Bool[Array, " m"]
    alpha: Float[Array, " m"]
    noise_precision: Array
    iterations: Int[Array, ""]
    converged: Bool[Array, ""]
    names: tuple[str, ...] | None = eqx.field(static=True, default=None)

    def terms(self) -> dict[str, tuple[float, float]]:
        """The kept terms as `{name: (coefficient, std)}` (names `"x0"`, `"x1"`, ... when none were given)."""
        names = self.names or tuple(f"x{i}" for i in range(self.coefficients.shape[0]))
        kept = np.asarray(self.kept)
        c, s = np.asarray(self.coefficients), np.asarray(self.std)
        return {n: (float(c[i]), float(s[i])) for i, n in enumerate(names) if kept[i]}

    def __str__(self) -> str:
        terms = self.terms()
        if not terms:
            return "0"
        return " + ".join(f"({c:.6g} ± {s:.2g}) {n}" for n, (c, s) in terms.items())


def _fit(gram, rhs, yy, n, alpha0, beta0, threshold, tol, max_iter):
    m = gram.shape[0]
    eye = jnp.eye(m, dtype=gram.dtype)

    def posterior(alpha, beta, kept):
        both = kept[:, None] & kept[None, :]
        a = jnp.where(both, beta * gram + jnp.diag(jnp.where(kept, alpha, 0.0)), eye)
        chol = jax.scipy.linalg.cho_factor(a, lower=True)
        sigma = jax.scipy.linalg.cho_solve(chol, eye)
        sigma = jnp.where(both, sigma, 0.0)
        mean = beta * sigma @ jnp.where(kept, rhs, 0.0)
        return sigma, mean

    def body(state):
        alpha, beta, kept, it, _, delta = state
        sigma, mean = posterior(alpha, beta, kept)
        gamma = jnp.where(kept, 1.0 - alpha * jnp.diag(sigma), 0.0)
        new_alpha = jnp.where(kept, gamma / jnp.maximum(mean**2, jnp.finfo(gram.dtype).tiny), alpha)
        resid = jnp.maximum(yy - 2 * mean @ rhs + mean @ gram @ mean, jnp.finfo(gram.dtype).tiny)
        new_beta = (n - jnp.sum(gamma)) / resid
        delta = jnp.max(jnp.where(kept, jnp.abs(new_alpha - alpha), 0.0))
        new_kept = kept & (new_alpha < threshold)
        done = (it + 1 >= 2) & (delta < tol)
        return new_alpha, new_beta, new_kept, it + 1, done, delta

    def cond(state):
        _, _, kept, it, done, _ = state
        return (~done) & (it < max_iter) & jnp.any(kept)

    alpha_start, beta_start = jnp.full(m, alpha0, gram.dtype), jnp.asarray(beta0, gram.dtype)
    state = (alpha_start, beta_start, jnp.ones(m, bool), jnp.asarray(0), jnp.asarray(False),
             jnp.asarray(jnp.inf, gram.dtype))  # fmt: skip
    alpha, beta, kept, it, done, _ = jax.lax.while_loop(cond, body, state)
    sigma, mean = posterior(alpha, beta, kept)
    return mean, jnp.sqrt(jnp.maximum(jnp.diag(sigma), 0.0)), kept, alpha, beta, it, done


def rvm(
    library: Float[ArrayLike, "n m"],  # noqa: F821
    target: Float[ArrayLike, " n"],
    *,
    threshold_alpha: float = 1e2,
    tol: float = 1e-1,
    max_iter: int = 3000,
    standardise: bool = True,
    alpha_init: float = 1e-6,
    beta_init: float = 1e-6,
    names: Sequence[str] | None = None,
) -> RVMResult:
    """Fit `target ≈ library @ w` by sparse Bayesian regression (module docstring).

    **Arguments:**

    - `library`: `(n, m)`, one column per candidate term.
    - `target`: `(n,)`.
    - `threshold_alpha`: prune a term when its prior precision reaches this (MEDIDA's KS runs: `1e2`).
    - `tol`: stop when the kept precisions change by less than this (MEDIDA's: `0.1`).
    - `max_iter`: the iteration limit (MEDIDA's: 3000).
    - `standardise`: scale the columns and the target to unit root mean square first (and the results back).
    - `alpha_init`, `beta_init`: the initial precisions (`1e-6`, as the reference).
    - `names`: the `m` terms' names, for `RVMResult.terms()` and `str`.
    """
    phi, y = np.asarray(library), np.asarray(target)
    if phi.ndim != 2:
        raise ValueError(f"`library` must have shape (n, m), got {phi.shape}")
    if y.ndim != 1 or y.shape[0] != phi.shape[0]:
        raise ValueError(f"`target` must have shape ({phi.shape[0]},) to match `library`, got {y.shape}")
    if not (np.all(np.isfinite(phi)) and np.all(np.isfinite(y))):
        raise ValueError("`library` and `target` must be finite")
    threshold_alpha = check_number("threshold_alpha", threshold_alpha, low=0.0, low_open=True)
    tol = check_number("tol", tol, low=0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter)
    standardise = check_bool("standardise", standardise)
    alpha_init = check_number("alpha_init", alpha_init, low=0.0, low_open=True)
    beta_init = check_number("beta_init", beta_init, low=0.0, low_open=True)
    if names is not None:
        names = tuple(str(n) for n in names)
        if len(names) != phi.shape[1]:
            raise ValueError(f"`names` must name the {phi.shape[1]} columns, got {len(names)}")
    col = np.sqrt(np.mean(phi**2, axis=0)) if standardise else np.ones(phi.shape[1])
    if np.any(col == 0):
        raise ValueError(f"`library` columns {np.flatnonzero(col == 0).tolist()} are identically zero")
    scale_y = float(np.sqrt(np.mean(y**2))) if standardise else 1.0
    if scale_y == 0:
        raise ValueError("`target` is identically zero: there is nothing to fit")
    phi_s = jnp.asarray(phi / col)
    y_s = jnp.asarray(y / scale_y)
    gram, rhs, yy = phi_s.T @ phi_s, phi_s.T @ y_s, y_s @ y_s
    mean, std, kept, alpha, beta, it, done = jax.jit(_fit, static_argnums=(8,))(
        gram, rhs, yy, phi.shape[0], alpha_init, beta_init, threshold_alpha, tol, max_iter
    )
    factor = jnp.asarray(scale_y / col, mean.dtype)
    return RVMResult(
        coefficients=mean * factor, std=std * factor, kept=kept, alpha=alpha, noise_precision=beta,
        iterations=it, converged=done, names=names,
    )  # fmt: skip
