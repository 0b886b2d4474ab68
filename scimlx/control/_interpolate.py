"""Interpolating sparse observations onto a grid with a random-Fourier-feature network (MEDIDA-QG).

MEDIDA's QG study reconstructs the full fields from observations at a random subset of grid points by fitting
a network to them; a plain MLP misses the small scales (spectral bias) and the discovery fails, while Gaussian
random Fourier features in front of it (Tancik et al. 2020) fix that. Its network: the coordinates scaled to
`[-π, π)`, 500 frequencies `B ~ N(0, σ²)` with `σ = 10` giving the 1000 features `[cos 2πBv, sin 2πBv]`, four
tanh layers of width 1000, a linear output; the loss the mean squared error over the mean squared target; Adam
(AMSGrad) at 0.01 for 200,000 full-batch steps. Here the network is the suite's
[`PINN`][scimlx.pinn.PINN] (one per field), trained by [`scimlx.train.fit`][]: a part of another family that
this method is built from, as the design allows, rather than a second Fourier-feature MLP.
"""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core import Box
from scimlx.core.validate import check_int, check_key, check_number

__all__ = ["RFFInterpolator"]


class RFFInterpolator(eqx.Module):
    """Fits a random-Fourier-feature network to scattered values of a 2-D field and evaluates it on a grid.

    **Arguments:**

    - `frequencies`: the number of random frequencies (features are twice as many); MEDIDA-QG: 500.
    - `sigma`: their standard deviation for coordinates scaled to `[-π, π)`; MEDIDA-QG: 10.
    - `width`, `depth`: the tanh layers; MEDIDA-QG: 1000 and 4.
    - `steps`: full-batch optimiser steps; MEDIDA-QG: 200,000.
    - `learning_rate`: AMSGrad's; MEDIDA-QG: 0.01.
    """

    frequencies: int = eqx.field(default=500, static=True)
    sigma: float = eqx.field(default=10.0, static=True)
    width: int = eqx.field(default=1000, static=True)
    depth: int = eqx.field(default=4, static=True)
    steps: int = eqx.field(default=200_000, static=True)
    learning_rate: float = eqx.field(default=0.01, static=True)

    def __check_init__(self):
        check_int("frequencies", self.frequencies)
        check_number("sigma", self.sigma, low=0.0, low_open=True)
        check_int("width", self.width)
        check_int("depth", self.depth)
        check_int("steps", self.steps)
        check_number("learning_rate", self.learning_rate, low=0.0, low_open=True)

    def __call__(
        self,
        points: Float[ArrayLike, "p 2"],  # noqa: F821
        values: Float[ArrayLike, " p"],
        box: Box,
        grid_points: Float[ArrayLike, "n 2"],  # noqa: F821
        *,
        key: PRNGKeyArray,
        progress: bool = False,
    ) -> Float[Array, " n"]:
        """Fit to `values` at `points` (inside `box`) and return the network at `grid_points`."""
        from scimlx.pinn import PINN
        from scimlx.train import RunOptions, fit

        key = check_key(key)
        points, values = jnp.asarray(points), jnp.asarray(values)
        if points.ndim != 2 or points.shape[1] != 2 or values.shape != points.shape[:1]:
            raise ValueError(
                f"`points` must be (p, 2) and `values` (p,), got {points.shape} and {values.shape}"
            )
        if not isinstance(box, Box) or box.ndim != 2:
            raise TypeError("`box` must be a 2-D scimlx Box")
        # PINN maps the box to [-1, 1]; cos(2π B v) with v = π z is cos(z B') with B' = 2π² B
        net = PINN(2, self.width, self.depth, box=box, fourier_features=2 * self.frequencies,
                   fourier_scale=2 * np.pi**2 * self.sigma, dtype=values.dtype, key=key)  # fmt: skip
        scale = jnp.mean(values**2)

        def loss(model, batch, *, key):
            z, v = batch
            return jnp.mean((jax.vmap(model)(z) - v) ** 2) / scale

        run = RunOptions(steps=self.steps, batch_size=points.shape[0], progress=progress)
        res = fit(net, loss, (points, values), optax.amsgrad(self.learning_rate), key=key, run=run)
        return res.model.predict(jnp.asarray(grid_points))
