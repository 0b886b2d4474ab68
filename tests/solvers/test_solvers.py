"""Krylov baselines, the multigrid preconditioner and DCDM on pressure-Poisson systems."""

import warnings

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse.linalg

from scimlx.core.linalg import BreakdownWarning
from scimlx.datasets import make_geometry, poisson_system, random_rhs
from scimlx.solvers import (
    DCDMConfig,
    DCDMNet,
    MultigridPreconditioner,
    cg,
    dcdm,
    dcdm_loss,
    lanczos,
    pcg,
    ritz_pairs,
    ritz_rhs,
    train_dcdm,
)
from scimlx.solvers._multigrid import _coarsen, _from_system, _prolong
from scimlx.train import RunOptions, count_params
from tests.readme import run_readme_block


def _key(i=0):
    return jax.random.key(i, impl="rbg")


def _system(n, ndim=3, seed=0, open_faces=("+y",)):
    flags = make_geometry((n,) * ndim, key=jax.random.key(seed))
    system = poisson_system(flags, open_faces)
    return system, random_rhs(system, key=jax.random.key(seed + 1))


def _direct(system, b):
    A = system.to_scipy_sparse(fluid_only=True)
    fluid = np.asarray(system.fluid)
    x = np.zeros(system.shape)
    x[fluid] = scipy.sparse.linalg.spsolve(A.tocsc(), np.asarray(b, np.float64)[fluid])
    return x


@pytest.fixture(scope="module")
def system16():
    with jax.enable_x64(True):  # built in float64; 64-bit mode is not left on for the other tests
        system, b = _system(16)
    return system, b


def test_cg_pcg_and_multigrid_solve_a_poisson_system_to_tolerance(system16, x64):
    system, b = system16
    exact = _direct(system, b)
    op = system.operator
    mg = MultigridPreconditioner(system)
    results = {
        "cg": cg(op, b, tol=1e-8),
        "jacobi": pcg(op, b, tol=1e-8),
        "multigrid": pcg(op, b, tol=1e-8, preconditioner=mg),
    }
    for name, res in results.items():
        assert bool(res.converged), name
        true = float(jnp.linalg.norm(b - op.mv(res.x)) / jnp.linalg.norm(b))
        assert true < 1e-7, (name, true)
        np.testing.assert_allclose(np.where(system.fluid, res.x, 0), exact, atol=1e-6 * np.abs(exact).max())
        hist = np.asarray(res.residual_history)
        assert hist[int(res.iterations)] <= 1e-8 and np.isnan(hist[int(res.iterations) + 1 :]).all()
    # the multigrid preconditioner needs far fewer iterations than CG
    assert int(results["multigrid"].iterations) * 4 < int(results["cg"].iterations)


@pytest.mark.slow
def test_multigrid_is_symmetric_positive_and_vmaps(system16, x64):
    system, _ = system16
    mg = MultigridPreconditioner(system)
    u, v = (jnp.where(system.fluid, jax.random.normal(_key(i), system.shape, jnp.float64), 0) for i in (1, 2))
    np.testing.assert_allclose(jnp.vdot(u, mg(v)), jnp.vdot(mg(u), v), rtol=1e-10)
    assert float(jnp.vdot(u, mg(u))) > 0
    batch = jnp.stack([u, v])
    np.testing.assert_allclose(jax.vmap(mg)(batch)[1], mg(v), rtol=1e-12)
    assert mg.n_levels == 2  # 16^3 -> 8^3 (512 cells, solved directly)


@pytest.mark.slow
def test_multigrid_coarse_level_is_the_galerkin_product(x64):
    system, _ = _system(8, ndim=2, seed=3, open_faces=("+y", "-x"))
    fine = _from_system(system)
    coarse = _coarsen(fine)
    n = 64
    eye = jnp.eye(n, dtype=jnp.float64).reshape(n, 8, 8)
    A = jax.vmap(fine.matvec)(eye).reshape(n, n)
    P = jax.vmap(_prolong)(jnp.eye(16, dtype=jnp.float64).reshape(16, 4, 4)).reshape(16, n).T
    Ac = jax.vmap(coarse.matvec)(jnp.eye(16, dtype=jnp.float64).reshape(16, 4, 4)).reshape(16, 16)
    np.testing.assert_allclose(Ac, P.T @ A @ P, atol=1e-12)
    # and the fine level is the system's operator on the fluid cells
    full = jax.vmap(system.matvec)(eye).reshape(n, n)
    np.testing.assert_allclose(A, full, atol=1e-12)


