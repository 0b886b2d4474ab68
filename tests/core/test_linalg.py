import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse
from jax.experimental import sparse as jsparse

from scimlx.core.linalg import BreakdownWarning, LinearOperator, SolveResult, as_operator, cg, pcg


def _spd(n, cond, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.standard_normal((n, n)))
    eigs = np.logspace(0, np.log10(cond), n)
    return (q * eigs) @ q.T


def _poisson_sparse(n):
    t = scipy.sparse.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n))
    eye = scipy.sparse.identity(n)
    return (scipy.sparse.kron(eye, t) + scipy.sparse.kron(t, eye)).tocsr()


def _poisson_matvec(u):
    padded = jnp.pad(u, 1)
    return 4 * u - padded[:-2, 1:-1] - padded[2:, 1:-1] - padded[1:-1, :-2] - padded[1:-1, 2:]


def _last_finite_index(history):
    return int(np.max(np.nonzero(np.isfinite(np.asarray(history)))[0]))


@pytest.mark.parametrize("solver", ["cg", "pcg"])
def test_dense_spd_matches_numpy(x64, solver):
    n, cond, tol = 50, 1e3, 1e-10
    A = _spd(n, cond)
    b = np.random.default_rng(1).standard_normal(n)
    if solver == "cg":
        result = cg(jnp.asarray(A), jnp.asarray(b), tol=tol)
    else:
        result = pcg(jnp.asarray(A), jnp.asarray(b), tol=tol)
    assert isinstance(result, SolveResult)
    x = np.asarray(result.x)
    assert x.dtype == np.float64
    assert bool(result.converged)
    assert not bool(result.breakdown)
    x_ref = np.linalg.solve(A, b)
    # ||x - x*|| / ||x*|| <= cond(A) * ||r|| / ||b||.
    assert np.linalg.norm(x - x_ref) / np.linalg.norm(x_ref) <= 1.01 * cond * tol
    # The final residual, recomputed independently.
    true_rel = np.linalg.norm(b - A @ x) / np.linalg.norm(b)
    assert true_rel <= tol
    history = np.asarray(result.residual_history)
    assert history.shape == (10 * n + 1,)
    k = int(result.iterations)
    assert 0 < k < 10 * n
    assert _last_finite_index(history) == k
    assert np.all(np.isnan(history[k + 1 :]))
    assert history[0] == pytest.approx(1.0)  # x0 = 0
    assert history[k] <= tol < history[k - 1]
    assert history[k] == pytest.approx(true_rel, rel=1e-2)


def test_x0_and_accepts_numpy(x64):
    A = _spd(30, 1e2, seed=3)
    b = np.ones(30)
    x_ref = np.linalg.solve(A, b)
    result = cg(A, b, x0=x_ref, tol=1e-8)
    assert int(result.iterations) == 0
    assert float(result.residual_history[0]) <= 1e-8
    np.testing.assert_allclose(result.x, x_ref)
    # b == 0: the solution is zero whatever the initial guess.
    zero = cg(A, np.zeros(30), x0=np.ones(30))
    np.testing.assert_array_equal(zero.x, 0.0)
    assert int(zero.iterations) == 0
    assert bool(zero.converged)
    assert float(zero.residual_history[0]) == 0.0


def test_jacobi_beats_cg_on_row_scaled_matrix(x64):
    n = 50
    A = _spd(n, 10.0, seed=2)
    d = np.random.default_rng(4).permutation(np.logspace(-2, 2, n))
    scaled = jnp.asarray(d[:, None] * A * d[None, :])
    b = jnp.asarray(np.random.default_rng(5).standard_normal(n))
    tol = 1e-8
    plain = cg(scaled, b, tol=tol)
    jacobi = pcg(scaled, b, tol=tol, preconditioner="jacobi")
    assert bool(jacobi.converged)
    # cond(D^-1/2 S D^-1/2) ~ 10 with Jacobi, against cond(S) ~ 1e8 without.
    assert int(jacobi.iterations) <= 40
    assert 4 * int(jacobi.iterations) < int(plain.iterations)
    x_ref = np.linalg.solve(np.asarray(scaled), np.asarray(b))
    true_rel = np.linalg.norm(b - scaled @ jacobi.x) / np.linalg.norm(b)
    assert true_rel <= tol
    np.testing.assert_allclose(jacobi.x, x_ref, rtol=1e-3, atol=1e-6 * np.abs(x_ref).max())


