"""The adaptive samplers and their problems: exact solutions, the refinements doing what they say, DAS's
stages, AAS moving its points toward the peak, a bit-identical resume of the two-player run, clear errors."""

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from scimlx.core import Box, sample_interior
from scimlx.flows import KRnet
from scimlx.pinn import (
    AAS,
    DAS,
    PINN,
    RAD,
    RAR,
    PINNConfig,
    SampledModel,
    Uniform,
    get_problem,
    get_sampler,
    plot_points,
    squared_residuals,
    train_pinn,
)
from scimlx.train import RunOptions
from tests.tiers import tiered

PEAK = np.array([0.5, 0.5])


@pytest.mark.parametrize("name", tiered(["peak_2d", "two_peak_2d", "exponential_nd"], []))
def test_exact_solutions_zero_the_residuals(name, x64):
    problem = get_problem(name, "quick", n_boundary=8)
    batch = problem.sample(256, key=jax.random.key(0))
    d = problem.ndim
    # uniform points rarely meet the peaks, where the source is large: add points around them
    centre = 0.0 if name == "exponential_nd" else 0.5
    near = centre + 0.05 * jax.random.normal(jax.random.key(1), (64, d))
    pts = jnp.concatenate([batch["residual"], near, -near])
    source = jax.vmap(problem.equation.source)(pts)

    @jax.jit
    def residuals(pts):
        exact = jax.vmap(lambda z: problem.residual(problem.exact, z))(pts)
        wrong = jax.vmap(lambda z: problem.residual(lambda y: problem.exact(y) + 0.01 * y[0] ** 2, z))(pts)
        return exact, wrong

    exact, wrong = residuals(pts)
    assert float(jnp.max(jnp.abs(source))) > 10  # the peaks were met
    assert float(jnp.max(jnp.abs(exact))) < 1e-10 * float(jnp.max(jnp.abs(source)))
    assert float(jnp.median(jnp.abs(wrong))) > 1e-3  # a wrong solution's do not vanish: the check can fail
    cond = problem.conditions[0]
    rows = batch["conditions"][0]
    assert float(jnp.max(jnp.abs(jax.vmap(lambda r: cond.residual(problem.exact, r, False))(rows)))) == 0.0


@pytest.fixture(scope="module")
def peak():
    """The peak problem at test scale and an untrained network (its residual is the source: the peak)."""
    problem = get_problem("peak_2d", "quick", n_collocation=256, n_boundary=16, test_resolution=32)
    return problem, PINN(2, 16, 2, key=jax.random.key(0))


@pytest.mark.slow
def test_weighted_loss_is_the_weighted_mean(peak):
    problem, model = peak
    batch = problem.sample(64, key=jax.random.key(2))
    w = jnp.where(jnp.arange(64) < 40, 1.0, 0.0)
    loss_w, terms_w = problem.loss(model, {**batch, "weights": w})
    loss_40, terms_40 = problem.loss(model, {**batch, "residual": batch["residual"][:40]})
    np.testing.assert_allclose(terms_w["residual"], terms_40["residual"], rtol=1e-6)
    np.testing.assert_allclose(loss_w, loss_40, rtol=1e-6)
    with pytest.raises(ValueError, match="weights"):
        problem.loss(model, {**batch, "weights": w[:10]})


@pytest.mark.slow
def test_rar_adds_the_points_of_largest_residual(peak):
    problem, model = peak
    rar = RAR(every=10, add=16, n_candidates=2000)
    state = rar.init(problem, 64, 31, key=jax.random.key(0))
    assert state["points"].shape == (64 + 16 * 3, 2) and int(state["count"]) == 64
    pair = SampledModel(model)
    key = jax.random.key(5)
    for step in (0, 7):  # refinements at positive multiples of `every` only
        same = rar.refresh(problem, pair, state, jnp.asarray(step), 64, None, key=key)
        assert int(same["count"]) == 64
        np.testing.assert_array_equal(same["points"], state["points"])
    new = rar.refresh(problem, pair, state, jnp.asarray(10), 64, None, key=key)
    assert int(new["count"]) == 80
    np.testing.assert_array_equal(new["weights"][:80], 1.0)
    np.testing.assert_array_equal(new["weights"][80:], 0.0)
    np.testing.assert_array_equal(new["points"][:64], state["points"][:64])
    added = squared_residuals(problem, model, new["points"][64:80])
    cand = jax.random.uniform(jax.random.key(9), (20_000, 2), minval=-1.0, maxval=1.0)
    # the 16 best of 2,000 candidates: above the 99th percentile of the squared residual
    assert float(jnp.min(added)) > float(jnp.quantile(squared_residuals(problem, model, cand), 0.99))


