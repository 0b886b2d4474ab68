"""2-D incompressible Navier-Stokes in vorticity form on the unit torus: the FNO data recipe.

The equation is

    dw/dt + u . grad w = nu Lap w + f,   u = (d psi / dy, -d psi / dx),   -Lap psi = w,

on the periodic unit square, with the FNO forcing `f = 0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`
on the grid `x_i = i / s` (axis 0 is `x`, axis 1 is `y`). The solver is Fourier pseudo-spectral:
velocity from the stream function, the advection product formed in physical space and low-passed
with the 2/3 rule (the square mask of [`scimlx.core.stepping.dealias_mask`][], applied to the
product as in the FNO script). Two time steppers:

- `"cn_euler"` (default): Crank-Nicolson for the viscous term, forward Euler for advection and
    forcing ([`scimlx.core.stepping.CNEuler`][]), the scheme of the FNO data; first order in time.
- `"etdrk4"`: the viscous term integrated exactly, advection and forcing by ETDRK4
    ([`scimlx.core.stepping.ETDRK`][], order 4); fourth order in time.

The initial vorticity is the FNO Gaussian random field `grf_periodic((s, s), alpha=2.5, tau=7)`
with amplitude `sigma = tau^((2 alpha - d) / 2) = 7^1.5`, i.e. covariance
`7^3 (-Lap + 49)^(-2.5)` (up to FNO's real-part factor). The FNO paper writes the covariance as
`N(0, 7^(3/2) (-Lap + 49 I)^(-2.5))`; the code, followed here, uses `sigma = 7^(3/2)` as the
amplitude, so `7^3` is the variance factor.

The recipe `navier_stokes_2d` stores `"w0"` (the initial vorticity, `(s, s)`) and `"w"` (the
vorticity at `t = record_every, 2 record_every, ..., n_records record_every`, `(n_records, s, s)`),
like FNO's `a` and `u`. Its pairs follow the LSM/FNO protocol: the first `t_in` records are the
input channels and the next `t_out` records the targets. The paper data sets (FNO, LSM, MgNO) use
`nu = 1e-3` with 50 records, `nu = 1e-4` with 30 and `nu = 1e-5` with 20 (the default here), all
computed at 256^2 with `dt = 1e-4` and subsampled (every 4th grid point) to 64^2 (preset `"paper"`).
The CPU default computes 64^2 directly with `dt = 5e-4`: at 64^2 and `nu = 1e-5`, `dt = 1e-3` with
the explicit advection of `"cn_euler"` went unstable (grid-scale growth) in 8 of 16 samples before
`t = 20`, while `5e-4` stayed stable in all 16 and agrees with an ETDRK4 run to about 1e-3 (relative
L2) at `t = 10` and 2e-2 at `t = 20` (the same as `dt = 2.5e-4`: float32 differences amplified by
the flow, not time-stepping error).

The grid size must be even: the solver uses the FNO Fourier layout (wavenumbers `-s/2 .. s/2 - 1`
with a Nyquist mode, whose odd derivatives are zeroed) and the 2/3 rule is defined from `s/2`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.geometry import Grid
from scimlx.core.stepping import ETDRK, CNEuler, dealias_mask, rfft_wavenumbers, rollout
from scimlx.core.validate import (
    check_bool,
    check_choice,
    check_dtype,
    check_int,
    check_multiple,
    check_number,
)

from ._random_fields import grf_periodic
from ._recipe import Recipe

__all__ = [
    "RECIPE",
    "fno_forcing",
    "navier_stokes_2d_solve",
    "ns_vorticity_rhs",
    "velocity_from_vorticity",
]

_SCHEMES = ("cn_euler", "etdrk4")


# ---------------------------------------------------------------------------------------------------------
# Spectral operators


def _check_vorticity(name: str, w) -> Array:
    w = jnp.asarray(w)
    if w.ndim != 2 or w.shape[0] != w.shape[1]:
        raise ValueError(f"`{name}` must be a square 2-D array (s, s), got shape {w.shape}")
    s = w.shape[0]
    if s < 4 or s % 2:
        raise ValueError(
            f"`{name}` must have an even number of grid points s >= 4 per axis (the FNO Fourier layout, "
            f"wavenumbers -s/2 .. s/2 - 1, and the 2/3 dealiasing rule assume an even grid), got s = {s}"
        )
    if not jnp.issubdtype(w.dtype, jnp.floating):
        w = w.astype(jnp.result_type(float))
    return w


def _operators(s: int, real_dtype) -> dict[str, np.ndarray]:
    """Wavenumbers and their combinations for `rfft2` coefficients of an `s x s` grid (host arrays)."""
    kx, ky = rfft_wavenumbers((s, s))  # angular: 2 pi k
    k2 = kx**2 + ky**2
    # Odd derivatives of the Nyquist modes are zeroed (sin(pi s x) vanishes on the grid).
    kx_d = np.where(np.abs(kx) >= np.pi * s, 0.0, kx)
    ky_d = np.where(np.abs(ky) >= np.pi * s, 0.0, ky)
    inv_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
    return {
        "ikx": (1j * kx_d).astype(np.result_type(real_dtype, np.complex64)),
        "iky": (1j * ky_d).astype(np.result_type(real_dtype, np.complex64)),
        "k2": np.broadcast_to(k2, (s, s // 2 + 1)).astype(real_dtype),
        "inv_k2": np.broadcast_to(inv_k2, (s, s // 2 + 1)).astype(real_dtype),
    }


def fno_forcing(s: int, *, dtype=jnp.float32) -> Float[Array, "s s"]:
    """The FNO forcing `0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))` on the grid `x_i = i / s`.

    **Arguments:**

    - `s`: grid points per axis.
    - `dtype`: the output dtype.
    """
    s = check_int("s", s)
    dtype = check_dtype("dtype", dtype)
    x = np.arange(s) / s
    phase = 2 * np.pi * (x[:, None] + x[None, :])
    return jnp.asarray(0.1 * (np.sin(phase) + np.cos(phase)), dtype=dtype)


def _forcing_array(forcing, s: int, dtype) -> Array | None:
    if forcing is None:
        return None
    if isinstance(forcing, str):
        if forcing != "fno":
            raise ValueError(
                f"`forcing` must be 'fno', None or an array of shape ({s}, {s}), got {forcing!r}"
            )
        return fno_forcing(s, dtype=dtype)
    f = jnp.asarray(forcing)
    if f.shape != (s, s):
        raise ValueError(f"`forcing` must have the shape of the vorticity ({s}, {s}), got {f.shape}")
    return f.astype(dtype)


def _real_dtype(w: Array):
    return jnp.finfo(w.dtype).dtype


def _make_nonlinear(s: int, ops: Mapping[str, Any], forcing_hat: Array | None, dealias: bool):
    """`w_hat -> -FFT(u . grad w) + f_hat` (the advection product low-passed when `dealias`)."""
    mask = jnp.asarray(dealias_mask((s, s))) if dealias else None
    ikx, iky, inv_k2 = ops["ikx"], ops["iky"], ops["inv_k2"]

    def nonlinear(w_hat):
        psi_hat = w_hat * inv_k2
        irfft = lambda a: jnp.fft.irfft2(a, s=(s, s))  # noqa: E731
        u = irfft(iky * psi_hat)
        v = irfft(-ikx * psi_hat)
        wx = irfft(ikx * w_hat)
        wy = irfft(iky * w_hat)
        adv_hat = jnp.fft.rfft2(u * wx + v * wy)
        if mask is not None:
            adv_hat = jnp.where(mask, adv_hat, 0)
        out = -adv_hat
        if forcing_hat is not None:
            out = out + forcing_hat
        return out

    return nonlinear


def velocity_from_vorticity(w: Float[ArrayLike, "s s"]) -> Float[Array, "2 s s"]:
    """The velocity `u = (d psi / dy, -d psi / dx)` with `-Lap psi = w` on the periodic unit square.

    **Arguments:**

    - `w`: the vorticity on the grid `x_i = i / s` (axis 0 is `x`), `s` even.

    **Returns:**

    The velocity components, channels-first `(2, s, s)`. The mean of `w` (its zero mode) does not
    enter (it is incompatible with periodicity).
    """
    w = _check_vorticity("w", w)
    s = w.shape[0]
    ops = _operators(s, _real_dtype(w))
    psi_hat = jnp.fft.rfft2(w) * ops["inv_k2"]
    u = jnp.fft.irfft2(ops["iky"] * psi_hat, s=(s, s))
    v = jnp.fft.irfft2(-ops["ikx"] * psi_hat, s=(s, s))
    return jnp.stack([u, v]).astype(w.dtype)


def ns_vorticity_rhs(
    w: Float[ArrayLike, "s s"],
    *,
    nu: float,
    forcing: str | Float[ArrayLike, "s s"] | None = "fno",
    dealias: bool = True,
) -> Float[Array, "s s"]:
    """The right-hand side `dw/dt = -u . grad w + nu Lap w + f` of the vorticity equation, pseudo-spectrally.

    **Arguments:**

    - `w`: the vorticity `(s, s)` on the grid `x_i = i / s`, `s` even.
    - `nu`: the viscosity (`> 0`).
    - `forcing`: `"fno"` (default, `0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`), `None` (unforced) or an
        array `(s, s)`.
    - `dealias`: low-pass the advection product with the 2/3 rule, as the solver does.
    """
    nu = check_number("nu", nu, low=0, low_open=True)
    w = _check_vorticity("w", w)
    s = w.shape[0]
    f = _forcing_array(forcing, s, w.dtype)
    ops = _operators(s, _real_dtype(w))
    f_hat = None if f is None else jnp.fft.rfft2(f)
    w_hat = jnp.fft.rfft2(w)
    rhs_hat = _make_nonlinear(s, ops, f_hat, dealias)(w_hat) - nu * ops["k2"] * w_hat
    return jnp.fft.irfft2(rhs_hat, s=(s, s)).astype(w.dtype)


def navier_stokes_2d_solve(
    w0: Float[ArrayLike, "s s"],
    *,
    nu: float,
    n_records: int = 1,
    record_every: float = 1.0,
    dt: float = 1e-4,
    forcing: str | Float[ArrayLike, "s s"] | None = "fno",
    scheme: Literal["cn_euler", "etdrk4"] = "cn_euler",
    dealias: bool = True,
) -> Float[Array, "n_records s s"]:
    """Integrate the 2-D vorticity equation on the unit torus from `w0` and record the vorticity.

    Pure and traceable in `w0` and `forcing` (`jax.jit` and `jax.vmap` go through it); the time loop is
    a `lax.scan` over records of a `lax.fori_loop` over steps.

    **Arguments:**

    - `w0`: the initial vorticity `(s, s)` on the grid `x_i = i / s` (axis 0 is `x`), `s` even.
    - `nu`: the viscosity (`> 0`; the FNO data sets use 1e-3, 1e-4, 1e-5).
    - `n_records`: the number of recorded states.
    - `record_every`: the time between records (a whole multiple of `dt`).
    - `dt`: the time step (default FNO's 1e-4). The advection is explicit: keep `dt |u|_max k_max`
        small. FNO uses 1e-4 at 256^2; for the FNO initial fields at `nu = 1e-5`, 5e-4 is stable at
        64^2, where 1e-3 blows up for about half of the samples before `t = 20` with `"cn_euler"`.
    - `forcing`: `"fno"` (default), `None` (unforced) or an array `(s, s)` (constant in time).
    - `scheme`: `"cn_euler"` (FNO's Crank-Nicolson / forward Euler, first order) or `"etdrk4"`
        (exponential time differencing, fourth order).
    - `dealias`: low-pass the advection product with the 2/3 rule (FNO: yes).

    **Returns:**

    The vorticity at `t = record_every, ..., n_records * record_every`, shape `(n_records, s, s)`.
    """
    nu = check_number("nu", nu, low=0, low_open=True)
    n_records = check_int("n_records", n_records)
    record_every = check_number("record_every", record_every, low=0, low_open=True)
    dt = check_number("dt", dt, low=0, low_open=True)
    check_choice("scheme", scheme, _SCHEMES)
    dealias = check_bool("dealias", dealias)
    n_sub = check_multiple("record_every", record_every, dt)
    w0 = _check_vorticity("w0", w0)
    s = w0.shape[0]
    real = _real_dtype(w0)
    f = _forcing_array(forcing, s, w0.dtype)
    ops = _operators(s, real)
    f_hat = None if f is None else jnp.fft.rfft2(f)
    nonlinear = _make_nonlinear(s, ops, f_hat, dealias)
    linear = (-nu * ops["k2"]).astype(real)
    if scheme == "cn_euler":
        step = CNEuler(linear, nonlinear, dt)
    else:
        step = ETDRK(linear, nonlinear, dt, order=4)
    traj_hat = rollout(step, jnp.fft.rfft2(w0), n_records, n_sub)
    return jnp.fft.irfft2(traj_hat, s=(s, s)).astype(w0.dtype)


# ---------------------------------------------------------------------------------------------------------
# Recipe


def _validate(params: dict) -> dict:
    p = dict(params)
    p["resolution"] = check_int("resolution", p["resolution"], low=4)
    if p["resolution"] % 2:
        raise ValueError(
            f"`resolution` must be even (the Fourier layout of the FNO solver, wavenumbers -s/2 .. s/2 - 1, "
            f"and its 2/3 dealiasing assume an even grid), got {p['resolution']}"
        )
    p["subsample"] = check_int("subsample", p["subsample"])
    p["nu"] = check_number("nu", p["nu"], low=0, low_open=True)
    p["n_records"] = check_int("n_records", p["n_records"])
    p["record_every"] = check_number("record_every", p["record_every"], low=0, low_open=True)
    p["dt"] = check_number("dt", p["dt"], low=0, low_open=True)
    check_multiple("record_every", p["record_every"], p["dt"])
    check_choice("scheme", p["scheme"], _SCHEMES)
    p["dealias"] = check_bool("dealias", p["dealias"])
    p["t_in"] = check_int("t_in", p["t_in"])
    p["t_out"] = check_int("t_out", p["t_out"])
    if p["t_in"] + p["t_out"] > p["n_records"]:
        raise ValueError(
            f"`t_in` + `t_out` ({p['t_in']} + {p['t_out']}) must not exceed `n_records` ({p['n_records']})"
        )
    p["alpha"] = check_number("alpha", p["alpha"], low=0, low_open=True)
    p["tau"] = check_number("tau", p["tau"], low=0, low_open=True)
    p["chunk_size"] = check_int("chunk_size", p["chunk_size"])
    return p


def _build(params: dict, dtype):
    s_fine = params["resolution"] * params["subsample"]
    r = params["subsample"]

    def sample(key: PRNGKeyArray, index: Array) -> dict[str, Array]:
        del index
        w0 = grf_periodic((s_fine, s_fine), alpha=params["alpha"], tau=params["tau"], key=key, dtype=dtype)
        w = navier_stokes_2d_solve(
            w0,
            nu=params["nu"],
            n_records=params["n_records"],
            record_every=params["record_every"],
            dt=params["dt"],
            scheme=params["scheme"],
            dealias=params["dealias"],
        )
        return {"w0": w0[::r, ::r], "w": w[:, ::r, ::r]}

    return sample


def _pairs(arrays: Mapping[str, np.ndarray], params: dict) -> tuple[np.ndarray, np.ndarray]:
    w = np.asarray(arrays["w"])
    t_in, t_out = params["t_in"], params["t_out"]
    return w[:, :t_in], w[:, t_in : t_in + t_out]


def _grid(params: dict) -> Grid:
    s = params["resolution"]
    return Grid((s, s), periodic=True)


RECIPE = Recipe(
    name="navier_stokes_2d",
    description="2-D vorticity Navier-Stokes on the unit torus, FNO forcing, GRF initial vorticity (FNO/LSM)",
    params={
        "resolution": 64,
        "subsample": 1,
        "nu": 1e-5,
        "n_records": 20,
        "record_every": 1.0,
        "dt": 5e-4,
        "scheme": "cn_euler",
        "dealias": True,
        "t_in": 10,
        "t_out": 10,
        "alpha": 2.5,
        "tau": 7.0,
        "chunk_size": 16,
    },
    presets={"paper": {"resolution": 64, "subsample": 4, "dt": 1e-4, "nu": 1e-5, "n_records": 20}},
    validate=_validate,
    build=_build,
    pairs=_pairs,
    grid=_grid,
    resolution_note=(
        "grid points per axis of the stored periodic grid x_i = i / s (even); the solver runs at "
        "resolution * subsample points and keeps every subsample-th point"
    ),
)
