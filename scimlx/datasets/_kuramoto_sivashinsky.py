"""Kuramoto-Sivashinsky: the ETDRK4 truth solver and the data recipe.

The equation, in the convention of MEDIDA (Mojgani, Chattopadhyay & Hassanzadeh 2022), on a periodic
domain of length `L`:

    u_t + l1 u u_x + l2 u_xx + l3 u_xxxx = 0,

with the nonlinear term in conservative form `l1 (u^2 / 2)_x`; `(l1, l2, l3) = (1, 1, 1)` is the
standard equation. With `u_hat` the real FFT of `u` and `k` the angular wavenumbers, it reads
`u_hat_t = L u_hat + N(u_hat)` with the diagonal linear operator `L = l2 k^2 - l3 k^4` and
`N(u_hat) = -(l1 / 2) i k FFT(u^2)` (the first derivative is zero on the Nyquist mode).

This module provides

- `ks_solve`: the pseudo-spectral truth solver, ETDRK of order 4 (Cox & Matthews) with the
    contour-integral coefficients of Kassam & Trefethen (2005), from the core
    [`scimlx.core.stepping.ETDRK`][]; optional 2/3-rule dealiasing (MEDIDA uses none);
- `ks_linear_operator`, `ks_nonlinear`, `spectral_derivative`: the pieces, usable on their own;
- the initial conditions of MEDIDA, of Kassam & Trefethen, and a random truncated Fourier series;
- `RECIPE`, the registered data recipe `"kuramoto_sivashinsky"`.

MEDIDA's imperfect CNAB2 models of this equation and its model-error cases are in the control family
([`scimlx.control.KSModel`][], [`scimlx.control.MEDIDA_CASES`][]).

**The data recipe.** Each sample is one trajectory `"u"` of shape `(n_records, resolution)`: the
state after a warm-up of `warmup_time` (the first record), then every `record_every` time units (a whole
number of steps `dt`), i.e. at times `warmup_time + j * record_every`, `j = 0 .. n_records - 1`.

- CPU default (random initial conditions, an operator-learning benchmark in the spirit of
    APEBench's KS scenarios): `L = 64`, `N = 128` (`dx = 0.5`), `dt = 0.25`, ETDRK4, no dealiasing,
    a random truncated Fourier series with modes `1..5` scaled to `max |u0| = 1`, a warm-up of 100
    time units (the transient onto the chaotic attractor), then 32 records one time unit apart. At
    `L = 64` the standard KS equation is spatio-temporally chaotic (about 10 unstable modes;
    `max |u|` stays below about 4).
- Preset `"medida"` (also `"paper"`): MEDIDA's truth, `L = 100`, `N = 1024`, `dt = 1e-3`,
    `x in [-50, 50)`, `u0 = -cos(2 pi x / 100) (1 + sin(-2 pi x / 100))`, no dealiasing, spin-up of 100
    time units discarded, then 20,001 records every 5 steps (`5e-3`, MEDIDA's model step), i.e.
    `t in [100, 200]` (MEDIDA stores every step; set `record_every=1e-3` for that). The initial condition
    is deterministic, so every sample is the same trajectory: generate one sample. About 82 MB per
    sample in float32; float64 is advised for the truth.
- Preset `"kassam_trefethen"`: the classic chaotic benchmark, `L = 32 pi`, `N = 128`, `dt = 1/4`,
    `u0 = cos(x / 16) (1 + sin(x / 16))` on `[0, 32 pi)`, no warm-up, 151 records one time unit apart
    (`t in [0, 150]`). Deterministic too.

The stored grid is `x in [-L/2, L/2)` for the MEDIDA initial condition and `[0, L)` otherwise.

**Pairs.** `x` holds `t_in` consecutive records as channels and `y` the next `t_out` records:
with `pairing="first"` (default) one pair per trajectory (records `0 .. t_in - 1` to
`t_in .. t_in + t_out - 1`); with `pairing="sliding"` every window of `t_in + t_out` consecutive
records, trajectory-major (split train and test by trajectory, not by pair, to avoid leakage).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float, PRNGKeyArray

from scimlx.core.geometry import Box, Grid
from scimlx.core.stepping import ETDRK, dealias_mask, rfft_wavenumbers, rollout
from scimlx.core.validate import (
    check_bool,
    check_choice,
    check_dtype,
    check_int,
    check_key,
    check_multiple,
    check_number,
)

from ._recipe import Recipe

__all__ = [
    "RECIPE",
    "kassam_trefethen_initial_condition",
    "ks_linear_operator",
    "ks_nonlinear",
    "ks_solve",
    "medida_initial_condition",
    "random_initial_condition",
    "spectral_derivative",
]


# ---------------------------------------------------------------------------------------------------------
# Argument checks


def _check_n(name: str, n: Any) -> int:
    n = check_int(name, n, low=4)
    if n % 2:
        raise ValueError(f"`{name}` must be an even number of grid points, got {n}")
    return n


def _check_coefficients(coefficients: Any, size: int = 3) -> tuple[float, ...]:
    if isinstance(coefficients, (str, bytes)) or not isinstance(coefficients, Sequence):
        raise TypeError(
            f"`coefficients` must be a sequence of {size} numbers (l1, l2, l3), got {coefficients!r}"
        )
    if len(coefficients) != size:
        raise ValueError(f"`coefficients` must have {size} entries (l1, l2, l3), got {len(coefficients)}")
    return tuple(check_number(f"coefficients[{i}]", c) for i, c in enumerate(coefficients))


def _check_state(name: str, u: Any, n: int | None = None) -> Array:
    if isinstance(u, (str, bytes)):
        raise TypeError(f"`{name}` must be a real array, got {u!r}")
    u = jnp.asarray(u)
    if jnp.issubdtype(u.dtype, jnp.complexfloating):
        raise TypeError(f"`{name}` must be real, got dtype {u.dtype}")
    if not jnp.issubdtype(u.dtype, jnp.floating):
        u = u.astype(jnp.result_type(float))
    if u.ndim < 1:
        raise ValueError(f"`{name}` must have a spatial (last) axis, got a scalar")
    if n is None:
        _check_n(f"{name}.shape[-1]", u.shape[-1])
    elif u.shape[-1] != n:
        raise ValueError(f"`{name}` must have {n} grid points on its last axis, got shape {u.shape}")
    return u


# ---------------------------------------------------------------------------------------------------------
# Operators


def _wavenumbers(n: int, length: float) -> np.ndarray:
    return rfft_wavenumbers((n,), length)[0]


def _first_derivative_symbol(n: int, length: float) -> np.ndarray:
    ik = 1j * _wavenumbers(n, length)
    ik[-1] = 0.0  # odd derivatives vanish on the Nyquist mode (real-valued spectral differentiation)
    return ik


def ks_linear_operator(
    n: int, length: float, coefficients: Sequence[float] = (1.0, 1.0, 1.0)
) -> Float[np.ndarray, " n//2+1"]:
    """The diagonal linear operator `L = l2 k^2 - l3 k^4` of `u_hat_t = L u_hat + N(u_hat)`.

    **Arguments:**

    - `n`: the number of grid points (even).
    - `length`: the domain length `L`.
    - `coefficients`: `(l1, l2, l3)`; `l1` is not used here.

    **Returns:**

    A float64 numpy array of the `n // 2 + 1` real-FFT modes.
    """
    n = _check_n("n", n)
    length = check_number("length", length, low=0, low_open=True)
    _, l2, l3 = _check_coefficients(coefficients)
    k = _wavenumbers(n, length)
    return l2 * k**2 - l3 * k**4


def ks_nonlinear(
    n: int, length: float, l1: float = 1.0, *, dealias: bool = False
) -> Callable[[Complex[Array, "*batch n//2+1"]], Complex[Array, "*batch n//2+1"]]:  # noqa: F821
    """The nonlinear term `N(u_hat) = -(l1 / 2) i k FFT(u^2)` as a function of `u_hat = rfft(u)`.

    **Arguments:**

    - `n`: the number of grid points (even).
    - `length`: the domain length `L`.
    - `l1`: the coefficient of `u u_x`.
    - `dealias`: apply the 2/3-rule mask to `u_hat` before and to the product after (as exponax does);
        MEDIDA does not dealias.

    **Returns:**

    A pure function `u_hat -> N_hat` over the last axis, computed in the precision of `u_hat`.
    """
    n = _check_n("n", n)
    length = check_number("length", length, low=0, low_open=True)
    l1 = check_number("l1", l1)
    dealias = check_bool("dealias", dealias)
    g = -0.5 * l1 * _first_derivative_symbol(n, length)
    mask = dealias_mask((n,)) if dealias else None

    def nonlinear(u_hat):
        if mask is not None:
            u_hat = jnp.where(mask, u_hat, 0)
        u = jnp.fft.irfft(u_hat, n=n, axis=-1)
        out = jnp.asarray(g, dtype=u_hat.dtype) * jnp.fft.rfft(u * u, axis=-1)
        if mask is not None:
            out = jnp.where(mask, out, 0)
        return out

    return nonlinear


def spectral_derivative(
    u: Float[ArrayLike, "*batch n"],
    length: float,
    order: int = 1,  # noqa: F821
) -> Float[Array, "*batch n"]:  # noqa: F821
    """The `order`-th spatial derivative of a periodic field along its last axis, by the real FFT.

    Odd derivatives are zero on the Nyquist mode.

    **Arguments:**

    - `u`: the values on `n` (even) uniform points of a period.
    - `length`: the period `L`.
    - `order`: the derivative order (`>= 0`).
    """
    length = check_number("length", length, low=0, low_open=True)
    order = check_int("order", order, low=0)
    u = _check_state("u", u)
    n = u.shape[-1]
    sym = (1j * _wavenumbers(n, length)) ** order
    if order % 2:
        sym[-1] = 0.0
    u_hat = jnp.fft.rfft(u, axis=-1)
    return jnp.fft.irfft(jnp.asarray(sym, dtype=u_hat.dtype) * u_hat, n=n, axis=-1).astype(u.dtype)


# ---------------------------------------------------------------------------------------------------------
# Initial conditions


def medida_initial_condition(n: int = 1024, length: float = 100.0) -> Float[np.ndarray, " n"]:
    """MEDIDA's initial condition `u0(x) = -cos(2 pi x / L) (1 + sin(-2 pi x / L))` on `x in [-L/2, L/2)`.

    MEDIDA writes `2 pi x / 100` with `L = 100`; here the period is the domain length.

    **Arguments:**

    - `n`: the number of grid points `x_j = -L/2 + j L / n` (even).
    - `length`: the domain length `L`.

    **Returns:**

    A float64 numpy array.
    """
    n = _check_n("n", n)
    length = check_number("length", length, low=0, low_open=True)
    x = -length / 2 + length * np.arange(n) / n
    a = 2 * np.pi * x / length
    return -np.cos(a) * (1 + np.sin(-a))


def kassam_trefethen_initial_condition(n: int = 128, length: float = 32 * np.pi) -> Float[np.ndarray, " n"]:
    """The initial condition of Kassam & Trefethen, `u0(x) = cos(x / 16) (1 + sin(x / 16))` on `[0, 32 pi)`.

    For another `length` the argument is `2 pi x / L` (equal to `x / 16` at `L = 32 pi`).

    **Arguments:**

    - `n`: the number of grid points `x_j = j L / n` (even).
    - `length`: the domain length `L`.

    **Returns:**

    A float64 numpy array.
    """
    n = _check_n("n", n)
    length = check_number("length", length, low=0, low_open=True)
    a = 2 * np.pi * np.arange(n) / n
    return np.cos(a) * (1 + np.sin(a))


def random_initial_condition(
    n: int, *, key: PRNGKeyArray, cutoff: int = 5, amplitude: float = 1.0, dtype: Any = None
) -> Float[Array, " n"]:
    """A random truncated Fourier series with zero mean, scaled to `max |u0| = amplitude`.

    `u0(x) = sum_{m=1}^{cutoff} a_m cos(2 pi m x / L) + b_m sin(2 pi m x / L)` with independent standard
    normal `a_m, b_m` (the law of white noise low-passed to `|m| <= cutoff`, as exponax's
    `RandomTruncatedFourierSeries`), then rescaled. It does not depend on the domain length.

    **Arguments:**

    - `n`: the number of grid points (even).
    - `key`: a PRNG key (keyword-only).
    - `cutoff`: the highest mode `m` (`1 <= cutoff < n / 2`).
    - `amplitude`: the maximum of `|u0|`.
    - `dtype`: the real dtype (default: JAX's default float).
    """
    n = _check_n("n", n)
    key = check_key(key)
    cutoff = check_int("cutoff", cutoff)
    if cutoff >= n // 2:
        raise ValueError(f"`cutoff` must be below n / 2 = {n // 2}, got {cutoff}")
    amplitude = check_number("amplitude", amplitude, low=0, low_open=True)
    dtype = jnp.result_type(float) if dtype is None else check_dtype("dtype", dtype)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"`dtype` must be a real floating dtype, got {dtype}")
    ab = jax.random.normal(key, (2, cutoff), dtype=dtype)
    phase = 2 * np.pi * np.outer(np.arange(1, cutoff + 1), np.arange(n) / n)
    u = ab[0] @ jnp.asarray(np.cos(phase), dtype) + ab[1] @ jnp.asarray(np.sin(phase), dtype)
    return amplitude * u / jnp.max(jnp.abs(u))


# ---------------------------------------------------------------------------------------------------------
# The truth solver


def _cast_etdrk(step: ETDRK, cdtype) -> ETDRK:
    coefficients = {k: v.astype(cdtype) for k, v in step.coefficients.items()}
    return eqx.tree_at(lambda s: s.coefficients, step, coefficients)


def ks_solve(
    u0: Float[ArrayLike, "*batch n"],  # noqa: F821
    *,
    length: float,
    dt: float,
    n_steps: int,
    save_every: int = 1,
    warmup_steps: int = 0,
    coefficients: Sequence[float] = (1.0, 1.0, 1.0),
    dealias: bool = False,
    order: int = 4,
    include_init: bool = True,
) -> Float[Array, "*batch n_saves n"]:  # noqa: F821
    """Solve `u_t + l1 u u_x + l2 u_xx + l3 u_xxxx = 0` on a periodic domain by pseudo-spectral ETDRK.

    The linear part is integrated exactly; the ETDRK coefficients come from the contour integral of
    Kassam & Trefethen (16 points, radius 1) evaluated in complex128 and cast to the working precision
    (that of `u0`). The spatial mean is conserved exactly by the scheme. Jit- and vmap-compatible in
    `u0`; every other argument is static.

    **Arguments:**

    - `u0`: the initial state on `n` (even) points of a period, any leading batch axes.
    - `length`: the domain length `L`.
    - `dt`: the time step.
    - `n_steps`: the number of recorded steps (after the warm-up); a multiple of `save_every`.
    - `save_every`: keep every `save_every`-th state.
    - `warmup_steps`: steps taken first and discarded (MEDIDA's spin-up); the state after them is the
        initial record.
    - `coefficients`: `(l1, l2, l3)`; any real numbers (e.g. `(1, -nu, 0)` is viscous Burgers).
    - `dealias`: the 2/3 rule on the quadratic term (MEDIDA: `False`).
    - `order`: the ETDRK order, 1, 2 or 4 (use 4; with float64 when errors below ~1e-6 matter).
    - `include_init`: keep the initial (post-warm-up) state as the first record.

    **Returns:**

    The states at times `j * save_every * dt` after the warm-up, shape `(*batch, n_saves, n)` with
    `n_saves = n_steps // save_every` (plus one with `include_init`), in the dtype of `u0`.
    """
    u0 = _check_state("u0", u0)
    n = u0.shape[-1]
    length = check_number("length", length, low=0, low_open=True)
    dt = check_number("dt", dt, low=0, low_open=True)
    n_steps = check_int("n_steps", n_steps, low=0)
    save_every = check_int("save_every", save_every)
    check_multiple("n_steps", n_steps, save_every, "save_every", low=0)
    warmup_steps = check_int("warmup_steps", warmup_steps, low=0)
    l1, l2, l3 = _check_coefficients(coefficients)
    dealias = check_bool("dealias", dealias)
    check_choice("order", order, (1, 2, 4))
    include_init = check_bool("include_init", include_init)

    u_hat = jnp.fft.rfft(u0, axis=-1)
    linear = ks_linear_operator(n, length, (l1, l2, l3))
    step = ETDRK(linear, ks_nonlinear(n, length, l1, dealias=dealias), dt, order)
    step = _cast_etdrk(step, u_hat.dtype)
    u_hat = jax.lax.fori_loop(0, warmup_steps, lambda i, v: step(v), u_hat)
    traj = rollout(step, u_hat, n_steps // save_every, save_every, include_init=include_init)
    u = jnp.fft.irfft(traj, n=n, axis=-1).astype(u0.dtype)
    return jnp.moveaxis(u, 0, -2)


# ---------------------------------------------------------------------------------------------------------
# The recipe


_ICS = ("random", "medida", "kassam_trefethen")
_PAIRINGS = ("first", "sliding")

_DEFAULTS: dict[str, Any] = {
    "resolution": 128,
    "length": 64.0,
    "dt": 0.25,
    "record_every": 1.0,
    "n_records": 32,
    "warmup_time": 100.0,
    "ic": "random",
    "ic_cutoff": 5,
    "ic_amplitude": 1.0,
    "coefficients": (1.0, 1.0, 1.0),
    "dealias": False,
    "order": 4,
    "t_in": 1,
    "t_out": 1,
    "pairing": "first",
    "chunk_size": 16,
}

_MEDIDA: dict[str, Any] = {
    "resolution": 1024,
    "length": 100.0,
    "dt": 1e-3,
    "record_every": 5e-3,
    "n_records": 20001,
    "warmup_time": 100.0,
    "ic": "medida",
    "dealias": False,
    "chunk_size": 1,
}

_PRESETS: dict[str, dict[str, Any]] = {
    "paper": dict(_MEDIDA),
    "medida": dict(_MEDIDA),
    "kassam_trefethen": {
        "resolution": 128,
        "length": 32 * math.pi,
        "dt": 0.25,
        "record_every": 1.0,
        "n_records": 151,
        "warmup_time": 0.0,
        "ic": "kassam_trefethen",
        "dealias": False,
        "chunk_size": 1,
    },
}


def _record_steps(params: Mapping[str, Any]) -> int:
    return check_multiple("record_every", params["record_every"], params["dt"])


def _warmup_steps(params: Mapping[str, Any]) -> int:
    return check_multiple("warmup_time", params["warmup_time"], params["dt"], low=0)


def _validate(params: dict) -> dict:
    p = dict(params)
    missing = sorted(set(_DEFAULTS) - set(p))
    if missing:
        raise ValueError(f"missing parameter(s) {missing} for 'kuramoto_sivashinsky'")
    p["resolution"] = _check_n("resolution", p["resolution"])
    p["length"] = check_number("length", p["length"], low=0, low_open=True)
    p["dt"] = check_number("dt", p["dt"], low=0, low_open=True)
    p["record_every"] = check_number("record_every", p["record_every"], low=0, low_open=True)
    p["n_records"] = check_int("n_records", p["n_records"])
    p["warmup_time"] = check_number("warmup_time", p["warmup_time"], low=0)
    _warmup_steps(p)
    _record_steps(p)
    check_choice("ic", p["ic"], _ICS)
    p["ic_cutoff"] = check_int("ic_cutoff", p["ic_cutoff"])
    if p["ic"] == "random" and p["ic_cutoff"] >= p["resolution"] // 2:
        raise ValueError(
            f"`ic_cutoff` must be below resolution / 2 = {p['resolution'] // 2}, got {p['ic_cutoff']}"
        )
    p["ic_amplitude"] = check_number("ic_amplitude", p["ic_amplitude"], low=0, low_open=True)
    p["coefficients"] = _check_coefficients(p["coefficients"])
    p["dealias"] = check_bool("dealias", p["dealias"])
    p["order"] = check_choice("order", check_int("order", p["order"]), (1, 2, 4))
    p["t_in"] = check_int("t_in", p["t_in"])
    p["t_out"] = check_int("t_out", p["t_out"])
    if p["t_in"] + p["t_out"] > p["n_records"]:
        raise ValueError(
            f"`t_in + t_out` ({p['t_in']} + {p['t_out']}) must not exceed `n_records` ({p['n_records']})"
        )
    check_choice("pairing", p["pairing"], _PAIRINGS)
    p["chunk_size"] = check_int("chunk_size", p["chunk_size"])
    return p


def _build(params: dict, dtype) -> Callable[[PRNGKeyArray, Array], dict[str, Array]]:
    n, length = params["resolution"], params["length"]
    dtype = jnp.dtype(dtype)
    if params["ic"] == "medida":
        fixed = medida_initial_condition(n, length)
    elif params["ic"] == "kassam_trefethen":
        fixed = kassam_trefethen_initial_condition(n, length)
    else:
        fixed = None
    solve_kwargs = dict(
        length=length,
        dt=params["dt"],
        n_steps=(params["n_records"] - 1) * _record_steps(params),
        save_every=_record_steps(params),
        warmup_steps=_warmup_steps(params),
        coefficients=params["coefficients"],
        dealias=params["dealias"],
        order=params["order"],
        include_init=True,
    )

    def sample(key, index):
        del index
        if fixed is None:
            u0 = random_initial_condition(
                n, key=key, cutoff=params["ic_cutoff"], amplitude=params["ic_amplitude"], dtype=dtype
            )
        else:
            u0 = jnp.asarray(fixed, dtype=dtype)
        return {"u": ks_solve(u0, **solve_kwargs).astype(dtype)}

    return sample


def _pairs(arrays: Mapping[str, np.ndarray], params: dict) -> tuple[np.ndarray, np.ndarray]:
    u = np.asarray(arrays["u"])
    if u.ndim != 3:
        raise ValueError(f"`arrays['u']` must have shape (n, n_records, resolution), got {u.shape}")
    t_in, t_out = params["t_in"], params["t_out"]
    if t_in + t_out > u.shape[1]:
        raise ValueError(f"`t_in + t_out` ({t_in + t_out}) exceeds the {u.shape[1]} stored records")
    if params["pairing"] == "first":
        return u[:, :t_in], u[:, t_in : t_in + t_out]
    w = np.lib.stride_tricks.sliding_window_view(u, t_in + t_out, axis=1)  # (n, W, N, t_in + t_out)
    w = np.moveaxis(w, -1, -2).reshape(-1, t_in + t_out, u.shape[-1])
    return np.ascontiguousarray(w[:, :t_in]), np.ascontiguousarray(w[:, t_in:])


def _grid(params: dict) -> Grid:
    length = params["length"]
    lo = -length / 2 if params["ic"] == "medida" else 0.0
    return Grid(params["resolution"], Box(lo, lo + length), periodic=True)


RECIPE = Recipe(
    name="kuramoto_sivashinsky",
    description="1-D Kuramoto-Sivashinsky trajectories (ETDRK4 pseudo-spectral; MEDIDA, chaotic benchmarks)",
    params=_DEFAULTS,
    presets=_PRESETS,
    validate=_validate,
    build=_build,
    pairs=_pairs,
    grid=_grid,
    resolution_note=(
        "`resolution` is the number of periodic grid points (even; the right end of the period is excluded); "
        "`u` is stored as (n_records, resolution)"
    ),
    version=1,
    # a fixed initial condition gives one trajectory: more samples would be copies of it
    sample_limit=lambda p: None if p["ic"] == "random" else 1,
)
