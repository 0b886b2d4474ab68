"""A geometric multigrid V-cycle preconditioner for the pressure-Poisson systems of flagged MAC grids."""

from __future__ import annotations

from collections.abc import Callable

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float

from scimlx.core.linalg import PoissonSystem
from scimlx.core.validate import check_int, check_number


class _Level(eqx.Module):
    """One level: `(A p)_i = diag_i p_i - Σ_axis (w_i p_{i+e} + w_{i-e} p_{i-e})` (symmetric)."""

    diag: Array
    plus: tuple[Array, ...]  # plus[a][i]: coupling between cell i and i + e_a (0 at the far wall)

    def matvec(self, p: Array) -> Array:
        out = self.diag * p
        for a, w in enumerate(self.plus):
            fwd = jnp.concatenate([jax.lax.slice_in_dim(p, 1, None, axis=a),
                                   jnp.zeros_like(jax.lax.slice_in_dim(p, 0, 1, axis=a))], axis=a)
            wp = w * p
            back = jnp.concatenate([jnp.zeros_like(jax.lax.slice_in_dim(wp, 0, 1, axis=a)),
                                    jax.lax.slice_in_dim(wp, 0, -1, axis=a)], axis=a)
            out = out - w * fwd - back
        return out


def _from_system(system: PoissonSystem) -> _Level:
    """The finest level of a [`PoissonSystem`][scimlx.core.PoissonSystem]."""
    fluid = system.fluid
    w = system.face_weights
    diag = jnp.where(fluid, jnp.sum(w, axis=0), 0.0)
    plus = []
    for a in range(fluid.ndim):
        nb = jnp.concatenate([jax.lax.slice_in_dim(fluid, 1, None, axis=a),
                              jnp.zeros_like(jax.lax.slice_in_dim(fluid, 0, 1, axis=a))], axis=a)
        plus.append((fluid & nb).astype(diag.dtype))
    return _Level(diag, tuple(plus))


