"""Boundary and initial conditions of a physics-informed problem: each draws its own points and gives a
residual per point, computed from a [`PointField`][scimlx.core.PointField] of the model."""

from __future__ import annotations

import abc
from collections.abc import Callable, Sequence

import equinox as eqx
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from scimlx.core import Box, PointField, sample_boundary, sample_initial
from scimlx.core.validate import check_int, check_number, check_sequence

Value = Callable[[Array], Array] | float


def _as_function(name: str, value: Value) -> Callable[[Array], Array]:
    if callable(value):
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"`{name}` must be a number or a function of the point, got {value!r}")
    c = check_number(name, value)  # finite: a NaN or infinite datum would make the loss NaN
    return lambda z: jnp.asarray(c, z.dtype) + 0 * z[0]


def _spatial_axes(name: str, axes: Sequence[int] | None, n_space: int) -> tuple[int, ...]:
    if axes is None:
        return tuple(range(n_space))
    try:
        out = tuple(axes)
    except TypeError as e:
        raise TypeError(f"`{name}` must be a sequence of spatial axis indices, got {axes!r}") from e
    if not out or any(
        isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not 0 <= a < n_space for a in out
    ):
        raise ValueError(f"`{name}` must list spatial axes in [0, {n_space}), got {axes!r}")
    return tuple(sorted({int(a) for a in out}))


def _axes_field(axes) -> tuple[int, ...] | None:
    """The `axes` of a face condition as a tuple of axis indices `>= 0` (their upper bound, the number of
    spatial axes, is checked when the condition draws its points), or `None` for all of them."""
    if axes is None:
        return None
    if isinstance(axes, (int, np.integer)) and not isinstance(axes, bool):
        axes = (axes,)
    out = check_sequence("axes", axes, "a sequence of spatial axis indices")
    if not out:
        raise ValueError("`axes` must list at least one spatial axis (or be None for all of them)")
    return tuple(check_int(f"axes[{i}]", a, low=0) for i, a in enumerate(out))


class Condition(eqx.Module):
    """A boundary or initial condition: `sample` draws its points, `residual` is its defect at one of them.

    **Arguments** (shared by every condition):

    - `n`: the number of points it draws (per face for the face conditions).
    - `weight`: its weight in the loss (the mean square of its residual is multiplied by it).
    """

    @abc.abstractmethod
    def sample(self, box: Box, time: bool, *, key: PRNGKeyArray, dtype=None) -> dict[str, Array]:
        """Draw this condition's points in `box` (time last when `time`): a dict of arrays, one row per point,
        with at least `"x"`."""

    @abc.abstractmethod
    def residual(self, fn: Callable[[Array], Array], row: dict[str, Array], time: bool) -> Array:
        """The condition's defect at one sampled row for the model `fn` (a function of one point)."""

    def _check(self) -> None:
        check_int("n", self.n)
        check_number("weight", self.weight, low=0)

    def describe(self) -> str:
        """A one-line description."""
        return type(self).__name__


class _DataCondition(Condition):
    """A condition with data `value` (a number or a function of the point)."""

    value: Value = 0.0
    n: int = eqx.field(default=256, static=True)
    weight: float = eqx.field(default=1.0, static=True)

    def __check_init__(self):
        self._check()
        _as_function("value", self.value)

    def _data(self, row) -> Array:
        return _as_function("value", self.value)(row["x"])


class _FaceCondition(_DataCondition):
    """A condition on the spatial faces of the domain (normal to `axes`), with data `value`."""

    axes: tuple[int, ...] | None = eqx.field(default=None, static=True, kw_only=True, converter=_axes_field)

    def sample(self, box, time, *, key, dtype=None):
        axes = _spatial_axes("axes", self.axes, box.ndim - int(time))
        x, normal = sample_boundary(box, self.n, key=key, axes=axes, per_face=True, dtype=dtype)
        return {"x": x, "normal": normal}


class Dirichlet(_FaceCondition):
    """`u = g` on the spatial faces of the domain.

    **Arguments:**

    - `value`: `g`, a number or a function of the point `z = (x[, t])`; default 0.
    - `axes`: the spatial axes whose two faces carry the condition; default all.
    - `n`: points per face.
    - `weight`: loss weight.
    """

    def residual(self, fn, row, time):
        return fn(row["x"]) - self._data(row)


