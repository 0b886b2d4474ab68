"""Darcy flow with a piecewise-constant coefficient: the FNO recipe (`piececonst_r421`).

The equation is `-div(a grad u) = f` on the unit square with `u = 0` on the boundary and `f = 1`.

- **Grid.** Everything lives on the nodes of a uniform grid that *includes* the boundary: `s` nodes per
  side, `x_i = i h`, `h = 1 / (s - 1)`, like FNO's 421 / 211 / 141 / 85 files. The unknowns are the
  `(s - 2)^2` interior nodes; the stored solution carries its zero boundary values.
- **Coefficient.** A Gaussian random field with covariance `~ (-Laplacian + tau^2)^(-alpha)` under Neumann
  conditions (`alpha = 2`, `tau = 3`, see [`scimlx.datasets.grf_neumann`][]) thresholded to two values:
  `a_pos` where the field is `>= 0` and `a_neg` where it is `< 0`. The defaults 12 and 3 are those of the
  FNO paper; FNO's generator script `demo.m` uses 12 and **4**; both are parameters.
- **Scheme.** 5-point finite differences whose face coefficients are the arithmetic means of the two
  neighbouring node values of `a` (boundary nodes of `a` included), divided by `h^2`. The operator is
  symmetric positive definite; it is applied matrix-free and solved with the core's Jacobi-preconditioned
  conjugate gradient ([`scimlx.core.linalg.pcg`][]). (FNO's `solve_gwf.m` uses the same stencil on
  spline-interpolated coefficients and a direct sparse solve; here `a` is used on the nodes as drawn.)
- **Subsampling.** With `subsample = r` the sample is drawn and solved on the fine grid of
  `(s - 1) r + 1` nodes per side and every `r`-th node is kept (FNO / LSM: 421 -> 85 with `r = 5`).

The recipe `"darcy"` stores `coeff` and `sol` (both `(s, s)` node arrays), `iterations` (the PCG
iteration count of each sample) and `converged` (a warning is raised when a sample missed its
tolerance); its pairs are `x = coeff[:, None]`, `y = sol[:, None]`. The CPU default is
`resolution = 64` computed directly; the `"paper"` preset is 85 nodes subsampled from 421.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, ArrayLike, Float, PRNGKeyArray

from scimlx.core.geometry import Grid
from scimlx.core.linalg import LinearOperator, SolveResult, pcg
from scimlx.core.validate import check_int, check_key, check_number
from scimlx.datasets._random_fields import grf_neumann
from scimlx.datasets._recipe import Recipe

__all__ = ["RECIPE", "darcy_coefficient", "darcy_operator", "darcy_solve"]


def _default_tol(dtype) -> float:
    return 1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-6


def _check_coefficient(a) -> Array:
    if not hasattr(a, "shape") and not isinstance(a, (list, tuple)):
        raise TypeError(f"`a` must be a 2-D array of node values, got {type(a).__name__}")
    a = jnp.asarray(a)
    if a.ndim != 2:
        raise ValueError(f"`a` must be a 2-D array of node values, got shape {a.shape}")
    if min(a.shape) < 3:
        raise ValueError(f"`a` needs at least 3 nodes per side (one interior node), got shape {a.shape}")
    if not jnp.issubdtype(a.dtype, jnp.floating):
        a = a.astype(jnp.result_type(float))
    try:
        concrete = np.asarray(a)
    except Exception:  # traced: cannot be checked here
        concrete = None
    if concrete is not None and not np.all(concrete > 0):
        raise ValueError(
            f"`a` must be positive everywhere (an elliptic problem); {int(np.sum(~(concrete > 0)))} node "
            "values are <= 0 or NaN"
        )
    return a


class _DarcyMatvec(eqx.Module):
    ax: Float[Array, "sx_minus_1 sy_minus_2"]
    ay: Float[Array, "sx_minus_2 sy_minus_1"]

    def __call__(self, u: Float[Array, "nx ny"]) -> Float[Array, "nx ny"]:
        up = jnp.pad(u, 1)  # the zero boundary values
        flux_x = self.ax * (up[1:, 1:-1] - up[:-1, 1:-1])
        flux_y = self.ay * (up[1:-1, 1:] - up[1:-1, :-1])
        return -(flux_x[1:] - flux_x[:-1]) - (flux_y[:, 1:] - flux_y[:, :-1])


def _operator(a: Array) -> LinearOperator:
    sx, sy = a.shape
    hx, hy = 1.0 / (sx - 1), 1.0 / (sy - 1)
    # Face coefficients: arithmetic means of the neighbouring node values, scaled by 1 / h^2.
    ax = 0.5 * (a[1:, 1:-1] + a[:-1, 1:-1]) / hx**2
    ay = 0.5 * (a[1:-1, 1:] + a[1:-1, :-1]) / hy**2
    diagonal = ax[1:] + ax[:-1] + ay[:, 1:] + ay[:, :-1]
    return LinearOperator(_DarcyMatvec(ax, ay), (sx - 2, sy - 2), diagonal=diagonal)


def darcy_operator(a: Float[ArrayLike, "sx sy"]) -> LinearOperator:
    """The 5-point finite-difference operator of `-div(a grad u)` with `u = 0` on the boundary.

    Acts on the values at the interior nodes: `(A u)_ij = sum over the 4 faces of a_face (u_ij - u_nb) / h^2`,
    where `a_face` is the arithmetic mean of `a` at the face's two nodes and `u_nb = 0` on the boundary.
    The operator is symmetric positive definite and carries its diagonal (for Jacobi preconditioning).

    **Arguments:**

    - `a`: the coefficient at the nodes of the grid on `[0, 1]^2` *including* the boundary nodes,
        shape `(sx, sy)` with `sx, sy >= 3`, spacing `1 / (sx - 1)` and `1 / (sy - 1)`. Must be positive.

    **Returns:**

    A [`scimlx.core.linalg.LinearOperator`][] of shape `(sx - 2, sy - 2)` (the interior nodes).
    """
    return _operator(_check_coefficient(a))


def _interior_rhs(f, shape: tuple[int, int], dtype) -> Array:
    sx, sy = shape
    if isinstance(f, (int, float, np.integer, np.floating)) and not isinstance(f, bool):
        check_number("f", f)
        return jnp.full((sx - 2, sy - 2), f, dtype)
    if not hasattr(f, "shape"):
        raise TypeError(f"`f` must be a number or an array, got {type(f).__name__}")
    f = jnp.asarray(f, dtype)
    if f.shape == (sx, sy):
        return f[1:-1, 1:-1]
    if f.shape == (sx - 2, sy - 2):
        return f
    if f.shape == ():
        return jnp.full((sx - 2, sy - 2), f, dtype)
    raise ValueError(
        f"`f` must be a number, an array of all nodes {(sx, sy)} or of the interior nodes "
        f"{(sx - 2, sy - 2)}, got shape {f.shape}"
    )


def darcy_solve(
    a: Float[ArrayLike, "sx sy"],
    f: float | Float[ArrayLike, "sx sy"] | Float[ArrayLike, "sx-2 sy-2"] = 1.0,
    *,
    tol: float | None = None,
    maxiter: int | None = None,
) -> tuple[Float[Array, "sx sy"], SolveResult]:
    """Solves `-div(a grad u) = f` on `[0, 1]^2` with `u = 0` on the boundary.

    Uses the operator of [`scimlx.datasets.darcy_operator`][] and the core's Jacobi-preconditioned
    conjugate gradient. The stopping test of [`scimlx.core.linalg.pcg`][] uses the recursively updated
    residual; in float64 the true residual `||f - A u|| / ||f||` stays below `1e-10` too. In float32 the
    true residual cannot reach `1e-6` beyond tiny grids: even the exact solution rounded to float32 has
    residual `~ eps ||A|| ||u|| / ||f||`, growing like `(s - 1)^2` (2e-5 at 64 nodes per side), and the
    float32 iterate's is about ten times that (measured 3e-4 at 64, 2e-3 at 141 nodes), while its error
    against the float64 solution stays at float32 precision (5e-7 at 64 nodes).

    **Arguments:**

    - `a`: the positive coefficient at the nodes *including* the boundary, shape `(sx, sy)`,
        `sx, sy >= 3` (spacing `1 / (s - 1)`).
    - `f`: the right-hand side: a number (default 1), the node values `(sx, sy)` (boundary values are
        ignored) or the interior values `(sx - 2, sy - 2)`.
    - `tol`: the relative residual to reach; default `1e-6` in float32 and `1e-10` in float64 (the dtype
        of `a`).
    - `maxiter`: the iteration limit (default: that of `pcg`, 10 times the number of unknowns).

    **Returns:**

    `(u, result)`: `u` of shape `(sx, sy)` with zero boundary values, and the
    [`scimlx.core.linalg.SolveResult`][] of the interior solve (`result.x` holds the interior nodes).
    """
    a = _check_coefficient(a)
    if tol is None:
        tol = _default_tol(a.dtype)
    tol = check_number("tol", tol, low=0, low_open=True)
    maxiter = check_int("maxiter", maxiter, optional=True)
    return _solve(a, _interior_rhs(f, a.shape, a.dtype), tol, maxiter)


@functools.partial(jax.jit, static_argnums=(2, 3))
def _solve(a: Array, f_int: Array, tol: float, maxiter: int | None) -> tuple[Array, SolveResult]:
    result = pcg(_operator(a), f_int, tol=tol, maxiter=maxiter, preconditioner="jacobi")
    return jnp.pad(result.x, 1), result


def darcy_coefficient(
    resolution: int,
    *,
    key: PRNGKeyArray,
    alpha: float = 2.0,
    tau: float = 3.0,
    a_pos: float = 12.0,
    a_neg: float = 3.0,
    dtype=jnp.float32,
) -> Float[Array, "s s"]:
    """The thresholded Gaussian random field coefficient of the FNO Darcy data.

    `a = a_pos` where a draw of [`scimlx.datasets.grf_neumann`][] is `>= 0` and `a_neg` elsewhere.

    **Arguments:**

    - `resolution`: nodes per side, boundary nodes included.
    - `key`: a PRNG key (keyword-only).
    - `alpha`, `tau`: smoothness and inverse length scale of the field (FNO: 2 and 3).
    - `a_pos`, `a_neg`: the two positive values (FNO paper: 12 and 3; FNO's `demo.m`: 12 and 4).
    - `dtype`: the output dtype.

    **Returns:**

    An array `(resolution, resolution)` taking only the values `a_pos` and `a_neg`.
    """
    resolution = check_int("resolution", resolution, low=3)
    key = check_key(key)
    a_pos = check_number("a_pos", a_pos, low=0, low_open=True)
    a_neg = check_number("a_neg", a_neg, low=0, low_open=True)
    alpha = check_number("alpha", alpha, low=0, low_open=True)
    tau = check_number("tau", tau, low=0, low_open=True)
    return _coefficient(resolution, key, alpha, tau, a_pos, a_neg, jnp.dtype(dtype))


@functools.partial(jax.jit, static_argnums=(0, 2, 3, 4, 5, 6))
def _coefficient(resolution: int, key, alpha: float, tau: float, a_pos: float, a_neg: float, dtype) -> Array:
    g = grf_neumann((resolution, resolution), alpha=alpha, tau=tau, key=key, dtype=dtype)
    return jnp.where(g >= 0, jnp.asarray(a_pos, dtype), jnp.asarray(a_neg, dtype))


# ----------------------------------------------------------------------------------------------------------
# The recipe

_PARAMS = {
    "resolution": 64,
    "subsample": 1,
    "alpha": 2.0,
    "tau": 3.0,
    "a_pos": 12.0,
    "a_neg": 3.0,
    "forcing": 1.0,
    "tol": None,
    "maxiter": None,
    "chunk_size": 16,
}

_PRESETS = {
    # FNO / LSM: generated at 421 x 421 nodes and subsampled every 5th node to 85 x 85.
    "paper": {"resolution": 85, "subsample": 5},
    # The full FNO file resolution, and MgNO's "smooth" set (421 subsampled every 2nd node).
    "r421": {"resolution": 421, "subsample": 1},
    "r211": {"resolution": 211, "subsample": 2},
}


def _validate(params: dict) -> dict:
    p = dict(params)
    unknown = sorted(set(p) - set(_PARAMS))
    if unknown:
        raise ValueError(f"unknown parameter(s) {unknown} for 'darcy'; its parameters are {sorted(_PARAMS)}")
    p["resolution"] = check_int("resolution", p["resolution"], low=3)
    p["subsample"] = check_int("subsample", p["subsample"], low=1)
    p["alpha"] = check_number("alpha", p["alpha"], low=0, low_open=True)
    p["tau"] = check_number("tau", p["tau"], low=0, low_open=True)
    p["a_pos"] = check_number("a_pos", p["a_pos"], low=0, low_open=True)
    p["a_neg"] = check_number("a_neg", p["a_neg"], low=0, low_open=True)
    p["forcing"] = check_number("forcing", p["forcing"])
    if p["tol"] is not None:
        p["tol"] = check_number("tol", p["tol"], low=0, low_open=True, high=1, high_open=True)
    p["maxiter"] = check_int("maxiter", p["maxiter"], optional=True)
    p["chunk_size"] = check_int("chunk_size", p["chunk_size"])
    return p


def _fine_resolution(params: Mapping) -> int:
    return (params["resolution"] - 1) * params["subsample"] + 1


def _build(params: dict, dtype):
    s_f, r = _fine_resolution(params), params["subsample"]
    tol = params["tol"] if params["tol"] is not None else _default_tol(dtype)
    maxiter, forcing = params["maxiter"], params["forcing"]

    def sample(key: PRNGKeyArray, index: Array) -> dict[str, Array]:
        del index
        a = _coefficient(s_f, key, params["alpha"], params["tau"], params["a_pos"], params["a_neg"], dtype)
        u, result = _solve(a, jnp.full((s_f - 2, s_f - 2), forcing, dtype), tol, maxiter)
        return {
            "coeff": a[::r, ::r],
            "sol": u[::r, ::r],
            "iterations": result.iterations,
            "converged": result.converged,
        }

    return sample


def _pairs(arrays: Mapping[str, np.ndarray], params: dict) -> tuple[np.ndarray, np.ndarray]:
    del params
    return np.asarray(arrays["coeff"])[:, None], np.asarray(arrays["sol"])[:, None]


def _grid(params: dict) -> Grid:
    s = params["resolution"]
    return Grid((s, s))


RECIPE = Recipe(
    name="darcy",
    description="2-D Darcy flow -div(a grad u) = 1, u = 0 on the boundary, thresholded GRF coefficient (FNO)",
    params=_PARAMS,
    presets=_PRESETS,
    validate=_validate,
    build=_build,
    pairs=_pairs,
    grid=_grid,
    resolution_note=(
        "grid nodes per side INCLUDING the two boundary nodes (spacing 1/(resolution-1)), as in FNO's "
        "421/211/141/85 files; with subsample r the data is solved on (resolution-1)*r+1 nodes and every "
        "r-th node is kept"
    ),
)
