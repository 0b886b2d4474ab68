"""PDEBench's 1-D finite-volume data recipes: linear advection and viscous Burgers on the periodic [0, 1).

Both equations are solved as PDEBench does (`data_gen_NLE/AdvectionEq`, `BurgersEq`), in conservation form on
`nx` cells of `[0, 1)` with centres `xc_i = (i + 1/2) dx`, `dx = 1 / nx`, periodic:

- **Reconstruction** ([`muscl_faces`][]): piecewise-linear MUSCL. With the one-sided differences
  `a_i = u_i - u_{i-1}`, `b_i = u_{i+1} - u_i` and the central difference `c_i = (u_{i+1} - u_{i-1}) / 2`,
  the slope is `s_i = sign(c_i) [a_i b_i > 0] min(2 min(|a_i|, |b_i|), |c_i|)` (`"mc"`, the
  monotonized-central limiter: PDEBench's `VLlimiter` with `alpha = 2`, whose factor `(1 + sign(a b)) / 2`
  differs from `[a b > 0]` only where `a b = 0`, where the slope is 0 either way), or
  `s_i = sign(a_i) [a_i b_i > 0] min(|a_i|, |b_i|)` (`"minmod"`). The face states at `x_{i+1/2}` are
  `u^-_{i+1/2} = u_i + s_i / 2` (from the left cell) and `u^+_{i+1/2} = u_{i+1} - s_{i+1} / 2` (from the
  right cell).
- **Fluxes.** Advection `u_t + beta u_x = 0`: the upwind flux
  `F = (beta u^- + beta u^+) / 2 - |beta| (u^+ - u^-) / 2`. Burgers `u_t + (u^2 / 2)_x = (nu / pi) u_xx`: the
  local Lax-Friedrichs (Rusanov) flux with speed `|u^- + u^+| / 2`,
  `F = ((u^-)^2 / 2 + (u^+)^2 / 2) / 2 - |u^- + u^+| (u^+ - u^-) / 4`, plus the central viscous flux
  `-(nu / pi) (u_{i+1} - u_i) / dx` on the cell averages. Then `du_i / dt = -(F_{i+1/2} - F_{i-1/2}) / dx`,
  which conserves `sum_i u_i` exactly (up to round-off).
- **Time stepping**: the two-stage midpoint predictor-corrector `u* = u + dt/2 L(u)`, `u' = u + dt L(u*)`,
  with `dt = cfl dx / |beta|` (advection, `cfl = 0.4`) or `dt = cfl min(dx / max|u|, dx^2 / (2 nu / pi))`
  (Burgers, `cfl = 0.25`, recomputed every step from the current `u`). Every step is shortened so that the
  save times `k dt_save` are hit exactly: one `lax.while_loop` per save interval, inside a `lax.scan` over the
  intervals (vmap over samples with different parameters works; the batch runs until its slowest member
  is done).
- **Initial condition**: [`pdebench_initial_condition`][] (`k_tot = 4`, two modes, random `|.|`, sign and
  window), with PDEBench's non-periodic period `1 - dx` by default (`exact_period` switches it off).

The recipes `advection_1d` and `burgers_1d_pdebench` store per sample `u` of shape `(n_frames, nx)` (frame 0
is the initial condition; `n_frames = t_final / dt_save + 1`, 201 for PDEBench) and the PDE parameter
(`beta` or `nu`, shape `()`); a tuple of parameters is cycled over the samples (sample `i` uses
`value[i % len(value)]`), which is what the parameter-conditioned CAPE models train on. `pairs` makes
`x = u[:, :t_in]` and `y = u[:, t_in:t_in + t_out]` (`t_out = None`: every remaining frame) with the time
frames as channels.

**Cost.** The number of steps is `t_final / dt`: `~ 2 nx |beta| / 0.4` for advection, and for Burgers
`~ 2 max(4 nx max|u|, 8 nx^2 nu / pi)`, i.e. quadratic in `nx` and linear in `nu` once diffusion limits the
step. The CPU defaults (`resolution = 256`, `beta = 1`, `nu = 0.01`) generate tens of samples per second;
the `paper` preset (1024 cells, PDEBench's full parameter lists) is cheap for advection but, for Burgers,
`nu = 4` needs about 2e7 steps per sample (hours on a CPU; a GPU job, as in PDEBench). Under `vmap` a chunk
runs as long as its stiffest member, so mixed parameter lists cost the price of their largest `nu`.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.geometry import Box, Grid
from scimlx.core.stepping import rk_step
from scimlx.core.validate import check_bool, check_choice, check_int, check_multiple, check_number

from ._pdebench_ic import pdebench_initial_condition
from ._recipe import Recipe

__all__ = [
    "ADVECTION_RECIPE",
    "BURGERS_RECIPE",
    "CAPE_ADVECTION_BETAS",
    "CAPE_BURGERS_NUS",
    "PDEBENCH_ADVECTION_BETAS",
    "PDEBENCH_BURGERS_NUS",
    "LIMITERS",
    "advection_fv_solve",
    "burgers_fv_solve",
    "muscl_faces",
    "pdebench_initial_condition",
]

#: The advection speeds of PDEBench's public 1-D advection files.
PDEBENCH_ADVECTION_BETAS: tuple[float, ...] = (0.1, 0.2, 0.4, 0.7, 1.0, 2.0, 4.0, 7.0)
#: The viscosities of PDEBench's public 1-D Burgers files (the PDE uses `nu / pi`).
PDEBENCH_BURGERS_NUS: tuple[float, ...] = (
    0.001,
    0.002,
    0.004,
    0.01,
    0.02,
    0.04,
    0.1,
    0.2,
    0.4,
    1.0,
    2.0,
    4.0,
)
#: CAPE's training list for advection (`config_PrmEmbd_Adv.yaml`).
CAPE_ADVECTION_BETAS: tuple[float, ...] = (0.2, 0.4, 0.7, 2.0, 4.0)
#: CAPE's training list for Burgers (`config_PrmEmbd_Bgs.yaml`); 0.007 is not among PDEBench's public files.
CAPE_BURGERS_NUS: tuple[float, ...] = (0.002, 0.007, 0.02, 0.04, 0.2, 0.4, 2.0)
#: The slope limiters of [`muscl_faces`][].
LIMITERS: tuple[str, ...] = ("mc", "minmod")

_MIN_CELLS = 4


# ----------------------------------------------------------------------------------------------------------
# Reconstruction and fluxes


def _check_limiter(limiter: Any) -> str:
    return check_choice("limiter", limiter, LIMITERS)


def _slopes(u: Array, limiter: str) -> Array:
    a = u - jnp.roll(u, 1, axis=-1)  # u_i - u_{i-1}
    b = jnp.roll(u, -1, axis=-1) - u  # u_{i+1} - u_i
    same_sign = a * b > 0
    small = jnp.minimum(jnp.abs(a), jnp.abs(b))
    if limiter == "mc":
        c = 0.5 * (a + b)
        slope = jnp.sign(c) * jnp.minimum(2 * small, jnp.abs(c))
    else:  # minmod
        slope = jnp.sign(a) * small
    return jnp.where(same_sign, slope, jnp.zeros_like(slope))


def muscl_faces(
    u: Float[Array, "*batch n"], limiter: str = "mc"
) -> tuple[Float[Array, "*batch n"], Float[Array, "*batch n"]]:
    """The limited MUSCL face states of periodic cell averages, `(u^-, u^+)` at the faces `x_{i+1/2}`.

    Entry `i` of both outputs belongs to the face between cell `i` and cell `i + 1` (cell `n - 1` and cell 0
    for the last one): `u^-_{i+1/2} = u_i + s_i / 2` is reconstructed from the left cell and
    `u^+_{i+1/2} = u_{i+1} - s_{i+1} / 2` from the right cell, with the limited slope `s` of the module
    docstring. Both stay within the range of the neighbouring cell averages (no new extrema).

    **Arguments:**

    - `u`: cell averages, periodic along the last axis (any leading batch axes).
    - `limiter`: `"mc"` (monotonized central, PDEBench's default) or `"minmod"`.
    """
    limiter = _check_limiter(limiter)
    u = jnp.asarray(u)
    if u.ndim < 1 or u.shape[-1] < 3:
        raise ValueError(f"`u` must have at least 3 cells along its last axis, got shape {u.shape}")
    s = _slopes(u, limiter)
    return u + 0.5 * s, jnp.roll(u - 0.5 * s, -1, axis=-1)


def _divergence(flux: Array, dx) -> Array:
    """`-(F_{i+1/2} - F_{i-1/2}) / dx` for face fluxes `F` indexed by their left cell."""
    return -(flux - jnp.roll(flux, 1, axis=-1)) / dx


def _advection_rhs(u: Array, beta: Array, dx, limiter: str) -> Array:
    um, up = muscl_faces(u, limiter)
    flux = 0.5 * beta * (um + up) - 0.5 * jnp.abs(beta) * (up - um)
    return _divergence(flux, dx)


def _burgers_rhs(u: Array, nu_eff: Array, dx, limiter: str) -> Array:
    um, up = muscl_faces(u, limiter)
    flux = 0.25 * (um**2 + up**2) - 0.25 * jnp.abs(um + up) * (up - um)
    flux = flux - nu_eff * (jnp.roll(u, -1, axis=-1) - u) / dx
    return _divergence(flux, dx)


# ----------------------------------------------------------------------------------------------------------
# Time stepping


def _evolve(u0: Array, rhs: Callable, max_dt: Callable, n_frames: int, dt_save: float) -> Array:
    """Midpoint predictor-corrector steps of size `<= max_dt(u)`, saved every `dt_save` (frame 0 = `u0`)."""
    dtype = u0.dtype
    interval = jnp.asarray(dt_save, dtype)
    zero = jnp.zeros((), dtype)

    def step(carry):
        s, u = carry  # s: time elapsed within the current save interval
        remaining = interval - s
        dt_cfl = max_dt(u).astype(dtype)
        # A non-positive or NaN step (blown-up data) finishes the interval instead of looping forever.
        last = (dt_cfl >= remaining) | ~(dt_cfl > 0)
        dt = jnp.where(last, remaining, dt_cfl)
        u = rk_step(lambda t, v: rhs(v), s, u, dt, "midpoint")
        s_next = s + dt
        # Land exactly on the save time; also stop if the step is below the resolution of `s`.
        s_next = jnp.where(last | (s_next <= s), interval, s_next)
        return s_next, u

    def one_interval(u, _):
        _, u = jax.lax.while_loop(lambda c: c[0] < interval, step, (zero, u))
        return u, u

    _, frames = jax.lax.scan(one_interval, u0, None, length=n_frames - 1)
    return jnp.concatenate([u0[None], frames], axis=0)


@functools.partial(jax.jit, static_argnames=("equation", "n_frames", "dt_save", "cfl", "limiter"))
def _solve(
    u0: Array, param: Array, *, equation: str, n_frames: int, dt_save: float, cfl: float, limiter: str
):
    nx = u0.shape[-1]
    dx = 1.0 / nx
    param = jnp.asarray(param, u0.dtype)
    if equation == "advection":
        dt_const = cfl * dx / jnp.abs(param)
        rhs = functools.partial(_advection_rhs, beta=param, dx=dx, limiter=limiter)
        return _evolve(u0, rhs, lambda u: dt_const, n_frames, dt_save)
    nu_eff = param / jnp.pi
    dt_diff = jnp.where(nu_eff > 0, 0.5 * dx**2 / jnp.where(nu_eff > 0, nu_eff, 1), jnp.inf)
    tiny = jnp.finfo(u0.dtype).tiny

    def max_dt(u):
        return cfl * jnp.minimum(dx / jnp.maximum(jnp.max(jnp.abs(u)), tiny), dt_diff)

    rhs = functools.partial(_burgers_rhs, nu_eff=nu_eff, dx=dx, limiter=limiter)
    return _evolve(u0, rhs, max_dt, n_frames, dt_save)


# ----------------------------------------------------------------------------------------------------------
# Public solvers


def _n_frames(t_final: Any, dt_save: Any) -> tuple[float, float, int]:
    t_final = check_number("t_final", t_final, low=0, low_open=True)
    dt_save = check_number("dt_save", dt_save, low=0, low_open=True)
    n = check_multiple("t_final", t_final, dt_save, "dt_save")
    return t_final, dt_save, n + 1


def _check_u0(u0: Any) -> Array:
    u0 = jnp.asarray(u0)
    if not jnp.issubdtype(u0.dtype, jnp.floating):
        raise TypeError(f"`u0` must be a floating array, got dtype {u0.dtype}")
    if u0.ndim != 1 or u0.shape[0] < _MIN_CELLS:
        raise ValueError(
            f"`u0` must be a 1-D array of at least {_MIN_CELLS} cell averages (vmap for batches), "
            f"got shape {u0.shape}"
        )
    return u0


def _check_pde_param(name: str, value: Any, *, allow_zero: bool) -> Any:
    """A Python number or a scalar array; its value is checked unless it is traced."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        v = check_number(name, value)
    elif isinstance(value, (jax.Array, np.ndarray, np.generic)):
        if jnp.shape(value) != ():
            raise ValueError(f"`{name}` must be a scalar, got shape {jnp.shape(value)}")
        if isinstance(value, jax.core.Tracer):
            return value
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"`{name}` must be finite, got {v}")
    else:
        raise TypeError(f"`{name}` must be a real number or a scalar array, got {value!r}")
    if v < 0 and allow_zero:
        raise ValueError(f"`{name}` must be >= 0, got {v:g}")
    if v == 0 and not allow_zero:
        raise ValueError(f"`{name}` must be nonzero, got {v:g}")
    return value


