import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import Box, Grid, sample_boundary, sample_initial, sample_interior, sample_quasirandom


def test_grid_spacing_and_coordinates():
    g = Grid((5, 4), Box((0, -1), (1, 1)), periodic=(False, True))
    assert g.spacing == (0.25, 0.5)
    X, Y = g.coords()
    np.testing.assert_allclose(X[:, 0], [0, 0.25, 0.5, 0.75, 1.0])
    np.testing.assert_allclose(Y[0], [-1, -0.5, 0, 0.5])  # periodic: right end excluded
    assert g.points().shape == (20, 2)
    vals = g.evaluate(lambda z: jnp.stack([z[0], z[1] ** 2]))
    assert vals.shape == (2, 5, 4)
    np.testing.assert_allclose(vals[1], Y**2)


def test_interior_and_initial_samplers():
    box = Box((0, -2, 0), (1, 2, 3))
    x = sample_interior(box, 1000, key=jax.random.key(0))
    assert x.shape == (1000, 3) and bool(jnp.all(box.contains(x)))
    np.testing.assert_allclose(jnp.mean(x, axis=0), [0.5, 0.0, 1.5], atol=0.15)
    x0 = sample_initial(box, 50, key=jax.random.key(1))
    assert bool(jnp.all(x0[:, -1] == 0.0)) and bool(jnp.all(box.contains(x0)))


@pytest.mark.slow
def test_boundary_sampler_normals_and_face_weights():
    box = Box((0, 0), (3, 1))
    pts, nrm = sample_boundary(box, 8000, key=jax.random.key(0))
    assert bool(jnp.all(box.contains(pts)))
    assert bool(jnp.all(jnp.sum(nrm**2, axis=1) == 1.0))
    # each point lies on the face its normal points out of
    lo, hi = jnp.asarray(box.lo), jnp.asarray(box.hi)
    on_face = jnp.where(nrm > 0, pts == hi, jnp.where(nrm < 0, pts == lo, True))
    assert bool(jnp.all(on_face))
    # faces chosen in proportion to their length: x-faces have length 1, y-faces length 3
    frac_x_faces = float(jnp.mean(jnp.abs(nrm[:, 0]) == 1))
    assert abs(frac_x_faces - 2 / 8) < 0.02
    pts, nrm = sample_boundary(box, 10, key=jax.random.key(1), per_face=True)
    assert pts.shape == (40, 2)
    np.testing.assert_array_equal(nrm[:10], jnp.tile(jnp.array([[-1.0, 0.0]]), (10, 1)))
    # space-time box: leave the time faces out
    st = Box((0, 0), (1, 1))
    pts, nrm = sample_boundary(st, 100, key=jax.random.key(2), axes=(0,))
    assert bool(jnp.all(nrm[:, 1] == 0))


def test_quasirandom_samplers_are_low_discrepancy():
    from scipy.stats import qmc

    box = Box((0, 0), (2, 1))
    rng = sample_interior(box, 256, key=jax.random.key(0))
    for method in ("sobol", "halton"):
        q = sample_quasirandom(box, 256, key=jax.random.key(0), method=method)
        assert q.shape == (256, 2) and bool(jnp.all(box.contains(q)))
        unit = np.asarray(q) / np.array([2.0, 1.0])
        assert qmc.discrepancy(unit) < qmc.discrepancy(np.asarray(rng) / np.array([2.0, 1.0]))
    a = sample_quasirandom(box, 16, key=jax.random.key(1))
    b = sample_quasirandom(box, 16, key=jax.random.key(1))
    np.testing.assert_array_equal(a, b)


def test_bad_geometry_input_names_the_argument():
    with pytest.raises(ValueError, match="`hi` must exceed `lo`"):
        Box((0, 1), (1, 1))
    with pytest.raises(ValueError, match="same length"):
        Box((0, 0), (1,))
    with pytest.raises(ValueError, match="finite"):
        Box(0, math.inf)
    with pytest.raises(ValueError, match="`shape` axis 0"):
        Grid((1, 4))
    with pytest.raises(ValueError, match="`periodic`"):
        Grid((4, 4), periodic=(True,))
    with pytest.raises(ValueError, match="`box`"):
        Grid((4, 4), Box(0, 1))
    with pytest.raises(TypeError, match="`shape`"):
        Grid((4.0, 4))
    with pytest.raises(ValueError, match="`n`"):
        sample_interior(Box(0, 1), 0, key=jax.random.key(0))
    with pytest.raises(TypeError, match="`key`"):
        sample_interior(Box(0, 1), 4, key=0)
    with pytest.raises(TypeError, match="`box`"):
        sample_interior((0, 1), 4, key=jax.random.key(0))
    with pytest.raises(ValueError, match="`method`"):
        sample_quasirandom(Box(0, 1), 4, key=jax.random.key(0), method="lattice")
    with pytest.raises(ValueError, match="space-time"):
        sample_initial(Box(0, 1), 4, key=jax.random.key(0))


def test_quasirandom_draws_depend_on_the_whole_key():
    box = Box((0, 0), (1, 1))
    a = sample_quasirandom(box, 8, key=jax.random.key(1))
    b = sample_quasirandom(box, 8, key=jax.random.key(2))
    c = sample_quasirandom(box, 8, key=jax.random.fold_in(jax.random.key(1), 7))
    assert not np.allclose(a, b) and not np.allclose(a, c)


def test_more_bad_geometry_input():
    with pytest.raises(TypeError, match="`periodic`"):
        Grid((4, 4), periodic="ab")
    with pytest.raises(ValueError, match="`lo`"):
        Box([[0, 0]], [[1, 1]])
    with pytest.raises(TypeError, match="`lo`"):
        Box("0", 1)
    with pytest.raises(ValueError, match="`axes`"):
        sample_boundary(Box((0, 0), (1, 1)), 4, key=jax.random.key(0), axes=[True])
