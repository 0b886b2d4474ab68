"""Distances between sample sets, as the FKC paper's evaluation uses them: the RBF maximum mean discrepancy
over a range of bandwidths, the exact squared 2-Wasserstein distance between empirical measures (POT), and
the total variation between histograms."""

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import ArrayLike, Float

from scimlx.core.validate import check_int, check_number

__all__ = ["mmd_rbf", "total_variation", "w2_samples"]


def _check_pair(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"the samples must be (n, d) and (m, d) of one d, got {a.shape} and {b.shape}")
    return a, b


def mmd_rbf(
    x: Float[ArrayLike, "n d"],  # noqa: F821
    y: Float[ArrayLike, "m d"],  # noqa: F821
    *,
    bandwidths: ArrayLike = tuple(np.logspace(-2, 0, 10)),
    block: int = 1024,
) -> float:
    """The squared maximum mean discrepancy (biased V-statistic) with the kernel
    `k(a, b) = Σ_σ exp(-|a - b|^2 / (2 σ^2))` summed over `bandwidths` (default `10^linspace(-2, 0, 10)`,
    the FKC code's), computed in blocks of `block` rows (memory `block x m`)."""
    x, y = _check_pair(x, y)
    block = check_int("block", block)
    sig = np.asarray(bandwidths, float).ravel()
    if sig.size == 0 or np.any(sig <= 0):
        raise ValueError("`bandwidths` must be positive")
    inv = jnp.asarray(1.0 / (2 * sig**2))

    @jax.jit
    def mean_kernel(a, b):
        d2 = jnp.sum(a * a, 1)[:, None] + jnp.sum(b * b, 1)[None, :] - 2 * a @ b.T
        return jnp.sum(jnp.exp(-jnp.maximum(d2, 0)[..., None] * inv))

    def kbar(a, b):
        total = sum(
            float(mean_kernel(jnp.asarray(a[i : i + block]), jnp.asarray(b))) for i in range(0, len(a), block)
        )
        return total / (len(a) * len(b))

    return kbar(x, x) + kbar(y, y) - 2 * kbar(x, y)


def w2_samples(
    x: Float[ArrayLike, "n d"],  # noqa: F821
    y: Float[ArrayLike, "m d"],  # noqa: F821
) -> float:
    """The exact squared 2-Wasserstein distance between the empirical measures of `x` and `y` (uniform
    weights, squared Euclidean cost; POT's network simplex `ot.emd2`). The cost matrix is `n x m`: keep
    `n, m` to a few thousand."""
    import ot

    x, y = _check_pair(x, y)
    cost = ot.dist(x, y, metric="sqeuclidean")
    return float(
        ot.emd2(np.full(len(x), 1 / len(x)), np.full(len(y), 1 / len(y)), cost, numItermax=10_000_000)
    )


def total_variation(
    x: Float[ArrayLike, "n 2"],  # noqa: F821
    y: Float[ArrayLike, "m 2"],  # noqa: F821
    *,
    bins: int = 200,
    half_width: float = 1.0,
) -> float:
    """The total variation `Σ |p - q| / 2` between the normalised `bins x bins` histograms of two 2-D sample
    sets on `[-half_width, half_width]^2` (the FKC code's 200 x 200; samples outside are dropped)."""
    x, y = _check_pair(x, y)
    if x.shape[1] != 2:
        raise ValueError(f"`total_variation` is for 2-D samples, got d = {x.shape[1]}")
    bins = check_int("bins", bins)
    half_width = check_number("half_width", half_width, low=0.0, low_open=True)
    edges = np.linspace(-half_width, half_width, bins + 1)
    hx, _, _ = np.histogram2d(x[:, 0], x[:, 1], bins=[edges, edges])
    hy, _, _ = np.histogram2d(y[:, 0], y[:, 1], bins=[edges, edges])
    if hx.sum() == 0 or hy.sum() == 0:
        raise ValueError("no sample lies inside the histogram's box")
    return float(0.5 * np.abs(hx / hx.sum() - hy / hy.sum()).sum())
