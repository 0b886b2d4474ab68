import jax
import jax.numpy as jnp
import numpy as np
import pytest

import scimlx.core
import scimlx.datasets
from scimlx.core.linalg import pcg
from scimlx.datasets._poisson_systems import (
    EMPTY,
    FLUID,
    RECIPE,
    SOLID,
    PoissonSystem,
    make_geometry,
    poisson_system,
    random_rhs,
)
from scimlx.datasets._recipe import generate
from tests.core.test_poisson import _matfree_dense, _reference_matrix
from tests.tiers import tiered


@pytest.fixture(scope="module")
def geometries():
    """Small random geometries with spheres, boxes, blobs and an air region (2-D and 3-D)."""
    key2, key3 = jax.random.split(jax.random.key(42))
    g2 = make_geometry(
        (12, 10), key=key2, n_spheres=2, sphere_radius=(0.1, 0.25), n_boxes=2, blob_fraction=0.1,
        empty_fraction=0.3, wave_amplitude=0.1,
    )  # fmt: skip
    g3 = make_geometry((6, 7, 5), key=key3, n_spheres=2, sphere_radius=(0.15, 0.3), n_boxes=1)
    return {"2d": (np.asarray(g2), ("+y",)), "3d": (np.asarray(g3), ("+y", "-x"))}


@pytest.mark.parametrize("case", tiered(["2d", "3d"], ["2d"]))
def test_operator_matches_assembly_symmetric_psd(x64, geometries, case):
    flags, open_faces = geometries[case]
    assert flags.dtype == np.int8 and set(np.unique(flags)) <= {FLUID, SOLID, EMPTY}
    assert (flags == SOLID).any() and (flags == FLUID).any()
    system = poisson_system(flags, open_faces)
    ref = _reference_matrix(flags, open_faces)
    dense = _matfree_dense(system)
    np.testing.assert_array_equal(dense, ref)
    np.testing.assert_array_equal(system.to_dense(), ref)
    fluid = (flags == FLUID).ravel()
    np.testing.assert_array_equal(system.to_dense(fluid_only=True), ref[np.ix_(fluid, fluid)])
    diag = np.asarray(system.diagonal()).ravel()
    np.testing.assert_array_equal(diag[fluid & (np.diag(ref) > 0)], np.diag(ref)[fluid & (np.diag(ref) > 0)])
    np.testing.assert_array_equal(diag[~fluid], 1.0)
    # Symmetry x.Ay = y.Ax and positivity with random vectors, through the matrix-free operator.
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((2, *flags.shape))
    xAy = np.sum(x * np.asarray(system.matvec(jnp.asarray(y))))
    yAx = np.sum(y * np.asarray(system.matvec(jnp.asarray(x))))
    assert abs(xAy - yAx) <= 1e-12 * (abs(xAy) + 1)
    for v in rng.standard_normal((5, *flags.shape)):
        assert np.sum(v * np.asarray(system.matvec(jnp.asarray(v)))) > 0
    # Semi-definite: the zero eigenvalues on the fluid cells are exactly the enclosed components.
    eig = np.linalg.eigvalsh(ref[np.ix_(fluid, fluid)])
    k = int(system.num_enclosed())
    assert eig[0] > -1e-10
    assert np.sum(eig < 1e-10) == k
    if k < len(eig):
        assert eig[k] > 1e-6
    null = system.null_space()
    assert null.shape == (k, *flags.shape)
    for v in null:
        np.testing.assert_allclose(np.asarray(system.matvec(jnp.asarray(v))), 0.0, atol=1e-12)


@pytest.mark.slow
def test_closed_box_null_space_projection_and_pcg(x64):
    flags = np.asarray(make_geometry((14, 12), key=jax.random.key(7), n_spheres=3, sphere_radius=(0.15, 0.3)))
    system = poisson_system(flags, ())
    fluid = flags == FLUID
    np.testing.assert_allclose(np.asarray(system.matvec(jnp.asarray(fluid, jnp.float64))), 0.0, atol=1e-13)
    assert int(system.num_enclosed()) == int(system.num_components()) >= 1
    b = random_rhs(system, key=jax.random.key(1), normalize=False)
    assert np.all(np.asarray(b)[~fluid] == 0)
    for v in system.null_space():
        assert abs(np.sum(v * np.asarray(b))) <= 1e-12 * np.linalg.norm(b)
    # An arbitrary vector is projected onto range(A): orthogonal to every component indicator.
    c = system.project_rhs(jnp.asarray(np.random.default_rng(0).standard_normal(flags.shape)))
    for v in system.null_space():
        assert abs(np.sum(v * np.asarray(c))) <= 1e-12
    result = pcg(system.operator, b, tol=1e-10)
    assert bool(result.converged)
    A = system.to_scipy_sparse()
    r = np.asarray(b).ravel() - A @ np.asarray(result.x).ravel()
    assert np.linalg.norm(r) <= 1e-9 * np.linalg.norm(b)


