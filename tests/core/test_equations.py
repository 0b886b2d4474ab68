"""Every catalogue equation: the residual of an exact or manufactured solution vanishes at points (float64
round-off) and on grids at the scheme's order (a refinement study)."""

import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import (
    EQUATIONS,
    Advection,
    AllenCahn,
    Box,
    Burgers,
    Darcy,
    DriftDiffusion,
    FokkerPlanck,
    Grid,
    GridField,
    Heat,
    Helmholtz,
    KleinGordon,
    KuramotoSivashinsky,
    NavierStokes2DVorticity,
    NonlinearDiffusion,
    PointField,
    Poisson,
    get_equation,
)
from tests.tiers import tiered

PI = math.pi


# ------------------------------------------------------------------------------------------------
# Exact and manufactured solutions. Each case: (equation, u(z), box, periodic, time, components)


def _poisson():
    u = lambda z: jnp.sin(PI * z[0]) * jnp.sin(PI * z[1])
    return Poisson(source=lambda z: 2 * PI**2 * u(z)), u, Box((0, 0), (1, 1)), False, False


def _helmholtz():
    k, a1, a2 = 1.0, 4.0, 1.0
    u = lambda z: jnp.sin(a1 * PI * z[1]) * jnp.sin(a2 * PI * z[0])
    f = lambda z: (k**2 - (a1**2 + a2**2) * PI**2) * u(z)
    return Helmholtz(k=k, source=f), u, Box((-1, -1), (1, 1)), False, False


def _heat():
    kappa = 0.5
    u = lambda z: jnp.exp(-kappa * PI**2 * z[1]) * jnp.sin(PI * z[0])
    return Heat(diffusivity=kappa), u, Box((0, 0), (1, 0.5)), False, True


def _advection():
    c = (1.0, -0.5)
    u = lambda z: jnp.sin(2 * PI * (z[0] - c[0] * z[2])) * jnp.cos(2 * PI * (z[1] - c[1] * z[2]))
    return Advection(velocity=c), u, Box((0, 0, 0), (1, 1, 0.25)), (True, True, False), True


def _advection_variable():
    # rigid rotation c = (-y, x) transports u0(x, y) = exp(-4((x - 0.3)^2 + y^2)) along circles
    def u(z):
        x, y, t = z
        xr, yr = x * jnp.cos(t) + y * jnp.sin(t), y * jnp.cos(t) - x * jnp.sin(t)
        return jnp.exp(-4 * ((xr - 0.3) ** 2 + yr**2))

    eq = Advection(velocity=lambda z: jnp.stack([-z[1], z[0]]))
    return eq, u, Box((-1, -1, 0), (1, 1, 0.5)), False, True


def _burgers_1d():
    nu, k = 0.1, 1.0

    def u(z):
        e = jnp.exp(-nu * k**2 * z[1])
        return 2 * nu * k * e * jnp.sin(k * z[0]) / (2 + e * jnp.cos(k * z[0]))

    return Burgers(viscosity=nu), u, Box((0, 0), (2 * PI, 1)), (True, False), True


def _burgers_2d():
    nu = 0.1

    def u(z):
        e = jnp.exp(-2 * nu * z[2])
        phi = 2 + e * jnp.cos(z[0]) * jnp.cos(z[1])
        grad_phi = jnp.stack([-e * jnp.sin(z[0]) * jnp.cos(z[1]), -e * jnp.cos(z[0]) * jnp.sin(z[1])])
        return -2 * nu * grad_phi / phi

    return Burgers(viscosity=nu), u, Box((0, 0, 0), (2 * PI, 2 * PI, 1)), (True, True, False), True


def _allen_cahn_kink():
    d, a = 0.1, 1.0
    u = lambda z: jnp.tanh(z[0] * math.sqrt(a / (2 * d)))
    return AllenCahn(diffusivity=d, reaction=a), u, Box((-1, 0), (1, 1)), False, True


def _allen_cahn_manufactured():
    d, a = 1e-2, 5.0
    u = lambda z: jnp.exp(-z[1]) * jnp.sin(PI * z[0])
    f = lambda z: -u(z) + d * PI**2 * u(z) + a * (u(z) ** 3 - u(z))
    return AllenCahn(diffusivity=d, reaction=a, source=f), u, Box((-1, 0), (1, 1)), False, True


