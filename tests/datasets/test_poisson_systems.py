import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.csgraph

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


def _reference_matrix(flags, open_faces):
    """The pressure-Poisson matrix assembled cell by cell from its definition (independent of the code)."""
    flags = np.asarray(flags)
    shape, size = flags.shape, flags.size
    A = np.zeros((size, size))
    names = "xyz"
    for cell in itertools.product(*map(range, shape)):
        if flags[cell] != FLUID:
            continue
        i = np.ravel_multi_index(cell, shape)
        for axis, step in itertools.product(range(len(shape)), (-1, 1)):
            nb = list(cell)
            nb[axis] += step
            if not 0 <= nb[axis] < shape[axis]:
                if f"{'-' if step < 0 else '+'}{names[axis]}" in open_faces:
                    A[i, i] += 1  # open face: Dirichlet p = 0
                continue
            nb = tuple(nb)
            if flags[nb] == SOLID:
                continue
            A[i, i] += 1
            if flags[nb] == FLUID:
                A[i, np.ravel_multi_index(nb, shape)] -= 1
    return A


def _matfree_dense(system):
    n = int(np.prod(system.shape))
    eye = jnp.eye(n, dtype=jnp.float64).reshape((n, *system.shape))
    return np.asarray(jax.vmap(system.matvec)(eye).reshape(n, n)).T


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


@pytest.mark.parametrize("case", ["2d", "3d"])
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


def test_one_dimensional_columns_match_laplacian_eigenvalues(x64):
    n = 9
    flags = np.zeros((n, 1), np.int8)
    k = np.arange(1, n + 1)
    # Dirichlet at both ends: 2 - 2 cos(k pi / (n + 1)).
    A = poisson_system(flags, ("-x", "+x")).to_dense()
    np.testing.assert_allclose(np.linalg.eigvalsh(A), 2 - 2 * np.cos(k * np.pi / (n + 1)), atol=1e-12)
    # Neumann at -x, Dirichlet at +x: 2 - 2 cos((2k - 1) pi / (2n + 1)).
    A = poisson_system(flags, ("+x",)).to_dense()
    np.testing.assert_allclose(
        np.linalg.eigvalsh(A), 2 - 2 * np.cos((2 * k - 1) * np.pi / (2 * n + 1)), atol=1e-12
    )
    # A 2-D box with all faces open: sums of the 1-D Dirichlet eigenvalues.
    n0, n1 = 5, 4
    A = poisson_system(np.zeros((n0, n1), np.int8), ("-x", "+x", "-y", "+y")).to_dense()
    lam0 = 4 * np.sin(np.arange(1, n0 + 1) * np.pi / (2 * (n0 + 1))) ** 2
    lam1 = 4 * np.sin(np.arange(1, n1 + 1) * np.pi / (2 * (n1 + 1))) ** 2
    np.testing.assert_allclose(np.linalg.eigvalsh(A), np.sort(np.add.outer(lam0, lam1).ravel()), atol=1e-12)
    # A closed 3-D box: sums of the 1-D Neumann eigenvalues 4 sin^2(j pi / (2 n)), j = 0..n-1 (one zero).
    shape = (3, 4, 2)
    system = poisson_system(np.zeros(shape, np.int8), ())
    lam = [4 * np.sin(np.arange(m) * np.pi / (2 * m)) ** 2 for m in shape]
    expected = np.sort((lam[0][:, None, None] + lam[1][None, :, None] + lam[2][None, None, :]).ravel())
    np.testing.assert_allclose(np.linalg.eigvalsh(system.to_dense()), expected, atol=1e-12)
    assert int(system.num_components()) == 1 and int(system.num_enclosed()) == 1


def _hand_built():
    """14 x 12 grid (x, y), top (+y) open: five fluid components, three of them enclosed."""
    f = np.full((14, 12), FLUID, np.int8)
    f[6, :] = SOLID  # a wall at x = 6 splits left / right
    f[:6, 5] = SOLID  # left: bottom-left (enclosed) / top-left (open top)
    f[7:, 8] = SOLID  # right: bottom-right (enclosed) / top-right (open top)
    f[9:12, 2:5] = SOLID  # a hollow solid box inside the bottom-right region ...
    f[10, 3] = FLUID  # ... holding one fluid cell: its own (enclosed) component, with a zero row
    f[2, 9] = EMPTY  # an air cell inside the top-left region
    return f