@pytest.mark.slow
def test_poisson_sparse_and_matrix_free_agree(x64):
    n = 16
    A = _poisson_sparse(n)
    rng = np.random.default_rng(6)
    f = rng.standard_normal((n, n))
    op = LinearOperator(_poisson_matvec, (n, n), diagonal=4 * jnp.ones((n, n)))
    # The matrix-free operator really is the same matrix (row-major flattening).
    np.testing.assert_allclose(op.mv(jnp.asarray(f)).ravel(), A @ f.ravel(), rtol=1e-12)
    tol = 1e-10
    sparse_result = cg(A, jnp.asarray(f.ravel()), tol=tol)
    free_result = cg(op, jnp.asarray(f), tol=tol)
    free_jacobi = pcg(op, jnp.asarray(f), tol=tol)
    bcoo_result = pcg(jsparse.BCOO.from_scipy_sparse(A), jnp.asarray(f.ravel()), tol=tol)
    x_ref = scipy.sparse.linalg.spsolve(A.tocsc(), f.ravel())
    for result in (sparse_result, bcoo_result):
        assert bool(result.converged)
        np.testing.assert_allclose(result.x, x_ref, rtol=1e-7, atol=1e-9)
    for result in (free_result, free_jacobi):
        assert result.x.shape == (n, n)
        assert bool(result.converged)
        np.testing.assert_allclose(result.x.ravel(), x_ref, rtol=1e-7, atol=1e-9)
    # Constant diagonal: Jacobi is a scaling, so CG iterations are identical.
    assert int(free_result.iterations) == int(sparse_result.iterations)
    assert int(free_jacobi.iterations) == int(free_result.iterations)


def test_sparse_diagonals(x64):
    rng = np.random.default_rng(7)
    dense = rng.standard_normal((6, 6))
    dense[rng.random((6, 6)) < 0.5] = 0.0
    expected = np.diagonal(dense)
    from_scipy = LinearOperator.from_sparse(scipy.sparse.csr_matrix(dense))
    np.testing.assert_allclose(from_scipy.diagonal(), expected)
    bcoo = jsparse.BCOO.fromdense(jnp.asarray(dense), nse=30)  # with padding entries
    from_bcoo = LinearOperator.from_sparse(bcoo)
    np.testing.assert_allclose(from_bcoo.diagonal(), expected)
    x = jnp.asarray(rng.standard_normal(6))
    np.testing.assert_allclose(from_bcoo @ x, dense @ np.asarray(x), rtol=1e-12)
    np.testing.assert_allclose(from_scipy(x), dense @ np.asarray(x), rtol=1e-12)
    np.testing.assert_allclose(LinearOperator.from_dense(dense).diagonal(), expected)


