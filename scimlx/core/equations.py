"""The PDE catalogue: each equation is an Equinox module whose `residual(field)` is written once and runs on
both [`PointField`][scimlx.core.PointField] and [`GridField`][scimlx.core.GridField].

Conventions: an evolution equation is written `u_t = N(u) + f` and its residual is `u_t - N(u) - f`; a steady
equation `L(u) = f` has residual `L(u) - f`; time is the last coordinate (see `scimlx.core.fields`). Sources,
coefficients, drifts and forcings may be numbers, functions of the point `z = (x_1, ..., x_d[, t])`, arrays on
the grid (GridField only) or fields. Parameters are checked when they are concrete numbers; traced values
(for example a viscosity being learned) pass through unchecked.

| name | equation |
|---|---|
| poisson | -Δu = f |
| helmholtz | Δu + k²u = f |
| heat | u_t = κΔu + f |
| advection | u_t + c·∇u = f |
| burgers | u_t + (u·∇)u = νΔu + f (1-D: u_t + (u²/2)_x = νu_xx + f) |
| allen_cahn | u_t = DΔu - a(u³ - u) + f |
| nonlinear_diffusion | u_t = α∇·(u∇u) + f |
| klein_gordon | u_tt - c²Δu + αu + βu^p = f |
| darcy | -∇·(a∇u) = f |
| drift_diffusion | DΔu - ∇·(b u) = f |
| navier_stokes_2d_vorticity | ω_t + u·∇ω = νΔω + f, u = (ψ_y, -ψ_x), -Δψ = ω |
| kuramoto_sivashinsky | u_t + λ₁(u²/2)_x + λ₂u_xx + λ₃u_xxxx = f |
| fokker_planck | log-density form: u_t = -∇·μ - μ·∇u + ½σ²(Δu + |∇u|²), u = log p |
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import Callable
from typing import ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from .fields import AbstractField, Coefficient, GridField, PointField
from .validate import check_callable, check_choice, check_int


def _concrete(value):
    """The value as a float numpy array if it is a concrete number or array, else None (functions, fields,
    traced values)."""
    if callable(value) or isinstance(value, AbstractField):
        return None
    try:
        return np.asarray(value, dtype=float)
    except Exception:  # a tracer
        return None


def _check_param(name: str, value, *, positive: bool = False, nonnegative: bool = False) -> None:
    if callable(value) or isinstance(value, AbstractField):
        return
    numeric = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if isinstance(value, (np.ndarray, jax.Array)):
        numeric = jnp.issubdtype(value.dtype, jnp.integer) or jnp.issubdtype(value.dtype, jnp.floating)
    elif isinstance(value, (tuple, list)):
        numeric = all(
            isinstance(v, (int, float, np.integer, np.floating)) and not isinstance(v, bool) for v in value
        )
    if not numeric:
        raise TypeError(
            f"`{name}` must be a number, an array, a function of the point or a field, got {value!r}"
        )
    arr = _concrete(value)
    if arr is None:  # traced: checked by whoever made it
        return
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"`{name}` must be finite, got {value!r}")
    if positive and not np.all(arr > 0):
        raise ValueError(f"`{name}` must be > 0, got {value!r}")
    if nonnegative and not np.all(arr >= 0):
        raise ValueError(f"`{name}` must be >= 0 (a negative value is not physical), got {value!r}")


def _term(field: AbstractField, c: Coefficient, name: str) -> Array:
    """The value of a source/coefficient on the field's points or grid (0 stays a plain 0)."""
    arr = _concrete(c)
    if arr is not None and arr.ndim == 0 and arr == 0.0:
        return jnp.zeros((), field.value.dtype)
    term = field.coefficient(c, name=name)
    if term.components != ():
        raise ValueError(f"`{name}` must be a scalar term; it has components {term.components}")
    return term.value


