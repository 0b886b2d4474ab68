"""The pressure-Poisson operator of flagged MAC grids, `scimlx.core.PoissonSystem`."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.csgraph

import scimlx.core
import scimlx.core.linalg
from scimlx.core import PoissonSystem, poisson_system
from scimlx.core.linalg import EMPTY, FLUID, SOLID, pcg


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


@pytest.mark.parametrize("open_faces", [(), ("+y",), ("-x", "+x", "-y")])
def test_operator_matches_assembly_on_hand_built_geometry(x64, open_faces):
    flags = _hand_built()
    system = poisson_system(flags, open_faces)
    ref = _reference_matrix(flags, open_faces)
    np.testing.assert_array_equal(_matfree_dense(system), ref)
    np.testing.assert_array_equal(system.to_dense(), ref)
    fluid = (flags == FLUID).ravel()
    np.testing.assert_array_equal(system.to_dense(fluid_only=True), ref[np.ix_(fluid, fluid)])
    np.testing.assert_array_equal(np.asarray(system.diagonal()).ravel()[~fluid], 1.0)
    assert system.operator.shape == flags.shape
    op_diag = np.asarray(system.operator.diagonal()).ravel()
    np.testing.assert_array_equal(op_diag[fluid], np.diag(ref)[fluid].clip(1))  # a zero row gets 1


def test_open_box_positive_definite_on_fluid(x64):
    flags = np.full((8, 6), FLUID, np.int8)
    flags[2:5, 1:3] = SOLID
    flags[6, 4] = SOLID
    system = poisson_system(flags, ("+y",))
    assert int(system.num_enclosed()) == 0
    eig = np.linalg.eigvalsh(system.to_dense(fluid_only=True))
    assert eig[0] > 1e-3


def test_closed_box_projection_and_pcg(x64):
    flags = _hand_built()
    system = poisson_system(flags, ())
    # closed box: every component is enclosed but the top-left one, which holds the air cell (2, 9)
    assert int(system.num_components()) == 5 and int(system.num_enclosed()) == 4
    assert not bool(system.enclosed[0, 11]) and bool(system.enclosed[13, 11])
    b = system.project_rhs(jnp.asarray(np.random.default_rng(0).standard_normal(flags.shape)))
    assert np.all(np.asarray(b)[flags != FLUID] == 0)
    for v in system.null_space():
        assert abs(np.sum(v * np.asarray(b))) <= 1e-12
    result = pcg(system.operator, b, tol=1e-10, preconditioner="jacobi")
    assert bool(result.converged)
    r = np.asarray(b).ravel() - system.to_scipy_sparse() @ np.asarray(result.x).ravel()
    assert np.linalg.norm(r) <= 1e-9 * np.linalg.norm(b)


def test_padded_flags():
    flags = np.zeros((3, 2), np.int8)
    flags[1, 1] = SOLID
    system = poisson_system(flags, ("+y", "-x"))
    p0 = np.asarray(system.padded_flags(0))
    assert p0.shape == (5, 2) and p0.dtype == np.int8
    np.testing.assert_array_equal(p0[0], EMPTY)  # -x is open
    np.testing.assert_array_equal(p0[-1], SOLID)  # +x is a wall
    np.testing.assert_array_equal(p0[1:-1], flags)
    p1 = np.asarray(system.padded_flags(1))
    assert p1.shape == (3, 4)
    np.testing.assert_array_equal(p1[:, 0], SOLID)
    np.testing.assert_array_equal(p1[:, -1], EMPTY)  # +y is open
    np.testing.assert_array_equal(p1[:, 1:-1], flags)
    with pytest.raises(ValueError, match="`axis`"):
        system.padded_flags(2)
    with pytest.raises(TypeError, match="`axis`"):
        system.padded_flags(True)


def test_jit_and_homes():
    flags = _hand_built()
    system = jax.jit(lambda f: PoissonSystem(f, ("+y",)))(jnp.asarray(flags))
    np.testing.assert_array_equal(np.asarray(system.labels), np.asarray(poisson_system(flags).labels))
    # one class, exported from the core and its linear algebra (and re-exported by scimlx.datasets)
    assert scimlx.core.PoissonSystem is scimlx.core.linalg.PoissonSystem is PoissonSystem
    assert (FLUID, SOLID, EMPTY) == (0, 1, 2)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="flags"):
        poisson_system(np.full((4, 4), 3, np.int8))
    with pytest.raises(TypeError, match="flags"):
        poisson_system(np.zeros((4, 4)))
    with pytest.raises(TypeError, match="flags"):
        poisson_system([[0, 0], [0, 0]])
    with pytest.raises(ValueError, match="flags"):
        poisson_system(np.zeros((2, 2, 2, 2), np.int8))
    with pytest.raises(ValueError, match="open_faces"):
        poisson_system(np.zeros((4, 4), np.int8), ("+z",))
    with pytest.raises(ValueError, match="open_faces"):
        poisson_system(np.zeros((4, 4), np.int8), ("+y", "+y"))
    system = poisson_system(np.zeros((4, 4), np.int8))
    with pytest.raises(ValueError, match="`b`"):
        system.project_rhs(jnp.zeros((4, 5)))
    with pytest.raises(TypeError, match="`fluid_only`"):
        system.to_scipy_sparse(fluid_only=1)
