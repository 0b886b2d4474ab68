"""Pressure-Poisson systems on MAC grids with solid obstacles and open regions (the systems DCDM solves):
random geometries, right-hand sides and the `"poisson_systems"` recipe.

The operator itself, [`scimlx.core.PoissonSystem`][] (with the cell flags `FLUID` (0), `SOLID` (1),
`EMPTY` (2) and the open box faces), is linear algebra and lives in the core; it is re-exported here.

The right-hand sides come from the divergence of random smooth MAC velocity fields whose faces on solid walls
and solid cells are set to zero: `b = -(sum over axes of u(i + 1/2) - u(i - 1/2))` on fluid cells, i.e.
`-h div u` in units of the cell size `h` (the unscaled convention matching the unscaled `A`: the solution is
`p Delta t / (rho h)` in physical units). The net flux out of an enclosed component is then exactly zero, so
`b` lies in the range of `A`; [`scimlx.core.PoissonSystem.project_rhs`][] removes the round-off component.

The recipe `"poisson_systems"` draws a geometry ([`scimlx.datasets.make_geometry`][]: spheres, boxes,
smooth blobs, optionally an air layer), builds its system and a right-hand side
([`scimlx.datasets.random_rhs`][], normalised to unit 2-norm like DCDM's training vectors) and, when
`solve=True`, the solution by the core's Jacobi-preconditioned conjugate gradient to a relative residual of
`1e-6` (float32) or `1e-10` (float64), made orthogonal to the null space. It stores `flags` (int8), `rhs` and,
when solved, `solution`, `iterations` and `converged` (a warning is raised when a sample missed its
tolerance). Pairs: `x = rhs[:, None]` (with `mask_channel=True` the fluid mask
is a second channel), `y = solution[:, None]` (`y = rhs` when `solve=False`, as DCDM's unsupervised loss
only needs `b`). The CPU default is 3-D at 32^3 cells; the `"paper"` preset is DCDM's 64^3.

As in [`scimlx.datasets.darcy_solve`][], the solver stops on the recursively updated residual; in float32 the
true residual of the stored solution is limited by rounding (measured 3e-5 at 32^3, 1e-4 to 2e-4 at 64^3).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, Float, Int8, PRNGKeyArray

from scimlx.core._poisson import _parse_open_faces
from scimlx.core.geometry import Box, Grid
from scimlx.core.linalg import EMPTY, FLUID, SOLID, PoissonSystem, pcg, poisson_system
from scimlx.core.validate import check_bool, check_choice, check_int, check_key, check_number
from scimlx.datasets._random_fields import grf_neumann
from scimlx.datasets._recipe import Recipe

__all__ = [
    "EMPTY",
    "FLUID",
    "RECIPE",
    "SOLID",
    "PoissonSystem",
    "make_geometry",
    "poisson_system",
    "random_rhs",
]


def _check_range(name: str, value, *, low: float, high: float | None = None) -> tuple[float, float]:
    try:
        lo, hi = value
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{name}` must be a pair (min, max), got {value!r}") from e
    lo = check_number(f"{name}[0]", lo, low=low, low_open=True, high=high)
    hi = check_number(f"{name}[1]", hi, low=low, low_open=True, high=high)
    if hi < lo:
        raise ValueError(f"`{name}` must be (min, max) with min <= max, got {value!r}")
    return lo, hi


def _check_shape(shape) -> tuple[int, ...]:
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        raise ValueError(f"`shape` must be a 2-D or 3-D grid shape (a tuple), got {shape!r}")
    try:
        shape = tuple(shape)
    except TypeError as e:
        raise TypeError(f"`shape` must be a tuple of 2 or 3 integers, got {shape!r}") from e
    if len(shape) not in (2, 3):
        raise ValueError(f"`shape` must have 2 or 3 axes, got {shape!r}")
    return tuple(check_int(f"shape[{i}]", n, low=2) for i, n in enumerate(shape))


def _cell_centres(shape: tuple[int, ...], dtype) -> list[Array]:
    """Cell centres on a box of lengths `n_a / max(n)` (cubic cells of size `1 / max(n)`), broadcastable."""
    h = 1.0 / max(shape)
    out = []
    for a, n in enumerate(shape):
        bshape = [1] * len(shape)
        bshape[a] = n
        out.append(((jnp.arange(n, dtype=dtype) + 0.5) * h).reshape(bshape))
    return out


def make_geometry(
    shape: Sequence[int],
    *,
    key: PRNGKeyArray,
    n_spheres: int = 2,
    sphere_radius: tuple[float, float] = (0.08, 0.2),
    n_boxes: int = 1,
    box_size: tuple[float, float] = (0.1, 0.3),
    blob_fraction: float = 0.0,
    blob_tau: float = 8.0,
    empty_fraction: float = 0.0,
    wave_amplitude: float = 0.0,
) -> Int8[Array, "*shape"]:  # noqa: F821
    """Random cell flags: solid spheres, boxes and smooth blobs in fluid, optionally with air on top.

    Lengths are in units of the longest box side (cubic cells of size `1 / max(shape)`). Solids are drawn over
    the air region. Jittable and vmappable over `key` (counts and `shape` are static).

    **Arguments:**

    - `shape`: cells per axis, 2 or 3 axes, each `>= 2`.
    - `key`: a PRNG key (keyword-only).
    - `n_spheres`: the number of solid spheres (circles in 2-D), centres uniform in the box.
    - `sphere_radius`: `(min, max)` of the uniformly drawn radii.
    - `n_boxes`: the number of axis-aligned solid boxes, centres uniform in the box.
    - `box_size`: `(min, max)` of the uniformly drawn edge lengths (drawn per axis).
    - `blob_fraction`: the expected volume fraction of random smooth solid shapes: the cells where a
        Neumann Gaussian random field ([`scimlx.datasets.grf_neumann`][], `alpha = 3`, `tau = blob_tau`),
        normalised by its standard deviation, exceeds the Gaussian `(1 - blob_fraction)` quantile. 0 disables.
    - `blob_tau`: inverse length scale of the blobs (larger: smaller, more numerous blobs).
    - `empty_fraction`: the height fraction of the box (along `+y`, axis 1) that is `EMPTY` (air over a liquid
        surface); 0 (default) disables.
    - `wave_amplitude`: amplitude of a random cosine wave on that surface, as a fraction of the box height.

    **Returns:**

    An `int8` array of `shape` with values `FLUID`, `SOLID`, `EMPTY`.
    """
    shape = _check_shape(shape)
    key = check_key(key)
    n_spheres = check_int("n_spheres", n_spheres, low=0)
    n_boxes = check_int("n_boxes", n_boxes, low=0)
    r_lo, r_hi = _check_range("sphere_radius", sphere_radius, low=0)
    b_lo, b_hi = _check_range("box_size", box_size, low=0)
    blob_fraction = check_number("blob_fraction", blob_fraction, low=0, high=1, high_open=True)
    blob_tau = check_number("blob_tau", blob_tau, low=0, low_open=True)
    empty_fraction = check_number("empty_fraction", empty_fraction, low=0, high=1, high_open=True)
    wave_amplitude = check_number("wave_amplitude", wave_amplitude, low=0, high=1)
    return _make_geometry(
        shape, key, n_spheres, (r_lo, r_hi), n_boxes, (b_lo, b_hi), blob_fraction, blob_tau,
        empty_fraction, wave_amplitude,
    )  # fmt: skip


@functools.partial(jax.jit, static_argnums=(0, 2, 3, 4, 5, 6, 7, 8, 9))
def _make_geometry(
    shape, key, n_spheres, sphere_radius, n_boxes, box_size, blob_fraction, blob_tau, empty_fraction,
    wave_amplitude,
):  # fmt: skip
    d = len(shape)
    dtype = jnp.result_type(float)
    lengths = jnp.asarray([n / max(shape) for n in shape], dtype)
    x = _cell_centres(shape, dtype)
    k_uniform, k_blob = jax.random.split(key)
    # All uniform numbers in one draw (one compiled sampler): spheres, boxes, then the surface wave.
    n_sph, n_box = n_spheres * (d + 1), n_boxes * 2 * d
    uniform = jax.random.uniform(k_uniform, (n_sph + n_box + 2,), dtype)
    u_sph = uniform[:n_sph].reshape(n_spheres, d + 1)
    u_box = uniform[n_sph : n_sph + n_box].reshape(n_boxes, 2, d)
    u_wave = uniform[n_sph + n_box :]
    # Per-object values broadcast against the grid: (k, 1, ..., 1).
    expand = (slice(None),) + (None,) * d
    flags = jnp.full(shape, FLUID, jnp.int8)
    if empty_fraction > 0:
        height = lengths[1] * (1 - empty_fraction)
        if wave_amplitude > 0:
            # A cosine of wavelength (0.5 to 1.5)^-1 box widths travelling in a random horizontal direction.
            angle = 2 * jnp.pi * u_wave[0]
            horizontal = [a for a in range(d) if a != 1]
            direction = [jnp.cos(angle), jnp.sin(angle)][: len(horizontal)]
            magnitude = 2 * jnp.pi * (0.5 + u_wave[1])
            arg = sum(magnitude * c * x[a] for c, a in zip(direction, horizontal)) + 4 * jnp.pi * u_wave[0]
            height = height + wave_amplitude * lengths[1] * jnp.cos(arg)
        flags = jnp.where(x[1] > height, jnp.int8(EMPTY), flags)
    solid = jnp.zeros(shape, bool)
    if n_spheres > 0:
        centres = u_sph[:, :d] * lengths
        radii = sphere_radius[0] + (sphere_radius[1] - sphere_radius[0]) * u_sph[:, d]
        dist2 = sum((x[a][None] - centres[:, a][expand]) ** 2 for a in range(d))
        solid = solid | jnp.any(dist2 <= radii[expand] ** 2, axis=0)
    if n_boxes > 0:
        centres = u_box[:, 0] * lengths
        edges = box_size[0] + (box_size[1] - box_size[0]) * u_box[:, 1]
        inside = jnp.ones((n_boxes, *shape), bool)
        for a in range(d):
            inside = inside & (jnp.abs(x[a][None] - centres[:, a][expand]) <= 0.5 * edges[:, a][expand])
        solid = solid | jnp.any(inside, axis=0)
    if blob_fraction > 0:
        g = grf_neumann(shape, alpha=3.0, tau=blob_tau, key=k_blob, dtype=dtype)
        g = g / jnp.maximum(jnp.std(g), jnp.finfo(dtype).tiny)
        solid = solid | (g > jax.scipy.special.ndtri(1.0 - blob_fraction))
    return jnp.where(solid, jnp.int8(SOLID), flags)


def random_rhs(
    system: PoissonSystem,
    *,
    key: PRNGKeyArray,
    alpha: float = 3.0,
    tau: float = 3.0,
    normalize: bool = True,
) -> Float[Array, "*shape"]:  # noqa: F821
    """A right-hand side `b = -h div u` from a random smooth MAC velocity field `u`, projected onto range(A).

    Each velocity component lives on the faces normal to its axis (`n_a + 1` faces along axis `a`) and is a
    Neumann Gaussian random field ([`scimlx.datasets.grf_neumann`][] with `alpha`, `tau`) drawn on the
    `(n_0 + 1) x ... ` grid and restricted to those faces. Velocities on faces
    touching a SOLID cell or a solid wall of the box are set to zero (no flux through solids); open faces and
    faces next to EMPTY cells keep theirs. Then `b_i = -(sum over axes of u(i + 1/2) - u(i - 1/2))` on fluid
    cells (unscaled: `-h div u`), zero elsewhere, projected with
    [`scimlx.core.PoissonSystem.project_rhs`][].

    **Arguments:**

    - `system`: the [`scimlx.core.PoissonSystem`][] (its grid must have `>= 2` cells per axis).
    - `key`: a PRNG key (keyword-only).
    - `alpha`, `tau`: smoothness and inverse length scale of the velocity components.
    - `normalize`: scale `b` to unit 2-norm (as DCDM's data; default), unless it is zero.

    **Returns:**

    `b`, of the grid shape, in the system's dtype.
    """
    if not isinstance(system, PoissonSystem):
        raise TypeError(f"`system` must be a PoissonSystem, got {type(system).__name__}")
    key = check_key(key)
    alpha = check_number("alpha", alpha, low=0, low_open=True)
    tau = check_number("tau", tau, low=0, low_open=True)
    normalize = check_bool("normalize", normalize)
    shape = system.shape
    if min(shape) < 2:
        raise ValueError(f"`system` must have at least 2 cells per axis for random_rhs, got {shape}")
    return _random_rhs(system, key, alpha, tau, normalize)


@functools.partial(jax.jit, static_argnums=(2, 3, 4))
def _random_rhs(system: PoissonSystem, key, alpha: float, tau: float, normalize: bool) -> Array:
    shape = system.shape
    dtype = system.face_weights.dtype
    # One batched draw of all components on the (n + 1)^d grid (one compiled sampler), each component then
    # restricted to its faces: n_a + 1 along its own axis a, n_b along the others.
    big = tuple(n + 1 for n in shape)
    fields = jax.vmap(lambda k: grf_neumann(big, alpha=alpha, tau=tau, key=k, dtype=dtype))(
        jax.random.split(key, len(shape))
    )
    div = jnp.zeros(shape, dtype)
    for axis in range(len(shape)):
        u = fields[(axis, *(slice(0, n + (a == axis)) for a, n in enumerate(shape)))]
        padded = system.padded_flags(axis)
        n = shape[axis]
        left = jax.lax.slice_in_dim(padded, 0, n + 1, axis=axis)
        right = jax.lax.slice_in_dim(padded, 1, n + 2, axis=axis)
        u = jnp.where((left == SOLID) | (right == SOLID), 0, u)
        div = div + (jax.lax.slice_in_dim(u, 1, n + 1, axis=axis) - jax.lax.slice_in_dim(u, 0, n, axis=axis))
    b = system.project_rhs(-div)
    if normalize:
        norm = jnp.sqrt(jnp.sum(b * b))
        b = jnp.where(norm > 0, b / jnp.where(norm > 0, norm, 1), b)
    return b


# ----------------------------------------------------------------------------------------------------------
# The recipe

_PARAMS = {
    "resolution": 32,
    "ndim": 3,
    "open_faces": ("+y",),
    "n_spheres": 2,
    "sphere_radius": (0.08, 0.2),
    "n_boxes": 1,
    "box_size": (0.1, 0.3),
    "blob_fraction": 0.05,
    "blob_tau": 8.0,
    "empty_fraction": 0.0,
    "wave_amplitude": 0.0,
    "velocity_alpha": 3.0,
    "velocity_tau": 3.0,
    "normalize": True,
    "solve": True,
    "tol": None,
    "maxiter": None,
    "mask_channel": False,
    "chunk_size": 8,
}

_PRESETS = {
    # DCDM: 3-D systems at 64^3 (its N = 64 model) and 128^3.
    "paper": {"ndim": 3, "resolution": 64},
    "paper_128": {"ndim": 3, "resolution": 128, "chunk_size": 2},
}


def _validate(params: dict) -> dict:
    p = dict(params)
    unknown = sorted(set(p) - set(_PARAMS))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {unknown} for 'poisson_systems'; its parameters are {sorted(_PARAMS)}"
        )
    p["resolution"] = check_int("resolution", p["resolution"], low=4)
    p["ndim"] = check_choice("ndim", check_int("ndim", p["ndim"], low=2), (2, 3))
    p["open_faces"] = _parse_open_faces(p["open_faces"], p["ndim"])
    p["n_spheres"] = check_int("n_spheres", p["n_spheres"], low=0)
    p["sphere_radius"] = _check_range("sphere_radius", p["sphere_radius"], low=0)
    p["n_boxes"] = check_int("n_boxes", p["n_boxes"], low=0)
    p["box_size"] = _check_range("box_size", p["box_size"], low=0)
    p["blob_fraction"] = check_number("blob_fraction", p["blob_fraction"], low=0, high=1, high_open=True)
    p["blob_tau"] = check_number("blob_tau", p["blob_tau"], low=0, low_open=True)
    p["empty_fraction"] = check_number("empty_fraction", p["empty_fraction"], low=0, high=1, high_open=True)
    p["wave_amplitude"] = check_number("wave_amplitude", p["wave_amplitude"], low=0, high=1)
    p["velocity_alpha"] = check_number("velocity_alpha", p["velocity_alpha"], low=0, low_open=True)
    p["velocity_tau"] = check_number("velocity_tau", p["velocity_tau"], low=0)
    for name in ("normalize", "solve", "mask_channel"):
        p[name] = check_bool(name, p[name])
    if p["tol"] is not None:
        p["tol"] = check_number("tol", p["tol"], low=0, low_open=True, high=1, high_open=True)
    p["maxiter"] = check_int("maxiter", p["maxiter"], optional=True)
    p["chunk_size"] = check_int("chunk_size", p["chunk_size"])
    return p


def _default_maxiter(params: Mapping) -> int:
    # Jacobi-PCG on these systems needs O(resolution) iterations (a few hundred at 64); the cap bounds the
    # (vmapped) loop on a pathological geometry.
    return max(2000, 40 * params["resolution"])


def _build(params: dict, dtype):
    shape = (params["resolution"],) * params["ndim"]
    tol = params["tol"] if params["tol"] is not None else (1e-10 if jnp.dtype(dtype) == jnp.float64 else 1e-6)
    maxiter = params["maxiter"] if params["maxiter"] is not None else _default_maxiter(params)

    def sample(key: PRNGKeyArray, index: Array) -> dict[str, Array]:
        del index
        k_geo, k_rhs = jax.random.split(key)
        flags = _make_geometry(
            shape, k_geo, params["n_spheres"], params["sphere_radius"], params["n_boxes"], params["box_size"],
            params["blob_fraction"], params["blob_tau"], params["empty_fraction"], params["wave_amplitude"],
        )  # fmt: skip
        system = PoissonSystem(flags, params["open_faces"], dtype=dtype)
        b = random_rhs(
            system, key=k_rhs, alpha=params["velocity_alpha"], tau=params["velocity_tau"],
            normalize=params["normalize"],
        )  # fmt: skip
        out = {"flags": flags, "rhs": b}
        if params["solve"]:
            result = pcg(system.operator, b, tol=tol, maxiter=maxiter, preconditioner="jacobi")
            out["solution"] = system.project_rhs(result.x)
            out["iterations"] = result.iterations
            out["converged"] = result.converged
        return out

    return sample


def _pairs(arrays: Mapping[str, np.ndarray], params: dict) -> tuple[np.ndarray, np.ndarray]:
    rhs = np.asarray(arrays["rhs"])
    x = rhs[:, None]
    if params.get("mask_channel", False):
        mask = (np.asarray(arrays["flags"]) == FLUID).astype(rhs.dtype)[:, None]
        x = np.concatenate([x, mask], axis=1)
    y = np.asarray(arrays["solution"])[:, None] if "solution" in arrays else rhs[:, None]
    return x, y


def _grid(params: dict) -> Grid:
    n, d = params["resolution"], params["ndim"]
    h = 1.0 / n
    return Grid((n,) * d, Box([0.5 * h] * d, [1 - 0.5 * h] * d))


RECIPE = Recipe(
    name="poisson_systems",
    description="pressure-Poisson systems on 2-D/3-D MAC grids with obstacles and open regions (DCDM)",
    params=_PARAMS,
    presets=_PRESETS,
    validate=_validate,
    build=_build,
    pairs=_pairs,
    grid=_grid,
    resolution_note=(
        "cells per side (cell-centred pressure, centres at (i + 1/2)/resolution); pairs: x = rhs[:, None] "
        "(plus the fluid mask as a 2nd channel if mask_channel=True), y = solution[:, None] (y = rhs when "
        "solve=False, as DCDM's unsupervised loss uses b itself)"
    ),
)