class Equation(eqx.Module):
    """Base of the PDE catalogue: one residual, written once, for PointField and GridField."""

    name: ClassVar[str]
    formula: ClassVar[str]
    time_dependent: ClassVar[bool]
    spatial_dims: ClassVar[tuple[int, ...] | None] = None

    @abc.abstractmethod
    def residual(self, field: AbstractField) -> Array:
        """The residual at the field's point (PointField) or on its grid (GridField).

        **Arguments:**

        - `field`: a [`PointField`][scimlx.core.PointField] or [`GridField`][scimlx.core.GridField].

        **Returns:** an array shaped like a scalar value of the field (`()` at a point, `grid.shape` on a
        grid), with a leading axis for systems of equations.
        """

    def _check_field(self, field) -> None:
        if not isinstance(field, AbstractField):
            raise TypeError(
                f"`field` must be a PointField or a GridField, got {type(field).__name__}"
            )
        if self.time_dependent and not field.time:
            raise ValueError(
                f"{type(self).__name__} is time-dependent: build the field with `time=True` (time last)"
            )
        if not self.time_dependent and field.time:
            raise ValueError(f"{type(self).__name__} is steady: build the field with `time=False`")
        if self.spatial_dims is not None and field.ndim not in self.spatial_dims:
            raise ValueError(
                f"{type(self).__name__} is defined in {self.spatial_dims} spatial dimension(s); "
                f"the field has {field.ndim}"
            )

    @staticmethod
    def _check_scalar(field: AbstractField) -> None:
        shape = field.components
        if shape != ():
            raise ValueError(f"this equation needs a scalar field; the field has components {shape}")


class Poisson(Equation):
    """Poisson's equation `-Δu = f`.

    Residual: `-Δu - f`.

    **Arguments:**

    - `source`: `f` (number, function of the point, grid array or field); default 0.
    """

    name: ClassVar[str] = "poisson"
    formula: ClassVar[str] = "-Δu = f"
    time_dependent: ClassVar[bool] = False
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        return -field.laplacian() - _term(field, self.source, "source")


class Helmholtz(Equation):
    """Helmholtz's equation `Δu + k²u = f` (the PIG/PIXEL benchmark sign).

    Residual: `Δu + k²u - f`.

    **Arguments:**

    - `k`: wavenumber, `k >= 0`; default 1.
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "helmholtz"
    formula: ClassVar[str] = "Δu + k²u = f"
    time_dependent: ClassVar[bool] = False
    k: float = 1.0
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("k", self.k, nonnegative=True)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        u = field.value
        return field.laplacian() + self.k**2 * u - _term(field, self.source, "source")


class Heat(Equation):
    """The heat equation `u_t = κΔu + f`.

    Residual: `u_t - κΔu - f`.

    **Arguments:**

    - `diffusivity`: `κ >= 0`; default 1.
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "heat"
    formula: ClassVar[str] = "u_t = κΔu + f"
    time_dependent: ClassVar[bool] = True
    diffusivity: float = 1.0
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("diffusivity", self.diffusivity, nonnegative=True)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        return field.dt() - self.diffusivity * field.laplacian() - _term(field, self.source, "source")


