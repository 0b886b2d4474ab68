"""MEDIDA's imperfect Kuramoto-Sivashinsky model (a Crank-Nicolson / Adams-Bashforth-2 step with arbitrary
terms) and the model-error cases of MEDIDA's code (Mojgani, Chattopadhyay & Hassanzadeh 2022).

The truth, `u_t + u u_x + u_xx + u_xxxx = 0`, and its ETDRK4 solver are data: `scimlx.datasets.ks_solve`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Complex, Float

from scimlx.core.stepping import CNAB2, dealias_mask
from scimlx.core.validate import check_bool, check_callable, check_number
from scimlx.datasets._kuramoto_sivashinsky import (
    _check_coefficients,
    _check_n,
    _check_state,
    _wavenumbers,
    ks_linear_operator,
    ks_nonlinear,
    spectral_derivative,
)

__all__ = ["MEDIDA_CASES", "KSModel", "medida_case_error"]


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


def medida_case_error(family: str, case: int) -> dict[str, float]:
    """The model error of a MEDIDA case, as MEDIDA should discover it: the terms (named as in
    [`PolynomialDerivativeLibrary`][scimlx.control.PolynomialDerivativeLibrary]) to add to the imperfect
    model's right-hand side `u_t = ...` to recover the truth `u_t = -(u u_x + u_xx + u_xxxx)`.

    For example `("KS", 1)`, the model without `u u_x`, gives `{"u u_x": -1.0}`, and `("KSpu3x", 2)`, the
    model with a spurious `+ 0.5 u_xxx` on the left-hand side, gives `{"u_xxx": 0.5}`.
    """
    if (family, case) not in MEDIDA_CASES:
        known = sorted({f for f, _ in MEDIDA_CASES})
        raise ValueError(
            f"unknown MEDIDA case ({family!r}, {case!r}); families {known}, cases: "
            f"{sorted(c for f, c in MEDIDA_CASES if f == family) or 'none for this family'}"
        )
    values = MEDIDA_CASES[(family, case)]
    out = {name: value - 1.0 for name, value in zip(("u u_x", "u_xx", "u_xxxx"), values[:3]) if value != 1.0}
    if family == "KSpu3x":
        out["u_xxx"] = values[3]
    elif family == "KSpu3x_Du3" and values[0] != 0:  # the flux l1 (u^2 + lam u^3) / 2
        out["u^2 u_x"] = 1.5 * values[0] * values[3]
    return out


class KSModel(eqx.Module):
    """MEDIDA's imperfect KS model: one Crank-Nicolson / Adams-Bashforth-2 step with arbitrary terms.

    The model is `u_t = L u + N(u)` with `L = l2 k^2 - l3 k^4 + extra_linear` and
    `N = -l1 (u^2 / 2)_x + extra_nonlinear(u)`, advanced pseudo-spectrally by the core
    `scimlx.core.stepping.CNAB2` (Crank-Nicolson for `L`, second-order Adams-Bashforth for `N`):
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
        medida_case_error(family, case)  # checks the case
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
