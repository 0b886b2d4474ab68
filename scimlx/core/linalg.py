"""Matrix-free linear operators and Krylov solvers for symmetric positive definite systems.

This module provides

- [`scimlx.core.linalg.LinearOperator`][]: a linear map given by a `matvec` function together
  with the shape of the arrays it acts on (a vector, or e.g. a `(64, 64)` grid), optionally
  carrying its diagonal for Jacobi preconditioning;
- [`scimlx.core.linalg.as_operator`][]: converts dense arrays, `scipy.sparse` matrices and
  `jax.experimental.sparse.BCOO` matrices into a `LinearOperator`;
- [`scimlx.core.linalg.cg`][] and [`scimlx.core.linalg.pcg`][]: (preconditioned) conjugate
  gradients, returning a [`scimlx.core.linalg.SolveResult`][] with the solution, the iteration
  count, the relative residual history, a convergence flag and a breakdown flag (a system that is
  not positive definite stops the iteration at its last finite iterate; called eagerly, the solver
  then also emits a [`scimlx.core.linalg.BreakdownWarning`][]);
- [`scimlx.core.linalg.PoissonSystem`][] (also `scimlx.core.PoissonSystem`): the matrix-free
  pressure-Poisson operator of a flagged MAC grid (fluid, solid and empty cells, open box faces),
  with its fluid mask and null space.

Everything is pure and compatible with `jax.jit` and `jax.vmap`, so that e.g. many right-hand
sides can be solved at once. The Darcy flow data generator and the DCDM (deep conjugate
direction method) baselines are built on these solvers.

The solvers use `jax.lax.while_loop` and are therefore not reverse-mode differentiable.
"""

import math
import warnings
from collections.abc import Callable
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse
from jax.experimental import sparse as jsparse
from jaxtyping import Array, ArrayLike, Bool, Float, Int

from .validate import check_callable, check_int, check_number

__all__ = [
    "EMPTY",
    "FLUID",
    "SOLID",
    "BreakdownWarning",
    "LinearOperator",
    "PoissonSystem",
    "SolveResult",
    "as_operator",
    "cg",
    "pcg",
    "poisson_system",
]


class _DenseMatvec(eqx.Module):
    matrix: Float[Array, "n n"]

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, " n"]:
        return self.matrix @ x


class _SparseMatvec(eqx.Module):
    matrix: jsparse.BCOO

    def __call__(self, x: Float[Array, " n"]) -> Float[Array, " n"]:
        return self.matrix @ x


def _check_square(A: Any, name: str) -> int:
    shape = tuple(A.shape)
    if len(shape) != 2 or shape[0] != shape[1]:
        raise ValueError(f"`{name}` must be a square 2-D matrix, got shape {shape}.")
    return shape[0]