class Advection(Equation):
    """Linear advection `u_t + c·∇u = f` (advective form; `c` may vary in space and time).

    Residual: `u_t + c·∇u - f`.

    **Arguments:**

    - `velocity`: `c`, one number per spatial dimension (a number in 1-D), or a function of the point
        returning `(d,)`; default 1 (1-D).
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "advection"
    formula: ClassVar[str] = "u_t + c·∇u = f"
    time_dependent: ClassVar[bool] = True
    velocity: Coefficient = 1.0
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("velocity", self.velocity)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        c = self.velocity
        arr = _concrete(c)
        if arr is not None and arr.ndim <= 1:
            arr = arr.reshape(-1)
            if arr.shape != (field.ndim,):
                raise ValueError(
                    f"`velocity` must have one entry per spatial dimension ({field.ndim}), got {arr.shape}"
                )
            c = arr
        vel = field.coefficient(c, name="velocity")
        if vel.components != (field.ndim,):
            raise ValueError(
                f"`velocity` must have {field.ndim} components (one per spatial dimension); it has "
                f"{vel.components}"
            )
        cv = vel.value
        return field.dt() + jnp.sum(cv * field.grad(), axis=0) - _term(field, self.source, "source")


class Burgers(Equation):
    """Viscous Burgers: `u_t + (u·∇)u = νΔu + f` for a d-component field in d dimensions, or the scalar 1-D
    equation `u_t + (u²/2)_x = νu_xx + f`.

    Residual: `u_t + (u·∇)u - νΔu - f` (1-D: `u_t + (u²/2)_x - νu_xx - f`).

    **Arguments:**

    - `viscosity`: `ν >= 0`; default 0.01.
    - `source`: `f`; default 0.
    - `form`: scalar 1-D only: `"conservative"` (flux `(u²/2)_x`, differentiated as a whole, the form of the
        FNO and PDEBench data) or `"advective"` (`u u_x`). Identical for smooth exact solutions.
    """

    name: ClassVar[str] = "burgers"
    formula: ClassVar[str] = "u_t + (u·∇)u = νΔu + f   (1-D: u_t + (u²/2)_x = νu_xx + f)"
    time_dependent: ClassVar[bool] = True
    viscosity: float = 0.01
    source: Coefficient = 0.0
    form: str = eqx.field(default="conservative", static=True)

    def __check_init__(self):
        _check_param("viscosity", self.viscosity, nonnegative=True)
        _check_param("source", self.source)
        check_choice("form", self.form, ("conservative", "advective"))

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        shape = field.components
        if shape == ():
            if field.ndim != 1:
                raise ValueError(
                    f"a scalar Burgers field must be 1-D; in {field.ndim}-D give {field.ndim} components"
                )
            if self.form == "conservative":
                conv = field.map(lambda u: 0.5 * u**2).d(0)
            else:
                conv = field.value * field.d(0)
        elif shape == (field.ndim,):
            u = field.value
            conv = jnp.sum(field.grad() * u[None], axis=1)
        else:
            raise ValueError(
                f"a Burgers field is scalar (1-D) or has {field.ndim} components; got components {shape}"
            )
        return field.dt() + conv - self.viscosity * field.laplacian() - _term(field, self.source, "source")


class AllenCahn(Equation):
    """Allen-Cahn: `u_t = DΔu - a(u³ - u) + f`; the defaults are the benchmark of JAX-PI and PIG
    (`u_t - 1e-4 u_xx + 5u³ - 5u = 0`).

    Residual: `u_t - DΔu + a(u³ - u) - f`.

    **Arguments:**

    - `diffusivity`: `D >= 0`; default 1e-4.
    - `reaction`: `a`; default 5.
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "allen_cahn"
    formula: ClassVar[str] = "u_t = DΔu - a(u³ - u) + f"
    time_dependent: ClassVar[bool] = True
    diffusivity: float = 1e-4
    reaction: float = 5.0
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("diffusivity", self.diffusivity, nonnegative=True)
        _check_param("reaction", self.reaction)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        u = field.value
        return (
            field.dt()
            - self.diffusivity * field.laplacian()
            + self.reaction * (u**3 - u)
            - _term(field, self.source, "source")
        )