def test_vmap_jit_and_early_members(x64):
    n = 40
    A_np = _spd(n, 1e3, seed=8)
    A = jnp.asarray(A_np)
    rng = np.random.default_rng(9)
    _, eigvecs = np.linalg.eigh(A_np)
    bs = np.stack(
        [
            rng.standard_normal(n),
            eigvecs[:, 3],  # converges after one iteration
            np.zeros(n),  # zero right-hand side: no iterations
            rng.standard_normal(n),
        ]
    )
    tol = 1e-9
    solve = jax.jit(jax.vmap(lambda b: pcg(A, b, tol=tol, preconditioner=None)))
    batched = solve(jnp.asarray(bs))
    assert batched.x.shape == (4, n)
    assert batched.residual_history.shape == (4, 10 * n + 1)
    singles = [cg(A, jnp.asarray(b), tol=tol) for b in bs]
    x_ref = np.linalg.solve(A_np, bs.T).T
    iterations = np.asarray(batched.iterations)
    for i, single in enumerate(singles):
        # Batched and unbatched reductions round differently, which may shift the iteration
        # at which the tolerance is crossed by one.
        assert abs(iterations[i] - int(single.iterations)) <= 1
        assert bool(batched.converged[i])
        np.testing.assert_allclose(batched.x[i], x_ref[i], rtol=1e-6, atol=1e-12)
        history = np.asarray(batched.residual_history[i])
        assert _last_finite_index(history) == iterations[i]
        assert np.all(np.isnan(history[iterations[i] + 1 :]))
        assert history[iterations[i]] <= tol
        # CG is sensitive to rounding, so compare the early history only.
        common = min(iterations[i], 10) + 1
        np.testing.assert_allclose(
            history[:common], single.residual_history[:common], rtol=1e-6, atol=1e-14
        )
    assert not np.any(np.asarray(batched.breakdown))
    assert iterations[1] == 1
    assert iterations[2] == 0
    assert iterations[0] > 10 and iterations[3] > 10
    # The early members kept their answers while the others were still iterating.
    np.testing.assert_allclose(batched.x[1], eigvecs[:, 3] / np.linalg.eigvalsh(A_np)[3])
    np.testing.assert_array_equal(batched.x[2], 0.0)
    assert _last_finite_index(batched.residual_history[1]) == 1


def test_operator_is_a_pytree_through_jit(x64):
    A = _spd(20, 10.0, seed=10)
    b = jnp.ones(20)
    op = LinearOperator.from_dense(A)
    # A dense operator consists only of arrays, so plain `jax.jit` accepts it as an argument.
    result = jax.jit(lambda op, b: cg(op, b, tol=1e-10))(op, b)
    np.testing.assert_allclose(result.x, np.linalg.solve(A, np.ones(20)), rtol=1e-7)
    # A matrix-free operator holds a Python function: use `eqx.filter_jit`.
    free = LinearOperator(lambda x: jnp.asarray(A) @ x, (20,))
    result = eqx.filter_jit(lambda op, b: cg(op, b, tol=1e-10))(free, b)
    np.testing.assert_allclose(result.x, np.linalg.solve(A, np.ones(20)), rtol=1e-7)


def test_custom_preconditioner(x64):
    A_np = _spd(30, 1e3, seed=11)
    A = jnp.asarray(A_np)
    inverse = jnp.asarray(np.linalg.inv(A_np))
    b = jnp.asarray(np.random.default_rng(12).standard_normal(30))
    result = pcg(A, b, tol=1e-8, preconditioner=lambda r: inverse @ r)
    assert int(result.iterations) == 1
    assert bool(result.converged)
    np.testing.assert_allclose(result.x, np.linalg.solve(A_np, b), rtol=1e-9)
    assert int(cg(A, b, tol=1e-8).iterations) > 10


def test_maxiter_reached(x64):
    A = jnp.asarray(_spd(30, 1e3, seed=13))
    b = jnp.ones(30)
    result = cg(A, b, tol=1e-12, maxiter=5)
    assert int(result.iterations) == 5
    assert not bool(result.converged)
    history = np.asarray(result.residual_history)
    assert history.shape == (6,)
    assert np.all(np.isfinite(history))
    assert history[-1] > 1e-12


@pytest.mark.slow
def test_default_float32():
    A = jnp.asarray(_spd(20, 10.0, seed=14), dtype=jnp.float32)
    result = cg(A, jnp.ones(20, dtype=jnp.float32), tol=1e-5)
    assert result.x.dtype == jnp.float32
    assert result.residual_history.dtype == jnp.float32
    assert bool(result.converged)


