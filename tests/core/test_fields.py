import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import Box, Grid, GridField, PointField, fornberg_weights
from tests.tiers import tiered


def test_fornberg_reproduces_classical_stencils():
    np.testing.assert_allclose(fornberg_weights(0, [-1, 0, 1], 1), [-0.5, 0, 0.5], atol=1e-15)
    np.testing.assert_allclose(fornberg_weights(0, [-1, 0, 1], 2), [1, -2, 1], atol=1e-15)
    np.testing.assert_allclose(fornberg_weights(0, [-2, -1, 0, 1, 2], 2),
                               [-1 / 12, 4 / 3, -5 / 2, 4 / 3, -1 / 12], atol=1e-14)
    np.testing.assert_allclose(fornberg_weights(0, [0, 1, 2], 1), [-1.5, 2, -0.5], atol=1e-15)


# ------------------------------------------------------------------------------------------------
# spectral derivatives are exact for trigonometric polynomials


@pytest.mark.parametrize("n", [16, 17])
def test_spectral_derivatives_exact_on_trig_polynomials(n, x64):
    L = 3.0
    grid = Grid((n,), Box(0, L), periodic=True)
    x = grid.axes()[0]
    k1, k2 = 2 * math.pi / L, 2 * math.pi * 5 / L
    u = 1.5 + jnp.sin(k1 * x) + 0.3 * jnp.cos(k2 * x)
    f = GridField(u, grid)
    np.testing.assert_allclose(f.d(0), k1 * jnp.cos(k1 * x) - 0.3 * k2 * jnp.sin(k2 * x), atol=1e-12)
    np.testing.assert_allclose(f.d(0, 2), -(k1**2) * jnp.sin(k1 * x) - 0.3 * k2**2 * jnp.cos(k2 * x),
                               atol=1e-10)
    np.testing.assert_allclose(f.d(0, 4), k1**4 * jnp.sin(k1 * x) + 0.3 * k2**4 * jnp.cos(k2 * x),
                               atol=1e-8)


def test_spectral_2d_gradient_laplacian_mixed_and_poisson_solve(x64):
    grid = Grid((24, 20), Box((0, 0), (2 * math.pi, 4 * math.pi)), periodic=True)
    X, Y = grid.coords()
    u = jnp.sin(3 * X) * jnp.cos(1.5 * Y) + 0.2 * jnp.cos(X)
    f = GridField(u, grid)
    g = f.grad()
    assert g.shape == (2, 24, 20)
    np.testing.assert_allclose(g[0], 3 * jnp.cos(3 * X) * jnp.cos(1.5 * Y) - 0.2 * jnp.sin(X), atol=1e-12)
    np.testing.assert_allclose(g[1], -1.5 * jnp.sin(3 * X) * jnp.sin(1.5 * Y), atol=1e-12)
    lap = -(9 + 2.25) * jnp.sin(3 * X) * jnp.cos(1.5 * Y) - 0.2 * jnp.cos(X)
    np.testing.assert_allclose(f.laplacian(), lap, atol=1e-11)
    np.testing.assert_allclose(f.d((0, 1)), -4.5 * jnp.cos(3 * X) * jnp.sin(1.5 * Y), atol=1e-11)
    np.testing.assert_allclose(f.d((0, 1)), f.d((1, 0)), atol=1e-11)
    np.testing.assert_allclose(GridField(lap, grid).poisson_solve(), -u, atol=1e-11)


def test_vector_grid_field_div_and_jacobian_layout(x64):
    grid = Grid((16, 16), Box((0, 0), (2 * math.pi, 2 * math.pi)), periodic=True)
    X, Y = grid.coords()
    v = jnp.stack([jnp.sin(X) * jnp.cos(Y), jnp.cos(2 * Y)])
    f = GridField(v, grid)
    np.testing.assert_allclose(f.div(), jnp.cos(X) * jnp.cos(Y) - 2 * jnp.sin(2 * Y), atol=1e-12)
    jac = f.grad()
    assert jac.shape == (2, 2, 16, 16)  # (component, derivative, *grid)
    np.testing.assert_allclose(jac[1, 1], -2 * jnp.sin(2 * Y), atol=1e-12)
    np.testing.assert_allclose(jac[1, 0], 0.0, atol=1e-12)


# ------------------------------------------------------------------------------------------------
# finite differences on bounded axes