class NonlinearDiffusion(Equation):
    """Nonlinear (porous-medium type) diffusion `u_t = α∇·(u∇u) + f = α(|∇u|² + uΔu) + f`; the default
    `α = 0.05` is the SPINN/PIG benchmark.

    On a bounded grid with `fd_order=2` the flux is the conservative scheme with face-averaged `u` (see
    [`GridField.div_flux`][scimlx.core.GridField.div_flux]).

    Residual: `u_t - α∇·(u∇u) - f`.

    **Arguments:**

    - `alpha`: `α >= 0`; default 0.05.
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "nonlinear_diffusion"
    formula: ClassVar[str] = "u_t = α∇·(u∇u) + f"
    time_dependent: ClassVar[bool] = True
    alpha: float = 0.05
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("alpha", self.alpha, nonnegative=True)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        return field.dt() - self.alpha * field.div_flux(field) - _term(field, self.source, "source")


class KleinGordon(Equation):
    """Nonlinear Klein-Gordon: `u_tt - c²Δu + αu + βu^p = f`; the defaults (`c = 1, α = 0, β = 1, p = 2`) are
    the SPINN/PIG benchmark `u_tt - Δu + u² = f`.

    Residual: `u_tt - c²Δu + αu + βu^p - f`.

    **Arguments:**

    - `wave_speed`: `c > 0`; default 1.
    - `alpha`: linear (mass) coefficient; default 0.
    - `beta`: nonlinear coefficient; default 1.
    - `power`: integer `p >= 1`; default 2.
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "klein_gordon"
    formula: ClassVar[str] = "u_tt - c²Δu + αu + βu^p = f"
    time_dependent: ClassVar[bool] = True
    wave_speed: float = 1.0
    alpha: float = 0.0
    beta: float = 1.0
    power: int = eqx.field(default=2, static=True)
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("wave_speed", self.wave_speed, positive=True)
        _check_param("alpha", self.alpha)
        _check_param("beta", self.beta)
        _check_param("source", self.source)
        check_int("power", self.power)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        u = field.value
        return (
            field.dt(2)
            - self.wave_speed**2 * field.laplacian()
            + self.alpha * u
            + self.beta * u**self.power
            - _term(field, self.source, "source")
        )


class Darcy(Equation):
    """Darcy flow `-∇·(a∇u) = f`; the default `f = 1` is the FNO/LSM benchmark (with `u = 0` on the
    boundary, imposed separately).

    On a bounded grid with `fd_order=2` the flux is the conservative 5-point scheme with face-averaged
    coefficients (see [`GridField.div_flux`][scimlx.core.GridField.div_flux]), the scheme of the Darcy data.

    Residual: `-∇·(a∇u) - f`.

    **Arguments:**

    - `coefficient`: the permeability `a > 0` (number, function of the point, grid array or field);
        default 1.
    - `source`: `f`; default 1.
    """

    name: ClassVar[str] = "darcy"
    formula: ClassVar[str] = "-∇·(a∇u) = f"
    time_dependent: ClassVar[bool] = False
    coefficient: Coefficient = 1.0
    source: Coefficient = 1.0

    def __check_init__(self):
        _check_param("coefficient", self.coefficient, positive=True)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        return -field.div_flux(self.coefficient) - _term(field, self.source, "source")