def advection_fv_solve(
    u0: Float[Array, " nx"],
    *,
    beta: float | Array,
    t_final: float = 2.0,
    dt_save: float = 0.01,
    cfl: float = 0.4,
    limiter: str = "mc",
) -> Float[Array, "n_frames nx"]:
    """Solve `u_t + beta u_x = 0` on the periodic `[0, 1)` with PDEBench's finite-volume scheme.

    MUSCL reconstruction, upwind flux and midpoint predictor-corrector steps of `dt = cfl dx / |beta|`
    (see the module docstring). Jit-compiled; `jax.vmap` over `u0` and `beta` goes through it.

    **Arguments:**

    - `u0`: the initial cell averages on `nx` cells, centres `(i + 1/2) / nx`; the output has its dtype.
    - `beta`: the advection speed (nonzero; a number or a scalar array, e.g. traced under vmap).
    - `t_final`: the final time, an integer multiple of `dt_save`.
    - `dt_save`: the time between saved frames.
    - `cfl`: the Courant number, in `(0, 1]` (PDEBench: 0.4).
    - `limiter`: `"mc"` (default) or `"minmod"`.

    **Returns:** the frames at `t = 0, dt_save, ..., t_final`, shape `(t_final / dt_save + 1, nx)`.
    """
    u0 = _check_u0(u0)
    beta = _check_pde_param("beta", beta, allow_zero=False)
    _, dt_save, n_frames = _n_frames(t_final, dt_save)
    cfl = check_number("cfl", cfl, low=0, high=1, low_open=True)
    limiter = _check_limiter(limiter)
    return _solve(
        u0, beta, equation="advection", n_frames=n_frames, dt_save=dt_save, cfl=cfl, limiter=limiter
    )