@pytest.mark.parametrize("p", [2, 4])
@pytest.mark.parametrize("m", [1, 2, 3, 4])
def test_finite_differences_converge_at_order_with_one_sided_walls(p, m, x64):
    def err(n):
        grid = Grid((n,), Box(0.0, 1.0))
        x = grid.axes()[0]
        u = jnp.exp(x) * jnp.sin(2 * x)
        exact = {1: jnp.exp(x) * (jnp.sin(2 * x) + 2 * jnp.cos(2 * x)),
                 2: jnp.exp(x) * (-3 * jnp.sin(2 * x) + 4 * jnp.cos(2 * x)),
                 3: jnp.exp(x) * (-11 * jnp.sin(2 * x) - 2 * jnp.cos(2 * x)),
                 4: jnp.exp(x) * (-7 * jnp.sin(2 * x) - 24 * jnp.cos(2 * x))}[m]
        return float(jnp.max(jnp.abs(GridField(u, grid, fd_order=p).d(0, m) - exact)))

    e1, e2 = err(40), err(80)
    assert math.log2(e1 / e2) > p - 0.25


def test_finite_differences_are_exact_on_polynomials_of_stencil_degree(x64):
    grid = Grid((9,), Box(-1.0, 2.0))
    x = grid.axes()[0]
    f = GridField(x**3 - 2 * x**2 + x, grid, fd_order=2)
    np.testing.assert_allclose(f.d(0, 2), 6 * x - 4, atol=1e-11)  # 4-point walls are exact on cubics
    f4 = GridField(x**4, grid, fd_order=4)  # 5-point stencils are exact on quartics
    np.testing.assert_allclose(f4.d(0, 1), 4 * x**3, atol=1e-10)


def test_space_time_grid_dt_and_mixed_boundedness(x64):
    grid = Grid((16, 12), Box((0, 0), (2 * math.pi, 1)), periodic=(True, False))
    X, T = grid.coords()
    u = jnp.sin(X) * T**2
    f = GridField(u, grid, time=True)
    assert f.ndim == 1
    np.testing.assert_allclose(f.dt(), 2 * jnp.sin(X) * T, atol=1e-11)  # quadratic: exact at order 2
    np.testing.assert_allclose(f.d(0), jnp.cos(X) * T**2, atol=1e-12)
    np.testing.assert_allclose(f.laplacian(), -u, atol=1e-12)


def test_div_flux_matches_expanded_form_for_smooth_coefficients(x64):
    def err(n, p):
        grid = Grid((n, n))
        X, Y = grid.coords()
        u, a = jnp.sin(2 * X) * jnp.cos(Y), 1 + X * Y
        exact = a * (-5 * u) + Y * 2 * jnp.cos(2 * X) * jnp.cos(Y) - X * jnp.sin(2 * X) * jnp.sin(Y)
        return float(jnp.max(jnp.abs(GridField(u, grid, fd_order=p).div_flux(a) - exact)))

    assert math.log2(err(16, 2) / err(32, 2)) > 1.75
    assert math.log2(err(16, 4) / err(32, 4)) > 3.75


# ------------------------------------------------------------------------------------------------
# PointField


def _mlp(d, key):
    import equinox as eqx

    return eqx.nn.MLP(d, "scalar", 16, 2, activation=jnp.tanh, key=key)


@pytest.mark.parametrize("d", tiered([1, 3, 6], []))
def test_point_laplacian_equals_trace_of_hessian(d, x64):
    model = _mlp(d, jax.random.key(d))
    model = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if isinstance(a, jax.Array) else a, model)
    xs = jax.random.normal(jax.random.key(0), (5, d), dtype=jnp.float64)
    for method in ("forward", "hvp", "hessian"):
        got = jax.vmap(lambda x: PointField(model, x).laplacian(method))(xs)
        ref = jax.vmap(lambda x: jnp.trace(jax.hessian(model)(x)))(xs)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_point_derivatives_against_closed_forms(x64):
    u = lambda z: jnp.sin(z[0]) * z[1] ** 3 * jnp.exp(z[2])  # (x, y, t)
    x = jnp.array([0.3, -0.7, 0.2])
    f = PointField(u, x, time=True)
    s, c, e, y = math.sin(0.3), math.cos(0.3), math.exp(0.2), -0.7
    assert f.ndim == 2
    np.testing.assert_allclose(f.value, s * y**3 * e)
    np.testing.assert_allclose(f.d(0), c * y**3 * e)
    np.testing.assert_allclose(f.d(1, 2), 6 * s * y * e)
    np.testing.assert_allclose(f.d((0, 1)), 3 * c * y**2 * e)
    np.testing.assert_allclose(f.d((0, 1, 1)), 6 * c * y * e)
    np.testing.assert_allclose(f.d(0, 4), s * y**3 * e)
    np.testing.assert_allclose(f.dt(), s * y**3 * e)
    np.testing.assert_allclose(f.grad(), [c * y**3 * e, 3 * s * y**2 * e])
    np.testing.assert_allclose(f.laplacian(), -s * y**3 * e + 6 * s * y * e)
    np.testing.assert_allclose(f.hessian()[0, 1], 3 * c * y**2 * e)