class Neumann(_FaceCondition):
    """`n·∇u = g` on the spatial faces of the domain (`n` the outward unit normal).

    **Arguments:**

    - `value`: `g`, a number or a function of the point; default 0.
    - `axes`: the spatial axes whose two faces carry the condition; default all.
    - `n`: points per face.
    - `weight`: loss weight.
    """

    def residual(self, fn, row, time):
        field = PointField(fn, row["x"], time=time)
        return jnp.sum(row["normal"][: field.ndim] * field.grad()) - self._data(row)


class Periodic(Condition):
    """Periodicity along one spatial axis: `u` (and its first `derivatives` normal derivatives) agree on the
    two opposite faces.

    **Arguments:**

    - `axis`: the spatial axis.
    - `derivatives`: how many normal derivatives must also agree (0 = values only); default 1.
    - `n`: points on the face pair.
    - `weight`: loss weight.
    """

    axis: int = eqx.field(default=0, static=True)
    derivatives: int = eqx.field(default=1, static=True)
    n: int = eqx.field(default=256, static=True)
    weight: float = eqx.field(default=1.0, static=True)

    def __check_init__(self):
        self._check()
        check_int("derivatives", self.derivatives, low=0)
        check_int("axis", self.axis, low=0)

    def sample(self, box, time, *, key, dtype=None):
        _spatial_axes("axis", (self.axis,), box.ndim - int(time))
        x, _ = sample_boundary(box, self.n, key=key, axes=(self.axis,), per_face=True, dtype=dtype)
        lo = x[: self.n]
        hi = lo.at[:, self.axis].set(box.hi[self.axis])
        return {"x": lo, "partner": hi}

    def residual(self, fn, row, time):
        a, b = PointField(fn, row["x"], time=time), PointField(fn, row["partner"], time=time)
        out = [a.value - b.value]
        for m in range(1, self.derivatives + 1):
            out.append(a.d(self.axis, m) - b.d(self.axis, m))
        return jnp.stack(out)

    def describe(self) -> str:
        return f"Periodic(axis={self.axis})"


class _InitialSlice(_DataCondition):
    """A condition on the initial slice `t = t_0` of a space-time domain, with data `value`."""

    def sample(self, box, time, *, key, dtype=None):
        if not time:
            raise ValueError("an initial condition needs a time-dependent problem (`time=True`)")
        return {"x": sample_initial(box, self.n, key=key, dtype=dtype)}


class InitialValue(_InitialSlice):
    """`u(x, t_0) = g(x)` on the initial slice of a space-time domain.

    **Arguments:**

    - `value`: `g`, a number or a function of the point `z = (x, t_0)`.
    - `n`: points on the initial slice.
    - `weight`: loss weight.
    """

    def residual(self, fn, row, time):
        return fn(row["x"]) - self._data(row)


class InitialVelocity(_InitialSlice):
    """`u_t(x, t_0) = h(x)` on the initial slice (second-order-in-time equations).

    **Arguments:**

    - `value`: `h`, a number or a function of the point `z = (x, t_0)`.
    - `n`: points on the initial slice.
    - `weight`: loss weight.
    """

    def residual(self, fn, row, time):
        return PointField(fn, row["x"], time=time).dt() - self._data(row)


def check_condition(condition: Condition, box: Box, time: bool) -> None:
    """Raise a `ValueError` naming the condition's argument if it does not fit the problem's domain: face
    axes or a periodic axis beyond the spatial axes, an initial condition on a steady problem."""
    n_space = box.ndim - int(time)
    if isinstance(condition, _FaceCondition):
        _spatial_axes("axes", condition.axes, n_space)
    elif isinstance(condition, Periodic):
        _spatial_axes("axis", (condition.axis,), n_space)
    elif isinstance(condition, _InitialSlice) and not time:
        raise ValueError(
            f"`conditions`: {type(condition).__name__} needs a time-dependent problem (time last); the "
            "equation is steady"
        )


def condition_points(condition: Condition, box: Box, time: bool) -> int:
    """How many points `condition.sample` draws."""
    if isinstance(condition, _FaceCondition):
        n_space = box.ndim - int(time)
        return condition.n * 2 * len(_spatial_axes("axes", condition.axes, n_space))
    return condition.n