def burgers_fv_solve(
    u0: Float[Array, " nx"],
    *,
    nu: float | Array,
    t_final: float = 2.0,
    dt_save: float = 0.01,
    cfl: float = 0.25,
    limiter: str = "mc",
) -> Float[Array, "n_frames nx"]:
    """Solve `u_t + (u^2 / 2)_x = (nu / pi) u_xx` on the periodic `[0, 1)` with PDEBench's finite volumes.

    MUSCL reconstruction, Rusanov flux plus the central viscous flux, and midpoint predictor-corrector steps
    of `dt = cfl min(dx / max|u|, dx^2 / (2 nu / pi))`, recomputed every step (see the module docstring).
    Note PDEBench's convention: the viscosity of the equation is `nu / pi`. Jit-compiled; `jax.vmap` over
    `u0` and `nu` goes through it.

    **Arguments:**

    - `u0`: the initial cell averages on `nx` cells, centres `(i + 1/2) / nx`; the output has its dtype.
    - `nu`: PDEBench's viscosity parameter, `>= 0` (0 is inviscid Burgers); a number or a scalar array.
    - `t_final`: the final time, an integer multiple of `dt_save`.
    - `dt_save`: the time between saved frames.
    - `cfl`: the Courant number, in `(0, 1]` (PDEBench: 0.25).
    - `limiter`: `"mc"` (default) or `"minmod"`.

    **Returns:** the frames at `t = 0, dt_save, ..., t_final`, shape `(t_final / dt_save + 1, nx)`.
    """
    u0 = _check_u0(u0)
    nu = _check_pde_param("nu", nu, allow_zero=True)
    _, dt_save, n_frames = _n_frames(t_final, dt_save)
    cfl = check_number("cfl", cfl, low=0, high=1, low_open=True)
    limiter = _check_limiter(limiter)
    return _solve(u0, nu, equation="burgers", n_frames=n_frames, dt_save=dt_save, cfl=cfl, limiter=limiter)


