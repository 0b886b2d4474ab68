"""Domains, uniform grids and collocation samplers.

A [`Box`][scimlx.core.Box] is an axis-aligned box in any dimension; a [`Grid`][scimlx.core.Grid] is a
uniform grid on a box, periodic or bounded per axis. The samplers draw collocation points for
physics-informed losses.

**Time convention.** A space-time domain is a box whose *last* coordinate is time: a point is
`(x_1, ..., x_d, t)` and a space-time grid has time as its last axis. The same convention holds for the fields
of `scimlx.core.fields` (`time=True`) and for every sampler here (`sample_initial` pins the last coordinate).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, PRNGKeyArray

from .validate import check_callable, check_int, check_key, check_sequence


def _as_float_tuple(name: str, value) -> tuple[float, ...]:
    expected = f"`{name}` must be a real number or a flat sequence of real numbers"
    if value is None or isinstance(value, (bool, np.bool_, str, bytes)):
        raise TypeError(f"{expected}, got {value!r}")
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:  # ragged nesting, objects that are not numbers
        raise TypeError(f"{expected}, got {value!r}") from e
    if arr.dtype.kind not in "iuf":  # bools, strings, complex numbers, None or other objects inside
        raise TypeError(f"{expected}, got {value!r}")
    if arr.ndim > 1:
        raise ValueError(f"{expected}, got shape {arr.shape}")
    out = tuple(float(v) for v in arr.reshape(-1))
    if not all(math.isfinite(v) for v in out):
        raise ValueError(f"`{name}` must be finite, got {out}")
    return out


def _as_bool_tuple(name: str, value, n: int) -> tuple[bool, ...]:
    """One bool (for every axis) or a sequence of `n` bools."""
    if isinstance(value, (bool, np.bool_)):
        return (bool(value),) * n
    what = "a bool or a sequence of bools (one per axis)"
    items = check_sequence(name, value, what)
    if not all(isinstance(p, (bool, np.bool_)) for p in items):
        raise TypeError(f"`{name}` must be {what}, got {items!r}")
    if len(items) != n:
        raise ValueError(f"`{name}` has {len(items)} entries but the grid has {n} axes")
    return tuple(bool(p) for p in items)


class Box(eqx.Module):
    """An axis-aligned box `[lo_1, hi_1] x ... x [lo_d, hi_d]` in any dimension."""

    lo: tuple[float, ...] = eqx.field(static=True)
    hi: tuple[float, ...] = eqx.field(static=True)

    def __init__(self, lo: float | Sequence[float], hi: float | Sequence[float]):
        """**Arguments:**

        - `lo`: lower corner, a number (1-D) or one number per dimension.
        - `hi`: upper corner, same length as `lo`, with `hi > lo` on every axis.
        """
        lo_t, hi_t = _as_float_tuple("lo", lo), _as_float_tuple("hi", hi)
        if len(lo_t) != len(hi_t):
            raise ValueError(f"`lo` and `hi` must have the same length, got {len(lo_t)} and {len(hi_t)}")
        if len(lo_t) == 0:
            raise ValueError("`lo` must have at least one entry")
        bad = [i for i, (a, b) in enumerate(zip(lo_t, hi_t)) if not b > a]
        if bad:
            raise ValueError(
                f"`hi` must exceed `lo` on every axis; axes {bad} are empty: lo={lo_t}, hi={hi_t}"
            )
        wide = [i for i, (a, b) in enumerate(zip(lo_t, hi_t)) if not math.isfinite(b - a)]
        if wide:
            raise ValueError(
                f"`hi` - `lo` must be a finite length on every axis; axes {wide} overflow: "
                f"lo={lo_t}, hi={hi_t}"
            )
        self.lo, self.hi = lo_t, hi_t

    @classmethod
    def unit(cls, ndim: int) -> Box:
        """The unit box `[0, 1]^ndim`."""
        ndim = check_int("ndim", ndim)
        return cls((0.0,) * ndim, (1.0,) * ndim)

    @property
    def ndim(self) -> int:
        return len(self.lo)

    @property
    def lengths(self) -> tuple[float, ...]:
        return tuple(b - a for a, b in zip(self.lo, self.hi))

    @property
    def volume(self) -> float:
        return math.prod(self.lengths)

    def contains(self, x: Float[Array, "... d"], *, atol: float = 0.0) -> Array:
        """Whether each point of `x` (last axis = coordinates) lies in the closed box."""
        x = jnp.asarray(x)
        lo, hi = jnp.asarray(self.lo), jnp.asarray(self.hi)
        return jnp.all((x >= lo - atol) & (x <= hi + atol), axis=-1)

    def face_measures(self) -> tuple[float, ...]:
        """The (d-1)-dimensional measure of each face, ordered `(lo_0, hi_0, lo_1, hi_1, ...)`."""
        out = []
        for i in range(self.ndim):
            m = math.prod(length for j, length in enumerate(self.lengths) if j != i)
            out += [m, m]
        return tuple(out)


class Grid(eqx.Module):
    """A uniform grid on a [`Box`][scimlx.core.Box], periodic or bounded per axis.

    A bounded axis of `n` points holds both walls: `x_i = lo + i h`, `h = (hi - lo) / (n - 1)`. A periodic
    axis of `n` points excludes the right end (it is the left end again): `x_i = lo + i h`,
    `h = (hi - lo) / n`.
    """

    shape: tuple[int, ...] = eqx.field(static=True)
    box: Box = eqx.field(static=True)
    periodic: tuple[bool, ...] = eqx.field(static=True)

    def __init__(
        self,
        shape: int | Sequence[int],
        box: Box | None = None,
        periodic: bool | Sequence[bool] = False,
    ):
        """**Arguments:**

        - `shape`: number of points per axis (an int for 1-D).
        - `box`: the domain; defaults to the unit box of matching dimension.
        - `periodic`: one bool for all axes, or one per axis.
        """
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (int(shape),)
        try:
            shape_t = tuple(shape)
        except TypeError as e:
            raise TypeError(f"`shape` must be an int or a sequence of ints, got {shape!r}") from e
        if not shape_t or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) for s in shape_t
        ):
            raise TypeError(f"`shape` must be a non-empty sequence of ints, got {shape!r}")
        shape_t = tuple(int(s) for s in shape_t)
        if box is None:
            box = Box.unit(len(shape_t))
        if not isinstance(box, Box):
            raise TypeError(f"`box` must be a scimlx Box, got {type(box).__name__}")
        if box.ndim != len(shape_t):
            raise ValueError(f"`box` has {box.ndim} dimensions but `shape` {shape_t} has {len(shape_t)}")
        periodic_t = _as_bool_tuple("periodic", periodic, len(shape_t))
        for i, (s, p) in enumerate(zip(shape_t, periodic_t)):
            if s < (1 if p else 2):
                raise ValueError(
                    f"`shape` axis {i} has {s} points; a {'periodic' if p else 'bounded'} axis needs at "
                    f"least {1 if p else 2}"
                )
        self.shape, self.box, self.periodic = shape_t, box, periodic_t

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)

    @property
    def spacing(self) -> tuple[float, ...]:
        """Grid spacing `h` per axis (see the class docstring for periodic vs bounded)."""
        return tuple(
            length / (n if p else n - 1) for length, n, p in zip(self.box.lengths, self.shape, self.periodic)
        )

    def axes(self, dtype=None) -> list[Float[Array, " n"]]:
        """The 1-D coordinates of each axis."""
        return [
            jnp.asarray(lo + h * np.arange(n), dtype=dtype)
            for lo, h, n in zip(self.box.lo, self.spacing, self.shape)
        ]

    def coords(self, dtype=None) -> Float[Array, "d *shape"]:  # noqa: F821
        """All grid coordinates, channels-first: `coords()[i]` is the i-th coordinate on the grid."""
        return jnp.stack(jnp.meshgrid(*self.axes(dtype), indexing="ij"), axis=0)

    def points(self, dtype=None) -> Float[Array, "n d"]:
        """The grid nodes as a point cloud `(size, d)`, in C order."""
        return self.coords(dtype).reshape(self.ndim, -1).T

    def evaluate(self, fn, dtype=None) -> Array:
        """Evaluate a function of one point on every node, channels-first.

        **Arguments:**

        - `fn`: a function of a point `(d,)` returning a scalar or an array of components.
        - `dtype`: floating dtype of the coordinates.

        **Returns:** an array `(*components, *shape)`.
        """
        check_callable("fn", fn, "a function of one point")
        return _evaluate_on_grid(self, fn, dtype)


@eqx.filter_jit  # one compilation per function and grid when called eagerly, not one per operation in `fn`
def _evaluate_on_grid(grid: Grid, fn, dtype) -> Array:
    vals = jnp.asarray(jax.vmap(fn)(grid.points(dtype)))
    vals = vals.reshape(grid.shape + vals.shape[1:])
    return jnp.moveaxis(vals, tuple(range(grid.ndim)), tuple(range(-grid.ndim, 0)))


# ----------------------------------------------------------------------------------------------------------
# Collocation samplers


def sample_interior(box: Box, n: int, *, key: PRNGKeyArray, dtype=None) -> Float[Array, "n d"]:
    """Draw `n` points uniformly in the box.

    **Arguments:**

    - `box`: the domain (a space-time box has time last).
    - `n`: number of points.
    - `key`: a JAX PRNG key.
    - `dtype`: floating dtype (default: JAX's default float).

    **Returns:** an array `(n, d)`.
    """
    _check_box(box)
    n = check_int("n", n)
    key = check_key(key)
    lo, hi = jnp.asarray(box.lo, dtype), jnp.asarray(box.hi, dtype)
    return jax.random.uniform(key, (n, box.ndim), dtype=lo.dtype, minval=lo, maxval=hi)


def sample_boundary(
    box: Box,
    n: int,
    *,
    key: PRNGKeyArray,
    axes: Sequence[int] | None = None,
    per_face: bool = False,
    dtype=None,
) -> tuple[Float[Array, "m d"], Float[Array, "m d"]]:
    """Draw points on the faces of the box, with their outward unit normals.

    **Arguments:**

    - `box`: the domain.
    - `n`: number of points: in total (faces chosen with probability proportional to their measure), or on
        each face when `per_face=True`.
    - `key`: a JAX PRNG key.
    - `axes`: restrict to the faces normal to these axes, e.g. `range(d)` of a space-time box to leave out
        the time faces. Default: all axes.
    - `per_face`: `n` points on every selected face, ordered face by face `(lo_a, hi_a, ...)`.
    - `dtype`: floating dtype.

    **Returns:** `(points, normals)`, each `(m, d)` with `m = n` or `m = n * number_of_faces`.
    """
    _check_box(box)
    n = check_int("n", n)
    key = check_key(key)
    d = box.ndim
    if axes is None:
        axes = tuple(range(d))
    axes = tuple(axes)
    if not axes or any(
        isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -d <= a < d for a in axes
    ):
        raise ValueError(f"`axes` must be a non-empty sequence of axis indices in [-{d}, {d}), got {axes}")
    axes = tuple(sorted({a % d for a in axes}))
    faces = [(a, side) for a in axes for side in (0, 1)]
    lo, hi = jnp.asarray(box.lo, dtype), jnp.asarray(box.hi, dtype)
    kface, kpts = jax.random.split(key)
    if per_face:
        face_axis = np.repeat(np.array([f[0] for f in faces]), n)
        face_side = np.repeat(np.array([f[1] for f in faces]), n)
        face_axis, face_side = jnp.asarray(face_axis), jnp.asarray(face_side)
        m = n * len(faces)
    else:
        measures = np.array([box.face_measures()[2 * a + s] for a, s in faces], dtype=float)
        if d == 1:
            measures = np.ones(len(faces))
        idx = jax.random.choice(kface, len(faces), (n,), p=jnp.asarray(measures / measures.sum()))
        face_axis = jnp.asarray([f[0] for f in faces])[idx]
        face_side = jnp.asarray([f[1] for f in faces])[idx]
        m = n
    pts = jax.random.uniform(kpts, (m, d), dtype=lo.dtype, minval=lo, maxval=hi)
    onehot = jax.nn.one_hot(face_axis, d, dtype=bool)
    wall = jnp.where(face_side[:, None] == 1, hi, lo)
    pts = jnp.where(onehot, wall, pts)
    normals = jnp.where(onehot, jnp.where(face_side[:, None] == 1, 1.0, -1.0), 0.0).astype(lo.dtype)
    return pts, normals


def sample_initial(box: Box, n: int, *, key: PRNGKeyArray, dtype=None) -> Float[Array, "n d"]:
    """Draw `n` points uniformly on the initial slice `t = t_0` of a space-time box (time is the last axis).

    **Arguments:**

    - `box`: a space-time box, `ndim >= 2`.
    - `n`: number of points.
    - `key`: a JAX PRNG key.
    - `dtype`: floating dtype.

    **Returns:** an array `(n, d)` whose last column equals `box.lo[-1]`.
    """
    _check_box(box)
    if box.ndim < 2:
        raise ValueError(f"`box` must be a space-time box (ndim >= 2, time last), got ndim={box.ndim}")
    pts = sample_interior(box, n, key=key, dtype=dtype)
    return pts.at[:, -1].set(box.lo[-1])


def sample_quasirandom(
    box: Box,
    n: int,
    *,
    key: PRNGKeyArray,
    method: str = "sobol",
    scramble: bool = True,
    dtype=None,
) -> Float[Array, "n d"]:
    """Draw `n` quasi-random (low-discrepancy) points in the box with `scipy.stats.qmc`.

    The sequence is generated on the host (not inside `jax.jit`); the key seeds the scrambling. A Sobol
    sequence keeps its balance properties only for `n` a power of two; other `n` are accepted silently.

    **Arguments:**

    - `box`: the domain.
    - `n`: number of points.
    - `key`: a JAX PRNG key (seeds the scrambling).
    - `method`: `"sobol"` or `"halton"`.
    - `scramble`: randomise the sequence (Owen scrambling / random permutations).
    - `dtype`: floating dtype.

    **Returns:** an array `(n, d)`.
    """
    from scipy.stats import qmc

    _check_box(box)
    n = check_int("n", n)
    key = check_key(key)
    if method not in ("sobol", "halton"):
        raise ValueError(f"`method` must be 'sobol' or 'halton', got {method!r}")
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel().tolist())
    if method == "sobol":
        engine = qmc.Sobol(box.ndim, scramble=scramble, rng=rng)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            u = engine.random(n)
    else:
        u = qmc.Halton(box.ndim, scramble=scramble, rng=rng).random(n)
    lo, hi = np.asarray(box.lo), np.asarray(box.hi)
    return jnp.asarray(lo + (hi - lo) * u, dtype=dtype)


def _check_box(box) -> None:
    if not isinstance(box, Box):
        raise TypeError(f"`box` must be a scimlx Box, got {type(box).__name__}")
