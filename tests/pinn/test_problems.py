"""The benchmark problems: exact solutions satisfy residuals and conditions; references are converged."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import AllenCahn, Box, Grid, GridField, Heat, KleinGordon, NonlinearDiffusion
from scimlx.pinn import (
    Dirichlet,
    InitialValue,
    InitialVelocity,
    Neumann,
    Periodic,
    Problem,
    allen_cahn_reference,
    get_problem,
    nonlinear_diffusion_initial,
    nonlinear_diffusion_reference,
    problem_names,
)
from tests.tiers import tiered

EXACT = ["helmholtz_2d", "klein_gordon_2p1d", "flow_mixing_2p1d"]


def _max_residuals(problem, fn, key):
    batch = problem.sample(512, key=key)
    res = jax.vmap(lambda z: problem.residual(fn, z))(batch["residual"])
    conds = [
        jax.vmap(lambda row, c=c: c.residual(fn, row, problem.time))(rows)
        for c, rows in zip(problem.conditions, batch["conditions"])
    ]
    return float(jnp.max(jnp.abs(res))), [float(jnp.max(jnp.abs(c))) for c in conds]


@pytest.mark.parametrize("name", tiered(EXACT, ["klein_gordon_2p1d"]))
def test_exact_solution_makes_residual_and_conditions_vanish(name, x64):
    problem = get_problem(name, preset="quick")
    res, conds = _max_residuals(problem, problem.exact, jax.random.key(0))
    assert res < 1e-9, res
    assert max(conds) < 1e-12, conds
    # and a wrong solution does not: the check can fail
    res_bad, _ = _max_residuals(problem, lambda z: problem.exact(z) + 0.01 * z[0] * z[-1], jax.random.key(0))
    assert res_bad > 1e-3


def test_klein_gordon_initial_velocity_option(x64):
    problem = get_problem("klein_gordon_2p1d", preset="quick", initial_velocity=True)
    assert isinstance(problem.conditions[-1], InitialVelocity)
    _, conds = _max_residuals(problem, problem.exact, jax.random.key(1))
    assert max(conds) < 1e-12


@pytest.mark.slow
def test_flow_mixing_is_smooth_at_the_vortex_centre(x64):
    problem = get_problem("flow_mixing_2p1d", preset="quick")
    for z in (jnp.array([0.0, 0.0, 1.0]), jnp.array([1e-5, -2e-5, 3.0])):
        r = problem.residual(problem.exact, z)
        assert np.isfinite(float(r)) and abs(float(r)) < 1e-9


@pytest.mark.slow
def test_heat_with_neumann_periodic_and_initial_conditions(x64):
    # u = exp(-pi^2 k t) cos(pi x) cos(2 pi y) on [0,1]x[0,1]: Neumann-zero in x, periodic in y
    kappa = 0.1

    def u(z):
        return jnp.exp(-5 * math.pi**2 * kappa * z[2]) * jnp.cos(math.pi * z[0]) * jnp.cos(2 * math.pi * z[1])

    problem = Problem(
        "heat", Heat(diffusivity=kappa), Box((0, 0, 0), (1, 1, 1)),
        [Neumann(0.0, axes=(0,), n=64), Periodic(axis=1, n=64), InitialValue(u, n=64)],
        exact=u, test_shape=8,
    )  # fmt: skip
    res, conds = _max_residuals(problem, u, jax.random.key(2))
    assert res < 1e-10 and max(conds) < 1e-12
    _, conds_bad = _max_residuals(problem, lambda z: u(z) + 0.01 * z[0] ** 2 + 0.01 * z[1], jax.random.key(2))
    assert min(conds_bad[:2]) > 1e-3  # the Neumann and periodic checks see the perturbation
    assert float(problem.error(u)) < 1e-14


def test_condition_point_counts_follow_the_reference():
    problem = get_problem("klein_gordon_2p1d")
    counts = problem.points_per_sample()
    assert counts == {"residual": 4096, "0:initialvalue": 256, "1:dirichlet": 4 * 256}
    batch = problem.sample(key=jax.random.key(0))
    x = batch["conditions"][1]["x"]
    assert x.shape == (1024, 3)
    assert batch["residual"].shape == (4096, 3)
    assert problem.sample(100, key=jax.random.key(0))["residual"].shape == (100, 3)
    with pytest.raises(TypeError, match="keyword-only argument: 'key'"):  # the key is keyword-only
        problem.sample(jax.random.key(0))
    with pytest.raises(TypeError, match="`key`"):
        problem.sample(100, key=0)
    on_wall = jnp.isclose(jnp.abs(x[:, :2]), 1.0).any(axis=1)
    assert bool(on_wall.all())
    assert bool(jnp.all(batch["conditions"][0]["x"][:, 2] == 0.0))
    assert get_problem("flow_mixing_2p1d").residual_weight == 10.0
    assert get_problem("helmholtz_2d").residual_weight == 1e-4


@pytest.mark.slow
def test_every_problem_builds_with_a_test_set():
    for name in problem_names():
        problem = get_problem(name, preset="quick")
        pts, vals = problem.test_data()
        assert pts.shape == (vals.shape[0], problem.ndim)
        assert bool(jnp.all(problem.box.contains(pts, atol=1e-6)))
        assert float(jnp.linalg.norm(vals)) > 0


def test_allen_cahn_reference_is_a_converged_solution(x64):
    x, t, u = allen_cahn_reference(128, 11, dt=1e-3)
    np.testing.assert_allclose(u[0], x**2 * np.cos(np.pi * x), atol=1e-14)
    _, _, u_fine = allen_cahn_reference(128, 11, dt=2.5e-4)
    assert float(jnp.max(jnp.abs(u - u_fine))) < 1e-7
    # the core's residual on the space-time grid (spectral in x, 4th-order differences in t) is small
    _, t2, u2 = allen_cahn_reference(128, 401, dt=2.5e-4)
    grid = Grid((128, 401), Box((-1.0, 0.0), (1.0, 1.0)), periodic=(True, False))
    res = AllenCahn().residual(GridField(u2.T, grid, time=True, fd_order=4))
    scale = float(jnp.max(jnp.abs(GridField(u2.T, grid, time=True).dt())))
    assert float(jnp.max(jnp.abs(res))) < 1e-3 * scale
    # the metastable interfaces have formed: u is near +-1 away from them at t = 1
    assert float(jnp.max(jnp.abs(u[-1]))) > 0.95


@pytest.mark.slow
def test_nonlinear_diffusion_reference_converges_at_second_order(x64):
    sols = {}
    for n in (17, 33, 65):
        x, t, u = nonlinear_diffusion_reference(n, 5, t_final=0.2)
        sols[n] = np.asarray(u[-1])
    e1 = np.max(np.abs(sols[17] - sols[33][::2, ::2]))  # differences of successive grids at common nodes
    e2 = np.max(np.abs(sols[33][::2, ::2] - sols[65][::4, ::4]))
    order = math.log2(e1 / e2)
    assert 1.7 < order < 2.4, (e1, e2, order)
    # initial condition with zero walls, walls stay zero, mass decreases (outflow at the walls)
    x, t, u = nonlinear_diffusion_reference(33, 5, t_final=0.2)
    grid = Grid((33, 33), Box((-1.0, -1.0), (1.0, 1.0)))
    u0 = grid.evaluate(nonlinear_diffusion_initial)
    np.testing.assert_allclose(u[0, 1:-1, 1:-1], u0[1:-1, 1:-1], atol=1e-15)
    assert float(jnp.max(jnp.abs(u[:, 0, :]))) == 0.0
    mass = jnp.sum(u, axis=(1, 2))
    assert bool(jnp.all(jnp.diff(mass) <= 1e-12))
    # the grid residual of the equation on the space-time array is small against u_t
    xs, ts, uu = nonlinear_diffusion_reference(33, 201, t_final=0.2)
    g3 = Grid((33, 33, 201), Box((-1.0, -1.0, 0.0), (1.0, 1.0, 0.2)))
    field = GridField(jnp.moveaxis(uu, 0, -1), g3, time=True)
    res = NonlinearDiffusion().residual(field)[2:-2, 2:-2, 2:-2]
    assert float(jnp.max(jnp.abs(res))) < 2e-3 * float(jnp.max(jnp.abs(field.dt())))


def test_bad_problem_input():
    with pytest.raises(ValueError, match="unknown problem"):
        get_problem("helmholtz")
    with pytest.raises(ValueError, match="preset"):
        get_problem("helmholtz_2d", preset="huge")
    with pytest.raises(TypeError, match="unknown parameter"):
        get_problem("helmholtz_2d", n_colocation=10)
    with pytest.raises(ValueError, match="spatial axis"):  # a time-dependent equation on a 1-D box
        Problem("kg", KleinGordon(), Box(0.0, 1.0), exact=lambda z: z[0], test_shape=4)
    with pytest.raises(ValueError, match="exact"):
        Problem("kg", KleinGordon(), Box((0, 0), (1, 1)))
    with pytest.raises(ValueError, match="axes"):
        Problem("h", Heat(), Box((0, 0), (1, 1)), [Dirichlet(0.0, axes=(1,))], exact=lambda z: z[0],
                test_shape=4).sample(key=jax.random.key(0))
    with pytest.raises(ValueError, match="causal_chunks"):
        problem = get_problem("allen_cahn_1d", preset="quick")
        problem.loss(lambda z: z[0], problem.sample(100, key=jax.random.key(0)), causal_tol=1.0)
