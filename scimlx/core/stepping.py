"""Time integrators for semi-linear PDEs `u_t = L u + N(u)` and explicit Runge-Kutta steps.

This module provides

- [`scimlx.core.stepping.ETDRK`][]: exponential time differencing Runge-Kutta of order 1, 2 or 4
    (Cox & Matthews 2002) with coefficients computed by the complex contour integral of Kassam &
    Trefethen (2005), for a linear operator `L` that is diagonal in Fourier space;
- [`scimlx.core.stepping.CNEuler`][]: Crank-Nicolson for `L` with forward Euler for `N`, the
    scheme of the FNO Navier-Stokes data;
- [`scimlx.core.stepping.CNAB2`][]: Crank-Nicolson for `L` with second-order Adams-Bashforth for
    `N`, the one-step "imperfect model" integrator of MEDIDA;
- [`scimlx.core.stepping.rk_step`][]: one explicit Runge-Kutta step (Euler, midpoint, Heun, SSP-RK3,
    RK4) of `u_t = f(t, u)`, used by the finite-volume generators;
- helpers for Fourier pseudo-spectral solvers: [`scimlx.core.stepping.rfft_wavenumbers`][] and
    [`scimlx.core.stepping.dealias_mask`][], and [`scimlx.core.stepping.rollout`][], which applies a
    step repeatedly and keeps every `save_every`-th state.

The spectral steppers work on Fourier coefficients `u_hat` of whatever layout the caller chooses
(typically `jnp.fft.rfftn` over the spatial axes); `L` must broadcast against `u_hat` and the
nonlinear function maps `u_hat -> N_hat`. Everything is a pure function or an Equinox module, so
`jax.jit`, `jax.vmap` and `jax.lax.scan` go through it.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Bool, Complex, Float

from .validate import check_callable, check_choice, check_int, check_number

__all__ = [
    "CNAB2",
    "CNEuler",
    "ETDRK",
    "dealias_mask",
    "etdrk_coefficients",
    "rfft_wavenumbers",
    "rk_step",
    "rollout",
]


# ---------------------------------------------------------------------------------------------------------
# Fourier helpers


def rfft_wavenumbers(
    shape: Sequence[int], lengths: float | Sequence[float] = 1.0
) -> tuple[Float[np.ndarray, "..."], ...]:
    """Angular wavenumbers `2 pi k / L` of `jnp.fft.rfftn` over a periodic grid of `shape`.

    **Arguments:**

    - `shape`: the number of grid points per spatial axis.
    - `lengths`: the domain length per axis (a number applies to every axis).

    **Returns:**

    One array per axis, shaped to broadcast against the `rfftn` coefficients (the last axis has
    `shape[-1] // 2 + 1` entries).
    """
    shape = tuple(check_int(f"shape[{i}]", n) for i, n in enumerate(shape))
    d = len(shape)
    if isinstance(lengths, numbers.Real):
        lengths = (float(lengths),) * d
    if len(lengths) != d:
        raise ValueError(f"`lengths` must have {d} entries, got {len(lengths)}")
    ks = []
    for i, (n, length) in enumerate(zip(shape, lengths)):
        check_number(f"lengths[{i}]", length, low=0, low_open=True)
        if i == d - 1:
            k = 2 * np.pi * np.fft.rfftfreq(n, d=length / n)
        else:
            k = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
        bshape = [1] * d
        bshape[i] = k.size
        ks.append(k.reshape(bshape))
    return tuple(ks)


def dealias_mask(shape: Sequence[int], fraction: float = 2 / 3) -> Bool[np.ndarray, "..."]:
    """The square low-pass mask of the `2/3` rule for `rfftn` coefficients of a grid of `shape`.

    A mode is kept when `|k_i| <= fraction * (n_i // 2)` on every axis (integer wavenumbers `k_i`).

    **Arguments:**

    - `shape`: the number of grid points per spatial axis.
    - `fraction`: the kept fraction of the largest resolved wavenumber (`2/3` for quadratic terms).
    """
    check_number("fraction", fraction, low=0, high=1, low_open=True)
    shape = tuple(check_int(f"shape[{i}]", n) for i, n in enumerate(shape))
    d = len(shape)
    mask = np.ones([1] * d, dtype=bool)
    for i, n in enumerate(shape):
        k = np.fft.rfftfreq(n, d=1 / n) if i == d - 1 else np.fft.fftfreq(n, d=1 / n)
        bshape = [1] * d
        bshape[i] = k.size
        mask = mask & (np.abs(k) <= fraction * (n // 2)).reshape(bshape)
    return mask


# ---------------------------------------------------------------------------------------------------------
# Exponential time differencing


def _complex_dtype(dtype) -> np.dtype:
    return jnp.result_type(dtype, jnp.complex64)


def etdrk_coefficients(
    linear: Complex[ArrayLike, "..."],
    dt: float,
    order: Literal[1, 2, 4] = 4,
    *,
    n_circle: int = 16,
    radius: float = 1.0,
) -> dict[str, Array]:
    """The coefficients of the ETDRK scheme of `order` for the diagonal linear operator `linear`.

    The functions `phi(z)` with removable singularities at `z = 0` are evaluated, where
    `|z| < radius / 2` (`z = linear * dt`), as the mean over `n_circle` points
    `z + radius * exp(2 pi i (j - 1/2) / n_circle)` of a full circle around `z` (Kassam & Trefethen 2005,
    with the full circle so that complex, e.g. dispersive, operators are handled), and by their closed
    forms elsewhere, where they are accurate and where the circle could pass through the pole at 0.
    When `linear` is a concrete array everything is evaluated in complex128 on the host and cast to
    the working precision afterwards.

    **Arguments:**

    - `linear`: the diagonal of `L` in Fourier space (real or complex).
    - `dt`: the time step.
    - `order`: 1, 2 or 4.
    - `n_circle`: the number of contour points.
    - `radius`: the contour radius.

    **Returns:**

    A dict of arrays shaped like `linear`: `exp` (`e^{L dt}`) and, by order, `phi1` (order 1),
    `phi1`, `phi2` (order 2), `exp_half`, `q`, `f1`, `f2`, `f3` (order 4); each already multiplied by
    the powers of `dt` the update needs.
    """
    dt = check_number("dt", dt, low=0, low_open=True)
    check_choice("order", order, (1, 2, 4))
    check_int("n_circle", n_circle)
    radius = check_number("radius", radius, low=0, low_open=True)
    out_dtype = _complex_dtype(jnp.asarray(linear).dtype)
    try:
        lin = np.asarray(linear, dtype=np.complex128)
        xp = np
    except (TypeError, jax.errors.TracerArrayConversionError, jax.errors.ConcretizationTypeError):
        lin = jnp.asarray(linear).astype(out_dtype)
        xp = jnp
    c = lin * dt
    # Near z = 0 the closed forms cancel catastrophically: there, average over a circle of `radius` around z.
    # Far from 0 the closed forms are accurate and the circle could pass through a pole (|z| = radius).
    near = xp.abs(c) < 0.5 * radius
    c_far = xp.where(near, 1.0, c)
    roots = radius * np.exp(2j * np.pi * (np.arange(1, n_circle + 1) - 0.5) / n_circle)
    z = xp.where(near, c, 0.0)[..., None] + roots

    def phi(fn):
        return dt * xp.where(near, xp.mean(fn(z), axis=-1), fn(c_far))

    phi1 = lambda z: (xp.exp(z) - 1) / z
    coef = {"exp": xp.exp(c)}
    if order == 1:
        coef["phi1"] = phi(phi1)
    elif order == 2:
        coef["phi1"] = phi(phi1)
        coef["phi2"] = phi(lambda z: (xp.exp(z) - 1 - z) / z**2)
    else:
        coef["exp_half"] = xp.exp(c / 2)
        coef["q"] = phi(lambda z: (xp.exp(z / 2) - 1) / z)
        coef["f1"] = phi(lambda z: (-4 - z + xp.exp(z) * (4 - 3 * z + z**2)) / z**3)
        coef["f2"] = phi(lambda z: (2 + z + xp.exp(z) * (z - 2)) / z**3)
        coef["f3"] = phi(lambda z: (-4 - 3 * z - z**2 + xp.exp(z) * (4 - z)) / z**3)
    return {k: jnp.asarray(v).astype(out_dtype) for k, v in coef.items()}


class ETDRK(eqx.Module):
    """Exponential time differencing Runge-Kutta step for `u_t = L u + N(u)` in Fourier space.

    **Arguments:**

    - `linear`: the diagonal of `L` in Fourier space, broadcasting against the state `u_hat`.
    - `nonlinear`: a function `u_hat -> N_hat` (the nonlinear and forcing terms, in Fourier space).
    - `dt`: the time step.
    - `order`: 1 (exponential Euler), 2 (ETDRK2) or 4 (ETDRK4 of Cox & Matthews, eqs. 26-29).
    - `n_circle`, `radius`: the contour of [`scimlx.core.stepping.etdrk_coefficients`][].

    The linear part is integrated exactly; the scheme is of `order` in time for smooth solutions.
    Use float64 (`jax.enable_x64`) for order 4 when errors below ~1e-6 matter.
    """

    coefficients: dict[str, Array]
    nonlinear: Callable[[Array], Array]
    dt: float = eqx.field(static=True)
    order: int = eqx.field(static=True)

    def __init__(
        self,
        linear: Complex[ArrayLike, "..."],
        nonlinear: Callable[[Array], Array],
        dt: float,
        order: Literal[1, 2, 4] = 4,
        *,
        n_circle: int = 16,
        radius: float = 1.0,
    ):
        check_callable("nonlinear", nonlinear)
        self.coefficients = etdrk_coefficients(linear, dt, order, n_circle=n_circle, radius=radius)
        self.nonlinear = nonlinear
        self.dt = float(dt)
        self.order = order

    def __call__(self, u_hat: Complex[Array, "..."]) -> Complex[Array, "..."]:
        """Advance `u_hat` by one step `dt`."""
        dtype = u_hat.dtype
        c = {k: v.astype(dtype) for k, v in self.coefficients.items()}
        n0 = self.nonlinear(u_hat)
        if self.order == 1:
            return (c["exp"] * u_hat + c["phi1"] * n0).astype(dtype)
        if self.order == 2:
            a = c["exp"] * u_hat + c["phi1"] * n0
            return (a + c["phi2"] * (self.nonlinear(a) - n0)).astype(dtype)
        e2, q = c["exp_half"], c["q"]
        a = e2 * u_hat + q * n0
        na = self.nonlinear(a)
        b = e2 * u_hat + q * na
        nb = self.nonlinear(b)
        cc = e2 * a + q * (2 * nb - n0)
        nc = self.nonlinear(cc)
        out = c["exp"] * u_hat + c["f1"] * n0 + 2 * c["f2"] * (na + nb) + c["f3"] * nc
        return out.astype(dtype)


# ---------------------------------------------------------------------------------------------------------
# Crank-Nicolson IMEX schemes


class _CrankNicolson(eqx.Module):
    """Shared state of the Crank-Nicolson IMEX schemes: `(1 + dt L / 2)`, `1 / (1 - dt L / 2)` and `N`."""

    plus: Array
    inv_minus: Array
    nonlinear: Callable[[Array], Array]
    dt: float = eqx.field(static=True)

    def __init__(self, linear: Complex[ArrayLike, "..."], nonlinear: Callable[[Array], Array], dt: float):
        dt = check_number("dt", dt, low=0, low_open=True)
        check_callable("nonlinear", nonlinear)
        linear = jnp.asarray(linear)
        self.plus = 1 + 0.5 * dt * linear
        self.inv_minus = 1 / (1 - 0.5 * dt * linear)
        self.nonlinear = nonlinear
        self.dt = dt

    def _advance(self, u_hat: Array, n_hat: Array) -> Array:
        """`[(1 + dt L / 2) u_hat + dt n_hat] / (1 - dt L / 2)` in the dtype of `u_hat`."""
        return ((self.plus * u_hat + self.dt * n_hat) * self.inv_minus).astype(u_hat.dtype)


class CNEuler(_CrankNicolson):
    """Crank-Nicolson for `L`, forward Euler for `N`: the scheme of the FNO Navier-Stokes data.

    `u_hat+ = [(1 + dt L / 2) u_hat + dt N(u_hat)] / (1 - dt L / 2)`; first order in time (second
    order for the linear part alone).

    **Arguments:**

    - `linear`: the diagonal of `L` in Fourier space.
    - `nonlinear`: a function `u_hat -> N_hat`.
    - `dt`: the time step.
    """

    def __call__(self, u_hat: Complex[Array, "..."]) -> Complex[Array, "..."]:
        """Advance `u_hat` by one step `dt`."""
        return self._advance(u_hat, self.nonlinear(u_hat))


class CNAB2(_CrankNicolson):
    """Crank-Nicolson for `L`, second-order Adams-Bashforth for `N` (two-step, second order).

    `u_hat^{n+1} = [(1 + dt L / 2) u_hat^n + 3 dt / 2 N^n - dt / 2 N^{n-1}] / (1 - dt L / 2)`.
    Called as `step(u_hat_prev, u_hat)`; [`scimlx.core.stepping.CNAB2.start`][] takes the first step
    from a single state with [`scimlx.core.stepping.CNEuler`][].

    **Arguments:**

    - `linear`: the diagonal of `L` in Fourier space (any extra linear terms of a model included).
    - `nonlinear`: a function `u_hat -> N_hat` (any extra nonlinear terms included).
    - `dt`: the time step.
    """

    def __call__(
        self, u_hat_prev: Complex[Array, "..."], u_hat: Complex[Array, "..."]
    ) -> Complex[Array, "..."]:
        """The state at `t + dt` from the states at `t - dt` and `t`."""
        n_prev = self.nonlinear(u_hat_prev)
        n = self.nonlinear(u_hat)
        return self._advance(u_hat, 1.5 * n - 0.5 * n_prev)

    def start(self, u_hat: Complex[Array, "..."]) -> Complex[Array, "..."]:
        """A first step from a single state (Crank-Nicolson / forward Euler)."""
        return self._advance(u_hat, self.nonlinear(u_hat))


# ---------------------------------------------------------------------------------------------------------
# Explicit Runge-Kutta and rollouts

_RK_METHODS = ("euler", "midpoint", "heun", "ssprk3", "rk4")


def rk_step(
    f: Callable[[Array, Array], Array],
    t: float | Array,
    u: Array,
    dt: float | Array,
    method: Literal["euler", "midpoint", "heun", "ssprk3", "rk4"] = "rk4",
) -> Array:
    """One explicit Runge-Kutta step of `u_t = f(t, u)`.

    **Arguments:**

    - `f`: the right-hand side `f(t, u)`; `u` may be any pytree of arrays.
    - `t`, `u`: the current time and state.
    - `dt`: the step (may be a traced scalar, e.g. from a CFL condition).
    - `method`: `"euler"` (order 1), `"midpoint"` (order 2, the two-stage scheme of the PDEBench
        finite-volume generators), `"heun"` (order 2, SSP), `"ssprk3"` (Shu-Osher, order 3, SSP) or
        `"rk4"` (classical, order 4).
    """
    check_choice("method", method, _RK_METHODS)
    tm = jax.tree_util.tree_map

    def axpy(a, x, y):  # y + a x
        return tm(lambda xi, yi: yi + a * xi, x, y)

    if method == "euler":
        return axpy(dt, f(t, u), u)
    if method == "midpoint":
        k1 = f(t, u)
        return axpy(dt, f(t + dt / 2, axpy(dt / 2, k1, u)), u)
    if method == "heun":
        u1 = axpy(dt, f(t, u), u)
        u2 = axpy(dt, f(t + dt, u1), u1)
        return tm(lambda a, b: (a + b) / 2, u, u2)
    if method == "ssprk3":
        u1 = axpy(dt, f(t, u), u)
        u2 = tm(lambda a, b, c: 0.75 * a + 0.25 * (b + dt * c), u, u1, f(t + dt, u1))
        return tm(lambda a, b, c: a / 3 + 2 / 3 * (b + dt * c), u, u2, f(t + dt / 2, u2))
    k1 = f(t, u)
    k2 = f(t + dt / 2, axpy(dt / 2, k1, u))
    k3 = f(t + dt / 2, axpy(dt / 2, k2, u))
    k4 = f(t + dt, axpy(dt, k3, u))
    return tm(lambda ui, a, b, c, d: ui + dt / 6 * (a + 2 * b + 2 * c + d), u, k1, k2, k3, k4)


def rollout(
    step: Callable[[Array], Array],
    u0: Array,
    n_saves: int,
    save_every: int = 1,
    *,
    include_init: bool = False,
) -> Array:
    """Apply `step` `n_saves * save_every` times and stack every `save_every`-th state.

    **Arguments:**

    - `step`: one time step `u -> u_next` (any pytree state).
    - `u0`: the initial state.
    - `n_saves`: the number of states kept.
    - `save_every`: the number of steps between kept states.
    - `include_init`: also keep `u0` (as the first entry).

    **Returns:**

    The kept states stacked along a new leading axis (`n_saves`, or `n_saves + 1` with `u0`).
    """
    n_saves = check_int("n_saves", n_saves, low=0)
    save_every = check_int("save_every", save_every)

    def outer(u, _):
        u = jax.lax.fori_loop(0, save_every, lambda i, v: step(v), u)
        return u, u

    _, traj = jax.lax.scan(outer, u0, None, length=n_saves)
    if include_init:
        traj = jax.tree_util.tree_map(lambda a, b: jnp.concatenate([a[None], b]), u0, traj)
    return traj