@pytest.mark.slow
def test_dcdm_with_the_exact_inverse_converges_in_one_iteration(system16, x64):
    system, b = system16
    exact = jnp.asarray(_direct(system, b))
    res = dcdm(system.operator, b, inverse_model(system), tol=1e-8)
    assert int(res.iterations) == 1 and bool(res.converged) and not bool(res.breakdown)
    np.testing.assert_allclose(jnp.where(system.fluid, res.x, 0), exact, atol=1e-8)


def inverse_model(system):
    A = system.to_dense(fluid_only=True)
    fluid = np.asarray(system.fluid)
    Ainv = jnp.asarray(np.linalg.inv(A))
    idx = np.flatnonzero(fluid.reshape(-1))

    def model(x):  # one channels-first sample (1, *shape)
        assert x.shape == (1, *system.shape)
        z = jnp.zeros(x.size, x.dtype).at[idx].set(Ainv @ x.reshape(-1)[idx])
        return 3.0 * z.reshape(x.shape)

    return model


def _spd(n, key, cond=100.0):
    q, _ = jnp.linalg.qr(jax.random.normal(key, (n, n), jnp.float64))
    return (q * jnp.geomspace(1.0, cond, n)) @ q.T


@pytest.mark.slow
def test_dcdm_directions_are_a_orthogonal(x64):
    A = _spd(40, _key(1))
    b = jax.random.normal(_key(2), (40,), jnp.float64)
    W = jax.random.normal(_key(3), (40, 40), jnp.float64) / 7

    def model(x):  # a fixed nonlinear "network": directions are not conjugate by themselves
        r = x[0]  # one channels-first sample (1, 40)
        return (jnp.tanh(W @ r) + r)[None]

    xs = [jnp.zeros(40)] + [dcdm(A, b, model, tol=1e-14, max_iter=k).x for k in range(1, 5)]
    p = [xs[k + 1] - xs[k] for k in range(4)]
    for k in range(1, 4):
        for j in (k - 1, k - 2):
            if j >= 0:
                cos = float(p[k] @ A @ p[j] / jnp.sqrt((p[k] @ A @ p[k]) * (p[j] @ A @ p[j])))
                assert abs(cos) < 1e-10, (k, j, cos)
    # without orthogonalisation they are not
    x1 = dcdm(A, b, model, max_iter=1, n_orth=0).x
    x2 = dcdm(A, b, model, max_iter=2, n_orth=0).x
    q0, q1 = x1, x2 - x1
    assert abs(float(q1 @ A @ q0 / jnp.sqrt((q1 @ A @ q1) * (q0 @ A @ q0)))) > 1e-3
    # and each step is the exact line search: the new residual is orthogonal to the direction
    r2 = b - A @ xs[2]
    assert abs(float(p[1] @ r2)) < 1e-10 * float(jnp.linalg.norm(b) * jnp.linalg.norm(p[1]))


@pytest.mark.slow
def test_dcdm_with_a_linear_preconditioner_reproduces_pcg(x64):
    # with a symmetric linear "network" M, two A-orthogonalisations are all conjugacy needs: DCDM is PCG
    system, b = _system(12, ndim=2, seed=5)
    diag = system.diagonal()
    res = dcdm(system.operator, b, lambda r: r / diag, tol=1e-6, max_iter=400, mask=system.fluid)
    ref = pcg(system.operator, b, tol=1e-6)
    assert bool(res.converged) and not bool(res.breakdown) and not bool(ref.breakdown)
    assert abs(int(res.iterations) - int(ref.iterations)) <= 1, (int(res.iterations), int(ref.iterations))
    true = float(jnp.linalg.norm(b - system.matvec(res.x)) / jnp.linalg.norm(b))
    np.testing.assert_allclose(true, res.residual_history[int(res.iterations)], rtol=1e-10)  # b - Ax
    assert float(jnp.max(jnp.abs(jnp.where(system.fluid, 0, res.x)))) == 0.0
    # the host loop (default, eager) and the while loop (under jit) are the same iteration
    jitted = jax.jit(
        lambda b: dcdm(system.operator, b, lambda r: r / diag, tol=1e-6, max_iter=400, mask=system.fluid)
    )(b)
    assert int(jitted.iterations) == int(res.iterations)
    np.testing.assert_allclose(jitted.x, res.x, rtol=1e-9, atol=1e-12)
    with pytest.raises(ValueError, match="host_loop"):
        jax.jit(lambda b: dcdm(system.operator, b, lambda r: r, host_loop=True).x)(b)