def test_point_vector_field_jacobian_and_div(x64):
    v = lambda z: jnp.stack([z[0] ** 2 * z[1], jnp.sin(z[1]) + z[0]])
    x = jnp.array([0.5, 1.2])
    f = PointField(v, x)
    np.testing.assert_allclose(f.grad(), [[2 * 0.5 * 1.2, 0.25], [1.0, math.cos(1.2)]])
    np.testing.assert_allclose(f.div(), 2 * 0.5 * 1.2 + math.cos(1.2))
    np.testing.assert_allclose(f.laplacian(), [2 * 1.2, -math.sin(1.2)])


def test_hutchinson_estimators_are_unbiased_within_three_standard_errors(x64):
    d = 8
    model = _mlp(d, jax.random.key(3))
    model = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64) if isinstance(a, jax.Array) else a, model)
    x = jax.random.normal(jax.random.key(4), (d,), dtype=jnp.float64)
    f = PointField(model, x)
    keys = jax.random.split(jax.random.key(5), 2000)
    lap = jax.jit(lambda: f.laplacian())()
    # jitted: eagerly, every operation of the vmapped estimator would compile on its own
    hutchinson = jax.jit(
        lambda ks, n: jax.vmap(lambda k: f.laplacian_hutchinson(n, key=k))(ks), static_argnums=1
    )
    est = hutchinson(keys, 1)
    se = float(jnp.std(est)) / math.sqrt(keys.shape[0])
    assert abs(float(jnp.mean(est)) - float(lap)) < 3 * se
    # the variance falls as 1 / n_probes
    est4 = hutchinson(keys, 4)
    assert 2.5 < float(jnp.var(est)) / float(jnp.var(est4)) < 6.0

    A = jax.random.normal(jax.random.key(6), (d, d), dtype=jnp.float64)
    vec = PointField(lambda z: jnp.tanh(A @ z), x)
    div = vec.div()
    np.testing.assert_allclose(div, jnp.trace(jax.jacfwd(lambda z: jnp.tanh(A @ z))(x)), rtol=1e-12)
    est = jax.jit(jax.vmap(lambda k: vec.div_hutchinson(2, key=k)))(keys)
    se = float(jnp.std(est)) / math.sqrt(keys.shape[0])
    assert abs(float(jnp.mean(est)) - float(div)) < 3 * se


def test_map_and_evaluate_give_derivatives_on_both_backends(x64):
    grid = Grid((32,), Box(0, 2 * math.pi), periodic=True)
    x = grid.axes()[0]
    gf = GridField(jnp.sin(x), grid)
    np.testing.assert_allclose(gf.map(lambda u: 0.5 * u**2).d(0), jnp.sin(x) * jnp.cos(x), atol=1e-12)
    np.testing.assert_allclose(gf.evaluate(lambda z: jnp.cos(z[0])).d(0), -jnp.sin(x), atol=1e-12)
    pf = PointField(lambda z: jnp.sin(z[0]), jnp.array([0.4]))
    np.testing.assert_allclose(pf.map(lambda u: 0.5 * u**2).d(0), math.sin(0.4) * math.cos(0.4))
    np.testing.assert_allclose(pf.evaluate(lambda z: jnp.cos(z[0])).d(0), -math.sin(0.4))


# ------------------------------------------------------------------------------------------------
# bad input


