"""The benchmark problems of adaptive sampling (DAS, Tang, Wan & Yang 2023; AAS, Tang, Zhai, Wan & Yang,
ICLR 2024): solutions with sharp peaks, where uniform collocation points waste most of their effort, and a
high-dimensional problem. The equations, sources and domains are those of the DAS code (`pde_model.py`)."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp

from scimlx.core import Box, DriftDiffusion, Poisson
from scimlx.core.validate import check_int, check_number

from ._conditions import Dirichlet
from ._problem import Problem, check_squarable, preset_params


def _peak(z, centre, a):
    return jnp.exp(-a * jnp.sum((z - centre) ** 2))


@functools.lru_cache(maxsize=4)
def _exponential_test_set(d, a, n, dtype_name):
    """The test set of the d-dimensional exponential problem (seed 0): half of the `n` points uniform in
    `[-1, 1]^d`, half Gaussian `N(0, I/(2a))` (the spread of `u = exp(-a|x|²)`) clipped to the cube, so that
    the test norm sees the solution and not only the cube's corners, where `u` is ~`e^{-a d/3}`."""
    k1, k2 = jax.random.split(jax.random.key(0))
    m = n // 2
    uniform = jax.random.uniform(k1, (n - m, d), dtype_name, minval=-1.0, maxval=1.0)
    gauss = jnp.clip(jax.random.normal(k2, (m, d), dtype_name) / jnp.sqrt(2.0 * max(a, 1e-12)), -1.0, 1.0)
    pts = jnp.concatenate([uniform, gauss])
    return pts, jnp.exp(-a * jnp.sum(pts**2, axis=1))


def _square_params(preset: str, params: dict) -> dict:
    """The parameters of the 2-D peak problems (DAS's sizes, or the quick ones), `a` checked."""
    p = preset_params(
        preset,
        dict(a=1000.0, n_collocation=1_000, n_boundary=250, test_resolution=256),
        dict(a=1000.0, n_collocation=500, n_boundary=64, test_resolution=128),
        params,
    )
    p["a"] = check_number("a", p["a"], low=0)
    check_squarable("a", p["a"], 4.0)
    return p


def _square_problem(name: str, equation, exact, p: dict, description: str) -> Problem:
    """A problem on `[-1, 1]²` with Dirichlet data from `exact`, tested on a uniform grid."""
    return Problem(
        name,
        equation,
        Box((-1.0, -1.0), (1.0, 1.0)),
        (Dirichlet(exact, n=check_int("n_boundary", p["n_boundary"])),),
        exact=exact,
        test_shape=check_int("test_resolution", p["test_resolution"], low=2),
        n_collocation=p["n_collocation"],
        description=description,
    )


def peak_2d(preset: str = "paper", **params) -> Problem:
    """`-Δu = s` on `[-1, 1]²` with `u = exp(-a|x - (½, ½)|²)`, `a = 1000`, Dirichlet data from `u` (the
    "peak" problem of DAS, its `probsetup=3`, and of AAS §5): the solution is a bump of width ~0.03 that
    uniform points rarely hit.

    `s = -Δu = 4a(1 - a|x - (½, ½)|²) u`, as the DAS code writes it.

    **Arguments:**

    - `preset`: `"paper"` (DAS: 1,000 residual points, 1,000 boundary points (250 per face), its 256² test
        grid) or `"quick"` (500 / 64 per face / 128²).
    - `a`: the peak's sharpness.
    - `n_collocation`, `n_boundary` (per face), `test_resolution`.
    """
    p = _square_params(preset, params)
    a = p["a"]
    centre = jnp.array([0.5, 0.5])

    def exact(z):
        return _peak(z, centre.astype(z.dtype), a)

    def source(z):
        r2 = jnp.sum((z - centre.astype(z.dtype)) ** 2)
        return 4 * a * (1 - a * r2) * exact(z)

    return _square_problem(
        "peak_2d", Poisson(source=source), exact, p, f"-Δu = s, u = exp(-{a:g}‖x - (½,½)‖²) on [-1,1]²"
    )