@pytest.mark.slow
def test_rad_draws_where_the_residual_is(peak):
    problem, model = peak
    rad = RAD(every=5, k=2.0, c=0.0, n_candidates=20_000)  # ~360 candidates near the peak
    state = rad.init(problem, 100, 10, key=jax.random.key(0))
    new = rad.refresh(problem, SampledModel(model), state, jnp.asarray(5), 100, None, key=jax.random.key(1))
    near = lambda p: float(np.mean(np.linalg.norm(np.asarray(p) - PEAK, axis=1) < 0.15))  # noqa: E731
    assert near(state["points"]) < 0.05  # uniform: π 0.15² / 4 ≈ 0.018
    assert near(new["points"]) > 0.5
    assert len(np.unique(np.asarray(new["points"]), axis=0)) == 100  # without replacement
    # with c large the draw is nearly uniform again
    flat = RAD(every=5, k=2.0, c=1e6, n_candidates=20_000)
    assert near(flat.refresh(problem, SampledModel(model), state, jnp.asarray(5), 100, None,
                             key=jax.random.key(1))["points"]) < 0.1  # fmt: skip


def _small_flow(problem, seed=1):
    return KRnet(2, box=problem.box, n_depth=2, width=16, n_bins=8, key=jax.random.key(seed))


@pytest.mark.slow
def test_das_stages(peak):
    problem, model = peak
    das = DAS(_small_flow(problem), mode="grow", solution_steps=6, flow_steps=10, learning_rate=1e-2)
    steps = 6 + 16 + 16  # three stages
    res = train_pinn(problem, model, key=jax.random.key(3), sampler=das,
                     config=PINNConfig(steps=steps, resample_every=1, n_collocation=256),
                     run=RunOptions(progress=False))  # fmt: skip
    state = res.fit.state
    assert state["points"].shape == (256 * 3, 2) and int(state["count"]) == 256 * 3
    flow_loss = res.fit.history["aux"]["flow_loss"]
    in_flow = (np.arange(steps) % 16) >= 6
    assert np.all(np.isfinite(flow_loss[in_flow])) and np.all(np.isnan(flow_loss[~in_flow]))
    # the flow train_pinn started from (initialised on the uniform points of its key) and the trained one:
    # 20 steps of fitting p ∝ r² raise the density at the peak against a point far from it
    k_flow = jax.random.split(jax.random.fold_in(jax.random.key(3), 1))[0]
    initial = das.flow.initialize(sample_interior(problem.box, 256, key=k_flow))

    def contrast(flow):
        return float(flow.log_prob(jnp.asarray(PEAK)) - flow.log_prob(-jnp.asarray(PEAK)))

    assert contrast(res.flow) > contrast(initial) + 2, (contrast(res.flow), contrast(initial))
    near = np.mean(np.linalg.norm(np.asarray(state["points"][256:]) - PEAK, axis=1) < 0.25)
    assert near > 0.15, near  # the flow's points (uniform: π 0.25² / 4 ≈ 0.05)


@pytest.mark.slow
def test_aas_moves_its_points_toward_the_peak(peak):
    problem, model = peak
    aas = AAS(_small_flow(problem), beta=1e-3, learning_rate=1e-2, resample_every=10)
    res = train_pinn(problem, model, key=jax.random.key(4), sampler=aas,
                     config=PINNConfig(steps=61, learning_rate=1e-3, n_collocation=256),
                     run=RunOptions(progress=False))  # fmt: skip
    pts = np.asarray(res.fit.state["points"])
    near = np.mean(np.linalg.norm(pts - PEAK, axis=1) < 0.25)
    assert near > 0.25, near  # uniform: π 0.25² / 4 ≈ 0.05
    objective = res.fit.history["aux"]["flow/objective"]
    assert objective[-1] > 3 * objective[0]  # ∫ μ_r p grew: the flow found the residual