def _klein_gordon():
    k = 2.0
    u = lambda z: (z[0] + z[1]) * jnp.cos(k * z[2]) + z[0] * z[1] * jnp.sin(k * z[2])
    f = lambda z: -(k**2) * u(z) + u(z) ** 2
    return KleinGordon(source=f), u, Box((-1, -1, 0), (1, 1, 1)), False, True


def _nonlinear_diffusion():
    alpha = 0.05

    def u(z):
        return 1 + 0.5 * jnp.exp(-z[2]) * jnp.sin(PI * z[0]) * jnp.sin(PI * z[1])

    def f(z):  # u_t - alpha (|grad u|^2 + u lap u), by hand
        x, y, t = z
        e, s = jnp.exp(-t), jnp.sin(PI * x) * jnp.sin(PI * y)
        ut = -0.5 * e * s
        g2 = 0.25 * e**2 * PI**2 * ((jnp.cos(PI * x) * jnp.sin(PI * y)) ** 2
                                     + (jnp.sin(PI * x) * jnp.cos(PI * y)) ** 2)
        lap = -(PI**2) * e * s
        return ut - alpha * (g2 + u(z) * lap)

    return NonlinearDiffusion(alpha=alpha, source=f), u, Box((0, 0, 0), (1, 1, 1)), False, True


def _darcy():
    a = lambda z: 1 + z[0] + 2 * z[1]
    u = lambda z: jnp.sin(PI * z[0]) * jnp.sin(PI * z[1])

    def f(z):
        ux = PI * jnp.cos(PI * z[0]) * jnp.sin(PI * z[1])
        uy = PI * jnp.sin(PI * z[0]) * jnp.cos(PI * z[1])
        return 2 * PI**2 * a(z) * u(z) - ux - 2 * uy

    return Darcy(coefficient=a, source=f), u, Box((0, 0), (1, 1)), False, False


def _ks():
    c, k = 0.7, 0.5 * math.sqrt(11 / 19)

    def u(z):  # travelling-wave solution of u_t + u u_x + u_xx + u_xxxx = 0
        th = jnp.tanh(k * (z[0] - c * z[1]))
        return c + 15 / 19 * math.sqrt(11 / 19) * (-9 * th + 11 * th**3)

    return KuramotoSivashinsky(), u, Box((-10, 0), (10, 1)), False, True


def _taylor_green_pair():
    nu, k = 0.01, 2 * PI

    def wpsi(z):
        s = jnp.sin(k * z[0]) * jnp.sin(k * z[1]) * jnp.exp(-2 * nu * k**2 * z[2])
        return jnp.stack([2 * k * s, s / k])

    return NavierStokes2DVorticity(viscosity=nu), wpsi, Box((0, 0, 0), (1, 1, 1)), (True, True, False), True


def _ns_manufactured_pair():
    # steady psi = sin(ax)sin(ay) + cos(bx): the advection term does not vanish
    nu, a, b = 0.01, 2 * PI, 4 * PI

    def wpsi(z):
        A, B = jnp.sin(a * z[0]) * jnp.sin(a * z[1]), jnp.cos(b * z[0])
        return jnp.stack([2 * a**2 * A + b**2 * B, A + B])

    def f(z):
        A, B = jnp.sin(a * z[0]) * jnp.sin(a * z[1]), jnp.cos(b * z[0])
        jac = a * b * (2 * a**2 - b**2) * jnp.sin(a * z[0]) * jnp.cos(a * z[1]) * jnp.sin(b * z[0])
        return jac + nu * (4 * a**4 * A + b**4 * B)

    eq = NavierStokes2DVorticity(viscosity=nu, forcing=f)
    return eq, wpsi, Box((0, 0, 0), (1, 1, 1)), (True, True, False), True


