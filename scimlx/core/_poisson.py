"""The pressure-Poisson operator of a flagged MAC grid with solid obstacles and open regions.

A fluid simulation's projection step solves, for the cell-centred pressure `p` of a MAC grid (face-centred
velocities), the linear system `A p = b` with `b` the negative divergence of the intermediate velocity. Every
cell carries a flag:

- `FLUID` (0): an unknown;
- `SOLID` (1): an obstacle: faces between a fluid cell and a solid cell are walls (Neumann, no flux);
- `EMPTY` (2): air / free space: the pressure there is 0 (Dirichlet).

The box's own faces are solid walls unless they are listed as open: an open face behaves like a layer of
`EMPTY` cells outside the box (Dirichlet `p = 0`). Faces are named `"-x"`, `"+x"`, `"-y"`, `"+y"`, `"-z"`,
`"+z"` (axes 0, 1, 2; `y`, axis 1, is "up"). The default `open_faces=("+y",)` is a closed box with an open
top, as in a smoke-plume simulation.

**The operator** is the standard unscaled 5-point (2-D) / 7-point (3-D) stencil: for a fluid cell `i`,
`(A p)_i = sum over the faces of i towards FLUID or EMPTY cells or open box faces of (p_i - p_j)`, with
`p_j = 0` for EMPTY cells and open faces; faces towards SOLID cells and solid walls contribute nothing. The
rows and columns of non-fluid cells are zero. `A` is symmetric positive semi-definite; its null space on the
fluid cells is spanned by the indicators of the *enclosed* fluid components, the connected components
(through fluid-fluid faces) that touch no EMPTY cell and no open face. On all other components it is positive
definite.

[`scimlx.core.PoissonSystem`][] holds the operator matrix-free (face weights on the grid), with its fluid
mask and null-space information; random geometries, right-hand sides and the data recipe built on it live in
`scimlx.datasets` (`make_geometry`, `random_rhs`, the `"poisson_systems"` recipe).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jaxtyping import Array, ArrayLike, Bool, Float, Int, Int8

from .linalg import LinearOperator
from .validate import check_bool, check_dtype, check_int

__all__ = ["EMPTY", "FLUID", "SOLID", "PoissonSystem", "poisson_system"]

FLUID = 0
SOLID = 1
EMPTY = 2

_AXIS_NAMES = "xyz"


def _parse_open_faces(open_faces, ndim: int) -> tuple[str, ...]:
    if isinstance(open_faces, str):
        open_faces = (open_faces,)
    try:
        faces = tuple(open_faces)
    except TypeError as e:
        raise TypeError(f"`open_faces` must be a sequence of face names, got {open_faces!r}") from e
    valid = [f"{s}{_AXIS_NAMES[a]}" for a in range(ndim) for s in "-+"]
    for f in faces:
        if not isinstance(f, str) or f not in valid:
            raise ValueError(f"`open_faces` entries must be among {valid} for a {ndim}-D grid, got {f!r}")
    if len(set(faces)) != len(faces):
        raise ValueError(f"`open_faces` has repeated entries: {faces}")
    return tuple(f for f in valid if f in faces)  # canonical order


def _boundary_flag(open_faces: tuple[str, ...], axis: int, side: int) -> int:
    return EMPTY if f"{'-+'[side]}{_AXIS_NAMES[axis]}" in open_faces else SOLID


def _pad_axis(x: Array, axis: int, lo, hi) -> Array:
    """Pads `x` by one layer on each side of `axis` with the constants `lo`, `hi`."""
    shape = list(x.shape)
    shape[axis] = 1
    return jnp.concatenate([jnp.full(shape, lo, x.dtype), x, jnp.full(shape, hi, x.dtype)], axis=axis)


def _neighbour(x: Array, axis: int, side: int, fill) -> Array:
    """The value of the neighbour at `side` (0: index - 1, 1: index + 1) along `axis`; `fill` outside."""
    padded = _pad_axis(x, axis, fill, fill)
    n = x.shape[axis]
    return jax.lax.slice_in_dim(padded, 2 * side, 2 * side + n, axis=axis)


def _neighbour_flags(flags: Array, open_faces: tuple[str, ...], axis: int, side: int) -> Array:
    padded = _pad_axis(flags, axis, _boundary_flag(open_faces, axis, 0), _boundary_flag(open_faces, axis, 1))
    n = flags.shape[axis]
    return jax.lax.slice_in_dim(padded, 2 * side, 2 * side + n, axis=axis)


def _check_flags(flags) -> Array:
    if not hasattr(flags, "shape"):
        raise TypeError(f"`flags` must be an integer array of cell flags, got {type(flags).__name__}")
    flags = jnp.asarray(flags)
    if not 1 <= flags.ndim <= 3:
        raise ValueError(f"`flags` must have 1 to 3 axes, got shape {flags.shape}")
    if flags.size == 0:
        raise ValueError(f"`flags` must not be empty, got shape {flags.shape}")
    if not jnp.issubdtype(flags.dtype, jnp.integer):
        raise TypeError(
            f"`flags` must be an integer array (FLUID=0, SOLID=1, EMPTY=2), got dtype {flags.dtype}"
        )
    try:
        concrete = np.asarray(flags)
    except Exception:  # traced: cannot be checked here
        concrete = None
    if concrete is not None and not np.all(np.isin(concrete, (FLUID, SOLID, EMPTY))):
        bad = np.unique(concrete[~np.isin(concrete, (FLUID, SOLID, EMPTY))])
        raise ValueError(f"`flags` must hold only FLUID=0, SOLID=1, EMPTY=2, got values {bad.tolist()}")
    return flags.astype(jnp.int8)


def _component_labels(fluid: Array, connected: Sequence[Array]) -> Array:
    """Connected components of the fluid cells (through the faces in `connected`), by label propagation.

    Each fluid cell starts with its flat index; every sweep takes the minimum over the connected neighbours
    and then jumps pointers (`label <- label[label]`), until nothing changes. The result is, for every fluid
    cell, the smallest flat index of its component; non-fluid cells get `size` (out of range).
    """
    shape, size = fluid.shape, fluid.size
    big = jnp.asarray(size, jnp.int32)
    start = jnp.where(fluid, jnp.arange(size, dtype=jnp.int32).reshape(shape), big)
    faces = [(axis, side) for axis in range(fluid.ndim) for side in (0, 1)]

    def sweep(lab):
        m = lab
        for (axis, side), conn in zip(faces, connected):
            m = jnp.minimum(m, jnp.where(conn, _neighbour(lab, axis, side, big), big))
        flat = m.reshape(-1)
        jumped = flat[jnp.minimum(flat, size - 1)].reshape(shape)
        return jnp.where(fluid, jumped, big)

    def cond(carry):
        return carry[1]

    def body(carry):
        lab, _ = carry
        new = sweep(lab)
        return new, jnp.any(new != lab)

    lab, _ = jax.lax.while_loop(cond, body, (start, jnp.asarray(True)))
    return lab


@functools.partial(jax.jit, static_argnums=(1, 2))
def _assemble(flags: Array, open_faces: tuple[str, ...], dtype) -> tuple[Array, Array, Array]:
    """Face weights, component labels and the enclosed-cell mask of a flag array (one compiled call)."""
    fluid = flags == FLUID
    weights, connected, dirichlet = [], [], []
    for axis in range(flags.ndim):
        for side in (0, 1):
            nb = _neighbour_flags(flags, open_faces, axis, side)
            weights.append(fluid & (nb != SOLID))
            connected.append(fluid & (nb == FLUID))
            dirichlet.append(fluid & (nb == EMPTY))
    labels = _component_labels(fluid, connected)
    size = flags.size
    touches = jnp.any(jnp.stack(dirichlet), axis=0)
    component_touches = jax.ops.segment_max(
        touches.reshape(-1).astype(jnp.int32), labels.reshape(-1), num_segments=size + 1
    )
    enclosed = fluid & (component_touches[jnp.minimum(labels, size)] == 0)
    return jnp.stack(weights).astype(dtype), jnp.where(fluid, labels, -1), enclosed


class PoissonSystem(eqx.Module):
    """The pressure-Poisson operator of a flagged MAC grid, with its fluid mask and null-space information."""

    flags: Int8[Array, "*shape"]  # noqa: F821
    face_weights: Float[Array, "faces *shape"]  # noqa: F821
    labels: Int[Array, "*shape"]  # noqa: F821
    enclosed: Bool[Array, "*shape"]  # noqa: F821
    open_faces: tuple[str, ...] = eqx.field(static=True)

    def __init__(
        self,
        flags: Int[ArrayLike, "*shape"],  # noqa: F821
        open_faces: str | Sequence[str] = ("+y",),
        *,
        dtype=None,
    ):
        """**Arguments:**

        - `flags`: the cell flags, an integer array of 1 to 3 axes with values `FLUID` (0), `SOLID` (1) and
            `EMPTY` (2).
        - `open_faces`: the faces of the box that are open (Dirichlet `p = 0`), among `"-x"`, `"+x"`, `"-y"`,
            `"+y"`, `"-z"`, `"+z"`; the others are solid walls. Default: the top `("+y",)`; `()` is a closed
            box.
        - `dtype`: the floating dtype of the operator (default: JAX's default float).
        """
        flags = _check_flags(flags)
        open_faces = _parse_open_faces(open_faces, flags.ndim)
        dtype = jnp.result_type(float) if dtype is None else check_dtype("dtype", dtype)
        self.flags = flags
        self.face_weights, self.labels, self.enclosed = _assemble(flags, open_faces, dtype)
        self.open_faces = open_faces

    @property
    def shape(self) -> tuple[int, ...]:
        """The grid shape (cells per axis)."""
        return tuple(self.flags.shape)

    @property
    def fluid(self) -> Bool[Array, "*shape"]:  # noqa: F821
        """The fluid mask (the unknowns)."""
        return self.flags == FLUID

    def padded_flags(self, axis: int) -> Int8[Array, "..."]:
        """The flags with one layer of cells added on each side of `axis`: `EMPTY` beyond an open face,
        `SOLID` beyond a wall (`n + 2` cells along `axis`), e.g. to find the faces that touch a solid.

        **Arguments:**

        - `axis`: the grid axis, `0 <= axis < ndim`.
        """
        axis = check_int("axis", axis, low=0)
        if axis >= self.flags.ndim:
            raise ValueError(f"`axis` must be below the grid's {self.flags.ndim} axes, got {axis}")
        lo = _boundary_flag(self.open_faces, axis, 0)
        hi = _boundary_flag(self.open_faces, axis, 1)
        return _pad_axis(self.flags, axis, lo, hi)

    def matvec(self, p: Float[Array, "*shape"]) -> Float[Array, "*shape"]:  # noqa: F821
        """Applies `A`.

        **Arguments:**

        - `p`: an array of the grid shape; its values on non-fluid cells are ignored.

        **Returns:**

        `A p`, zero on non-fluid cells.
        """
        w = self.face_weights
        pf = jnp.where(self.fluid, p, 0).astype(jnp.result_type(p, w))
        out = jnp.sum(w, axis=0) * pf
        k = 0
        for axis in range(self.flags.ndim):
            for side in (0, 1):
                out = out - w[k] * _neighbour(pf, axis, side, 0)
                k += 1
        return out

    def diagonal(self) -> Float[Array, "*shape"]:  # noqa: F821
        """The diagonal of `A`, with 1 in place of the zero rows (non-fluid cells, isolated fluid cells).

        The ones make Jacobi preconditioning well defined; `A` itself keeps those rows zero, so a
        right-hand side that is zero there (as [`scimlx.core.PoissonSystem.project_rhs`][] makes it) keeps
        the iterate zero there.
        """
        d = jnp.sum(self.face_weights, axis=0)
        return jnp.where(d > 0, d, jnp.ones_like(d))

    @property
    def operator(self) -> LinearOperator:
        """`A` as a matrix-free [`scimlx.core.linalg.LinearOperator`][] over the full grid, with diagonal."""
        return LinearOperator(self.matvec, self.shape, diagonal=self.diagonal())

    def project_rhs(self, b: Float[ArrayLike, "*shape"]) -> Float[Array, "*shape"]:  # noqa: F821
        """Projects `b` onto the range of `A`.

        Zeroes `b` on non-fluid cells and subtracts its mean on every enclosed fluid component, so that `b`
        is orthogonal to the null space. Applied to a solution, it gives the solution orthogonal to the null
        space (the minimum-norm one).

        **Arguments:**

        - `b`: an array of the grid shape.

        **Returns:**

        The projected array.
        """
        b = jnp.asarray(b)
        if b.shape != self.shape:
            raise ValueError(f"`b` must have the grid shape {self.shape}, got {b.shape}")
        size = self.flags.size
        b = jnp.where(self.fluid, b, 0)
        seg = jnp.where(self.enclosed, self.labels, size).reshape(-1)
        sums = jax.ops.segment_sum(b.reshape(-1), seg, num_segments=size + 1)
        counts = jax.ops.segment_sum(jnp.ones(size, b.dtype), seg, num_segments=size + 1)
        mean = (sums / jnp.maximum(counts, 1))[seg].reshape(self.shape)
        return jnp.where(self.enclosed, b - mean, b)

    def num_components(self) -> Int[Array, ""]:
        """The number of connected fluid components."""
        return jnp.sum(self.labels.reshape(-1) == jnp.arange(self.flags.size))

    def num_enclosed(self) -> Int[Array, ""]:
        """The number of enclosed fluid components: the dimension of the null space on the fluid cells."""
        roots = self.labels.reshape(-1) == jnp.arange(self.flags.size)
        return jnp.sum(roots & self.enclosed.reshape(-1))

    def null_space(self) -> Float[np.ndarray, "k *shape"]:  # noqa: F821
        """An orthonormal basis of the null space of `A` restricted to the fluid cells (not jittable).

        **Returns:**

        A NumPy array `(k, *shape)`: the normalised indicators of the `k` enclosed fluid components.
        """
        labels, enclosed = np.asarray(self.labels), np.asarray(self.enclosed)
        roots = np.unique(labels[enclosed])
        basis = (
            np.stack([(labels == r).astype(float) for r in roots])
            if len(roots)
            else np.zeros((0,) + self.shape)
        )
        norms = np.sqrt(basis.reshape(len(roots), -1).sum(axis=1)) if len(roots) else np.zeros(0)
        return basis / norms.reshape((-1,) + (1,) * len(self.shape))

    def to_scipy_sparse(self, fluid_only: bool = False) -> scipy.sparse.csr_matrix:
        """Assembles `A` as a `scipy.sparse` CSR matrix (for small grids and for baselines such as incomplete
        Cholesky).

        **Arguments:**

        - `fluid_only`: if `False` (default), the `size x size` matrix over all cells in C order, with zero
            rows and columns for non-fluid cells; if `True`, only the rows and columns of the fluid cells (in
            the order of `np.flatnonzero(fluid)`).

        **Returns:**

        A `scipy.sparse.csr_matrix` (float64).
        """
        fluid_only = check_bool("fluid_only", fluid_only)
        w = np.asarray(self.face_weights, np.float64)
        flags = np.asarray(self.flags)
        shape, size = self.shape, flags.size
        index = np.arange(size).reshape(shape)
        rows, cols, vals = [np.arange(size)], [np.arange(size)], [w.sum(axis=0).reshape(-1)]
        k = 0
        for axis in range(len(shape)):
            for side in (0, 1):
                shift = -1 if side == 0 else 1
                mask = w[k] > 0
                k += 1
                pos = np.nonzero(mask)
                nb = list(pos)
                nb[axis] = nb[axis] + shift
                inside = (nb[axis] >= 0) & (nb[axis] < shape[axis])
                pos = tuple(q[inside] for q in pos)
                nb = tuple(q[inside] for q in nb)
                is_fluid = flags[nb] == FLUID
                rows.append(index[pos][is_fluid])
                cols.append(index[nb][is_fluid])
                vals.append(-np.ones(int(is_fluid.sum())))
        A = scipy.sparse.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(size, size)
        )
        A.eliminate_zeros()
        if fluid_only:
            ids = np.flatnonzero(flags == FLUID)
            A = A[ids][:, ids].tocsr()
        return A

    def to_dense(self, fluid_only: bool = False) -> Float[np.ndarray, "n n"]:
        """The dense matrix of `A` (small grids only); see `to_scipy_sparse`."""
        return self.to_scipy_sparse(fluid_only).toarray()


def poisson_system(
    flags: Int[ArrayLike, "*shape"],  # noqa: F821
    open_faces: str | Sequence[str] = ("+y",),
    *,
    dtype=None,
) -> PoissonSystem:
    """Builds the pressure-Poisson system of a flagged grid (see [`scimlx.core.PoissonSystem`][]).

    **Arguments:**

    - `flags`: cell flags `FLUID` (0), `SOLID` (1), `EMPTY` (2), an integer array of 1 to 3 axes.
    - `open_faces`: the open (Dirichlet) faces of the box, e.g. `("+y",)` (default) or `()` for a closed box.
    - `dtype`: the floating dtype of the operator.

    **Returns:**

    A [`scimlx.core.PoissonSystem`][]; jittable.
    """
    return PoissonSystem(flags, open_faces, dtype=dtype)