# (A, b, model, iterations done, last iterate, cause): a zero or non-finite direction, or no curvature
DCDM_BREAKDOWNS = {
    "indefinite": ([[2.0, 0.0], [0.0, -1.0]], [1.0, 1.0], lambda r: r, 1, [2.0, 2.0], "the curvature qᵀAq"),
    "zero direction": (np.eye(2), [1.0, 1.0], lambda r: 0 * r, 0, [0.0, 0.0], "the model's direction"),
    "NaN direction": (np.eye(2), [1.0, 1.0], lambda r: r * np.nan, 0, [0.0, 0.0], "a non-finite direction"),
}


@pytest.mark.parametrize("case", list(DCDM_BREAKDOWNS))
def test_dcdm_breakdown_stops_at_the_last_finite_iterate(x64, case):
    A, b, model, k, x_last, cause = DCDM_BREAKDOWNS[case]
    A, b = jnp.asarray(A), jnp.asarray(b)
    results = []
    for host_loop in (None, False):  # eager: the host loop and the while loop both warn
        with pytest.warns(BreakdownWarning, match=rf"^dcdm broke down at iteration {k + 1}: {cause}"):
            results.append(dcdm(A, b, model, max_iter=10, host_loop=host_loop))
    with warnings.catch_warnings():  # under jit: the flag, no warning
        warnings.simplefilter("error", BreakdownWarning)
        results.append(jax.jit(lambda A, b: dcdm(A, b, model, max_iter=10))(A, b))
    for res in results:
        assert bool(res.breakdown) and not bool(res.converged)
        assert int(res.iterations) == k
        np.testing.assert_array_equal(res.x, x_last)
        history = np.asarray(res.residual_history)
        assert np.all(np.isfinite(history[: k + 1])) and np.all(np.isnan(history[k + 1 :]))


def test_krylov_breakdown_from_the_solvers_namespace(x64):
    # the re-exported cg/pcg flag a singular inconsistent system instead of returning x = [inf, -inf]
    A, b = jnp.array([[1.0, 1.0], [1.0, 1.0]]), jnp.array([1.0, -1.0])
    for solve in (cg, lambda A, b: pcg(A, b, preconditioner=None)):
        with pytest.warns(BreakdownWarning, match="not positive definite"):
            res = solve(A, b)
        assert bool(res.breakdown) and not bool(res.converged)
        assert bool(jnp.all(jnp.isfinite(res.x)))


@pytest.mark.slow
def test_dcdm_loss_is_invariant_to_the_scale_of_the_direction(x64):
    system, b = _system(8, ndim=2, seed=6)
    net = DCDMNet(2, 64, dtype=jnp.float64, key=_key())
    batch = jnp.stack([b, jnp.roll(b, 1)])
    l1 = dcdm_loss(system.operator, net, batch)
    l2 = dcdm_loss(system.operator, lambda r: -4.2 * net(r), batch)
    np.testing.assert_allclose(l1, l2, rtol=1e-12)
    q = np.asarray(net(b[None])[0])  # the network takes one channels-first sample
    Aq = np.asarray(system.matvec(q))
    one = np.sum((np.asarray(b) - Aq * np.sum(q * b) / np.sum(q * Aq)) ** 2)
    q2 = np.asarray(net(batch[1][None])[0])
    Aq2 = np.asarray(system.matvec(q2))
    two = np.sum((np.asarray(batch[1]) - Aq2 * np.sum(q2 * batch[1]) / np.sum(q2 * Aq2)) ** 2)
    np.testing.assert_allclose(l1, (one + two) / 2, rtol=1e-12)


@pytest.mark.slow
def test_lanczos_ritz_values_match_eigh(x64):
    A = _spd(30, _key(4), cond=50.0)
    values, vectors = ritz_pairs(A, 30, key=_key(5))
    np.testing.assert_allclose(values, np.linalg.eigvalsh(np.asarray(A)), rtol=1e-8)
    np.testing.assert_allclose(vectors @ vectors.T, np.eye(30), atol=1e-8)
    np.testing.assert_allclose(A @ vectors[0], values[0] * vectors[0], atol=1e-8)
    alpha, beta, V = lanczos(A, jnp.ones(30), 12)
    T = V @ A @ V.T
    np.testing.assert_allclose(T, np.diag(alpha) + np.diag(beta, 1) + np.diag(beta, -1), atol=1e-10)
    # a semi-definite pressure system: the null space is dropped, Ritz vectors stay in the fluid
    system, _ = _system(6, ndim=2, seed=7, open_faces=())
    vals, vecs = ritz_pairs(system.operator, 20, key=_key(6))
    assert float(vals.min()) > 1e-6 and float(jnp.max(jnp.abs(jnp.where(system.fluid, 0, vecs)))) < 1e-10