def _ou_gaussian(beta=2.0, m=(0.5, -1.0), s0=0.7, callable_sigma=False):
    # dx = -(beta/2) x dt + sqrt(beta) dW from N(m, s0^2 I): Gaussian marginals
    m = jnp.asarray(m)

    def u(z):
        x, t = z[:-1], z[-1]
        var = 1 + (s0**2 - 1) * jnp.exp(-beta * t)
        mean = m * jnp.exp(-beta * t / 2)
        return -jnp.sum((x - mean) ** 2) / (2 * var) - x.shape[0] / 2 * jnp.log(2 * PI * var)

    sigma = (lambda t: jnp.sqrt(beta) + 0 * t) if callable_sigma else math.sqrt(beta)
    eq = FokkerPlanck(drift=lambda z: -beta / 2 * z[:-1], sigma=sigma)
    return eq, u, Box((-1, -1, 0), (1, 1, 0.5)), False, True


def _drift_diffusion():
    # manufactured: u = sin(πx)sin(πy), b = 2x (the two-peak benchmark's drift), D = 0.5
    u = lambda z: jnp.sin(PI * z[0]) * jnp.sin(PI * z[1])

    def f(z):
        c, s = jnp.cos(PI * z), jnp.sin(PI * z)
        grad = PI * jnp.stack([c[0] * s[1], s[0] * c[1]])
        return 0.5 * (-2 * PI**2 * u(z)) - 4 * u(z) - jnp.sum(2 * z * grad)

    return DriftDiffusion(diffusivity=0.5, source=f), u, Box((-1, -1), (1, 1)), False, False


def _ou_unit():
    # the ODE-SDE gap setting: dx = -x dt + dW, N(x0 e^-t, (1 - e^-2t)/2 + s0^2 e^-2t)
    def u(z):
        x, t = z[:-1], z[-1]
        var = 0.5 * (1 - jnp.exp(-2 * t)) + 0.4 * jnp.exp(-2 * t)
        return -jnp.sum((x - 0.4 * jnp.exp(-t)) ** 2) / (2 * var) - jnp.log(2 * PI * var)

    return FokkerPlanck(), u, Box((-1, -1, 0), (1, 1, 0.5)), False, True


CASES = {
    "poisson": _poisson,
    "helmholtz": _helmholtz,
    "heat": _heat,
    "advection": _advection,
    "advection_variable": _advection_variable,
    "burgers_1d": _burgers_1d,
    "burgers_2d": _burgers_2d,
    "allen_cahn_kink": _allen_cahn_kink,
    "allen_cahn_manufactured": _allen_cahn_manufactured,
    "klein_gordon": _klein_gordon,
    "nonlinear_diffusion": _nonlinear_diffusion,
    "darcy": _darcy,
    "drift_diffusion": _drift_diffusion,
    "kuramoto_sivashinsky": _ks,
    "ns_taylor_green_pair": _taylor_green_pair,
    "ns_manufactured_pair": _ns_manufactured_pair,
    "fokker_planck": _ou_gaussian,
    "fokker_planck_callable_sigma": lambda: _ou_gaussian(callable_sigma=True),
    "fokker_planck_ode_sde_gap": _ou_unit,
}


def test_every_catalogue_equation_has_a_case():
    covered = {type(make()[0]).name for make in CASES.values()}
    assert covered == set(EQUATIONS)


def _random_points(box, n, key):
    lo, hi = np.asarray(box.lo), np.asarray(box.hi)
    return lo + (hi - lo) * jax.random.uniform(key, (n, box.ndim))


@pytest.mark.parametrize("case", sorted(CASES))
def test_point_residual_of_exact_solution_vanishes(case, x64):
    eq, u, box, _, time = CASES[case]()
    x = _random_points(box, 16, jax.random.key(1))
    res = jax.jit(jax.vmap(lambda xi: eq.residual(PointField(u, xi, time=time))))(x)
    assert res.dtype == jnp.float64
    # round-off relative to the size of the (at most quadratic) terms; float32 would miss by ~1e8
    scale = 1 + float(jnp.max(jnp.abs(jax.vmap(u)(x))))
    assert float(jnp.max(jnp.abs(res))) < 1e-12 * scale**2


def _grid_error(case, n, fd_order):
    eq, u, box, periodic, time = CASES[case]()
    shape = (n,) * box.ndim
    grid = Grid(shape, box, periodic=periodic)
    field = GridField(grid.evaluate(u), grid, time=time, fd_order=fd_order)
    return float(jnp.max(jnp.abs(eq.residual(field))))