def test_bad_input():
    A = jnp.eye(4)
    b = jnp.ones(4)
    with pytest.raises(ValueError, match="`b` must have the operator's shape"):
        cg(A, jnp.ones(5))
    with pytest.raises(ValueError, match="`x0`"):
        cg(A, b, x0=jnp.ones(3))
    with pytest.raises(ValueError, match="`A` must be a square"):
        cg(jnp.ones((4, 3)), b)
    with pytest.raises(ValueError, match="`A` must be a square"):
        LinearOperator.from_sparse(scipy.sparse.random(4, 3, density=0.5))
    with pytest.raises(ValueError, match="`A` must be a square"):
        as_operator(jnp.ones(4))
    with pytest.raises(ValueError, match="`tol` must be positive"):
        cg(A, b, tol=-1e-6)
    with pytest.raises(ValueError, match="`tol` must be finite and positive"):
        cg(A, b, tol=float("nan"))
    with pytest.raises(TypeError, match="`tol`"):
        cg(A, b, tol="small")
    with pytest.raises(ValueError, match="`maxiter`"):
        cg(A, b, maxiter=0)
    with pytest.raises(TypeError, match="`maxiter`"):
        cg(A, b, maxiter=2.5)
    with pytest.raises(ValueError, match="`preconditioner`.*'ilu'"):
        pcg(A, b, preconditioner="ilu")
    with pytest.raises(TypeError, match="`preconditioner`"):
        pcg(A, b, preconditioner=3)
    free = LinearOperator(lambda x: 2 * x, (4,))
    with pytest.raises(ValueError, match="no diagonal.*diagonal=") as info:
        pcg(free, b, preconditioner="jacobi")
    assert "preconditioner" in str(info.value)
    with pytest.raises(TypeError, match="`A` must be a LinearOperator"):
        as_operator([[1.0, 0.0], [0.0, 1.0]])
    with pytest.raises(TypeError, match="`A` must be a LinearOperator"):
        cg("matrix", b)
    with pytest.raises(TypeError, match="`matvec` must be callable"):
        LinearOperator(jnp.eye(4), (4,))
    with pytest.raises(ValueError, match="`shape`"):
        LinearOperator(lambda x: x, (4, -1))
    with pytest.raises(ValueError, match="`diagonal`"):
        LinearOperator(lambda x: x, (4,), diagonal=jnp.ones(3))
    with pytest.raises(ValueError, match="`x` must have the operator's shape"):
        free.mv(jnp.ones(5))
    with pytest.raises(ValueError, match="`matvec` must return arrays of shape"):
        cg(LinearOperator(lambda x: x[:2], (4,)), b)


def test_jacobi_needs_a_positive_diagonal():
    A = np.diag([1.0, 0.0, 2.0])
    with pytest.raises(ValueError, match="positive diagonal"):
        pcg(A, np.ones(3))


# ------------------------------------------------------------------------------------------------------------
# Breakdown: a system that is not positive definite stops at the last finite iterate
# ------------------------------------------------------------------------------------------------------------

# (A, b, iterations done, last iterate): CG from x0 = 0 takes p0 = b.
BREAKDOWNS = {
    # b in the null space of A: p0ᵀ A p0 = 0 at once (CG used to return x = [inf, -inf])
    "singular, b in the null space": ([[1.0, 1.0], [1.0, 1.0]], [1.0, -1.0], 0, [0.0, 0.0]),
    # one step to x = [2, 2], then p1 = [0, 2] lies in the null space
    "singular, inconsistent": ([[1.0, 0.0], [0.0, 0.0]], [1.0, 1.0], 1, [2.0, 2.0]),
    # one step to x = [2, 2], then p1 = [6, 12] has p1ᵀ A p1 = -72
    "indefinite": ([[2.0, 0.0], [0.0, -1.0]], [1.0, 1.0], 1, [2.0, 2.0]),
}

_cg_jit = jax.jit(lambda A, b: cg(A, b, tol=1e-10))