def two_peak_2d(preset: str = "paper", **params) -> Problem:
    """`Δu - ∇·(u∇v) = s` with `v = |x|²` on `[-1, 1]²`, `u = exp(-a|x - (½, ½)|²) + exp(-a|x + (½, ½)|²)`,
    `a = 1000`, Dirichlet data from `u` (the two-peak problem of DAS, its `probsetup=7`, and of AAS §5): two
    bumps, a drift `∇v = 2x` ([`DriftDiffusion`][scimlx.core.DriftDiffusion]).

    `s = Δu - 4u - 2x·∇u` in closed form.

    **Arguments:**

    - `preset`: `"paper"` (DAS: 1,000 residual points, 250 boundary points per face, a 256² test grid) or
        `"quick"` (500 / 64 per face / 128²).
    - `a`, `n_collocation`, `n_boundary` (per face), `test_resolution`.
    """
    p = _square_params(preset, params)
    a = p["a"]
    c1 = jnp.array([0.5, 0.5])

    def exact(z):
        c = c1.astype(z.dtype)
        return _peak(z, c, a) + _peak(z, -c, a)

    def source(z):
        c = c1.astype(z.dtype)
        total = 0.0
        for centre in (c, -c):  # each bump: Δg = (4a²|x-c|² - 4a) g, ∇g = -2a(x - c) g
            g, dz = _peak(z, centre, a), z - centre
            total = total + (4 * a**2 * jnp.sum(dz**2) - 4 * a) * g - 4 * g + 4 * a * jnp.sum(z * dz) * g
        return total

    equation = DriftDiffusion(drift=lambda z: 2 * z, diffusivity=1.0, source=source)
    description = f"Δu - ∇·(u∇‖x‖²) = s, two peaks exp(-{a:g}‖x ∓ (½,½)‖²) on [-1,1]²"
    return _square_problem("two_peak_2d", equation, exact, p, description)


def exponential_nd(preset: str = "paper", **params) -> Problem:
    """`-Δu = s` on `[-1, 1]^d` with `u = exp(-a|x|²)`, `a = 10`, `d = 10`, Dirichlet data from `u` (the
    high-dimensional problem of DAS, its `probsetup=6`): `s = (2ad - 4a²|x|²) u`.

    The test set is `n_test` points drawn once (seed 0), half uniform in the cube and half from `N(0, I/(2a))`
    clipped to it: a grid is out of reach in 10-D, and uniform points alone miss the solution (at a uniform
    point of the 10-cube `u` is about `e^{-33}`). The DAS code's own 10-D validation file is not public.

    **Arguments:**

    - `preset`: `"paper"` (DAS: 1,000 residual points, 1,000 boundary points (50 per face), 100,000 test
        points) or `"quick"` (500 / 16 per face / 20,000).
    - `d`: the dimension.
    - `a`, `n_collocation`, `n_boundary` (per face), `n_test`.
    """
    p = preset_params(
        preset,
        dict(d=10, a=10.0, n_collocation=1_000, n_boundary=50, n_test=100_000),
        dict(d=10, a=10.0, n_collocation=500, n_boundary=16, n_test=20_000),
        params,
    )
    d = check_int("d", p["d"])
    a = check_number("a", p["a"], low=0)
    check_squarable("a", a, 4.0)
    n_test = check_int("n_test", p["n_test"], low=2)

    def exact(z):
        return jnp.exp(-a * jnp.sum(z**2))

    def source(z):
        return (2 * a * d - 4 * a**2 * jnp.sum(z**2)) * exact(z)

    dtype_name = jnp.dtype(jnp.result_type(float)).name

    def reference():
        return _exponential_test_set(d, a, n_test, dtype_name)

    return Problem(
        "exponential_nd",
        Poisson(source=source),
        Box((-1.0,) * d, (1.0,) * d),
        (Dirichlet(exact, n=check_int("n_boundary", p["n_boundary"])),),
        exact=exact,
        reference=reference,
        n_collocation=p["n_collocation"],
        description=f"-Δu = s, u = exp(-{a:g}‖x‖²) on [-1,1]^{d}",
    )