def test_geometry_options():
    key = jax.random.key(0)
    plain = np.asarray(make_geometry((16, 16), key=key, n_spheres=0, n_boxes=0))
    assert np.all(plain == FLUID)
    air = np.asarray(make_geometry((16, 16, 8), key=key, n_spheres=0, n_boxes=0, empty_fraction=0.25))
    assert np.all(air[:, 12:] == EMPTY) and np.all(air[:, :12] == FLUID)
    blobs = np.asarray(make_geometry((48, 48), key=key, n_spheres=0, n_boxes=0, blob_fraction=0.2))
    assert 0.05 < np.mean(blobs == SOLID) < 0.4  # the expected fraction is 0.2
    # One disc of radius 6 cells, centre inside the box: at least a quarter of it lies in the box.
    one = np.asarray(make_geometry((20, 20), key=key, n_spheres=1, sphere_radius=(0.3, 0.3), n_boxes=0))
    count = np.sum(one == SOLID)
    assert np.pi * (6 - 0.5**0.5) ** 2 / 4 <= count <= np.pi * (6 + 0.5**0.5) ** 2


@pytest.mark.slow
def test_generate_recipe_float64(x64):
    g = generate(
        "poisson_systems", 3, seed=0, dtype="float64", ndim=2, resolution=8, chunk_size=2, empty_fraction=0.2
    )
    flags, rhs, sol = g.arrays["flags"], g.arrays["rhs"], g.arrays["solution"]
    assert flags.dtype == np.int8 and flags.shape == rhs.shape == sol.shape == (3, 8, 8)
    for i in range(3):
        system = PoissonSystem(flags[i], g.params["open_faces"])
        A = system.to_scipy_sparse()
        assert np.linalg.norm(rhs[i]) == pytest.approx(1.0)
        assert np.linalg.norm(rhs[i].ravel() - A @ sol[i].ravel()) <= 1e-9
        assert np.all(sol[i][flags[i] != FLUID] == 0)
    x, y = RECIPE.pairs(g.arrays, g.params)
    assert x.shape == y.shape == (3, 1, 8, 8)
    grid = RECIPE.grid(g.params)
    assert grid.shape == (8, 8) and grid.spacing == pytest.approx((0.125, 0.125))


@pytest.mark.slow
def test_generate_recipe_3d_float32_no_solve():
    g = generate("poisson_systems", 3, seed=1, resolution=6, solve=False, mask_channel=True)
    assert set(g.arrays) == {"flags", "rhs"}
    assert g.arrays["rhs"].dtype == np.float32 and g.arrays["rhs"].shape == (3, 6, 6, 6)
    x, y = RECIPE.pairs(g.arrays, g.params)
    assert x.shape == (3, 2, 6, 6, 6) and y.shape == (3, 1, 6, 6, 6)
    np.testing.assert_array_equal(x[:, 1], g.arrays["flags"] == FLUID)
    assert RECIPE.params["ndim"] == 3 and RECIPE.presets["paper"] == {"ndim": 3, "resolution": 64}


@pytest.mark.parametrize(
    "params, err, match",
    [
        ({"resolution": 3}, ValueError, "resolution"),
        ({"ndim": 4}, ValueError, "ndim"),
        ({"open_faces": ("+z",), "ndim": 2}, ValueError, "open_faces"),
        ({"open_faces": ("top",)}, ValueError, "open_faces"),
        ({"sphere_radius": (0.2, 0.1)}, ValueError, "sphere_radius"),
        ({"box_size": (-0.1, 0.1)}, ValueError, "box_size"),
        ({"blob_fraction": 1.0}, ValueError, "blob_fraction"),
        ({"n_spheres": -1}, ValueError, "n_spheres"),
        ({"solve": 1}, TypeError, "solve"),
        ({"pressure": 1.0}, ValueError, "unknown"),
    ],
)
def test_bad_params_raise(params, err, match):
    with pytest.raises(err, match=match):
        generate("poisson_systems", 2, seed=0, **params)


def test_reexports_the_core_operator():
    assert scimlx.datasets.PoissonSystem is PoissonSystem is scimlx.core.PoissonSystem
    assert scimlx.datasets.poisson_system is poisson_system is scimlx.core.poisson_system
    assert (scimlx.datasets.FLUID, scimlx.datasets.SOLID, scimlx.datasets.EMPTY) == (FLUID, SOLID, EMPTY)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="shape"):
        make_geometry((4,), key=jax.random.key(0))
    with pytest.raises(TypeError, match="key"):
        make_geometry((4, 4), key=0)
    system = poisson_system(np.zeros((4, 4), np.int8))
    with pytest.raises(ValueError, match="`b`"):
        system.project_rhs(jnp.zeros((4, 5)))
    with pytest.raises(TypeError, match="system"):
        random_rhs(np.zeros((4, 4)), key=jax.random.key(0))
    with pytest.raises(ValueError, match="system"):
        random_rhs(poisson_system(np.zeros((4, 1), np.int8)), key=jax.random.key(0))