@pytest.mark.slow
def test_ritz_rhs_weights_the_smallest_modes(x64):
    A = _spd(30, _key(7))
    values, vectors = ritz_pairs(A, 30, key=_key(8))
    b = ritz_rhs(vectors, 2000, key=_key(9))
    np.testing.assert_allclose(jnp.linalg.norm(b, axis=1), 1.0, rtol=1e-12)
    energy = jnp.mean((b @ vectors.T) ** 2, axis=0)  # mean squared coefficient per mode
    low = 30 // 2 + 30 // 20
    ratio = float(jnp.mean(energy[:low]) / jnp.mean(energy[low:]))
    assert 60 < ratio < 100  # 9^2 = 81


def test_the_pressure_operator_is_symmetric(system16, x64):
    system, _ = system16
    u, v = (jax.random.normal(_key(i), system.shape, jnp.float64) for i in (10, 11))
    u, v = jnp.where(system.fluid, u, 0), jnp.where(system.fluid, v, 0)
    np.testing.assert_allclose(jnp.vdot(u, system.matvec(v)), jnp.vdot(system.matvec(u), v), rtol=1e-12)


@pytest.mark.slow
def test_dcdm_net_matches_the_reference_sizes():
    for variant, expected in ((64, 97_457), (128, 152_881)):  # shapes only: nothing allocated or compiled
        assert count_params(eqx.filter_eval_shape(DCDMNet, 3, variant, key=_key())) == expected
    net2 = DCDMNet(2, 64, key=_key())
    assert count_params(net2) == 14 * (9 * 16 * 16 + 16) + (9 * 16 + 16) + 17
    apply = eqx.filter_jit(lambda net, x: net(x))  # one compilation per shape, not one per operation
    for shape in ((8, 8), (12, 6), (16, 16)):  # one set of weights, any even size, channels first
        assert apply(net2, jnp.ones((1, *shape))).shape == (1, *shape)
    batch = jax.random.normal(_key(1), (3, 1, 8, 8))
    out = eqx.filter_jit(lambda net, x: jax.vmap(net)(x))(net2, batch)
    assert out.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(out[1], net2(batch[1]), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ndim", [2, 3])
def test_dcdm_net_convolutions_channels_last_equal_equinox(ndim, x64):
    """The network computes channels last, and in 3-D each convolution as 2-D ones over the depth taps: the
    same as `eqx.nn.Conv` on the channels-first sample (float64; kernels 3 and 1, 16 channels)."""
    from scimlx.solvers._dcdm import _conv, _conv_channels_last

    rng = np.random.default_rng(ndim)
    x = jnp.asarray(rng.standard_normal((16,) + (6, 4, 8)[:ndim]))
    for kernel in (3, 1):
        layer = _conv(ndim, 16, 5, kernel, _key(kernel), jnp.float64)
        layer = eqx.tree_at(lambda c: c.bias, layer, jnp.asarray(rng.standard_normal(layer.bias.shape)))
        got = jnp.moveaxis(_conv_channels_last(ndim, layer, jnp.moveaxis(x, 0, -1)), -1, 0)
        np.testing.assert_allclose(np.asarray(got), np.asarray(layer(x)), rtol=0, atol=1e-12)


@pytest.mark.slow
def test_train_dcdm_lowers_the_loss():
    system, _ = _system(8, ndim=2, seed=8)
    values, vectors = ritz_pairs(system.operator, 40, key=_key(1))
    rhs = ritz_rhs(vectors, 20, key=_key(2), mask=system.fluid)
    net = DCDMNet(2, 64, key=_key(3))
    res = train_dcdm(
        system.operator,
        net,
        rhs,
        key=_key(4),
        config=DCDMConfig(learning_rate=1e-3),
        run=RunOptions(epochs=15, batch_size=10, progress=False),
    )
    loss = np.asarray(res.history["loss"])
    assert loss.shape == (30,)
    assert loss[-4:].mean() < 0.7 * loss[:4].mean(), loss


def test_bad_solver_input(x64):
    A = _spd(6, _key(1))
    with pytest.raises(ValueError, match="shape"):
        dcdm(A, jnp.ones(5), lambda r: r)
    with pytest.raises(ValueError, match="symmetric"):
        dcdm(A + jnp.triu(jnp.ones((6, 6)), 1), jnp.ones(6), lambda r: r)
    with pytest.raises(ValueError, match="symmetric"):
        cg(np.triu(np.ones((6, 6))) + 6 * np.eye(6), np.ones(6))
    with pytest.raises(ValueError, match="tol"):
        dcdm(A, jnp.ones(6), lambda r: r, tol=0.0)
    with pytest.raises(ValueError, match="input_scale"):
        dcdm(A, jnp.ones(6), lambda r: r, input_scale=0.0)
    with pytest.raises(ValueError, match="model"):
        dcdm(A, jnp.ones(6), lambda x: x[:, :3])
    with pytest.raises(ValueError, match="model"):
        dcdm(A, jnp.ones(6), lambda x: x[0])  # the channel axis must come back
    with pytest.raises(TypeError, match="PoissonSystem"):
        MultigridPreconditioner(A)


@pytest.mark.slow
def test_bad_network_and_multigrid_input(x64):
    with pytest.raises(ValueError, match="even"):
        DCDMNet(2, key=_key())(jnp.ones((1, 7, 8)))
    with pytest.raises(ValueError, match=r"`x` must have shape \(1, \*, \*\)"):
        DCDMNet(2, key=_key())(jnp.ones((8, 8)))  # no channel axis
    with pytest.raises(ValueError, match="`x`"):
        DCDMNet(2, key=_key())(jnp.ones((2, 8, 8)))
    with pytest.raises(ValueError, match="variant"):
        DCDMNet(3, 32, key=_key())
    system, _ = _system(6, ndim=2)
    with pytest.raises(ValueError, match="levels"):
        MultigridPreconditioner(system, levels=3)
    with pytest.raises(ValueError, match="grid shape"):
        MultigridPreconditioner(system)(jnp.ones((4, 4)))
    with pytest.raises(ValueError, match=r"`b` must have shape \(\*, 6, 6\)"):
        dcdm_loss(system.operator, lambda r: r, jnp.ones((6, 6)))  # a batch of right-hand sides
    with pytest.raises(ValueError, match="rhs"):
        train_dcdm(system.operator, DCDMNet(2, key=_key()), jnp.ones((4, 8, 8)), key=_key())


@pytest.mark.slow
def test_readme_solver_example_runs():
    """The README's example: the shipped network beats CG's iterations on a geometry it never saw."""
    results = run_readme_block(8, "pretrained_dcdm()")["results"]
    assert all(bool(r.converged) and not bool(r.breakdown) for r in results.values())
    cg_iters, dcdm_iters = int(results["CG"].iterations), int(results["DCDM"].iterations)
    assert dcdm_iters < 0.7 * cg_iters, (dcdm_iters, cg_iters)
    assert int(results["multigrid-PCG"].iterations) < 15


def test_pretrained_dcdm_is_the_shipped_network(tmp_path, monkeypatch):
    """The shipped network loads without a download, has the reference's size; a damaged file is refused."""
    import shutil

    from scimlx.solvers import _pretrained, pretrained_dcdm, pretrained_info
    from scimlx.train import count_params

    net = pretrained_dcdm()
    assert isinstance(net, DCDMNet) and count_params(net) == 97_457
    info = pretrained_info()
    assert info["recipe"]["size"] == 16 and len(info["unseen_geometries"]) == 8
    assert all(r["dcdm"] < r["cg"] for r in info["unseen_geometries"])
    with pytest.raises(ValueError, match="`name`"):
        pretrained_dcdm("poisson64")
    for f in _pretrained._WEIGHTS.iterdir():
        shutil.copy(f, tmp_path / f.name)
    damaged = tmp_path / "dcdm_poisson16.eqx"
    data = bytearray(damaged.read_bytes())
    data[-1] ^= 1
    damaged.write_bytes(bytes(data))
    monkeypatch.setattr(_pretrained, "_WEIGHTS", tmp_path)
    with pytest.raises(ValueError, match="damaged"):
        pretrained_dcdm()
