"""The polynomial-derivative library: MEDIDA's 24 terms and names; exact (spectral) on a trigonometric field;
second-order finite differences on a bounded grid converge at second order; bad input."""

import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.control import PolynomialDerivativeLibrary
from scimlx.core import Box, Grid, GridField


def test_names_and_size():
    lib = PolynomialDerivativeLibrary()
    assert len(lib) == 24 and lib.names[:5] == ("u", "u^2", "u^3", "u^4", "u_x")
    assert lib.names[-1] == "u^4 u_xxxx" and "u u_x" in lib.names
    assert PolynomialDerivativeLibrary(2, 1, constant=True).names == (
        "1",
        "u",
        "u^2",
        "u_x",
        "u u_x",
        "u^2 u_x",
    )


@pytest.mark.slow
def test_spectral_terms_are_exact_for_a_trigonometric_field(x64):
    """`u = sin(2πx/L) + 0.5 cos(6πx/L)` on a periodic grid: every column equals its closed form to 1e-10."""
    length, n = 100.0, 128
    grid = Grid(n, Box(-length / 2, length / 2), periodic=True)
    x = grid.coords(jnp.float64)[0]
    k1, k3 = 2 * np.pi / length, 6 * np.pi / length
    u = jnp.sin(k1 * x) + 0.5 * jnp.cos(k3 * x)

    def exact_d(d):  # d-th derivative of sin and cos: shift the phase by d π/2
        return k1**d * jnp.sin(k1 * x + d * np.pi / 2) + 0.5 * k3**d * jnp.cos(k3 * x + d * np.pi / 2)

    lib = PolynomialDerivativeLibrary()
    theta = lib(GridField(u, grid))
    assert theta.shape == (n, 24)
    for j, name in enumerate(lib.names):
        p, _, d = (
            name.partition(" ") if " " in name else ((name, "", "") if "_" not in name else ("", "", name))
        )
        power = 1 if p == "u" else (int(p[2:]) if p.startswith("u^") else 0)
        order = d.count("x") if d else 0
        expected = u**power if order == 0 else u**power * exact_d(order)
        np.testing.assert_allclose(
            theta[:, j], expected, atol=1e-10 * max(1.0, float(jnp.abs(expected).max()))
        )


@pytest.mark.slow
def test_finite_differences_converge_at_second_order(x64):
    """On a bounded grid (the reference's variant) the `u u_xx` column converges at order 2 inside."""
    errs = []
    for n in (101, 201, 401):
        grid = Grid(n, Box(0.0, 2.0))
        x = grid.coords(jnp.float64)[0]
        u = jnp.sin(2 * x)
        lib = PolynomialDerivativeLibrary(2, 2)
        col = lib(GridField(u, grid, fd_order=2))[:, lib.names.index("u u_xx")]
        interior = slice(n // 4, 3 * n // 4)
        errs.append(float(jnp.abs(col - u * (-4 * u))[interior].max()))
    rates = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(np.abs(rates - 2) < 0.15)


def test_bad_input():
    with pytest.raises(ValueError, match="empty"):
        PolynomialDerivativeLibrary(0, 0)
    with pytest.raises(ValueError, match="max_order"):
        PolynomialDerivativeLibrary(2, -1)
    with pytest.raises(TypeError, match="field"):
        PolynomialDerivativeLibrary()(jnp.ones(8))
    grid = Grid((8, 8), periodic=True)
    with pytest.raises(ValueError, match="1-D"):
        PolynomialDerivativeLibrary()(GridField(jnp.ones((8, 8)), grid))