def _aas_run(problem, model, steps, checkpoint_dir, resume=False):
    aas = AAS(_small_flow(problem), learning_rate=1e-2, resample_every=3, uniform_fraction=0.25)
    return train_pinn(problem, model, key=jax.random.key(7), sampler=aas,
                      config=PINNConfig(steps=12, n_collocation=32),
                      run=RunOptions(steps=steps, progress=False, checkpoint_dir=checkpoint_dir,
                                     checkpoint_every=5, resume=resume))  # fmt: skip


@pytest.mark.slow
def test_aas_resume_is_bit_identical(peak, tmp_path):
    problem, model = peak
    straight = _aas_run(problem, model, 12, tmp_path / "a")
    _aas_run(problem, model, 7, tmp_path / "b")  # stops after 7 steps, the checkpoint at step 7
    resumed = _aas_run(problem, model, 12, tmp_path / "b", resume=True)
    for a, b in [(straight.model, resumed.model), (straight.flow, resumed.flow),
                 (straight.fit.state, resumed.fit.state), (straight.fit.opt_state, resumed.fit.opt_state)]:
        la, lb = jax.tree.leaves(eqx.filter(a, eqx.is_array)), jax.tree.leaves(eqx.filter(b, eqx.is_array))
        assert len(la) == len(lb) > 0
        for x, y in zip(la, lb):
            np.testing.assert_array_equal(x, y)
    np.testing.assert_array_equal(straight.fit.history["loss"], resumed.fit.history["loss"])


@pytest.mark.slow
def test_bad_input(peak):
    problem, model = peak
    flow3 = KRnet(3, n_depth=2, key=jax.random.key(0))
    run = RunOptions(steps=2, progress=False)
    with pytest.raises(ValueError, match="flow"):
        train_pinn(problem, model, key=jax.random.key(0), sampler=AAS(flow3), config=PINNConfig(), run=run)
    unit = KRnet(2, box=Box.unit(2), n_depth=2, key=jax.random.key(0))  # [0, 1]², the problem is on [-1, 1]²
    with pytest.raises(ValueError, match="support"):
        train_pinn(problem, model, key=jax.random.key(0), sampler=AAS(unit), config=PINNConfig(), run=run)
    with pytest.raises(ValueError, match="beta"):
        AAS(_small_flow(problem), beta=0.0)
    with pytest.raises(ValueError, match="beta"):
        AAS(_small_flow(problem), beta=-1.0)
    with pytest.raises(ValueError, match="penalty"):
        AAS(_small_flow(problem), penalty="l2")
    with pytest.raises(TypeError, match="flow"):
        DAS(model)
    with pytest.raises(ValueError, match="mode"):
        DAS(_small_flow(problem), mode="both")
    with pytest.raises(ValueError, match="name"):
        get_sampler("halton")
    with pytest.raises(TypeError, match="sampler"):
        train_pinn(problem, model, key=jax.random.key(0), sampler="aas", config=PINNConfig(), run=run)
    with pytest.raises(ValueError, match="n_candidates"):
        train_pinn(problem, model, key=jax.random.key(0), sampler=RAR(add=100, n_candidates=50),
                   config=PINNConfig(n_collocation=16), run=run)  # fmt: skip
    assert isinstance(get_sampler("uniform"), Uniform)
    with pytest.raises(ValueError, match="2-D"):
        plot_points(get_problem("exponential_nd", "quick"), model)
    with pytest.raises(ValueError, match="points"):
        plot_points(problem, model, np.zeros((4, 3)))


@pytest.mark.slow
def test_readme_sampling_example_runs():
    from tests.readme import run_readme_block

    res = run_readme_block(7, "sampler=AAS(")["res"]
    pts = np.asarray(res.fit.state["points"])
    assert pts.shape == (500, 2) and np.all(np.abs(pts) <= 1.0)
    assert np.isfinite(res.final_error) and res.residual_cv > 0 and len(res.fit.history["loss"]) == 100
