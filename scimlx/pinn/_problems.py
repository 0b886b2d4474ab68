"""The benchmark problems of PIG (Kang et al., ICLR 2025), named after the paper's setting so that they
are not confused with other papers' variants of the same equations; the reference code's settings."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax.numpy as jnp
import numpy as np
from jaxtyping import Array

from scimlx.core import Box
from scimlx.core.equations import Advection, AllenCahn, Helmholtz, KleinGordon, NonlinearDiffusion
from scimlx.core.validate import check_bool, check_int, check_number

from ._conditions import Dirichlet, InitialValue, InitialVelocity, Periodic
from ._problem import Problem, check_squarable, preset_params, subsample_indices
from ._problems_sampling import exponential_nd, peak_2d, two_peak_2d
from ._reference import allen_cahn_reference, nonlinear_diffusion_initial, nonlinear_diffusion_reference

# ----------------------------------------------------------------------------------------------------------
# Helmholtz (PIXEL / PIG)


def helmholtz_2d(preset: str = "paper", **params) -> Problem:
    """`Δu + k²u = q` on `[-1, 1]²`, `u = sin(a₁πy) sin(a₂πx)`, Dirichlet data from it (the PIXEL/PIG
    setting; the PIG script uses `a₁ = 4, a₂ = 1`, `k = 1`, residual weight 1e-4, 10,000 collocation and
    boundary points, a 250² test grid).

    **Arguments:**

    - `preset`: `"paper"` or `"quick"` (CPU scale: 2,048 collocation points, 256 per face, a 64² test grid).
    - `a1`, `a2`, `k`: the mode numbers and the wavenumber.
    - `n_collocation`, `n_boundary` (per face), `test_resolution`, `residual_weight`.
    """
    p = preset_params(
        preset,
        dict(a1=4.0, a2=1.0, k=1.0, n_collocation=10_000, n_boundary=2_500, test_resolution=250,
             residual_weight=1e-4),
        dict(a1=4.0, a2=1.0, k=1.0, n_collocation=2_048, n_boundary=256, test_resolution=64,
             residual_weight=1e-4),
        params,
    )
    a1, a2, k = (check_number(n, p[n]) for n in ("a1", "a2", "k"))
    check_squarable("a1", a1, np.pi)
    check_squarable("a2", a2, np.pi)
    check_squarable("k", k)
    w1, w2 = a1 * np.pi, a2 * np.pi

    def exact(z):
        return jnp.sin(w1 * z[1]) * jnp.sin(w2 * z[0])

    def source(z):
        return (k**2 - w1**2 - w2**2) * exact(z)

    return Problem(
        "helmholtz_2d",
        Helmholtz(k=k, source=source),
        Box((-1.0, -1.0), (1.0, 1.0)),
        (Dirichlet(exact, n=check_int("n_boundary", p["n_boundary"])),),
        exact=exact,
        test_shape=check_int("test_resolution", p["test_resolution"], low=2),
        residual_weight=p["residual_weight"],
        n_collocation=p["n_collocation"],
        description=f"Δu + {k:g}²u = q, u = sin({a1:g}πy)sin({a2:g}πx) on [-1,1]²",
    )


# ----------------------------------------------------------------------------------------------------------
# Klein-Gordon (SPINN / PIG)


def klein_gordon_2p1d(preset: str = "paper", **params) -> Problem:
    """`u_tt - Δu + u² = f` on `[-1, 1]² x [0, 10]` with `u = (x + y)cos(kt) + xy sin(kt)`, `k = 2`, and
    `f = u² - k²u`; initial value and Dirichlet data from `u` (the SPINN/PIG setting: 4,096 collocation
    points, 256 initial points, 256 per face, a 50³ test grid).

    The reference imposes the initial value only; `initial_velocity=True` adds `u_t(x, 0)` from `u`.

    **Arguments:**

    - `preset`: `"paper"` or `"quick"` (2,048 collocation points, 128 initial and per-face points, 24³ test).
    - `k`, `n_collocation`, `n_initial`, `n_boundary`, `test_resolution`, `initial_velocity`.
    """
    p = preset_params(
        preset,
        dict(k=2.0, n_collocation=4_096, n_initial=256, n_boundary=256, test_resolution=50,
             initial_velocity=False),
        dict(k=2.0, n_collocation=2_048, n_initial=128, n_boundary=128, test_resolution=24,
             initial_velocity=False),
        params,
    )
    k = check_number("k", p["k"])
    check_squarable("k", k)
    initial_velocity = check_bool("initial_velocity", p["initial_velocity"])

    def exact(z):
        x, y, t = z[0], z[1], z[2]
        return (x + y) * jnp.cos(k * t) + x * y * jnp.sin(k * t)

    def source(z):
        u = exact(z)
        return u**2 - k**2 * u

    conds = [
        InitialValue(exact, n=check_int("n_initial", p["n_initial"])),
        Dirichlet(exact, n=check_int("n_boundary", p["n_boundary"])),
    ]
    if initial_velocity:
        conds.append(InitialVelocity(lambda z: k * z[0] * z[1], n=p["n_initial"]))
    return Problem(
        "klein_gordon_2p1d",
        KleinGordon(source=source),
        Box((-1.0, -1.0, 0.0), (1.0, 1.0, 10.0)),
        conds,
        exact=exact,
        test_shape=check_int("test_resolution", p["test_resolution"], low=2),
        n_collocation=p["n_collocation"],
        description=f"u_tt - Δu + u² = f, u = (x+y)cos({k:g}t) + xy sin({k:g}t), t ≤ 10",
    )


# ----------------------------------------------------------------------------------------------------------
# Flow mixing (SPINN / PIG)

_V_MAX = 0.385


def _tanh_over_r(r):
    """`tanh(r) / r`, smooth through `r = 0` (Taylor series there), safe under differentiation."""
    small = r < 1e-3
    rs = jnp.where(small, 1.0, r)
    return jnp.where(small, 1 - r**2 / 3, jnp.tanh(rs) / rs)


def _safe_radius(z):
    r2 = z[0] ** 2 + z[1] ** 2
    safe = jnp.where(r2 > 0, r2, 1.0)
    return jnp.where(r2 > 0, jnp.sqrt(safe), 0.0)


def flow_mixing_omega(z: Array) -> Array:
    """The angular velocity `ω(r) = sech²(r) tanh(r) / (r v_max)`, `v_max = 0.385`, of the flow mixing."""
    r = _safe_radius(z)
    return _tanh_over_r(r) / jnp.cosh(r) ** 2 / _V_MAX


def flow_mixing_2p1d(preset: str = "paper", **params) -> Problem:
    """`u_t + a u_x + b u_y = 0` on `[-4, 4]² x [0, 4]` with the rotating vortex `a = -ω y`, `b = ω x`,
    `ω = sech²(r) tanh(r) / (r v_max)`, and `u = -tanh((y/2)cos(ωt) - (x/2)sin(ωt))`; initial value and
    Dirichlet data from `u` (the SPINN/PIG setting: residual weight 10, 27,000 collocation points, 900 initial
    points and 900 per face, a 50³ test grid).

    **Arguments:**

    - `preset`: `"paper"` or `"quick"` (4,096 collocation points, 256 initial and per-face points, 24³ test).
    - `n_collocation`, `n_initial`, `n_boundary`, `test_resolution`, `residual_weight`.
    """
    p = preset_params(
        preset,
        dict(n_collocation=27_000, n_initial=900, n_boundary=900, test_resolution=50, residual_weight=10.0),
        dict(n_collocation=4_096, n_initial=256, n_boundary=256, test_resolution=24, residual_weight=10.0),
        params,
    )

    def exact(z):
        w = flow_mixing_omega(z)
        return -jnp.tanh(0.5 * z[1] * jnp.cos(w * z[2]) - 0.5 * z[0] * jnp.sin(w * z[2]))

    def velocity(z):
        w = flow_mixing_omega(z)
        return jnp.stack([-w * z[1], w * z[0]])

    return Problem(
        "flow_mixing_2p1d",
        Advection(velocity=velocity),
        Box((-4.0, -4.0, 0.0), (4.0, 4.0, 4.0)),
        (
            InitialValue(exact, n=check_int("n_initial", p["n_initial"])),
            Dirichlet(exact, n=check_int("n_boundary", p["n_boundary"])),
        ),
        exact=exact,
        test_shape=check_int("test_resolution", p["test_resolution"], low=2),
        residual_weight=p["residual_weight"],
        n_collocation=p["n_collocation"],
        description="u_t + a u_x + b u_y = 0, rotating vortex, t ≤ 4",
    )


# ----------------------------------------------------------------------------------------------------------
# Nonlinear diffusion (SPINN / PIG)


@functools.lru_cache(maxsize=4)
def _diffusion_test_set(reference_resolution, test_resolution, test_times, alpha, dtype_name):
    x, t, u = nonlinear_diffusion_reference(reference_resolution, 101, alpha=alpha)
    ix = subsample_indices(x.shape[0], test_resolution)
    it = subsample_indices(t.shape[0], test_times)
    xs, ts = np.asarray(x)[ix], np.asarray(t)[it]
    uu = np.asarray(u)[np.ix_(it, ix, ix)]  # (t, x, y)
    X, Y, T = np.meshgrid(xs, xs, ts, indexing="ij")
    pts = np.stack([X, Y, T], -1).reshape(-1, 3)
    vals = np.transpose(uu, (1, 2, 0)).reshape(-1)
    return pts.astype(dtype_name), vals.astype(dtype_name)


def nonlinear_diffusion_2p1d(preset: str = "paper", **params) -> Problem:
    """`u_t = α∇·(u∇u) = α(|∇u|² + uΔu)`, `α = 0.05`, on `[-1, 1]² x [0, 1]`, `u = 0` on the walls, from three
    Gaussian bumps (the SPINN/PIG setting: 4,096 collocation points, 256 initial points and 256 per face).

    The reference is a fine numerical solve,
    [`nonlinear_diffusion_reference`][scimlx.pinn.nonlinear_diffusion_reference], at
    `reference_resolution` nodes per axis and 101 times (the reference code's 101 snapshots), subsampled to
    `test_resolution` nodes per axis and `test_times` times.

    **Arguments:**

    - `preset`: `"paper"` (solve at 201², test on 101² x 101) or `"quick"` (solve at 129², test 33² x 21,
        2,048 collocation points, 128 initial and per-face points).
    - `alpha`, `n_collocation`, `n_initial`, `n_boundary`, `reference_resolution`, `test_resolution`,
        `test_times`.
    """
    p = preset_params(
        preset,
        dict(alpha=0.05, n_collocation=4_096, n_initial=256, n_boundary=256, reference_resolution=201,
             test_resolution=101, test_times=101),
        dict(alpha=0.05, n_collocation=2_048, n_initial=128, n_boundary=128, reference_resolution=129,
             test_resolution=33, test_times=21),
        params,
    )
    alpha = check_number("alpha", p["alpha"], low=0)
    ref_n = check_int("reference_resolution", p["reference_resolution"], low=5)
    test_n = check_int("test_resolution", p["test_resolution"], low=2)
    test_t = check_int("test_times", p["test_times"], low=2)
    if test_n > ref_n:
        raise ValueError(f"`test_resolution` ({test_n}) cannot exceed `reference_resolution` ({ref_n})")
    dtype_name = jnp.dtype(jnp.result_type(float)).name

    def reference():
        return _diffusion_test_set(ref_n, test_n, min(test_t, 101), alpha, dtype_name)

    return Problem(
        "nonlinear_diffusion_2p1d",
        NonlinearDiffusion(alpha=alpha),
        Box((-1.0, -1.0, 0.0), (1.0, 1.0, 1.0)),
        (
            InitialValue(nonlinear_diffusion_initial, n=check_int("n_initial", p["n_initial"])),
            Dirichlet(0.0, n=check_int("n_boundary", p["n_boundary"])),
        ),
        reference=reference,
        n_collocation=p["n_collocation"],
        description=f"u_t = {alpha:g}∇·(u∇u), zero walls, three bumps, t ≤ 1",
    )


# ----------------------------------------------------------------------------------------------------------
# Allen-Cahn (JAX-PI / PIG)


def _allen_cahn_initial(z):
    return z[0] ** 2 * jnp.cos(jnp.pi * z[0])


@functools.lru_cache(maxsize=4)
def _allen_cahn_test_set(n_x, n_t, test_x, test_t, dtype_name):
    x, t, u = allen_cahn_reference(n_x, n_t)
    ix = subsample_indices(x.shape[0], test_x)
    it = subsample_indices(t.shape[0], test_t)
    X, T = np.meshgrid(np.asarray(x)[ix], np.asarray(t)[it], indexing="ij")
    pts = np.stack([X, T], -1).reshape(-1, 2)
    vals = np.asarray(u)[np.ix_(it, ix)].T.reshape(-1)
    return pts.astype(dtype_name), vals.astype(dtype_name)


def allen_cahn_1d(preset: str = "paper", **params) -> Problem:
    """`u_t - 1e-4 u_xx + 5u³ - 5u = 0` on `[-1, 1] x [0, 1]`, periodic in `x`, `u(x, 0) = x² cos(πx)` (the
    JAX-PI setting PIG uses; not DeepXDE's Allen-Cahn). The reference is a Fourier ETDRK4 solve on JAX-PI's
    512 x 201 grid ([`allen_cahn_reference`][scimlx.pinn.allen_cahn_reference]). Periodicity is a soft
    condition on the value and the first derivative.

    **Arguments:**

    - `preset`: `"paper"` (8,192 collocation points, 512 initial and 256 periodic points, the full 512 x 201
        test grid) or `"quick"` (2,048 / 256 / 128, test 128 x 51).
    - `n_collocation`, `n_initial`, `n_periodic`, `test_x`, `test_t`.
    """
    p = preset_params(
        preset,
        dict(n_collocation=8_192, n_initial=512, n_periodic=256, test_x=512, test_t=201),
        dict(n_collocation=2_048, n_initial=256, n_periodic=128, test_x=128, test_t=51),
        params,
    )
    test_x, test_t = check_int("test_x", p["test_x"], low=2), check_int("test_t", p["test_t"], low=2)
    dtype_name = jnp.dtype(jnp.result_type(float)).name

    def reference():
        return _allen_cahn_test_set(512, 201, test_x, test_t, dtype_name)

    return Problem(
        "allen_cahn_1d",
        AllenCahn(diffusivity=1e-4, reaction=5.0),
        Box((-1.0, 0.0), (1.0, 1.0)),
        (
            InitialValue(_allen_cahn_initial, n=check_int("n_initial", p["n_initial"])),
            Periodic(axis=0, derivatives=1, n=check_int("n_periodic", p["n_periodic"])),
        ),
        reference=reference,
        n_collocation=p["n_collocation"],
        description="u_t - 1e-4 u_xx + 5u³ - 5u = 0, periodic, u0 = x²cos(πx)",
    )


# ----------------------------------------------------------------------------------------------------------
# Registry and settings

PROBLEMS: dict[str, Callable[..., Problem]] = {
    "helmholtz_2d": helmholtz_2d,
    "klein_gordon_2p1d": klein_gordon_2p1d,
    "flow_mixing_2p1d": flow_mixing_2p1d,
    "nonlinear_diffusion_2p1d": nonlinear_diffusion_2p1d,
    "allen_cahn_1d": allen_cahn_1d,
    "peak_2d": peak_2d,
    "two_peak_2d": two_peak_2d,
    "exponential_nd": exponential_nd,
}


def problem_names() -> list[str]:
    """The benchmark problems: PIG's, in the order of its paper's table, then the adaptive-sampling ones
    (DAS/AAS)."""
    return list(PROBLEMS)


def get_problem(name: str, preset: str = "paper", **params) -> Problem:
    """Build a benchmark problem by name.

    **Arguments:**

    - `name`: one of [`problem_names`][scimlx.pinn.problem_names].
    - `preset`: `"paper"` (the reference code's sizes) or `"quick"` (CPU scale).
    - `**params`: the problem's parameters (see each builder).
    """
    if not isinstance(name, str) or name not in PROBLEMS:
        raise ValueError(f"unknown problem `name` {name!r}; known: {', '.join(PROBLEMS)}")
    return PROBLEMS[name](preset, **params)


# The reference code's PIG settings (Allen-Cahn is not in the reference code: our choice, marked so), and the
# training settings shared by PIG and the MLP baseline. `decay_steps`/`decay_rate`: the learning rate is
# multiplied by `decay_rate` every `decay_steps` steps, smoothly (optax.exponential_decay).
PAPER_SETTINGS: dict[str, dict[str, Any]] = {
    "helmholtz_2d": dict(
        pig=dict(n_gaussians=800, channels=4, grid_range=2.0, sigma_init=0.1, hidden=16),
        train=dict(steps=60_001, learning_rate=1e-2, decay_rate=0.9995, decay_steps=1, resample_every=1),
    ),
    "klein_gordon_2p1d": dict(
        pig=dict(n_gaussians=100, channels=4, grid_range=2.0, sigma_init=0.5, hidden=16),
        train=dict(steps=50_001, learning_rate=1e-2, decay_rate=0.9, decay_steps=2000, resample_every=100),
    ),
    "flow_mixing_2p1d": dict(
        pig=dict(n_gaussians=4000, channels=4, grid_range=2.0, sigma_init=0.1, hidden=16),
        train=dict(steps=50_000, learning_rate=1e-2, decay_rate=0.9, decay_steps=2000, resample_every=100),
    ),
    "nonlinear_diffusion_2p1d": dict(
        pig=dict(n_gaussians=4000, channels=4, grid_range=1.0, sigma_init=0.1, hidden=16),
        train=dict(steps=100_000, learning_rate=1e-3, decay_rate=0.9, decay_steps=2000, resample_every=100),
    ),
    "allen_cahn_1d": dict(  # not in the reference code: 1,200 Gaussians is the largest of the paper's Table 2
        pig=dict(n_gaussians=1200, channels=4, grid_range=2.0, sigma_init=0.1, hidden=16),
        train=dict(steps=100_000, learning_rate=1e-3, decay_rate=0.9, decay_steps=2000, resample_every=100,
                   causal_tol=1.0, causal_chunks=32),
    ),
}
