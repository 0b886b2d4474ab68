"""Sequential-Monte-Carlo resampling from log-weights: systematic, stratified, multinomial and residual
schemes (the standard four, as blackjax names them), with properly normalised weights, and the effective
sample size.

Every scheme returns `N` ancestor indices whose expected offspring counts equal `N w_i` (unbiased); they
differ in variance: multinomial > stratified >= systematic (in practice), residual in between.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jaxtyping import Array, ArrayLike, Float, Int, PRNGKeyArray

from scimlx.core.validate import check_choice, check_int, check_key

__all__ = ["RESAMPLING", "effective_sample_size", "normalised_weights", "resample"]


def normalised_weights(log_weights: Float[ArrayLike, " n"]) -> Float[Array, " n"]:
    """`softmax(log_weights)`: weights summing to one (stable for any shift of the log-weights)."""
    return jax.nn.softmax(jnp.asarray(log_weights))


def effective_sample_size(log_weights: Float[ArrayLike, " n"]) -> Array:
    """Kish's effective sample size `1 / Σ w_i^2` of the normalised weights, in `[1, n]`."""
    w = normalised_weights(log_weights)
    return 1.0 / jnp.sum(w * w)


def _inverse_cdf(w, positions):
    cdf = jnp.cumsum(w)
    cdf = cdf / cdf[-1]  # the last entry exactly one
    return jnp.clip(jnp.searchsorted(cdf, positions, side="right"), 0, w.shape[0] - 1)


def _systematic(key, w, num):
    u = jax.random.uniform(key, (), w.dtype)
    return _inverse_cdf(w, (u + jnp.arange(num, dtype=w.dtype)) / num)


def _stratified(key, w, num):
    u = jax.random.uniform(key, (num,), w.dtype)
    return _inverse_cdf(w, (u + jnp.arange(num, dtype=w.dtype)) / num)


def _multinomial(key, w, num):
    return jax.random.choice(key, w.shape[0], (num,), p=w)


def _residual(key, w, num):
    """`floor(num w_i)` copies of each particle, the remaining `R` drawn multinomially from the residual
    weights `num w_i - floor(num w_i)`."""
    counts = jnp.floor(num * w)
    residual = num * w - counts
    total = jnp.sum(residual)
    residual = jnp.where(total > 0, residual / jnp.where(total > 0, total, 1.0), 1.0 / w.shape[0])
    cum = jnp.cumsum(counts.astype(jnp.int32))
    pos = jnp.arange(num)
    deterministic = jnp.clip(jnp.searchsorted(cum, pos, side="right"), 0, w.shape[0] - 1)
    drawn = jax.random.choice(key, w.shape[0], (num,), p=residual)
    return jnp.where(pos < cum[-1], deterministic, drawn)


_SCHEMES: dict[str, Callable] = {
    "systematic": _systematic,
    "stratified": _stratified,
    "multinomial": _multinomial,
    "residual": _residual,
}
RESAMPLING = tuple(_SCHEMES)


def resample(
    key: PRNGKeyArray,
    log_weights: Float[ArrayLike, " n"],
    *,
    method: str = "systematic",
    num: int | None = None,
) -> Int[Array, " num"]:
    """Ancestor indices drawn from the normalised weights `softmax(log_weights)`.

    **Arguments:**

    - `key`: a PRNG key.
    - `log_weights`: `(n,)` unnormalised log-weights (`-inf` for a dead particle; not all of them).
    - `method`: `"systematic"` (one uniform; the FKC code's default), `"stratified"` (a uniform per stratum),
        `"multinomial"` or `"residual"`.
    - `num`: how many indices (default `n`).
    """
    key = check_key(key)
    check_choice("method", method, RESAMPLING)
    log_weights = jnp.asarray(log_weights)
    if log_weights.ndim != 1:
        raise ValueError(f"`log_weights` must be 1-D, got shape {log_weights.shape}")
    num = log_weights.shape[0] if num is None else check_int("num", num)
    return _SCHEMES[method](key, normalised_weights(log_weights), num)
