"""Two derivative backends behind one interface: [`PointField`][scimlx.core.PointField] and
[`GridField`][scimlx.core.GridField].

An equation's `residual(field)` is written once against [`AbstractField`][] and runs on either backend:

- `PointField(u, x)`: `u` is a function of one point `x` (a model, a closure, an exact solution); derivatives
  come from JAX autodiff at that point. Batches of points come from `jax.vmap`.
- `GridField(u, grid)`: `u` is an array on a uniform [`Grid`][scimlx.core.Grid]; derivatives are FFT
  spectral on periodic axes and central finite differences (order 2 or 4, one-sided of the same order at
  the walls) on bounded axes.

**Conventions** (stated once, for both backends):

- *Time.* With `time=True` the last coordinate of a point, and the last axis of a grid, is time:
  `(x_1, ..., x_d, t)`. Spatial methods (`d`, `grad`, `laplacian`, `div`) act on the `d` spatial coordinates
  only; `dt` differentiates along time. Spatial axes are numbered `0, ..., d - 1`.
- *Components lead.* A field's value has component axes first: `()` for a scalar field, `(m,)` for a vector
  field. A `GridField` value carries the grid axes after them, `(*components, *grid.shape)`; a `PointField`
  value has no point axis. Derivative indices come right after the component axes: `grad` of a scalar is
  `(d,)` (points) or `(d, *grid.shape)` (grids); of a vector field `(m, d)` or `(m, d, *grid.shape)`. `div`
  contracts the last component axis, which must have size `d`.
- *Bounded grid axes.* Finite differences of accuracy `fd_order` use centred stencils in the interior and
  one-sided stencils of the same accuracy (`m + fd_order` points for an `m`-th derivative) in the rows near
  the walls; weights by Fornberg's algorithm. No boundary condition is imposed by a derivative: the wall
  values are part of the data, and boundary conditions are losses or constraints of their own.
- *Periodic grid axes.* Spectral derivatives of real data; the Nyquist mode of an even-sized axis is dropped
  in odd derivatives.
"""

from __future__ import annotations

import abc
import functools
from collections.abc import Callable
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .geometry import Grid
from .validate import check_bool, check_callable, check_choice, check_int, check_key

Coefficient = Any  # a number, an array, a function of the point, or a field


class AbstractField(eqx.Module):
    """The interface shared by [`PointField`][scimlx.core.PointField] and
    [`GridField`][scimlx.core.GridField]."""

    time: eqx.AbstractVar[bool]

    # -- what every backend provides --------------------------------------------------------------
    @property
    @abc.abstractmethod
    def ndim(self) -> int:
        """Number of spatial dimensions (time excluded)."""

    @property
    @abc.abstractmethod
    def value(self) -> Array:
        """The field's value."""

    @property
    @abc.abstractmethod
    def components(self) -> tuple[int, ...]:
        """The shape of the value at one point: `()` for a scalar field, `(m,)` for a vector field."""

    @property
    @abc.abstractmethod
    def coords(self) -> Array:
        """The point `(d [+ 1],)` or the grid coordinates `(d [+ 1], *grid.shape)`."""

    @abc.abstractmethod
    def d(self, axis: int | tuple[int, ...], order: int = 1) -> Array:
        """Partial derivative along spatial axis `axis`, `order` times; a tuple of axes gives the mixed
        partial `d/dx_a d/dx_b ...` (then `order` must be 1)."""

    @abc.abstractmethod
    def dt(self, order: int = 1) -> Array:
        """Time derivative (the field must have `time=True`)."""

    @abc.abstractmethod
    def grad(self) -> Array:
        """Spatial gradient (Jacobian for vector fields); the derivative index follows the components."""

    @abc.abstractmethod
    def laplacian(self) -> Array:
        """Spatial Laplacian, componentwise."""

    @abc.abstractmethod
    def div(self) -> Array:
        """Divergence over the last component axis (size `d`)."""

    @abc.abstractmethod
    def div_flux(self, c: Coefficient) -> Array:
        """`div(c grad u)` of a scalar field, for a scalar coefficient `c` (number, function or field)."""

    @abc.abstractmethod
    def map(self, fn: Callable[[Array], Array]) -> AbstractField:
        """A field of the same kind whose value is `fn(value)` (`fn` elementwise or over the components)."""

    @abc.abstractmethod
    def evaluate(self, fn: Callable[[Array], Array]) -> AbstractField:
        """A field of the same kind whose value at a point `z = (x[, t])` is `fn(z)`: forcing terms,
        coefficients and drifts given as functions become fields with derivatives."""

    # -- shared helpers ---------------------------------------------------------------------------
    @abc.abstractmethod
    def coefficient(self, c: Coefficient, name: str = "c") -> AbstractField:
        """Turn a number, an array, a function of the point or a field into a field of this kind."""

    def _check_axis(self, axis) -> tuple[int, ...]:
        axes = (axis,) if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool) else axis
        if not isinstance(axes, tuple) or not axes:
            raise TypeError(f"`axis` must be an int or a non-empty tuple of ints, got {axis!r}")
        out = []
        for a in axes:
            if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
                raise TypeError(f"`axis` must be an int or a tuple of ints, got {axis!r}")
            if not -self.ndim <= a < self.ndim:
                raise ValueError(
                    f"`axis` {a} is out of range for a field with {self.ndim} spatial dimension(s)"
                    + ("; use dt() for time" if self.time else "")
                )
            out.append(int(a) % self.ndim)
        return tuple(out)

    def _directions(self, axis, order) -> tuple[int, ...]:
        axes = self._check_axis(axis)
        check_int("order", order)
        if len(axes) > 1 and order != 1:
            raise ValueError("`order` must be 1 when `axis` is a tuple (the tuple lists every derivative)")
        return axes * order

    def _check_time(self) -> None:
        if not self.time:
            raise ValueError("this field has no time coordinate; build it with `time=True` (time is last)")