# (case, fd_order, coarse n) -> expected observed order on bounded axes
ORDER_CASES = [
    ("poisson", 2, 16),
    ("poisson", 4, 16),
    ("helmholtz", 2, 32),
    ("heat", 2, 16),
    ("heat", 4, 16),
    ("advection", 2, 16),
    ("advection_variable", 2, 24),
    ("burgers_1d", 2, 16),
    ("burgers_2d", 2, 12),
    ("allen_cahn_kink", 2, 24),
    ("allen_cahn_manufactured", 4, 16),
    ("klein_gordon", 2, 12),
    ("nonlinear_diffusion", 2, 12),
    ("darcy", 2, 16),
    ("darcy", 4, 16),
    ("drift_diffusion", 2, 16),
    ("kuramoto_sivashinsky", 2, 32),
    ("kuramoto_sivashinsky", 4, 32),
    ("ns_taylor_green_pair", 2, 16),
    ("fokker_planck", 2, 12),
    ("fokker_planck_ode_sde_gap", 4, 12),
]


# the default tier keeps one case per scheme family; `pytest -m slow` runs them all
ORDER_DEFAULT = [
    c
    for c in ORDER_CASES
    if c[0] in ("poisson", "helmholtz", "heat", "advection", "burgers_1d", "allen_cahn_manufactured", "darcy",
                "kuramoto_sivashinsky")
]


@pytest.mark.parametrize("case,fd_order,n", tiered(ORDER_CASES, ORDER_DEFAULT, unpack=True))
def test_grid_residual_converges_at_scheme_order(case, fd_order, n, x64):
    e1, e2 = _grid_error(case, n, fd_order), _grid_error(case, 2 * n, fd_order)
    observed = math.log2(e1 / e2)
    assert e2 < e1
    assert observed > fd_order - 0.3, (e1, e2, observed)


def test_spectral_residuals_are_exact_on_periodic_grids(x64):
    # steady manufactured Navier-Stokes, vorticity only: psi from the FFT Poisson solve, spectral in space
    eq, wpsi, box, periodic, _ = _ns_manufactured_pair()
    grid = Grid((32, 32, 5), box, periodic=periodic)
    w = grid.evaluate(wpsi)[0]
    res = eq.residual(GridField(w, grid, time=True))
    assert float(jnp.max(jnp.abs(res))) < 1e-9 * float(jnp.max(jnp.abs(w)))
    # Poisson on a periodic box with a trigonometric solution
    g = Grid((24, 20), Box((0, 0), (2 * PI, 2 * PI)), periodic=True)
    u = lambda z: jnp.sin(z[0]) * jnp.cos(2 * z[1])
    res = Poisson(source=lambda z: 5 * u(z)).residual(GridField(g.evaluate(u), g))
    assert float(jnp.max(jnp.abs(res))) < 1e-12


def test_darcy_flux_is_conservative_and_symmetric_for_rough_coefficients(x64):
    # a thresholded random coefficient (contrast 12 : 3, as in the Darcy benchmark) on a bounded grid
    n = 24
    grid = Grid((n, n))
    keys = jax.random.split(jax.random.key(0), 3)
    a = jnp.where(jax.random.normal(keys[0], (n, n)) > 0, 12.0, 3.0)
    u, v = (jax.random.normal(k, (n, n)) for k in keys[1:])
    u, v = (w.at[0].set(0).at[-1].set(0).at[:, 0].set(0).at[:, -1].set(0) for w in (u, v))
    op = lambda w: Darcy(coefficient=a, source=0.0).residual(GridField(w, grid))  # -div(a grad w)
    inner = (slice(1, -1), slice(1, -1))
    # symmetric on functions vanishing at the walls, and positive (energy = sum of a_face (dw)^2 h^-2)
    np.testing.assert_allclose(jnp.sum(v[inner] * op(u)[inner]), jnp.sum(u[inner] * op(v)[inner]),
                               rtol=1e-12)
    assert float(jnp.sum(u[inner] * op(u)[inner])) > 0
    # discrete conservation along a grid line: the interior sum telescopes to the two wall fluxes
    h = grid.spacing[0]
    x_part = Darcy(coefficient=a, source=0.0).residual(GridField(u * 0 + u[:, 5:6], grid))  # u(x) only
    af = 0.5 * (a[1:, 5] + a[:-1, 5])
    flux = af * (u[1:, 5] - u[:-1, 5]) / h
    np.testing.assert_allclose(jnp.sum(x_part[1:-1, 5]) * h, -(flux[-1] - flux[0]), rtol=1e-12, atol=1e-9)


