"""Two-dimensional toy distributions of the ODE-SDE-gap paper (as its code's `data_dists.py`
defines them): nine Gaussian blobs, two circles, a checkerboard."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_choice, check_int, check_key

__all__ = ["TOY_2D", "sample_toy_2d"]

TOY_2D = ("blob", "circles2", "checker")
_BLOB_CENTRES = ((0, 0), (2, 2), (2, -2), (-2, 2), (-2, -2), (4, 0), (-4, 0), (0, 4), (0, -4))


def sample_toy_2d(name: str, key: PRNGKeyArray, num_samples: int) -> Float[Array, "num_samples 2"]:  # noqa: F821
    """Samples of a 2-D toy distribution.

    - `"blob"`: nine isotropic Gaussians (covariance 0.2 I) at (0, 0), (±2, ±2), (±4, 0), (0, ±4), equal
      weights, then every coordinate scaled by 0.65;
    - `"circles2"`: two rings of radius 1.3 and 2.8, radial standard deviation 0.2, equal mass;
    - `"checker"`: uniform on 8 of the 16 cells (side 1.5) of a 4 x 4 checkerboard on `[-3, 3]^2`, the cells
      whose row and column indices have an even sum.

    **Arguments:**

    - `name`: one of `TOY_2D`.
    - `key`: a PRNG key.
    - `num_samples`: the number of points.
    """
    check_choice("name", name, TOY_2D)
    key = check_key(key)
    n = check_int("num_samples", num_samples)
    k1, k2, k3 = jax.random.split(key, 3)
    if name == "blob":
        centres = jnp.asarray(_BLOB_CENTRES, float)
        which = jax.random.randint(k1, (n,), 0, centres.shape[0])
        x = centres[which] + jnp.sqrt(0.2) * jax.random.normal(k2, (n, 2))
        return 0.65 * x
    if name == "circles2":
        radius = jnp.where(jax.random.bernoulli(k1, 0.5, (n,)), 1.3, 2.8) + 0.2 * jax.random.normal(k2, (n,))
        angle = jax.random.uniform(k3, (n,), maxval=2 * jnp.pi)
        return jnp.stack([radius * jnp.cos(angle), radius * jnp.sin(angle)], axis=1)
    # checker: pick one of the 8 black cells, then a uniform point in it
    cells = jnp.asarray([(i, j) for i in range(4) for j in range(4) if (i + j) % 2 == 0], float)
    which = jax.random.randint(k1, (n,), 0, cells.shape[0])
    return -3.0 + 1.5 * (cells[which] + jax.random.uniform(k2, (n, 2)))