# ----------------------------------------------------------------------------------------------------------
# Recipes


def _param_tuple(name: str, value: Any, *, allow_zero: bool) -> tuple[float, ...]:
    if isinstance(value, (list, tuple)):
        if not value:
            raise ValueError(f"`{name}` must be a number or a non-empty sequence of numbers, got {value!r}")
        values = tuple(value)
    else:
        values = (value,)
    out = []
    for i, v in enumerate(values):
        label = name if len(values) == 1 and not isinstance(value, (list, tuple)) else f"{name}[{i}]"
        if allow_zero:
            out.append(check_number(label, v, low=0))
        else:
            v = check_number(label, v)
            if v == 0:
                raise ValueError(f"`{label}` must be nonzero, got 0")
            out.append(v)
    return tuple(out)


def _make_recipe(equation: str) -> Recipe:
    pname = "beta" if equation == "advection" else "nu"
    name = "advection_1d" if equation == "advection" else "burgers_1d_pdebench"
    default_cfl = 0.4 if equation == "advection" else 0.25

    def validate(params: dict) -> dict:
        p = dict(params)
        expected = set(defaults)
        missing, unknown = sorted(expected - set(p)), sorted(set(p) - expected)
        if missing or unknown:
            raise ValueError(f"{name}: missing parameters {missing}, unknown parameters {unknown}")
        p["k_tot"] = check_int("k_tot", p["k_tot"])
        max_k = 2 * p["k_tot"]  # two modes drawn; a mode drawn twice doubles its wave number
        p["resolution"] = check_int("resolution", p["resolution"], low=max(_MIN_CELLS, 2 * max_k + 1))
        p[pname] = _param_tuple(pname, p[pname], allow_zero=equation == "burgers")
        if len(p[pname]) == 1:
            p[pname] = p[pname][0]
        p["t_final"], p["dt_save"], n_frames = _n_frames(p["t_final"], p["dt_save"])
        p["cfl"] = check_number("cfl", p["cfl"], low=0, high=1, low_open=True)
        p["limiter"] = _check_limiter(p["limiter"])
        p["t_in"] = check_int("t_in", p["t_in"])
        if p["t_in"] >= n_frames:
            raise ValueError(f"`t_in` must be below the number of frames {n_frames}, got {p['t_in']}")
        p["t_out"] = check_int("t_out", p["t_out"], optional=True)
        if p["t_out"] is not None and p["t_in"] + p["t_out"] > n_frames:
            raise ValueError(
                f"`t_in + t_out` ({p['t_in']} + {p['t_out']}) must not exceed the {n_frames} frames"
            )
        p["exact_period"] = check_bool("exact_period", p["exact_period"])
        p["chunk_size"] = check_int("chunk_size", p["chunk_size"])
        return p

    def build(params: dict, dtype) -> Callable[[PRNGKeyArray, Array], dict[str, Array]]:
        nx = params["resolution"]
        _, dt_save, n_frames = _n_frames(params["t_final"], params["dt_save"])
        values = params[pname] if isinstance(params[pname], tuple) else (params[pname],)
        xc = (np.arange(nx) + 0.5) / nx
        solve = functools.partial(
            _solve,
            equation=equation,
            n_frames=n_frames,
            dt_save=dt_save,
            cfl=params["cfl"],
            limiter=params["limiter"],
        )

        def sample(key: PRNGKeyArray, index: Array) -> dict[str, Array]:
            table = jnp.asarray(values, dtype)
            param = table[jnp.asarray(index) % len(values)]
            u0 = pdebench_initial_condition(
                jnp.asarray(xc, dtype), key=key, k_tot=params["k_tot"], exact_period=params["exact_period"]
            )
            return {"u": solve(u0, param), pname: param}

        return sample

    def pairs(arrays: Mapping[str, np.ndarray], params: dict) -> tuple[np.ndarray, np.ndarray]:
        u = arrays["u"]
        t_in, t_out = params["t_in"], params.get("t_out")
        return u[:, :t_in], u[:, t_in:] if t_out is None else u[:, t_in : t_in + t_out]

    def grid(params: dict) -> Grid:
        nx = params["resolution"]
        dx = 1.0 / nx
        # The cell centres (i + 1/2) dx as a periodic grid of period 1.
        return Grid(nx, Box(0.5 * dx, 1.0 + 0.5 * dx), periodic=True)

    defaults = {
        "resolution": 256,
        pname: 1.0 if equation == "advection" else 0.01,
        "t_final": 2.0,
        "dt_save": 0.01,
        "cfl": default_cfl,
        "limiter": "mc",
        "t_in": 1,
        "t_out": None,
        "k_tot": 4,
        "exact_period": False,
        "chunk_size": 16,
    }
    pde_list = PDEBENCH_ADVECTION_BETAS if equation == "advection" else PDEBENCH_BURGERS_NUS
    cape_list = CAPE_ADVECTION_BETAS if equation == "advection" else CAPE_BURGERS_NUS
    presets = {
        "paper": {"resolution": 1024, pname: pde_list},
        "cape": {"resolution": 1024, pname: cape_list},
    }
    if equation == "advection":
        description = "PDEBench 1-D advection u_t + beta u_x = 0, periodic, finite-volume MUSCL (MC limiter)"
    else:
        description = (
            "PDEBench 1-D Burgers u_t + (u^2/2)_x = (nu/pi) u_xx, periodic, finite-volume MUSCL (MC limiter)"
        )
    return Recipe(
        name=name,
        description=description,
        params=defaults,
        presets=presets,
        validate=validate,
        build=build,
        pairs=pairs,
        grid=grid,
        resolution_note=(
            "`resolution` counts the finite-volume cells of [0, 1) (periodic); values are cell averages at "
            "the centres (i + 1/2) / resolution. `u` is stored as (n_frames, resolution), time first."
        ),
    )


#: The `advection_1d` recipe (PDEBench 1-D advection).
ADVECTION_RECIPE: Recipe = _make_recipe("advection")
#: The `burgers_1d_pdebench` recipe (PDEBench 1-D viscous Burgers).
BURGERS_RECIPE: Recipe = _make_recipe("burgers")