@pytest.mark.slow
def test_fokker_planck_hutchinson_is_unbiased(x64):
    eq, u, box, _, _ = _ou_gaussian()
    eq_h = FokkerPlanck(drift=eq.drift, sigma=eq.sigma, n_probes=4)
    x = jnp.array([0.3, -0.2, 0.1])
    exact = eq.residual(PointField(u, x, time=True))
    keys = jax.random.split(jax.random.key(0), 4000)
    est = jax.vmap(lambda k: eq_h.residual(PointField(u, x, time=True), key=k))(keys)
    se = float(jnp.std(est)) / math.sqrt(len(keys))
    assert abs(float(jnp.mean(est)) - float(exact)) < 3 * se + 1e-12


# ------------------------------------------------------------------------------------------------
# jit, vmap and grad go through every residual


POINT_DEFAULT = ["heat", "helmholtz", "poisson", "nonlinear_diffusion", "burgers_1d", "ns_taylor_green_pair"]


@pytest.mark.parametrize("case", tiered(sorted(CASES), POINT_DEFAULT))
def test_jit_vmap_grad_through_point_residuals(case):
    eq, u, box, _, time = CASES[case]()
    x = _random_points(box, 8, jax.random.key(2)).astype(jnp.float32)

    def loss(scale):
        us = lambda z: scale * u(z)
        res = jax.vmap(lambda xi: eq.residual(PointField(us, xi, time=time)))(x)
        return jnp.mean(res**2)

    g = jax.jit(jax.grad(loss))(jnp.float32(1.1))
    fd = (loss(jnp.float32(1.1 + 1e-2)) - loss(jnp.float32(1.1 - 1e-2))) / 2e-2
    assert np.isfinite(float(g))
    assert abs(float(g) - float(fd)) <= 2e-2 * (abs(float(fd)) + 1e-3)


GRID_CASES = ["poisson", "helmholtz", "heat", "advection", "burgers_1d", "burgers_2d",
              "allen_cahn_manufactured", "klein_gordon", "nonlinear_diffusion", "darcy",
              "kuramoto_sivashinsky", "ns_manufactured_pair", "ns_vorticity_only", "fokker_planck"]


@pytest.mark.parametrize("case", tiered(GRID_CASES, ["poisson", "helmholtz", "heat", "burgers_1d"]))
def test_jit_vmap_grad_through_grid_residuals(case):
    vorticity_only = case == "ns_vorticity_only"
    eq, u, box, periodic, time = CASES["ns_manufactured_pair" if vorticity_only else case]()
    grid = Grid((12,) * box.ndim, box, periodic=periodic)
    u0 = grid.evaluate(u).astype(jnp.float32)
    if vorticity_only:
        u0 = u0[0]
    other = u0 + 0.1 * jax.random.normal(jax.random.key(3), u0.shape)
    batch = jnp.stack([u0, other])
    res_fn = jax.jit(jax.vmap(lambda v: eq.residual(GridField(v, grid, time=time))))
    res = res_fn(batch)
    assert res.shape[0] == 2
    # a perturbed solution is not a solution: its residual is large and must match the unbatched one
    single = eq.residual(GridField(other, grid, time=time))
    atol = 1e-4 * float(jnp.max(jnp.abs(single)))  # float32 cancellation between large terms
    np.testing.assert_allclose(res[1], single, rtol=1e-3, atol=atol)
    g = jax.grad(lambda v: jnp.mean(eq.residual(GridField(v, grid, time=time)) ** 2))(u0)
    assert g.shape == u0.shape and bool(jnp.all(jnp.isfinite(g))) and float(jnp.max(jnp.abs(g))) > 0


