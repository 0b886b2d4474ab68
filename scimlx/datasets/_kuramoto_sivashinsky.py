"""Kuramoto-Sivashinsky: the ETDRK4 truth solver, MEDIDA's imperfect CNAB2 models, and the data recipe.

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
- `KSModel`: MEDIDA's "imperfect model", one Crank-Nicolson / Adams-Bashforth-2 step
    ([`scimlx.core.stepping.CNAB2`][]) with arbitrary coefficients and extra linear and nonlinear
    terms; the model-error cases of MEDIDA's code are in `MEDIDA_CASES`;
- `ks_linear_operator`, `ks_nonlinear`, `spectral_derivative`: the pieces, usable on their own;
- the initial conditions of MEDIDA, of Kassam & Trefethen, and a random truncated Fourier series;
- `RECIPE`, the registered data recipe `"kuramoto_sivashinsky"`.

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
from scimlx.core.stepping import CNAB2, ETDRK, dealias_mask, rfft_wavenumbers, rollout
from scimlx.core.validate import (
    check_bool,
    check_callable,
    check_choice,
    check_dtype,
    check_int,
    check_key,
    check_multiple,
    check_number,
)

from ._recipe import Recipe

__all__ = [
    "MEDIDA_CASES",
    "RECIPE",
    "KSModel",
    "kassam_trefethen_initial_condition",
    "ks_linear_operator",
    "ks_nonlinear",
    "ks_solve",
    "medida_initial_condition",
    "random_initial_condition",
    "spectral_derivative",
]


# ---------------------------------------------------------------------------------------------------------
# MEDIDA's model-error cases


MEDIDA_CASES: dict[tuple[str, int], tuple[float, ...]] = {
    # "KS": wrong or missing coefficients (l1, l2, l3) of (u u_x, u_xx, u_xxxx).
    ("KS", 1): (0.0, 1.0, 1.0),
    ("KS", 2): (1.0, 0.0, 1.0),
    ("KS", 3): (1.0, 1.0, 0.0),
    ("KS", 4): (1.0, 0.0, 0.0),
    ("KS", 5): (0.0, 1.0, 0.0),
    ("KS", 6): (0.0, 0.0, 1.0),
    ("KS", 7): (0.5, 1.0, 1.0),
    ("KS", 8): (1.0, 0.5, 1.0),
    ("KS", 9): (1.0, 1.0, 0.5),
    ("KS", 10): (2.0, 2.0, 2.0),
    ("KS", 11): (0.0, 0.5, 2.0),
    ("KS", 12): (0.5, 0.0, 1.0),
    # "KSpu3x": (l1, l2, l3, c), the model gains a spurious dispersive term + c u_xxx (L gains + i c k^3).
    ("KSpu3x", 1): (1.0, 1.0, 1.0, 0.1),
    ("KSpu3x", 2): (1.0, 1.0, 1.0, 0.5),
    ("KSpu3x", 3): (1.0, 1.0, 1.0, 1.0),
    ("KSpu3x", 21): (0.0, 1.0, 1.0, 0.5),
    ("KSpu3x", 22): (1.0, 0.0, 1.0, 0.5),
    ("KSpu3x", 23): (1.0, 1.0, 0.0, 0.5),
    # "KSpu3x_Du3": (l1, l2, l3, lam), the model's flux is l1 (u^2 / 2 + lam u^3 / 2), i.e. it gains
    # + (3/2) l1 lam u^2 u_x.
    ("KSpu3x_Du3", 1): (1.0, 1.0, 1.0, 1.5),
    ("KSpu3x_Du3", 2): (1.0, 1.0, 1.0, 0.15),
    ("KSpu3x_Du3", 3): (1.0, 1.0, 1.0, 0.015),
    ("KSpu3x_Du3", 21): (0.0, 1.0, 1.0, 0.15),
    ("KSpu3x_Du3", 22): (1.0, 0.0, 1.0, 0.15),
    ("KSpu3x_Du3", 23): (1.0, 1.0, 0.0, 0.15),
}


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
# The imperfect model (MEDIDA)


class KSModel(eqx.Module):
    """MEDIDA's imperfect KS model: one Crank-Nicolson / Adams-Bashforth-2 step with arbitrary terms.

    The model is `u_t = L u + N(u)` with `L = l2 k^2 - l3 k^4 + extra_linear` and
    `N = -l1 (u^2 / 2)_x + extra_nonlinear(u)`, advanced pseudo-spectrally by the core
    [`scimlx.core.stepping.CNAB2`][] (Crank-Nicolson for `L`, second-order Adams-Bashforth for `N`):
    `u_next = model(u_prev, u)` from the states at `t - dt` and `t`, in physical space. MEDIDA
    (`dt = 5e-3 = 5` truth steps) predicts `truth[t]` from `truth[t - 10]` and `truth[t - 5]`.

    **Arguments:**

    - `n`: the number of grid points (even).
    - `length`: the domain length `L`.
    - `dt`: the model time step.
    - `coefficients`: `(l1, l2, l3)` of `u_t + l1 u u_x + l2 u_xx + l3 u_xxxx = 0`.
    - `extra_linear`: an additional Fourier multiplier on the right-hand side (`u_hat_t` gains
        `extra_linear * u_hat`): `None`, an array of the `n // 2 + 1` real-FFT modes, or a function of
        the angular wavenumbers `k` (a float64 numpy array). A term `+ c u_xxx` on the left-hand side
        (MEDIDA's `KSpu3x`) is `lambda k: 1j * c * k**3`.
    - `extra_nonlinear`: `None` or a function `u -> term` in physical space whose value is added to
        `u_t` (right-hand side); build derivatives with
        `spectral_derivative`. MEDIDA's `KSpu3x_Du3` flux
        `l1 lam u^3 / 2` is `lambda u: -spectral_derivative(0.5 * l1 * lam * u**3, length)`.
    - `dealias`: the 2/3 rule on the nonlinear terms (MEDIDA: `False`).

    Build the model under the precision it runs in (its operators follow JAX's default float, i.e.
    float64 when `jax.enable_x64` is on); outputs have the dtype of the input state.
    """

    stepper: CNAB2
    linear: Complex[Array, " n//2+1"]
    n: int = eqx.field(static=True)
    length: float = eqx.field(static=True)
    dt: float = eqx.field(static=True)
    coefficients: tuple[float, float, float] = eqx.field(static=True)

    def __init__(
        self,
        n: int,
        length: float,
        dt: float,
        coefficients: Sequence[float] = (1.0, 1.0, 1.0),
        *,
        extra_linear: ArrayLike | Callable[[np.ndarray], ArrayLike] | None = None,
        extra_nonlinear: Callable[[Array], Array] | None = None,
        dealias: bool = False,
    ):
        n = _check_n("n", n)
        length = check_number("length", length, low=0, low_open=True)
        dt = check_number("dt", dt, low=0, low_open=True)
        coefficients = _check_coefficients(coefficients)
        dealias = check_bool("dealias", dealias)
        linear = ks_linear_operator(n, length, coefficients).astype(np.complex128)
        if extra_linear is not None:
            extra = extra_linear(_wavenumbers(n, length)) if callable(extra_linear) else extra_linear
            try:
                extra = np.asarray(extra, dtype=np.complex128)
            except (TypeError, ValueError) as e:
                raise TypeError(f"`extra_linear` must give numbers, got {type(extra).__name__}") from e
            if extra.shape not in ((), (n // 2 + 1,)):
                raise ValueError(
                    f"`extra_linear` must have {n // 2 + 1} entries (the real-FFT modes), "
                    f"got shape {extra.shape}"
                )
            if not np.all(np.isfinite(extra)):
                raise ValueError("`extra_linear` must be finite")
            linear = linear + extra
        check_callable("extra_nonlinear", extra_nonlinear, optional=True)
        base = ks_nonlinear(n, length, coefficients[0], dealias=dealias)
        mask = dealias_mask((n,)) if dealias else None

        def nonlinear(u_hat):
            out = base(u_hat)
            if extra_nonlinear is not None:
                v = u_hat if mask is None else jnp.where(mask, u_hat, 0)
                u = jnp.fft.irfft(v, n=n, axis=-1)
                term = jnp.fft.rfft(jnp.asarray(extra_nonlinear(u), dtype=u.dtype), axis=-1)
                out = out + (term if mask is None else jnp.where(mask, term, 0))
            return out

        if np.all(linear.imag == 0):
            linear = linear.real
        self.linear = jnp.asarray(linear)
        self.stepper = CNAB2(self.linear, nonlinear, dt)
        self.n, self.length, self.dt, self.coefficients = n, length, dt, coefficients

    @classmethod
    def from_medida_case(
        cls, family: str, case: int, *, n: int = 1024, length: float = 100.0, dt: float = 5e-3, dealias=False
    ) -> KSModel:
        """The imperfect model of a MEDIDA case (see `MEDIDA_CASES`; the truth is `(1, 1, 1)`).

        **Arguments:**

        - `family`: `"KS"`, `"KSpu3x"` or `"KSpu3x_Du3"`.
        - `case`: the case number of MEDIDA's code (`case_select.py`; the paper numbers differ).
        - `n`, `length`, `dt`, `dealias`: as for `KSModel` (MEDIDA: 1024, 100, 5e-3, no dealiasing).
        """
        if (family, case) not in MEDIDA_CASES:
            known = sorted({f for f, _ in MEDIDA_CASES})
            raise ValueError(
                f"unknown MEDIDA case ({family!r}, {case!r}); families {known}, cases: "
                f"{sorted(c for f, c in MEDIDA_CASES if f == family) or 'none for this family'}"
            )
        values = MEDIDA_CASES[(family, case)]
        coefficients = values[:3]
        if family == "KS":
            return cls(n, length, dt, coefficients, dealias=dealias)
        if family == "KSpu3x":
            c = values[3]
            return cls(n, length, dt, coefficients, extra_linear=lambda k: 1j * c * k**3, dealias=dealias)
        l1, lam = values[0], values[3]
        return cls(
            n,
            length,
            dt,
            coefficients,
            extra_nonlinear=lambda u: -spectral_derivative(0.5 * l1 * lam * u**3, length),
            dealias=dealias,
        )

    def _hat(self, name: str, u) -> tuple[Array, Any]:
        u = _check_state(name, u, self.n)
        return jnp.fft.rfft(u, axis=-1), u.dtype

    def __call__(
        self,
        u_prev: Float[ArrayLike, "*batch n"],  # noqa: F821
        u: Float[ArrayLike, "*batch n"],  # noqa: F821
    ) -> Float[Array, "*batch n"]:  # noqa: F821
        """The state at `t + dt` from the states `u_prev` at `t - dt` and `u` at `t` (physical space)."""
        p_hat, _ = self._hat("u_prev", u_prev)
        u_hat, dtype = self._hat("u", u)
        return jnp.fft.irfft(self.stepper(p_hat, u_hat), n=self.n, axis=-1).astype(dtype)

    def start(self, u: Float[ArrayLike, "*batch n"]) -> Float[Array, "*batch n"]:  # noqa: F821
        """A first step from a single state (Crank-Nicolson / forward Euler, first order)."""
        u_hat, dtype = self._hat("u", u)
        return jnp.fft.irfft(self.stepper.start(u_hat), n=self.n, axis=-1).astype(dtype)

    def tendency(self, u: Float[ArrayLike, "*batch n"]) -> Float[Array, "*batch n"]:  # noqa: F821
        """The model's right-hand side `u_t = L u + N(u)` at the state `u` (physical space)."""
        u_hat, dtype = self._hat("u", u)
        rhs = self.linear * u_hat + self.stepper.nonlinear(u_hat)
        return jnp.fft.irfft(rhs, n=self.n, axis=-1).astype(dtype)


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