def _as_real_array(name: str, value) -> Array:
    """`value` as a JAX array of real numbers (integers and bools are cast by the caller); strings, objects
    and complex numbers are refused with a message naming `name`."""
    try:
        arr = jnp.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{name}` must be a real array, got {type(value).__name__}") from e
    if jnp.issubdtype(arr.dtype, jnp.complexfloating):
        raise TypeError(f"`{name}` must be a real array, got dtype {arr.dtype}")
    return arr


# ==================================================================================================
# PointField


def _jvp_along(f, v):
    return lambda y: jax.jvp(f, (y,), (v,))[1]


class PointField(AbstractField):
    """A function of one point, differentiated by JAX autodiff.

    Single derivatives `d`/`dt` are nested forward-mode products (`jax.jvp`); `hessian` and the `"hvp"`
    Laplacian are forward-over-reverse; the default `"forward"` Laplacian sums `d` second directional
    derivatives, each forward-over-forward (no full Hessian is formed). `div_hutchinson` and
    `laplacian_hutchinson` are Hutchinson's unbiased stochastic estimators with Rademacher probes.
    """

    fn: Callable[[Array], Array]
    x: Float[Array, " n"]
    time: bool = eqx.field(static=True)

    def __init__(self, fn: Callable[[Array], Array], x: Float[Array, " n"], *, time: bool = False):
        """**Arguments:**

        - `fn`: the field as a function of one point `z = (x_1, ..., x_d[, t])`, returning a scalar or an
            array of components. An Equinox model is fine.
        - `x`: the point, shape `(d,)` or `(d + 1,)` with time. For many points, `jax.vmap` over `x`.
        - `time`: whether the last coordinate is time.
        """
        check_callable("fn", fn, "a function of one point")
        time = check_bool("time", time)
        x = _as_real_array("x", x)
        if not jnp.issubdtype(x.dtype, jnp.floating):
            x = x.astype(jnp.result_type(float))
        if x.ndim != 1:
            raise ValueError(
                f"`x` must be a single point of shape (n,), got shape {x.shape}; use jax.vmap over points"
            )
        if x.shape[0] < (2 if time else 1):
            raise ValueError(f"`x` has {x.shape[0]} coordinates; a {'space-time ' if time else ''}point "
                             f"needs at least {2 if time else 1}")
        self.fn, self.x, self.time = fn, x, bool(time)

    @property
    def ndim(self) -> int:
        return self.x.shape[0] - int(self.time)

    @property
    def value(self) -> Array:
        return jnp.asarray(self.fn(self.x))

    @property
    def components(self) -> tuple[int, ...]:
        return tuple(jax.eval_shape(self.fn, self.x).shape)

    @property
    def coords(self) -> Array:
        return self.x

    def _basis(self, i: int) -> Array:
        # a constant (numpy) unit vector: XLA folds it into the tangent computation
        return jnp.asarray(np.eye(self.x.shape[0], dtype=self.x.dtype)[i])

    def _spatial_basis(self) -> Array:
        return jnp.asarray(np.eye(self.ndim, self.x.shape[0], dtype=self.x.dtype))

    def _nested(self, fn, vs) -> Array:
        f = fn
        for v in vs:
            f = _jvp_along(f, v)
        return f(self.x)

    def d(self, axis: int | tuple[int, ...], order: int = 1) -> Array:
        return self._nested(self.fn, [self._basis(a) for a in self._directions(axis, order)])

    def dt(self, order: int = 1) -> Array:
        self._check_time()
        check_int("order", order)
        return self._nested(self.fn, [self._basis(self.x.shape[0] - 1)] * order)

    def grad(self) -> Array:
        if self.components == ():
            return jax.grad(self.fn)(self.x)[: self.ndim]
        return jax.vmap(lambda v: self._nested(self.fn, [v]), out_axes=-1)(self._spatial_basis())

    def hessian(self) -> Array:
        """Spatial Hessian (forward-over-reverse), shape `(*components, d, d)`."""
        h = jax.hessian(self.fn)(self.x)
        return h[..., : self.ndim, : self.ndim]

    def laplacian(self, method: str = "forward") -> Array:
        """Spatial Laplacian.

        **Arguments:**

        - `method`: `"forward"` (default: `d` forward-over-forward second directional derivatives),
            `"hvp"` (`d` forward-over-reverse Hessian-vector products) or `"hessian"` (trace of the full
            `jax.hessian`; the naive reference).
        """
        if method == "forward":
            second = jax.vmap(lambda v: self._nested(self.fn, [v, v]))(self._spatial_basis())
            return jnp.sum(second, axis=0)
        if method == "hvp":
            g = jax.jacrev(self.fn)

            def hvp_diag(v):
                return jnp.tensordot(jax.jvp(g, (self.x,), (v,))[1], v, axes=1)

            return jnp.sum(jax.vmap(hvp_diag)(self._spatial_basis()), axis=0)
        if method == "hessian":
            return jnp.trace(self.hessian(), axis1=-2, axis2=-1)
        raise ValueError(f"`method` must be 'forward', 'hvp' or 'hessian', got {method!r}")

    def _rademacher(self, n_probes: int, key: PRNGKeyArray) -> Array:
        check_int("n_probes", n_probes)
        v = jax.random.rademacher(check_key(key), (n_probes, self.ndim), dtype=self.x.dtype)
        return jnp.pad(v, ((0, 0), (0, int(self.time))))

    def laplacian_hutchinson(self, n_probes: int, *, key: PRNGKeyArray) -> Array:
        """Hutchinson's unbiased estimate `mean_k v_k^T H v_k` of the Laplacian, Rademacher probes `v_k`.

        **Arguments:**

        - `n_probes`: number of probes; the variance falls as `1 / n_probes`.
        - `key`: a JAX PRNG key (keyword-only; use a different key per point).
        """
        vs = self._rademacher(n_probes, key)
        return jnp.mean(jax.vmap(lambda v: self._nested(self.fn, [v, v]))(vs), axis=0)

    def _check_vector(self) -> tuple[int, ...]:
        shape = self.components
        if not shape or shape[-1] != self.ndim:
            raise ValueError(
                f"div needs a vector field whose last component axis has size {self.ndim}; the field's "
                f"value has shape {shape}"
            )
        return shape

    def div(self) -> Array:
        self._check_vector()
        jac = jax.vmap(lambda v: self._nested(self.fn, [v]))(self._spatial_basis())  # (d, ..., d)
        return jnp.sum(jnp.diagonal(jac, axis1=0, axis2=-1), axis=-1)

    def div_hutchinson(self, n_probes: int, *, key: PRNGKeyArray) -> Array:
        """Hutchinson's unbiased estimate `mean_k v_k . (J v_k)` of the divergence, Rademacher probes.

        **Arguments:**

        - `n_probes`: number of probes; each costs one forward-mode product.
        - `key`: a JAX PRNG key (keyword-only; use a different key per point).
        """
        lead = len(self._check_vector()) - 1
        vs = self._rademacher(n_probes, key)
        jv = jax.vmap(lambda v: self._nested(self.fn, [v]))(vs)  # (n_probes, *lead, d)
        probes = vs[:, : self.ndim].reshape((n_probes,) + (1,) * lead + (self.ndim,))
        return jnp.mean(jnp.sum(jv * probes, axis=-1), axis=0)

    def div_flux(self, c: Coefficient) -> Array:
        """`div(c grad u)`, evaluated as `c Δu + ∇c·∇u` (forward-mode Laplacian, two gradients): the same
        value as differentiating the flux, several times cheaper than forward-over-reverse."""
        if self.components != ():
            raise ValueError(f"div_flux needs a scalar field; the value has shape {self.components}")
        coef = self.coefficient(c, name="c")
        if coef.components != ():
            raise ValueError(f"`c` must be a scalar coefficient; it has components {coef.components}")
        gu = self.grad()
        gc = gu if coef is self else coef.grad()
        return coef.value * self.laplacian() + jnp.sum(gc * gu, axis=0)

    def map(self, fn: Callable[[Array], Array]) -> PointField:
        u = self.fn
        return PointField(lambda y: fn(u(y)), self.x, time=self.time)

    def evaluate(self, fn: Callable[[Array], Array]) -> PointField:
        check_callable("fn", fn, "a function of the point")
        return PointField(fn, self.x, time=self.time)

    def coefficient(self, c: Coefficient, name: str = "c") -> PointField:
        """A number or array is a constant, a function of the point is evaluated at the point."""
        if isinstance(c, PointField):
            return c
        if isinstance(c, AbstractField):
            raise TypeError(f"`{name}` is a GridField; it cannot be combined with a PointField")
        if callable(c):
            return self.evaluate(c)
        arr = jnp.asarray(c, dtype=self.x.dtype)
        if arr.ndim > 1:
            raise ValueError(
                f"`{name}` has shape {arr.shape}; at a point give a number, a constant vector (m,) or a "
                "function of the point"
            )
        return self.evaluate(lambda y: arr + 0 * y[0])


# ==================================================================================================
# GridField


def fornberg_weights(z: float, nodes, m: int) -> np.ndarray:
    """Finite-difference weights of the `m`-th derivative at `z` on `nodes` (Fornberg, 1988).

    **Arguments:**

    - `z`: where the derivative is taken.
    - `nodes`: the stencil nodes (distinct numbers).
    - `m`: derivative order.

    **Returns:** a float64 numpy array of one weight per node.
    """
    x = np.asarray(nodes, dtype=np.float64)
    n = len(x)
    c = np.zeros((n, m + 1))
    c1, c4 = 1.0, x[0] - z
    c[0, 0] = 1.0
    for i in range(1, n):
        mn = min(i, m)
        c2, c5, c4 = 1.0, c4, x[i] - z
        for j in range(i):
            c3 = x[i] - x[j]
            c2 *= c3
            if j == i - 1:
                for k in range(mn, 0, -1):
                    c[i, k] = c1 * (k * c[i - 1, k - 1] - c5 * c[i - 1, k]) / c2
                c[i, 0] = -c1 * c5 * c[i - 1, 0] / c2
            for k in range(mn, 0, -1):
                c[j, k] = (c4 * c[j, k] - k * c[j, k - 1]) / c3
            c[j, 0] = c4 * c[j, 0] / c3
        c1 = c2
    return c[:, m]


@functools.cache
def _fd_stencils(m: int, p: int):
    """Centred weights, half-width r, and the one-sided weights of the r wall rows on each side."""
    r = (m + 1) // 2 - 1 + p // 2
    s = m + p
    centre = fornberg_weights(0.0, np.arange(-r, r + 1), m)
    left = np.stack([fornberg_weights(float(i), np.arange(s), m) for i in range(r)])
    right = np.stack([fornberg_weights(float(s - r + i), np.arange(s), m) for i in range(r)])
    return r, centre, left, right


def _stencil_size(m: int, p: int) -> int:
    r = (m + 1) // 2 - 1 + p // 2
    return max(2 * r + 1, m + p)


# The kernels below are jitted on their own (static axis, order, spacing): called eagerly, a derivative then
# compiles once per shape instead of once per array operation inside it; inside a caller's jit they inline.
@functools.partial(jax.jit, static_argnums=(1, 2, 3, 4))
def _fd_derivative(u: Array, axis: int, m: int, p: int, h: float) -> Array:
    n = u.shape[axis]
    r, centre, left, right = _fd_stencils(m, p)
    s = left.shape[1]
    scale = 1.0 / h**m
    moved = jnp.moveaxis(u, axis, -1)
    interior = sum(
        jnp.asarray(w * scale, u.dtype) * moved[..., j : n - 2 * r + j]
        for j, w in enumerate(centre)
        if w != 0.0
    )
    lw = jnp.asarray(left.T * scale, dtype=u.dtype)
    rw = jnp.asarray(right.T * scale, dtype=u.dtype)
    out = jnp.concatenate([moved[..., :s] @ lw, interior, moved[..., n - s :] @ rw], axis=-1)
    return jnp.moveaxis(out, -1, axis)


def _wavenumbers(n: int, length: float) -> np.ndarray:
    return 2 * np.pi * np.fft.rfftfreq(n, d=length / n)


@functools.partial(jax.jit, static_argnums=(1, 2, 3))
def _spectral_derivative(u: Array, axis: int, m: int, length: float) -> Array:
    n = u.shape[axis]
    factor = (1j * _wavenumbers(n, length)) ** m
    if n % 2 == 0 and m % 2 == 1:
        factor[-1] = 0.0
    shape = [1] * u.ndim
    shape[axis] = factor.shape[0]
    uh = jnp.fft.rfft(u, axis=axis) * jnp.asarray(factor.reshape(shape))
    return jnp.fft.irfft(uh, n=n, axis=axis).astype(u.dtype)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _fourier_multiply(u: Array, multiplier: Array, axes: tuple[int, ...], shape: tuple[int, ...]) -> Array:
    out = jnp.fft.irfftn(multiplier * jnp.fft.rfftn(u, axes=axes), s=shape, axes=axes)
    return out.astype(u.dtype)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _div_flux_fd2(u: Array, c: Array, axis: int, h: float) -> Array:
    """`d(c du)` along `axis`: conservative 3-point scheme with face-averaged `c` at interior nodes, the
    expanded form `c u'' + c' u'` with one-sided stencils at the two wall nodes."""
    uu, cc = jnp.moveaxis(u, axis, -1), jnp.moveaxis(c, axis, -1)
    cface = 0.5 * (cc[..., 1:] + cc[..., :-1])
    flux = cface * (uu[..., 1:] - uu[..., :-1]) / h
    inner = (flux[..., 1:] - flux[..., :-1]) / h

    def expanded(us, cs):  # c u'' + c' u' on a 4-point slab at a wall
        last = us.ndim - 1
        return cs * _fd_derivative(us, last, 2, 2, h) + _fd_derivative(cs, last, 1, 2, h) * _fd_derivative(
            us, last, 1, 2, h
        )

    left = expanded(uu[..., :4], cc[..., :4])[..., :1]
    right = expanded(uu[..., -4:], cc[..., -4:])[..., -1:]
    return jnp.moveaxis(jnp.concatenate([left, inner, right], axis=-1), -1, axis)


class GridField(AbstractField):
    """An array on a uniform grid, differentiated spectrally (periodic axes) or by finite differences."""

    u: Array
    grid: Grid = eqx.field(static=True)
    time: bool = eqx.field(static=True)
    fd_order: int = eqx.field(static=True)

    def __init__(self, u: Array, grid: Grid, *, time: bool = False, fd_order: int = 2):
        """**Arguments:**

        - `u`: the values, shape `(*components, *grid.shape)` (channels first), real floating.
        - `grid`: the [`Grid`][scimlx.core.Grid]; with `time=True` its last axis is time.
        - `time`: whether the grid's last axis is time.
        - `fd_order`: accuracy order of the finite differences on bounded axes: 2 or 4.
        """
        if not isinstance(grid, Grid):
            raise TypeError(f"`grid` must be a scimlx Grid, got {type(grid).__name__}")
        time = check_bool("time", time)
        fd_order = check_choice("fd_order", check_int("fd_order", fd_order), (2, 4))
        u = _as_real_array("u", u)
        if not jnp.issubdtype(u.dtype, jnp.floating):
            raise TypeError(f"`u` must be a real floating array, got dtype {u.dtype}")
        if u.ndim < grid.ndim or u.shape[u.ndim - grid.ndim :] != grid.shape:
            raise ValueError(
                f"`u` has shape {u.shape}; its trailing axes must be the grid shape {grid.shape} "
                "(channels first: (*components, *grid.shape))"
            )
        if time and grid.ndim < 2:
            raise ValueError("`time=True` needs a grid with at least one spatial axis and a time axis")
        self.u, self.grid, self.time, self.fd_order = u, grid, time, fd_order

    @property
    def ndim(self) -> int:
        return self.grid.ndim - int(self.time)

    @property
    def value(self) -> Array:
        return self.u

    @property
    def coords(self) -> Array:
        return self.grid.coords(self.u.dtype)

    @property
    def components(self) -> tuple[int, ...]:
        return self.u.shape[: self.u.ndim - self.grid.ndim]

    @property
    def _ncomp(self) -> int:
        return self.u.ndim - self.grid.ndim

    def _derivative(self, arr: Array, gaxis: int, m: int) -> Array:
        """`m`-th derivative of `arr` (trailing axes = grid) along grid axis `gaxis`."""
        axis = arr.ndim - self.grid.ndim + gaxis
        n = self.grid.shape[gaxis]
        if self.grid.periodic[gaxis]:
            return _spectral_derivative(arr, axis, m, self.grid.box.lengths[gaxis])
        need = _stencil_size(m, self.fd_order)
        if n < need:
            raise ValueError(
                f"grid axis {gaxis} has {n} points; the order-{self.fd_order} stencil of the {m}-th "
                f"derivative needs at least {need} (refine `grid` or lower `fd_order`)"
            )
        return _fd_derivative(arr, axis, m, self.fd_order, self.grid.spacing[gaxis])

    def _derivatives(self, arr: Array, gaxes: tuple[int, ...]) -> Array:
        # group repeated axes so that e.g. (0, 0) uses the second-derivative stencil
        counts: dict[int, int] = {}
        for a in gaxes:
            counts[a] = counts.get(a, 0) + 1
        for a, m in counts.items():
            arr = self._derivative(arr, a, m)
        return arr

    def d(self, axis: int | tuple[int, ...], order: int = 1) -> Array:
        return self._derivatives(self.u, self._directions(axis, order))

    def dt(self, order: int = 1) -> Array:
        self._check_time()
        check_int("order", order)
        return self._derivative(self.u, self.grid.ndim - 1, order)

    def grad(self) -> Array:
        return jnp.stack([self._derivative(self.u, i, 1) for i in range(self.ndim)], axis=self._ncomp)

    def _spectral_multiply(self, multiplier: Callable[[np.ndarray], np.ndarray]) -> Array:
        """Apply a Fourier multiplier `multiplier(|k|^2)` over the spatial axes (all periodic), by `rfftn`."""
        axes = tuple(self._ncomp + i for i in range(self.ndim))
        k2 = np.zeros([1] * self.u.ndim)
        for j in range(self.ndim):
            n, length = self.grid.shape[j], self.grid.box.lengths[j]
            if j == self.ndim - 1:
                k = _wavenumbers(n, length)
            else:
                k = 2 * np.pi * np.fft.fftfreq(n, d=length / n)
            shape = [1] * self.u.ndim
            shape[axes[j]] = k.shape[0]
            k2 = k2 + (k**2).reshape(shape)
        return _fourier_multiply(self.u, jnp.asarray(multiplier(k2)), axes, self.grid.shape[: self.ndim])

    def laplacian(self) -> Array:
        if self.ndim > 1 and all(self.grid.periodic[: self.ndim]):
            return self._spectral_multiply(lambda k2: -k2)
        return sum(self._derivative(self.u, i, 2) for i in range(self.ndim))

    def div(self) -> Array:
        if self._ncomp < 1 or self.u.shape[self._ncomp - 1] != self.ndim:
            raise ValueError(
                f"div needs a vector field whose last component axis has size {self.ndim}; the field's "
                f"value has shape {self.u.shape} on a grid of shape {self.grid.shape}"
            )
        ax = self._ncomp - 1
        return sum(self._derivative(jnp.take(self.u, i, axis=ax), i, 1) for i in range(self.ndim))

    def div_flux(self, c: Coefficient) -> Array:
        """`div(c grad u)` of a scalar field.

        On bounded axes with `fd_order=2` this is the conservative 3-point scheme with face-averaged
        (arithmetic) coefficients `c_{i+1/2} = (c_i + c_{i+1}) / 2` at interior nodes, and the expanded form
        `c u'' + c' u'` with one-sided stencils at the wall nodes. With `fd_order=4` it is the expanded form
        everywhere (composing two one-sided first derivatives would lose an order at the walls). On periodic
        axes it is `d(c d u)`, spectral.
        """
        if self._ncomp != 0:
            raise ValueError(f"div_flux needs a scalar field; the value has shape {self.u.shape}")
        coef = self.coefficient(c, name="c")
        if coef.components != ():
            raise ValueError(f"`c` must be a scalar coefficient; it has components {coef.components}")
        cv = jnp.broadcast_to(coef.u, self.u.shape)
        total = 0.0
        for i in range(self.ndim):
            if self.grid.periodic[i]:
                total = total + self._derivative(cv * self._derivative(self.u, i, 1), i, 1)
                continue
            if self.fd_order != 2:
                du, d2u = self._derivative(self.u, i, 1), self._derivative(self.u, i, 2)
                total = total + cv * d2u + self._derivative(cv, i, 1) * du
                continue
            n, h = self.grid.shape[i], self.grid.spacing[i]
            if n < _stencil_size(2, 2):
                raise ValueError(f"grid axis {i} has {n} points; div_flux needs at least 4")
            total = total + _div_flux_fd2(self.u, cv, i, h)
        return total

    def poisson_solve(self) -> Array:
        """The zero-mean solution `psi` of `-laplacian(psi) = u` on a grid whose spatial axes are all periodic
        (the mean of `u` is ignored), by FFT; componentwise, and slice by slice in time."""
        if not all(self.grid.periodic[: self.ndim]):
            raise ValueError("poisson_solve needs a grid whose spatial axes are all periodic")
        return self._spectral_multiply(lambda k2: np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0))

    def map(self, fn: Callable[[Array], Array]) -> GridField:
        return GridField(fn(self.u), self.grid, time=self.time, fd_order=self.fd_order)

    def evaluate(self, fn: Callable[[Array], Array]) -> GridField:
        check_callable("fn", fn, "a function of the point")
        vals = self.grid.evaluate(fn, self.u.dtype)
        return GridField(vals.astype(self.u.dtype), self.grid, time=self.time, fd_order=self.fd_order)

    def coefficient(self, c: Coefficient, name: str = "c") -> GridField:
        """A number is a constant field, a 1-D array that does not match the grid a constant vector, an array
        `(*components, *grid.shape)` a field on the grid, a function of the point is evaluated on the grid."""
        if isinstance(c, GridField):
            if c.grid != self.grid:
                raise ValueError(f"`{name}` is a field on a different grid")
            return c
        if isinstance(c, AbstractField):
            raise TypeError(f"`{name}` is a PointField; it cannot be combined with a GridField")
        if callable(c):
            return self.evaluate(c)
        arr = jnp.asarray(c, dtype=self.u.dtype)
        g = self.grid.ndim
        if arr.ndim >= g and arr.shape[arr.ndim - g :] == self.grid.shape:
            return GridField(arr, self.grid, time=self.time, fd_order=self.fd_order)
        if arr.ndim <= 1:
            arr = jnp.broadcast_to(arr.reshape(arr.shape + (1,) * g), arr.shape + self.grid.shape)
            return GridField(arr, self.grid, time=self.time, fd_order=self.fd_order)
        raise ValueError(
            f"`{name}` has shape {arr.shape}; expected a number, a constant vector (m,), or an array "
            f"(*components, *grid.shape) on the grid of shape {self.grid.shape}"
        )