def _block_sum(x: Array) -> Array:
    """Sum over 2 x 2 (x 2) blocks."""
    shape = []
    for n in x.shape:
        shape += [n // 2, 2]
    return jnp.sum(x.reshape(shape), axis=tuple(range(1, 2 * x.ndim, 2)))


def _coarsen(level: _Level) -> _Level:
    """The Galerkin coarse level `Pᵀ A P` for the piecewise-constant prolongation `P` over 2^d blocks."""
    d = level.diag.ndim
    diag = _block_sum(level.diag)
    plus = []
    for a in range(d):
        w = level.plus[a]
        # couplings inside a block along `a` sit at even indices, those across its + face at odd ones
        diag = diag - 2 * _block_sum(w * _parity_mask(w.shape, a, 0, w.dtype))
        odd = jax.lax.slice_in_dim(w, 1, None, stride=2, axis=a)
        summed = _sum_other_axes(odd, a)
        plus.append(summed)
    return _Level(diag, tuple(plus))


@eqx.filter_jit
def _hierarchy(system: PoissonSystem, levels: int) -> tuple[tuple[_Level, ...], Array]:
    """The levels (Galerkin coarsening) and the pseudo-inverse of the coarsest operator, as one compiled
    program (built eagerly, the many small operations would each compile on their own)."""
    chain = [_from_system(system)]
    for _ in range(levels - 1):
        chain.append(_coarsen(chain[-1]))
    coarse = chain[-1]
    n = coarse.diag.size
    eye = jnp.eye(n, dtype=coarse.diag.dtype).reshape((n,) + coarse.diag.shape)
    dense = jax.vmap(coarse.matvec)(eye).reshape(n, n)
    return tuple(chain), jnp.linalg.pinv(dense, hermitian=True)


def _parity_mask(shape, axis, parity, dtype) -> Array:
    idx = np.arange(shape[axis]) % 2 == parity
    s = [1] * len(shape)
    s[axis] = shape[axis]
    return jnp.asarray(idx.reshape(s), dtype=dtype)


def _sum_other_axes(x: Array, axis: int) -> Array:
    """Sum over pairs of cells along every axis but `axis` (already halved)."""
    shape = []
    for i, n in enumerate(x.shape):
        shape += [n] if i == axis else [n // 2, 2]
    out = x.reshape(shape)
    sum_axes = []
    pos = 0
    for i in range(x.ndim):
        if i == axis:
            pos += 1
        else:
            sum_axes.append(pos + 1)
            pos += 2
    return jnp.sum(out, axis=tuple(sum_axes))


def _prolong(x: Array) -> Array:
    for a in range(x.ndim):
        x = jnp.repeat(x, 2, axis=a)
    return x


class MultigridPreconditioner(eqx.Module):
    """A symmetric geometric multigrid V-cycle `r -> z ≈ A⁻¹ r` for a pressure-Poisson system, for
    [`pcg`][scimlx.solvers.pcg].

    Coarse levels are Galerkin products `Pᵀ A P` with the piecewise-constant prolongation over 2^d blocks (so
    solid and empty cells, open faces and enclosed regions coarsen exactly, with no geometry rules), the
    restriction is `Pᵀ`, the smoother damped Jacobi (the same number of sweeps before and after the coarse
    correction, so the cycle is symmetric), and the coarsest level is solved with its pseudo-inverse. The
    coarse correction is scaled by `coarse_scale` (piecewise-constant aggregation under-corrects smooth
    errors; 1 is the plain Galerkin cycle). Jittable, and vmappable over right-hand sides.

    **Arguments:**

    - `system`: a [`PoissonSystem`][scimlx.core.PoissonSystem] whose grid sides are even down to the
        coarsest level.
    - `levels`: the number of levels (default: coarsen while every side stays even and >= 2, until the
        coarsest level has at most 512 cells).
    - `smoothing`: Jacobi sweeps before and after the coarse correction; default 1.
    - `omega`: the Jacobi damping; default 2/3.
    - `coarse_scale`: the factor on the coarse correction; default 1 (1.5 helps with 2 sweeps).
    """

    levels_: tuple[_Level, ...]
    coarse_pinv: Array
    fluid: Array
    smoothing: int = eqx.field(static=True)
    omega: float = eqx.field(static=True)
    coarse_scale: float = eqx.field(static=True)

    def __init__(self, system: PoissonSystem, levels: int | None = None, *, smoothing: int = 1,
                 omega: float = 2 / 3, coarse_scale: float = 1.0):
        if not isinstance(system, PoissonSystem):
            raise TypeError(f"`system` must be a scimlx PoissonSystem, got {type(system).__name__}")
        smoothing = check_int("smoothing", smoothing)
        omega = check_number("omega", omega, low=0, high=1, low_open=True)
        coarse_scale = check_number("coarse_scale", coarse_scale, low=0, low_open=True)
        shape = system.shape
        possible = 1
        s = np.array(shape)
        while np.all(s % 2 == 0) and np.all(s // 2 >= 2):
            s = s // 2
            possible += 1
            if np.prod(s) <= 512:
                break
        if levels is None:
            levels = possible
        levels = check_int("levels", levels)
        if levels > possible:
            raise ValueError(
                f"`levels`={levels} is more than the grid {shape} allows ({possible}: each coarsening halves "
                "every side, which must stay even and >= 2)"
            )
        n = int(np.prod(np.array(shape) // 2 ** (levels - 1)))
        if n > 20_000:
            raise ValueError(f"the coarsest level has {n} cells; give more `levels` (at most 20,000 cells)")
        self.levels_, self.coarse_pinv = _hierarchy(system, levels)
        self.fluid = system.fluid
        self.smoothing, self.omega, self.coarse_scale = smoothing, float(omega), float(coarse_scale)

    @property
    def n_levels(self) -> int:
        return len(self.levels_)

    def _cycle(self, k: int, r: Array) -> Array:
        level = self.levels_[k]
        if k == len(self.levels_) - 1:
            return (self.coarse_pinv @ r.reshape(-1)).reshape(r.shape)
        inv_d = jnp.where(level.diag > 0, 1 / jnp.where(level.diag > 0, level.diag, 1), 0.0)
        x = self.omega * inv_d * r
        for _ in range(self.smoothing - 1):
            x = x + self.omega * inv_d * (r - level.matvec(x))
        rc = _block_sum(r - level.matvec(x))
        x = x + self.coarse_scale * _prolong(self._cycle(k + 1, rc))
        for _ in range(self.smoothing):
            x = x + self.omega * inv_d * (r - level.matvec(x))
        return x

    def __call__(self, r: Float[Array, "*shape"]) -> Float[Array, "*shape"]:  # noqa: F821
        """Apply one V-cycle from a zero initial guess to the residual `r`."""
        if jnp.shape(r) != self.fluid.shape:
            raise ValueError(f"`r` must have the grid shape {self.fluid.shape}, got {jnp.shape(r)}")
        r = jnp.where(self.fluid, r, 0)
        return jnp.where(self.fluid, self._cycle(0, r), 0)


def multigrid_preconditioner(system, levels: int | None = None, **options) -> Callable[[Array], Array]:
    """A [`MultigridPreconditioner`][scimlx.solvers.MultigridPreconditioner] for `system` (see there)."""
    return MultigridPreconditioner(system, levels, **options)