def test_bad_field_input_names_the_argument():
    grid = Grid((8, 8))
    with pytest.raises(ValueError, match="`u` has shape"):
        GridField(jnp.zeros((8, 7)), grid)
    with pytest.raises(TypeError, match="`u`"):
        GridField(jnp.zeros((8, 8), dtype=jnp.int32), grid)
    with pytest.raises(TypeError, match="`grid`"):
        GridField(jnp.zeros((8, 8)), (8, 8))
    with pytest.raises(ValueError, match="fd_order"):
        GridField(jnp.zeros((8, 8)), grid, fd_order=3)
    with pytest.raises(ValueError, match="needs at least 6"):
        GridField(jnp.zeros((5, 8)), Grid((5, 8)), fd_order=4).d(0, 2)
    with pytest.raises(ValueError, match="`axis`"):
        GridField(jnp.zeros((8, 8)), grid).d(2)
    with pytest.raises(ValueError, match="`order`"):
        GridField(jnp.zeros((8, 8)), grid).d(0, 0)
    with pytest.raises(ValueError, match="time=True"):
        GridField(jnp.zeros((8, 8)), grid).dt()
    with pytest.raises(ValueError, match="div needs a vector field"):
        GridField(jnp.zeros((3, 8, 8)), grid).div()
    with pytest.raises(ValueError, match="periodic"):
        GridField(jnp.zeros((8, 8)), grid).poisson_solve()
    with pytest.raises(ValueError, match="single point"):
        PointField(lambda z: z[0], jnp.zeros((4, 2)))
    with pytest.raises(TypeError, match="`fn`"):
        PointField(3.0, jnp.zeros(2))
    with pytest.raises(ValueError, match="method"):
        PointField(lambda z: z[0], jnp.zeros(2)).laplacian("exact")
    with pytest.raises(ValueError, match="n_probes"):
        PointField(lambda z: z[0], jnp.zeros(2)).laplacian_hutchinson(0, key=jax.random.key(0))
    with pytest.raises(TypeError, match="positional"):  # the key is keyword-only
        PointField(lambda z: z[0], jnp.zeros(2)).laplacian_hutchinson(2, jax.random.key(0))
    with pytest.raises(TypeError, match="`key`"):
        PointField(lambda z: z, jnp.zeros(2)).div_hutchinson(2, key=0)


def test_nyquist_mode_is_dropped_in_odd_and_kept_in_even_derivatives(x64):
    n = 16
    grid = Grid((n,), Box(0, 2 * math.pi), periodic=True)
    x = grid.axes()[0]
    u = jnp.cos(n / 2 * x) + jnp.sin(3 * x)  # the Nyquist mode has no resolvable derivative of odd order
    f = GridField(u, grid)
    np.testing.assert_allclose(f.d(0), 3 * jnp.cos(3 * x), atol=1e-12)
    np.testing.assert_allclose(f.d(0, 2), -((n / 2) ** 2) * jnp.cos(n / 2 * x) - 9 * jnp.sin(3 * x),
                               atol=1e-10)


@pytest.mark.slow
def test_hutchinson_divergence_of_a_tensor_field(x64):
    # rows of a (2, 2) tensor field: div over the last axis, per row; probes broadcast over the rows
    fn = lambda z: jnp.stack([jnp.stack([z[0] ** 2, z[1]]), jnp.stack([z[0], z[1] ** 3])])
    f = PointField(fn, jnp.array([0.3, 0.5]))
    np.testing.assert_allclose(f.div(), [0.6 + 1.0, 1.0 + 0.75])
    keys = jax.random.split(jax.random.key(0), 4000)
    for n_probes in (2, 3):
        est = jax.vmap(lambda k: f.div_hutchinson(n_probes, key=k))(keys)
        assert est.shape == (4000, 2)
        se = jnp.std(est, axis=0) / math.sqrt(4000)
        assert bool(jnp.all(jnp.abs(jnp.mean(est, axis=0) - f.div()) < 3 * se + 1e-12))


def test_finite_differences_keep_the_input_dtype(x64):
    grid = Grid((16, 16))
    u = jnp.ones((16, 16), dtype=jnp.float32)
    f = GridField(u, grid)
    assert f.d(0).dtype == f.laplacian().dtype == f.div_flux(2.0).dtype == jnp.float32


def test_coefficients_of_the_wrong_shape_are_rejected():
    grid = Grid((8, 8))
    f = GridField(jnp.ones((8, 8)), grid)
    with pytest.raises(ValueError, match="`c` has shape \\(7, 7\\)"):
        f.coefficient(jnp.ones((7, 7)))
    with pytest.raises(ValueError, match="`c` must be a scalar coefficient"):
        f.div_flux(jnp.ones((2, 8, 8)))
    assert f.coefficient(jnp.array([1.0, 2.0])).u.shape == (2, 8, 8)  # a constant vector
    with pytest.raises(ValueError, match="`c` has shape"):
        PointField(lambda z: z[0], jnp.zeros(2)).coefficient(jnp.ones((8, 8)))