@pytest.mark.parametrize("case", list(BREAKDOWNS))
def test_breakdown_stops_at_the_last_finite_iterate(x64, case):
    A, b, k, x_last = BREAKDOWNS[case]
    A, b = jnp.asarray(A), jnp.asarray(b)
    with pytest.warns(BreakdownWarning, match=rf"^cg broke down at iteration {k + 1}: the curvature pᵀAp"):
        result = cg(A, b, tol=1e-10)
    with pytest.warns(BreakdownWarning, match=rf"^pcg broke down at iteration {k + 1}: the curvature"):
        identity = pcg(A, b, tol=1e-10, preconditioner=lambda r: r)
    with warnings.catch_warnings():  # under jit: the flag, no warning
        warnings.simplefilter("error", BreakdownWarning)
        jitted = _cg_jit(A, b)
    for res in (result, identity, jitted):
        assert bool(res.breakdown) and not bool(res.converged)
        assert int(res.iterations) == k
        np.testing.assert_array_equal(res.x, x_last)
        history = np.asarray(res.residual_history)
        assert np.all(np.isfinite(history[: k + 1])) and np.all(np.isnan(history[k + 1 :]))


def test_breakdown_of_the_preconditioner_and_of_non_finite_input(x64):
    # M = -I: rᵀM⁻¹r < 0 from the start
    with pytest.warns(BreakdownWarning, match="^pcg broke down at iteration 1: rᵀM⁻¹r is not positive"):
        res = pcg(jnp.eye(3), jnp.ones(3), preconditioner=lambda r: -r)
    assert bool(res.breakdown) and not bool(res.converged) and int(res.iterations) == 0
    np.testing.assert_array_equal(res.x, 0.0)
    # an indefinite M: the first step is taken (and kept), the next direction cannot be formed
    signs = jnp.array([1.0, -1.0, 1.0])
    with pytest.warns(BreakdownWarning, match="iteration 2: rᵀM⁻¹r.*stopped at iteration 1"):
        res = pcg(jnp.diag(jnp.array([1.0, 2.0, 3.0])), jnp.ones(3), preconditioner=lambda r: signs * r)
    assert bool(res.breakdown) and int(res.iterations) == 1
    assert bool(jnp.all(jnp.isfinite(res.x))) and bool(jnp.any(res.x != 0))
    # a NaN in b
    with pytest.warns(BreakdownWarning, match="^cg broke down at iteration 1: a non-finite"):
        res = cg(jnp.eye(3), jnp.array([1.0, np.nan, 1.0]))
    assert bool(res.breakdown) and not bool(res.converged)
    np.testing.assert_array_equal(res.x, 0.0)


def test_breakdown_under_vmap_flags_only_the_member_that_broke_down(x64):
    # diag(1, 0): b = [1, 0] lies in the range (converges at once), b = [1, 1] does not
    A = jnp.diag(jnp.array([1.0, 0.0]))
    bs = jnp.array([[1.0, 0.0], [1.0, 1.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error", BreakdownWarning)
        res = jax.vmap(lambda b: cg(A, b, tol=1e-10))(bs)
    np.testing.assert_array_equal(res.breakdown, [False, True])
    np.testing.assert_array_equal(res.converged, [True, False])
    np.testing.assert_array_equal(res.iterations, [1, 1])
    np.testing.assert_array_equal(res.x, [[1.0, 0.0], [2.0, 2.0]])


def test_spd_solve_reports_no_breakdown_and_no_warning():
    A = jnp.asarray(_spd(20, 10.0, seed=15), dtype=jnp.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error", BreakdownWarning)
        for result in (cg(A, jnp.ones(20), tol=1e-5), pcg(A, jnp.ones(20), tol=1e-5)):
            assert bool(result.converged) and not bool(result.breakdown)
        capped = cg(A, jnp.ones(20), tol=1e-7, maxiter=2)  # stopped by maxiter: not a breakdown
    assert not bool(capped.converged) and not bool(capped.breakdown)
    assert SolveResult(jnp.zeros(2), jnp.array(0), jnp.zeros(1), jnp.array(True)).breakdown.dtype == bool