# ------------------------------------------------------------------------------------------------
# bad input


def test_nonphysical_parameters_are_rejected():
    with pytest.raises(ValueError, match="viscosity"):
        Burgers(viscosity=-0.1)
    with pytest.raises(ValueError, match="diffusivity"):
        Heat(diffusivity=-1.0)
    with pytest.raises(ValueError, match="coefficient"):
        Darcy(coefficient=-1.0)
    with pytest.raises(ValueError, match="coefficient"):
        Darcy(coefficient=np.array([1.0, 0.0, 2.0]))
    with pytest.raises(ValueError, match="viscosity"):
        NavierStokes2DVorticity(viscosity=float("nan"))
    with pytest.raises(ValueError, match="hyperdiffusion"):
        KuramotoSivashinsky(hyperdiffusion=-1.0)
    with pytest.raises(ValueError, match="wave_speed"):
        KleinGordon(wave_speed=0.0)
    with pytest.raises(ValueError, match="power"):
        KleinGordon(power=0)
    with pytest.raises(ValueError, match="sigma"):
        FokkerPlanck(sigma=-1.0)
    with pytest.raises(TypeError, match="drift"):
        FokkerPlanck(drift=3.0)
    with pytest.raises(ValueError, match="form"):
        Burgers(form="weak")


def test_parameters_of_the_wrong_type_are_rejected():
    with pytest.raises(TypeError, match="diffusivity"):
        Heat(diffusivity="0.5")
    with pytest.raises(TypeError, match="k"):
        Helmholtz(k="1")
    with pytest.raises(TypeError, match="viscosity"):
        Burgers(viscosity=True)
    with pytest.raises(TypeError, match="source"):
        Poisson(source="abc")
    Heat(diffusivity=jnp.float32(0.5))  # arrays and numpy scalars are numbers


def test_terms_of_the_wrong_shape_are_rejected():
    grid = Grid((8, 8))
    with pytest.raises(ValueError, match="`source` has shape"):
        Poisson(source=jnp.ones((7, 7))).residual(GridField(jnp.ones((8, 8)), grid))
    with pytest.raises(ValueError, match="`c` has shape"):
        Darcy(coefficient=jnp.ones((3, 8))).residual(GridField(jnp.ones((8, 8)), grid))
    with pytest.raises(ValueError, match="`velocity` must have 2 components"):
        field = PointField(lambda z: z[0], jnp.zeros(3), time=True)
        Advection(velocity=lambda z: jnp.ones(3)).residual(field)
    # a velocity array on a space-time grid is a field, one component per spatial dimension
    st = Grid((16, 8))
    res = Advection(velocity=2.0 * jnp.ones((1, 16, 8))).residual(GridField(st.coords()[0], st, time=True))
    np.testing.assert_allclose(res, 2.0, rtol=1e-6)


def test_unknown_equation_name():
    with pytest.raises(ValueError, match="unknown equation `name` 'navier'"):
        get_equation("navier")
    assert isinstance(get_equation("burgers", viscosity=0.2), Burgers)


def test_residual_rejects_mismatched_fields():
    u = lambda z: jnp.sum(z)
    with pytest.raises(ValueError, match="time=True"):
        Heat().residual(PointField(u, jnp.zeros(2)))
    with pytest.raises(ValueError, match="steady"):
        Poisson().residual(PointField(u, jnp.zeros(2), time=True))
    with pytest.raises(ValueError, match="spatial dimension"):
        KuramotoSivashinsky().residual(PointField(u, jnp.zeros(3), time=True))
    with pytest.raises(ValueError, match="velocity"):
        Advection(velocity=(1.0, 2.0)).residual(PointField(u, jnp.zeros(2), time=True))
    with pytest.raises(ValueError, match="periodic GridField"):
        NavierStokes2DVorticity().residual(PointField(u, jnp.zeros(3), time=True))
    with pytest.raises(TypeError, match="field"):
        Poisson().residual(jnp.zeros((4, 4)))
    with pytest.raises(ValueError, match="scalar"):
        Poisson().residual(PointField(lambda z: z, jnp.zeros(2)))
