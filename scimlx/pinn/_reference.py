"""Numerical reference solutions of the benchmark problems that have no closed form, computed with the core's
time steppers and grid fields (nothing here is a second solver)."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from scimlx.core import Box, Grid, GridField
from scimlx.core.equations import NonlinearDiffusion
from scimlx.core.stepping import ETDRK, rfft_wavenumbers, rk_step, rollout
from scimlx.core.validate import check_int, check_multiple, check_number


def allen_cahn_reference(
    n_x: int = 512,
    n_t: int = 201,
    *,
    dt: float = 1e-4,
    diffusivity: float = 1e-4,
    reaction: float = 5.0,
    t_final: float = 1.0,
) -> tuple[Float[Array, " n_x"], Float[Array, " n_t"], Float[Array, "n_t n_x"]]:
    """The periodic Allen-Cahn solution `u_t = D u_xx - a(u³ - u)` on `[-1, 1)` from `u0 = x² cos(πx)`,
    by Fourier pseudo-spectral ETDRK4 (the JAX-PI/PIG benchmark; JAX-PI's data has the same 512 x 201 grid).

    **Arguments:**

    - `n_x`: Fourier points on `[-1, 1)` (even).
    - `n_t`: stored times, uniform on `[0, t_final]`, `t = 0` included.
    - `dt`: the ETDRK4 step; `t_final / (n_t - 1)` must be a multiple of it.
    - `diffusivity`, `reaction`: `D` and `a`.
    - `t_final`: the final time.

    **Returns:** `(x, t, u)` with `u[i, j] = u(x_j, t_i)`, in JAX's default float dtype.
    """
    n_x = check_int("n_x", n_x, low=4)
    n_t = check_int("n_t", n_t, low=2)
    dt = check_number("dt", dt, low=0, low_open=True)
    check_number("diffusivity", diffusivity, low=0)
    check_number("reaction", reaction)
    t_final = check_number("t_final", t_final, low=0, low_open=True)
    every = check_multiple("t_final / (n_t - 1)", t_final / (n_t - 1), dt)
    dtype = jnp.result_type(float)
    x = jnp.asarray(-1.0 + 2.0 * np.arange(n_x) / n_x, dtype)
    (k,) = rfft_wavenumbers((n_x,), 2.0)
    linear = -diffusivity * k**2

    def nonlinear(u_hat):
        u = jnp.fft.irfft(u_hat, n=n_x)
        return jnp.fft.rfft(reaction * (u - u**3))

    step = ETDRK(linear, nonlinear, dt, order=4)
    u0_hat = jnp.fft.rfft(x**2 * jnp.cos(jnp.pi * x))
    traj = jax.jit(lambda v: rollout(step, v, n_t - 1, every, include_init=True))(u0_hat)
    u = jnp.fft.irfft(traj, n=n_x, axis=-1).astype(dtype)
    t = jnp.asarray(np.linspace(0.0, t_final, n_t), dtype)
    return x, t, u


def nonlinear_diffusion_initial(z: Array) -> Array:
    """The SPINN/PIG initial condition: three Gaussian bumps on `[-1, 1]²` (`z = (x, y[, t])`)."""
    x, y = z[0], z[1]
    return (
        0.25 * jnp.exp(-((x - 0.3) ** 2 + (y - 0.2) ** 2) / 0.1)
        + 0.4 * jnp.exp(-15 * ((x + 0.5) ** 2 + (y + 0.1) ** 2))
        + 0.3 * jnp.exp(-20 * (x**2 + (y + 0.5) ** 2))
    )


def nonlinear_diffusion_reference(
    n_x: int = 201,
    n_t: int = 101,
    *,
    alpha: float = 0.05,
    t_final: float = 1.0,
    cfl: float = 0.5,
) -> tuple[Float[Array, " n_x"], Float[Array, " n_t"], Float[Array, "n_t n_x n_x"]]:
    """The solution of `u_t = α∇·(u∇u)` on `[-1, 1]²` with `u = 0` on the walls, from
    [`nonlinear_diffusion_initial`][scimlx.pinn.nonlinear_diffusion_initial], by the method of lines: the
    conservative second-order finite-volume flux of [`NonlinearDiffusion`][scimlx.core.NonlinearDiffusion] on
    a [`GridField`][scimlx.core.GridField] and classical RK4 in time.

    The step is `cfl` times RK4's stability limit `2.78 / λ_max` with `λ_max = 8 α max(u0) / h²` (the maximum
    principle keeps `u <= max u0`), rounded down so that it divides the storage interval.

    **Arguments:**

    - `n_x`: nodes per axis, walls included (spacing `2 / (n_x - 1)`); the error is second order in it.
    - `n_t`: stored times, uniform on `[0, t_final]`, `t = 0` included.
    - `alpha`: `α`.
    - `t_final`: the final time.
    - `cfl`: fraction of the stability limit, in `(0, 1]`.

    **Returns:** `(x, t, u)` with `u[i, j, l] = u(x_j, x_l, t_i)` (the same nodes on both axes).
    """
    n_x = check_int("n_x", n_x, low=5)
    n_t = check_int("n_t", n_t, low=2)
    alpha = check_number("alpha", alpha, low=0)
    t_final = check_number("t_final", t_final, low=0, low_open=True)
    cfl = check_number("cfl", cfl, low=0, high=1, low_open=True)
    dtype = jnp.result_type(float)
    grid = Grid((n_x, n_x), Box((-1.0, -1.0), (1.0, 1.0)))
    u0 = grid.evaluate(nonlinear_diffusion_initial, dtype)
    interior = jnp.zeros(grid.shape, bool).at[1:-1, 1:-1].set(True)
    u0 = jnp.where(interior, u0, 0.0)
    h = grid.spacing[0]
    lam = 8 * max(alpha, 1e-12) * float(jnp.max(u0)) / h**2
    interval = t_final / (n_t - 1)
    every = max(1, math.ceil(interval / (cfl * 2.78 / lam)))
    dt = interval / every
    eq = NonlinearDiffusion(alpha=alpha)

    def rhs(_, u):
        return jnp.where(interior, alpha * GridField(u, grid).div_flux(GridField(u, grid)), 0.0)

    del eq  # the flux above is the spatial part of `NonlinearDiffusion.residual` on this grid
    step = jax.jit(lambda v: rollout(lambda w: rk_step(rhs, 0.0, w, dt, "rk4"), v, n_t - 1, every,
                                     include_init=True))
    u = step(u0).astype(dtype)
    t = jnp.asarray(np.linspace(0.0, t_final, n_t), dtype)
    return grid.axes(dtype)[0], t, u