def test_labels_and_null_space_on_hand_built_geometry(x64):
    flags = _hand_built()
    system = poisson_system(flags, ("+y",))
    labels = np.asarray(system.labels)
    assert int(system.num_components()) == 5
    assert int(system.num_enclosed()) == 3
    regions = {
        "bottom-left": (slice(0, 6), slice(0, 5)),
        "top-left": (slice(0, 6), slice(6, 12)),
        "bottom-right": (slice(7, 14), slice(0, 8)),
        "top-right": (slice(7, 14), slice(9, 12)),
    }
    roots = []
    for sl in regions.values():
        region_labels = labels[sl][(flags[sl] == FLUID)]
        region_labels = region_labels[region_labels != np.ravel_multi_index((10, 3), flags.shape)]
        assert len(np.unique(region_labels)) == 1
        roots.append(region_labels[0])
    # Each label is the smallest flat index of its component.
    assert roots[0] == np.ravel_multi_index((0, 0), flags.shape)
    assert roots[1] == np.ravel_multi_index((0, 6), flags.shape)
    assert len(set(roots)) == 4
    assert labels[10, 3] == np.ravel_multi_index((10, 3), flags.shape)
    assert np.all(labels[flags != FLUID] == -1)
    enclosed = np.asarray(system.enclosed)
    np.testing.assert_array_equal(enclosed[regions["bottom-left"]], True)
    assert enclosed[10, 3] and enclosed[13, 0]
    assert not enclosed[regions["top-left"]].any() and not enclosed[regions["top-right"]].any()
    # The single cell has a zero row; its diagonal is replaced by 1 for Jacobi.
    assert float(system.matvec(jnp.ones(flags.shape))[10, 3]) == 0.0
    assert float(system.diagonal()[10, 3]) == 1.0
    null = system.null_space()
    assert null.shape == (3, 14, 12)
    flat = null.reshape(3, -1)
    np.testing.assert_allclose(flat @ flat.T, np.eye(3), atol=1e-14)
    # Cells touching only at corners are not connected.
    diagonal = np.full((5, 5), SOLID, np.int8)
    diagonal[np.arange(5), np.arange(5)] = FLUID
    assert int(poisson_system(diagonal, ()).num_components()) == 5


def test_label_propagation_on_a_serpentine(x64):
    # One winding corridor, 7 rows of 13 cells joined at alternate ends: a single component of path length 97.
    f = np.full((15, 15), SOLID, np.int8)
    f[1:14, 1::2] = FLUID
    for j, y in enumerate(range(2, 14, 2)):
        f[13 if j % 2 == 0 else 1, y] = FLUID
    system = poisson_system(f, ())
    ncomp, _ = scipy.sparse.csgraph.connected_components(
        system.to_scipy_sparse(fluid_only=True), directed=False
    )
    assert int(system.num_components()) == ncomp == 1
    assert int(system.num_enclosed()) == 1
    f[7, 5] = SOLID  # cut the corridor once: two components
    assert int(poisson_system(f, ()).num_components()) == 2


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


def test_open_box_positive_definite_on_fluid(x64):
    flags = np.full((8, 6), FLUID, np.int8)
    flags[2:5, 1:3] = SOLID
    flags[6, 4] = SOLID
    system = poisson_system(flags, ("+y",))
    assert int(system.num_enclosed()) == 0
    eig = np.linalg.eigvalsh(system.to_dense(fluid_only=True))
    assert eig[0] > 1e-3


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


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="flags"):
        poisson_system(np.full((4, 4), 3, np.int8))
    with pytest.raises(TypeError, match="flags"):
        poisson_system(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="flags"):
        poisson_system(np.zeros((2, 2, 2, 2), np.int8))
    with pytest.raises(ValueError, match="open_faces"):
        poisson_system(np.zeros((4, 4), np.int8), ("+z",))
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