class DriftDiffusion(Equation):
    """The steady drift-diffusion equation `DΔu - ∇·(b u) = f` (the two-peak benchmark of DAS/AAS has
    `D = 1`, `b = ∇(|x|²) = 2x`).

    Residual: `DΔu - (∇·b) u - b·∇u - f`.

    **Arguments:**

    - `drift`: `b`, a function of the point returning `(d,)`; default `2x`.
    - `diffusivity`: `D >= 0`; default 1.
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "drift_diffusion"
    formula: ClassVar[str] = "DΔu - ∇·(b u) = f"
    time_dependent: ClassVar[bool] = False
    drift: Callable[[Array], Array] = lambda z: 2 * z
    diffusivity: float = 1.0
    source: Coefficient = 0.0

    def __check_init__(self):
        check_callable("drift", self.drift, "a function of the point returning (d,)")
        _check_param("diffusivity", self.diffusivity, nonnegative=True)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        b = field.evaluate(self.drift)
        return (
            self.diffusivity * field.laplacian()
            - b.div() * field.value
            - jnp.sum(b.value * field.grad(), axis=0)
            - _term(field, self.source, "source")
        )


def ns_fno_forcing(z: Array) -> Array:
    """The forcing `0.1 (sin 2π(x + y) + cos 2π(x + y))` of the FNO Navier-Stokes benchmark."""
    s = 2 * jnp.pi * (z[0] + z[1])
    return 0.1 * (jnp.sin(s) + jnp.cos(s))


class NavierStokes2DVorticity(Equation):
    """2-D incompressible Navier-Stokes in vorticity form: `ω_t + u·∇ω = νΔω + f`, with the velocity
    `u = (ψ_y, -ψ_x)` of the stream function `ψ`, `-Δψ = ω` (so `ω = v_x - u_y`, the FNO convention).

    The field is either the vorticity alone, on a grid whose spatial axes are periodic (`ψ` is then found
    by FFT), or the pair `(ω, ψ)` as two components on any backend; the residual of the pair is the stacked
    `[vorticity equation, ω + Δψ]`.

    Residual: `ω_t + u·∇ω - νΔω - f` (and `ω + Δψ` for the pair).

    **Arguments:**

    - `viscosity`: `ν >= 0`; default 1e-3.
    - `forcing`: `f`; default 0 ([`ns_fno_forcing`][scimlx.core.equations.ns_fno_forcing] is the FNO one).
    """

    name: ClassVar[str] = "navier_stokes_2d_vorticity"
    formula: ClassVar[str] = "ω_t + u·∇ω = νΔω + f,  u = (ψ_y, -ψ_x),  -Δψ = ω"
    time_dependent: ClassVar[bool] = True
    spatial_dims: ClassVar[tuple[int, ...]] = (2,)
    viscosity: float = 1e-3
    forcing: Coefficient = 0.0

    def __check_init__(self):
        _check_param("viscosity", self.viscosity, nonnegative=True)
        _check_param("forcing", self.forcing)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        shape = field.components
        if shape == ():
            if not isinstance(field, GridField):
                raise ValueError(
                    "a vorticity-only field needs a periodic GridField; at points give the pair (ω, ψ)"
                )
            w, psi = field, field.map(lambda _: field.poisson_solve())
        elif shape == (2,):
            w, psi = field.map(lambda v: v[0]), field.map(lambda v: v[1])
        else:
            raise ValueError(f"the field must be ω or the pair (ω, ψ); got components {shape}")
        vort = (
            w.dt()
            + psi.d(1) * w.d(0)
            - psi.d(0) * w.d(1)
            - self.viscosity * w.laplacian()
            - _term(field, self.forcing, "forcing")
        )
        if shape == ():
            return vort
        return jnp.stack([vort, w.value + psi.laplacian()])


class KuramotoSivashinsky(Equation):
    """Kuramoto-Sivashinsky in conservative (fluid) form, `u_t + λ₁(u²/2)_x + λ₂u_xx + λ₃u_xxxx = f`; the
    defaults `λ = (1, 1, 1)` are the chaotic KS of MEDIDA and Exponax's `KuramotoSivashinskyConservative`.

    Residual: `u_t + λ₁(u²/2)_x + λ₂u_xx + λ₃u_xxxx - f`.

    **Arguments:**

    - `convection`: `λ₁`; default 1.
    - `diffusion`: `λ₂` (positive is anti-diffusive); default 1.
    - `hyperdiffusion`: `λ₃ >= 0`; default 1.
    - `source`: `f`; default 0.
    """

    name: ClassVar[str] = "kuramoto_sivashinsky"
    formula: ClassVar[str] = "u_t + λ₁(u²/2)_x + λ₂u_xx + λ₃u_xxxx = f"
    time_dependent: ClassVar[bool] = True
    spatial_dims: ClassVar[tuple[int, ...]] = (1,)
    convection: float = 1.0
    diffusion: float = 1.0
    hyperdiffusion: float = 1.0
    source: Coefficient = 0.0

    def __check_init__(self):
        _check_param("convection", self.convection)
        _check_param("diffusion", self.diffusion)
        _check_param("hyperdiffusion", self.hyperdiffusion, nonnegative=True)
        _check_param("source", self.source)

    def residual(self, field: AbstractField) -> Array:
        self._check_field(field)
        self._check_scalar(field)
        return (
            field.dt()
            + self.convection * field.map(lambda u: 0.5 * u**2).d(0)
            + self.diffusion * field.d(0, 2)
            + self.hyperdiffusion * field.d(0, 4)
            - _term(field, self.source, "source")
        )


class FokkerPlanck(Equation):
    """The Fokker-Planck equation of `dx = μ(x, t) dt + σ(t) dW` for the log-density `u = log p`:
    residual `u_t + ∇·μ + μ·∇u - ½σ²(Δu + |∇u|²)`.

    For `μ = -x`, `σ = 1` in 2-D this is `u_t - 2 - x·∇u - ½|∇u|² - ½Δu`, the residual of the ODE-SDE gap
    regulariser. With `n_probes` set, `∇·μ` and `Δu` are Hutchinson estimates (PointField only; pass `key`).

    **Arguments:**

    - `drift`: `μ`, a function of the point `z = (x, t)` returning `(d,)`.
    - `sigma`: `σ >= 0`, a number or a function of `t`; default 1.
    - `n_probes`: Rademacher probes for the Hutchinson estimates; default None (exact).
    """

    name: ClassVar[str] = "fokker_planck"
    formula: ClassVar[str] = "u = log p:  u_t = -∇·μ - μ·∇u + ½σ²(Δu + |∇u|²)"
    time_dependent: ClassVar[bool] = True
    drift: Callable[[Array], Array] = lambda z: -z[:-1]
    sigma: float | Callable[[Array], Array] = 1.0
    n_probes: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        check_callable("drift", self.drift, "a function of the point (x, t)")
        if not callable(self.sigma):
            _check_param("sigma", self.sigma, nonnegative=True)
        check_int("n_probes", self.n_probes, optional=True)

    def residual(self, field: AbstractField, *, key: PRNGKeyArray | None = None) -> Array:
        """**Arguments:**

        - `field`: the log-density `u`, a scalar field with `time=True`.
        - `key`: needed when `n_probes` is set (one key per point).
        """
        self._check_field(field)
        self._check_scalar(field)
        mu = field.evaluate(self.drift)
        if self.n_probes is None:
            div_mu, lap = mu.div(), field.laplacian()
        else:
            if not isinstance(field, PointField):
                raise TypeError("Hutchinson estimates (`n_probes`) need a PointField")
            if key is None:
                raise ValueError("`key` is required when `n_probes` is set")
            k1, k2 = jax.random.split(key)
            div_mu = mu.div_hutchinson(self.n_probes, key=k1)
            lap = field.laplacian_hutchinson(self.n_probes, key=k2)
        if callable(self.sigma):
            sig = field.evaluate(lambda z: self.sigma(z[-1])).value
        else:
            sig = self.sigma
        g = field.grad()
        return (
            field.dt()
            + div_mu
            + jnp.sum(mu.value * g, axis=0)
            - 0.5 * sig**2 * (lap + jnp.sum(g**2, axis=0))
        )


EQUATIONS: dict[str, type[Equation]] = {
    cls.name: cls
    for cls in (
        Poisson,
        Helmholtz,
        Heat,
        Advection,
        Burgers,
        AllenCahn,
        NonlinearDiffusion,
        KleinGordon,
        Darcy,
        DriftDiffusion,
        NavierStokes2DVorticity,
        KuramotoSivashinsky,
        FokkerPlanck,
    )
}


def get_equation(name: str, **params) -> Equation:
    """Build a catalogue equation by name.

    **Arguments:**

    - `name`: one of `EQUATIONS` (`scimlx list equations` shows them).
    - `**params`: the equation's parameters.
    """
    if not isinstance(name, str):
        raise TypeError(f"`name` must be an equation name (str), got {type(name).__name__}")
    if name not in EQUATIONS:
        raise ValueError(f"unknown equation `name` {name!r}; known: {', '.join(sorted(EQUATIONS))}")
    cls = EQUATIONS[name]
    known = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise TypeError(
            f"unknown parameter(s) {unknown} for the equation {name!r}; its parameters are {known}"
        )
    return cls(**params)


def describe_equations() -> list[dict[str, str]]:
    """One row per catalogue equation: name, class, formula and parameters with their defaults."""
    rows = []
    for name, cls in EQUATIONS.items():
        params = []
        for f in dataclasses.fields(cls):
            default = f.default
            if default is dataclasses.MISSING:
                params.append(f.name)
            elif callable(default):
                params.append(f"{f.name}=<function>")
            else:
                params.append(f"{f.name}={default!r}")
        rows.append(
            {"name": name, "class": cls.__name__, "formula": cls.formula, "parameters": ", ".join(params)}
        )
    return rows