class LinearOperator(eqx.Module):
    """A (possibly matrix-free) linear operator acting on arrays of a fixed shape."""

    matvec: Callable[[Array], Array]
    shape: tuple[int, ...] = eqx.field(static=True)
    _diagonal: Array | None

    def __init__(
        self,
        matvec: Callable[[Float[Array, "*shape"]], Float[Array, "*shape"]],
        shape: tuple[int, ...] | int,
        *,
        diagonal: Float[ArrayLike, "*shape"] | None = None,
    ):
        """**Arguments:**

        - `matvec`: a function `x -> A x`, mapping an array of shape `shape` to an array of the
            same shape. It must be linear and JAX-traceable.
        - `shape`: the shape of the arrays the operator acts on (and returns), e.g. `(n,)` for an
            `n x n` matrix or `(64, 64)` for an operator on a 64 x 64 grid. An integer `n` is
            taken to mean `(n,)`.
        - `diagonal`: optional, the diagonal of the operator as an array of shape `shape`, i.e.
            the entries `A[i, i]` with `i` running over all grid points. Needed for Jacobi
            preconditioning of matrix-free operators.
        """
        check_callable("matvec", matvec)
        if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
            shape = (int(shape),)
        if not isinstance(shape, (tuple, list)) or not all(
            isinstance(s, (int, np.integer)) and not isinstance(s, bool) and s > 0 for s in shape
        ):
            raise ValueError(f"`shape` must be a tuple of positive integers, got {shape!r}.")
        shape = tuple(int(s) for s in shape)
        if diagonal is not None:
            diagonal = jnp.asarray(diagonal)
            if diagonal.shape != shape:
                raise ValueError(
                    f"`diagonal` must have the operator's shape {shape}, got {diagonal.shape}."
                )
        self.matvec = matvec
        self.shape = shape
        self._diagonal = diagonal

    @property
    def size(self) -> int:
        """The number of unknowns, i.e. the product of `shape`."""
        return math.prod(self.shape)

    def mv(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        """Applies the operator.

        **Arguments:**

        - `x`: an array of shape `self.shape`.

        **Returns:**

        The array `A x`, of shape `self.shape`.
        """
        if jnp.shape(x) != self.shape:
            raise ValueError(
                f"`x` must have the operator's shape {self.shape}, got {jnp.shape(x)}."
            )
        return self.matvec(x)

    def __call__(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        """Same as [`scimlx.core.linalg.LinearOperator.mv`][]."""
        return self.mv(x)

    def __matmul__(self, x: Float[Array, "*shape"]) -> Float[Array, "*shape"]:
        return self.mv(x)

    def diagonal(self) -> Float[Array, "*shape"]:
        """The diagonal of the operator.

        **Returns:**

        An array of shape `self.shape` holding the diagonal entries.

        Raises a `ValueError` if the operator is matrix-free and was built without one.
        """
        if self._diagonal is None:
            raise ValueError(
                "This matrix-free `LinearOperator` has no diagonal; pass "
                "`LinearOperator(matvec, shape, diagonal=...)` to supply it (needed for "
                '`preconditioner="jacobi"`), or use another preconditioner.'
            )
        return self._diagonal

    @classmethod
    def from_dense(cls, A: Float[ArrayLike, "n n"]) -> "LinearOperator":
        """Wraps a dense square matrix.

        **Arguments:**

        - `A`: a square 2-D array of shape `(n, n)`.

        **Returns:**

        A `LinearOperator` of shape `(n,)` with its diagonal set.
        """
        if not hasattr(A, "shape") or not hasattr(A, "dtype"):
            raise TypeError(f"`A` must be a 2-D array, got {type(A).__name__}.")
        n = _check_square(A, "A")
        A = jnp.asarray(A)
        return cls(_DenseMatvec(A), (n,), diagonal=jnp.diagonal(A))

    @classmethod
    def from_sparse(cls, A: "scipy.sparse.spmatrix | jsparse.BCOO") -> "LinearOperator":
        """Wraps a sparse square matrix.

        **Arguments:**

        - `A`: a square `scipy.sparse` matrix/array (converted to a
            `jax.experimental.sparse.BCOO`) or a 2-D `BCOO` matrix without batch or dense
            dimensions.

        **Returns:**

        A `LinearOperator` of shape `(n,)` with its diagonal set.
        """
        if scipy.sparse.issparse(A):
            n = _check_square(A, "A")
            diagonal = jnp.asarray(A.diagonal())
            A = jsparse.BCOO.from_scipy_sparse(A)
        elif isinstance(A, jsparse.BCOO):
            n = _check_square(A, "A")
            if A.n_batch != 0 or A.n_dense != 0:
                raise ValueError(
                    "`A` must be a BCOO matrix without batch or dense dimensions, got "
                    f"n_batch={A.n_batch}, n_dense={A.n_dense}."
                )
            rows, cols = A.indices[:, 0], A.indices[:, 1]
            on_diagonal = jnp.where(rows == cols, A.data, jnp.zeros_like(A.data))
            # Padding entries of a BCOO carry out-of-range indices; these are dropped.
            diagonal = jnp.zeros((n,), A.dtype).at[rows].add(on_diagonal, mode="drop")
        else:
            raise TypeError(
                "`A` must be a scipy.sparse matrix or a jax.experimental.sparse.BCOO, got "
                f"{type(A).__name__}."
            )
        return cls(_SparseMatvec(A), (n,), diagonal=diagonal)


def as_operator(A: Any) -> LinearOperator:
    """Converts a matrix into a [`scimlx.core.linalg.LinearOperator`][].

    **Arguments:**

    - `A`: a `LinearOperator` (returned unchanged), a dense square 2-D array (JAX or NumPy), a
        square `scipy.sparse` matrix or a square `jax.experimental.sparse.BCOO` matrix.

    **Returns:**

    A `LinearOperator`.
    """
    if isinstance(A, LinearOperator):
        return A
    if scipy.sparse.issparse(A) or isinstance(A, jsparse.BCOO):
        return LinearOperator.from_sparse(A)
    if isinstance(A, (jax.Array, np.ndarray)):
        return LinearOperator.from_dense(A)
    raise TypeError(
        "`A` must be a LinearOperator, a dense square array, a scipy.sparse matrix or a "
        f"jax.experimental.sparse.BCOO, got {type(A).__name__}."
    )


class SolveResult(eqx.Module):
    """The result of an iterative linear solve."""

    x: Float[Array, "*shape"]
    iterations: Int[Array, ""]
    residual_history: Float[Array, " maxiter_plus_1"]
    converged: Bool[Array, ""]
    breakdown: Bool[Array, ""]

    def __init__(
        self,
        x: Float[Array, "*shape"],
        iterations: Int[Array, ""],
        residual_history: Float[Array, " maxiter_plus_1"],
        converged: Bool[Array, ""],
        breakdown: Bool[ArrayLike, ""] = False,
    ):
        """**Arguments:**

        - `x`: the approximate solution, of the operator's shape (after a breakdown, the last finite
            iterate).
        - `iterations`: the number of iterations performed.
        - `residual_history`: the relative residuals `||r_k|| / ||b||` (2-norm over all
            entries), of length `maxiter + 1`; entry `k` is the value after `k` iterations
            (entry 0 is the initial residual) and entries after the last iteration are NaN.
        - `converged`: whether the tolerance was reached.
        - `breakdown`: whether the iteration broke down before reaching the tolerance (a search
            direction without positive, finite curvature `pᵀAp`, i.e. an operator that is not positive
            definite; a non-finite residual; for a preconditioner, `rᵀM⁻¹r <= 0`). Then `converged` is
            False and `x` is the last finite iterate. Default False.
        """
        self.x = x
        self.iterations = iterations
        self.residual_history = residual_history
        self.converged = converged
        self.breakdown = jnp.asarray(breakdown, bool)


class BreakdownWarning(RuntimeWarning):
    """A Krylov solver ([`cg`][scimlx.core.linalg.cg], [`pcg`][scimlx.core.linalg.pcg],
    [`dcdm`][scimlx.solvers.dcdm]) broke down: it stopped at its last finite iterate with
    `breakdown=True` and `converged=False`. Emitted only when the solver is called eagerly (its result
    concrete); under `jax.jit` or `jax.vmap` only the result's `breakdown` flag tells."""


# Why a Krylov iteration broke down: a code carried through the loop (0: it did not).
_CURVATURE, _NONFINITE, _PRECONDITIONER = 1, 2, 3


def warn_breakdown(solver: str, code: Any, iterations: Any, reasons: dict[int, str], stacklevel: int = 2):
    """Emit a [`BreakdownWarning`][scimlx.core.linalg.BreakdownWarning] when `code` is concrete and non-zero.

    **Arguments:**

    - `solver`: the solver's name, for the message.
    - `code`: the breakdown code from the iteration (0: none); a traced value emits nothing.
    - `iterations`: the iterations performed (the last finite iterate's).
    - `reasons`: the message for each non-zero code.
    - `stacklevel`: as `warnings.warn`'s, counted from the caller of this function.
    """
    if isinstance(code, jax.core.Tracer) or isinstance(iterations, jax.core.Tracer):
        return
    code = int(code)
    if code == 0:
        return
    k = int(iterations)
    warnings.warn(
        f"{solver} broke down at iteration {k + 1}: {reasons[code]}. It stopped at iteration {k} with the "
        "last finite iterate (breakdown=True, converged=False).",
        BreakdownWarning,
        stacklevel=stacklevel + 1,
    )


def check_symmetric(A: Any, name: str = "A") -> None:
    """Refuse a matrix that is visibly not symmetric: a concrete dense array or a `scipy.sparse` matrix whose
    largest entry of `A - Aᵀ` exceeds `1e-5` times its largest entry. Matrix-free operators and traced arrays
    cannot be checked and pass."""
    if scipy.sparse.issparse(A):
        if A.shape[0] != A.shape[1]:
            return
        diff = abs(A - A.T).max() if A.nnz else 0.0
        scale = abs(A).max() if A.nnz else 0.0
    elif isinstance(A, (np.ndarray, jax.Array)) and not isinstance(A, jax.core.Tracer):
        if A.ndim != 2 or A.shape[0] != A.shape[1]:
            return
        arr = np.asarray(A)
        diff, scale = np.max(np.abs(arr - arr.T), initial=0.0), np.max(np.abs(arr), initial=0.0)
    else:
        return
    if diff > 1e-5 * scale:
        raise ValueError(
            f"`{name}` must be symmetric (conjugate-gradient methods need an SPD matrix); max |A - Aᵀ| = "
            f"{float(diff):.3g} against max |A| = {float(scale):.3g}"
        )


def _validate_options(op: LinearOperator, b: Any, x0: Any, tol: Any, maxiter: Any):
    b_shape = jnp.shape(b)
    if b_shape != op.shape:
        raise ValueError(f"`b` must have the operator's shape {op.shape}, got {b_shape}.")
    if x0 is not None and jnp.shape(x0) != op.shape:
        raise ValueError(f"`x0` must have the operator's shape {op.shape}, got {jnp.shape(x0)}.")
    tol = check_number("tol", tol, low=0, low_open=True)
    maxiter = min(10 * op.size, 100_000) if maxiter is None else check_int("maxiter", maxiter)
    return tol, maxiter


def _resolve_preconditioner(op: LinearOperator, preconditioner: Any) -> Callable | None:
    if preconditioner is None:
        return None
    if isinstance(preconditioner, str):
        if preconditioner != "jacobi":
            raise ValueError(
                f'`preconditioner` must be "jacobi", None or a callable, got {preconditioner!r}.'
            )
        diagonal = op.diagonal()
        try:
            concrete = np.asarray(diagonal)
        except Exception:  # traced: cannot be checked here
            concrete = None
        if concrete is not None and not np.all(concrete > 0):
            raise ValueError(
                "`preconditioner`='jacobi' needs a positive diagonal (an SPD operator); "
                f"{int(np.sum(~(concrete > 0)))} diagonal entries are <= 0 or NaN"
            )
        inverse_diagonal = 1 / diagonal
        return lambda r: inverse_diagonal * r
    if callable(preconditioner):
        return preconditioner
    raise TypeError(
        '`preconditioner` must be "jacobi", None or a callable, got '
        f"{type(preconditioner).__name__}."
    )


def _norm(x: Array) -> Array:
    return jnp.sqrt(jnp.sum(x * x))


def _positive(v: Array) -> Array:
    """`v > 0` and finite (False for NaN)."""
    return (v > 0) & jnp.isfinite(v)


def _pcg(
    op: LinearOperator,
    b: Array,
    x0: Array | None,
    tol: float,
    maxiter: int,
    precond: Callable | None,
) -> tuple[SolveResult, Array]:
    """The (preconditioned) conjugate-gradient iteration: the result and the breakdown code (0: none)."""
    dtype = jnp.result_type(b)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(float)
    b = jnp.asarray(b, dtype)
    x = jnp.zeros_like(b) if x0 is None else jnp.asarray(x0, dtype)
    Ax = op.mv(x)
    if jnp.shape(Ax) != op.shape:
        raise ValueError(
            f"The operator's `matvec` must return arrays of shape {op.shape}, got {jnp.shape(Ax)}."
        )
    dtype = jnp.result_type(dtype, Ax)
    if not jnp.issubdtype(dtype, jnp.floating):
        raise TypeError(f"`b` and the operator must be real, got dtype {dtype}.")
    b, x, Ax = b.astype(dtype), x.astype(dtype), Ax.astype(dtype)
    if precond is None:
        apply_precond = lambda r: r
    else:
        apply_precond = lambda r: jnp.asarray(precond(r), dtype)

    b_norm = _norm(b)
    zero_rhs = b_norm == 0
    b_norm = jnp.where(zero_rhs, 1, b_norm)
    # With b == 0 the solution is x = 0, whatever the initial guess (then r = 0 too).
    x = jnp.where(zero_rhs, 0, x)
    r = jnp.where(zero_rhs, 0, b - Ax)
    z = apply_precond(r)
    rz = jnp.sum(r * z)
    rel = _norm(r) / b_norm
    history = jnp.full((maxiter + 1,), jnp.nan, dtype).at[0].set(rel)
    k = jnp.array(0, jnp.int32)
    code = jnp.where(
        ~jnp.isfinite(rel), _NONFINITE, jnp.where((rel > tol) & ~_positive(rz), _PRECONDITIONER, 0)
    ).astype(jnp.int32)

    def cond_fun(carry):
        k, _, _, _, _, rel, _, code = carry
        return (k < maxiter) & (rel > tol) & (code == 0)

    def body_fun(carry):
        k, x, r, p, rz, rel, history, _ = carry
        Ap = op.mv(p).astype(dtype)
        pAp = jnp.sum(p * Ap)
        alpha = rz / pAp
        r_new = r - alpha * Ap
        rel_new = _norm(r_new) / b_norm
        # Breakdown: no positive curvature along p (A is not positive definite), or a non-finite step
        # or residual. The step is then refused: x stays the last finite iterate.
        curved = pAp > 0
        accept = curved & jnp.isfinite(pAp) & jnp.isfinite(alpha) & jnp.isfinite(rel_new)
        x = jnp.where(accept, x + alpha * p, x)
        z = apply_precond(r_new)
        rz_new = jnp.sum(r_new * z)
        p = z + (rz_new / rz) * p
        # rᵀM⁻¹r <= 0 above the tolerance: no next direction (M is not positive definite)
        stuck = accept & (rel_new > tol) & ~_positive(rz_new)
        refused = jnp.where(curved | ~jnp.isfinite(pAp), _NONFINITE, _CURVATURE)
        code = jnp.where(accept, jnp.where(stuck, _PRECONDITIONER, 0), refused).astype(jnp.int32)
        k = k + accept.astype(k.dtype)
        history = history.at[k].set(jnp.where(accept, rel_new, history[k]))
        return k, x, r_new, p, rz_new, jnp.where(accept, rel_new, rel), history, code

    # Under `jax.vmap` the loop runs until every batch member has stopped; the batched loop
    # selects the old carry for members whose condition is already False, so they stay fixed.
    k, x, _, _, _, rel, history, code = jax.lax.while_loop(
        cond_fun, body_fun, (k, x, r, z, rz, rel, history, code)
    )
    result = SolveResult(
        x=x, iterations=k, residual_history=history, converged=rel <= tol, breakdown=code != 0
    )
    return result, code


def _cg_reasons(preconditioned: bool) -> dict[int, str]:
    return {
        _CURVATURE: "the curvature pᵀAp along the search direction is not positive, so `A` is not positive "
        "definite (indefinite, or singular with `b` outside its range)",
        _NONFINITE: "a non-finite curvature, step or residual (inf/NaN in `A`, `b`, `x0` or the "
        "preconditioner, or an overflow on a (nearly) singular system)",
        _PRECONDITIONER: "rᵀM⁻¹r is not positive, so the preconditioner is not positive definite"
        if preconditioned
        else "rᵀr under- or overflowed above the tolerance",
    }


def pcg(
    A: Any,
    b: Float[ArrayLike, "*shape"],
    *,
    x0: Float[ArrayLike, "*shape"] | None = None,
    tol: float = 1e-6,
    maxiter: int | None = None,
    preconditioner: Literal["jacobi"] | Callable[[Array], Array] | None = "jacobi",
) -> SolveResult:
    """Preconditioned conjugate gradients for a symmetric positive definite system `A x = b`.

    **Arguments:**

    - `A`: the operator: a [`scimlx.core.linalg.LinearOperator`][], a dense square array, a
        `scipy.sparse` matrix or a `jax.experimental.sparse.BCOO` (see
        [`scimlx.core.linalg.as_operator`][]). Must be symmetric positive definite.
    - `b`: the right-hand side, of the operator's shape.
    - `x0`: the initial guess, of the operator's shape. Defaults to zeros.
    - `tol`: relative tolerance; iteration stops once `||b - A x|| / ||b|| <= tol` (2-norm over
        all entries, using the recursively updated residual).
    - `maxiter`: the maximum number of iterations. Defaults to 10 times the number of
        unknowns, at most 100 000 (the history buffer has `maxiter + 1` entries).
    - `preconditioner`: `"jacobi"` (divide by `A.diagonal()`), `None` (no preconditioning), or a
        callable `r -> M^{-1} r` applying a symmetric positive definite preconditioner.

    **Returns:**

    A [`scimlx.core.linalg.SolveResult`][]. If `b == 0` the solution is `x = 0`, with zero
    iterations.

    **Breakdown:** on a system that is not positive definite (a search direction with curvature
    `pᵀAp <= 0`, e.g. an indefinite `A`, or a singular one with `b` outside its range), a non-finite
    residual, or a preconditioner with `rᵀM⁻¹r <= 0`, the iteration stops at its last finite iterate with
    `breakdown=True` and `converged=False`. Called eagerly, `pcg` then also emits a
    [`BreakdownWarning`][scimlx.core.linalg.BreakdownWarning] naming the cause and the iteration; under
    `jax.jit` or `jax.vmap` it cannot (the values are not known while tracing), so check
    `result.breakdown`.
    """
    check_symmetric(A)
    op = as_operator(A)
    tol, maxiter = _validate_options(op, b, x0, tol, maxiter)
    precond = _resolve_preconditioner(op, preconditioner)
    result, code = _pcg(op, b, x0, tol, maxiter, precond)
    warn_breakdown("pcg", code, result.iterations, _cg_reasons(precond is not None))
    return result


def cg(
    A: Any,
    b: Float[ArrayLike, "*shape"],
    *,
    x0: Float[ArrayLike, "*shape"] | None = None,
    tol: float = 1e-6,
    maxiter: int | None = None,
) -> SolveResult:
    """Conjugate gradients for a symmetric positive definite system `A x = b`.

    Equivalent to [`scimlx.core.linalg.pcg`][] with `preconditioner=None`, breakdown included: on a
    system that is not positive definite it stops at its last finite iterate with `breakdown=True`
    (and, called eagerly, a [`BreakdownWarning`][scimlx.core.linalg.BreakdownWarning]).

    **Arguments:**

    - `A`: the operator: a [`scimlx.core.linalg.LinearOperator`][], a dense square array, a
        `scipy.sparse` matrix or a `jax.experimental.sparse.BCOO`. Must be symmetric positive
        definite.
    - `b`: the right-hand side, of the operator's shape.
    - `x0`: the initial guess, of the operator's shape. Defaults to zeros.
    - `tol`: relative tolerance; iteration stops once `||b - A x|| / ||b|| <= tol`.
    - `maxiter`: the maximum number of iterations. Defaults to 10 times the number of
        unknowns, at most 100 000 (the history buffer has `maxiter + 1` entries).

    **Returns:**

    A [`scimlx.core.linalg.SolveResult`][].
    """
    check_symmetric(A)
    op = as_operator(A)
    tol, maxiter = _validate_options(op, b, x0, tol, maxiter)
    result, code = _pcg(op, b, x0, tol, maxiter, None)
    warn_breakdown("cg", code, result.iterations, _cg_reasons(False))
    return result


# The pressure-Poisson operator of flagged MAC grids (defined in `_poisson`, which builds on `LinearOperator`
# above: imported last so that either module can be imported first).
from ._poisson import EMPTY as EMPTY  # noqa: E402
from ._poisson import FLUID as FLUID  # noqa: E402
from ._poisson import SOLID as SOLID  # noqa: E402
from ._poisson import PoissonSystem as PoissonSystem  # noqa: E402
from ._poisson import poisson_system as poisson_system  # noqa: E402
