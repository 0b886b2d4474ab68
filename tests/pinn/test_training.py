"""train_pinn: PIG against the MLP baseline, the causal loss, resampling, checkpoints, bad input."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from scimlx.core import Box, KuramotoSivashinsky
from scimlx.pinn import PIG, PINN, PINNConfig, Problem, get_problem, train_pinn
from scimlx.train import RunOptions, fit
from tests.readme import run_readme_block


def _key(i=0):
    return jax.random.key(i, impl="rbg")


@pytest.fixture(scope="module")
def helmholtz():
    return get_problem("helmholtz_2d", preset="quick", n_collocation=256, n_boundary=64, test_resolution=32)


@pytest.mark.slow
@pytest.mark.usefixtures("default_prng")  # its margin was set on these draws; see `default_prng`
def test_pig_beats_the_mlp_pinn_on_helmholtz_at_the_same_steps(helmholtz):
    # the paper's Helmholtz claim (PIG 4e-5 against PINN 4e-1) at 150 Adam steps with the reference schedule
    recipe = PINNConfig(steps=150, decay_rate=0.9995, decay_steps=1, resample_every=1)
    kw = dict(key=jax.random.key(0), run=RunOptions(eval_every=50, progress=False))
    pig = train_pinn(helmholtz, PIG(2, 50, box=helmholtz.box, key=_key()),
                     config=dataclasses.replace(recipe, learning_rate=1e-2), **kw)
    mlp = train_pinn(helmholtz, PINN(2, 32, 3, box=helmholtz.box, key=_key()),
                     config=dataclasses.replace(recipe, learning_rate=1e-3), **kw)
    assert pig.final_error < 0.5 * mlp.final_error, (pig.final_error, mlp.final_error)
    assert pig.final_error < 0.5
    assert pig.errors.shape == (3, 2) and list(pig.errors[:, 0]) == [50, 100, 150]
    assert pig.best_error == pig.errors[:, 1].min() and pig.best_step in (50, 100, 150)
    assert pig.final_error == pig.errors[-1, 1]
    np.testing.assert_allclose(pig.final_error, float(helmholtz.error(pig.model)), rtol=1e-5)
    assert pig.seconds_per_step > 0
    assert set(pig.fit.history["aux"]) == {"residual", "0:dirichlet"}


@pytest.mark.slow
def test_causal_loss_matches_its_definition():
    problem = get_problem("allen_cahn_1d", preset="quick")
    model = PINN(2, 8, 2, box=problem.box, key=_key())
    batch = problem.sample(64, key=_key(1))
    # jitted: eagerly, each operation of the loss would compile on its own
    total, terms = eqx.filter_jit(problem.loss)(model, batch, causal_tol=2.0, causal_chunks=4)
    pts = batch["residual"]
    r = eqx.filter_jit(lambda m, z: jax.vmap(lambda zi: problem.residual(m, zi))(z))(model, pts)
    r = np.asarray(r)[np.argsort(np.asarray(pts[:, 1]))].reshape(4, 16)
    chunk = (r**2).mean(axis=1)
    w = np.exp(-2.0 * np.concatenate([[0.0], np.cumsum(chunk)[:-1]]))
    conds = [float(v) for k, v in terms.items() if k[0].isdigit()]
    expected = (w * chunk).mean() + sum(conds)
    np.testing.assert_allclose(total, expected, rtol=1e-5)
    np.testing.assert_allclose(terms["causal_min_weight"], w.min(), rtol=1e-5)
    # the weights carry no gradient: the gradient is that of sum(w_i l_i) with w fixed
    assert w[0] == 1.0 and w[-1] < 1.0


def test_fit_resamples_every_n_steps():
    class Scalar(eqx.Module):
        w: jax.Array

    def loss_fn(m, batch, *, key):
        return jnp.sum((m.w - batch) ** 2), {"batch": batch}

    out = fit(Scalar(jnp.zeros(())), loss_fn, lambda k: jax.random.normal(k, ()), optax.sgd(0.0),
              key=_key(), run=RunOptions(steps=7, progress=False), resample_every=3, has_aux=True)
    batches = out.history["aux"]["batch"]
    assert batches[0] == batches[1] == batches[2]
    assert batches[3] == batches[4] == batches[5]
    assert len({batches[0], batches[3], batches[6]}) == 3
    with pytest.raises(ValueError, match="resample_every"):
        fit(Scalar(jnp.zeros(())), lambda m, b, *, key: jnp.sum(m.w**2), None, optax.sgd(0.1),
            key=_key(), run=RunOptions(steps=2, progress=False), resample_every=2)


@pytest.mark.slow
def test_training_checkpoints_and_resumes(tmp_path):
    problem = get_problem("klein_gordon_2p1d", preset="quick", n_collocation=64, n_initial=16, n_boundary=8,
                          test_resolution=6)
    model = PIG(3, 8, box=problem.box, key=_key())
    kw = dict(key=jax.random.key(3), config=PINNConfig(learning_rate=1e-2, resample_every=4))
    run = RunOptions(eval_every=5, progress=False)
    straight = train_pinn(problem, model, run=dataclasses.replace(run, steps=10), **kw)
    train_pinn(problem, model, run=dataclasses.replace(run, steps=5, checkpoint_dir=tmp_path), **kw)
    resumed = train_pinn(problem, model, run=dataclasses.replace(run, steps=10, checkpoint_dir=tmp_path,
                                                                 resume=True), **kw)
    np.testing.assert_array_equal(np.asarray(resumed.model.mu), np.asarray(straight.model.mu))
    assert resumed.final_error == straight.final_error
    with pytest.raises(FileExistsError):
        train_pinn(problem, model, run=dataclasses.replace(run, steps=5, checkpoint_dir=tmp_path), **kw)


@pytest.mark.slow
@pytest.mark.usefixtures("default_prng")  # its margin was set on these draws; see `default_prng`
def test_lbfgs_option_decreases_the_loss(helmholtz):
    res = train_pinn(helmholtz, PIG(2, 10, box=helmholtz.box, key=_key()), key=jax.random.key(0),
                     config=PINNConfig(optimizer="lbfgs", resample_every=1000),
                     run=RunOptions(steps=15, eval_every=15, progress=False))
    loss = res.fit.history["loss"]
    # fixed points (no resampling): the line search makes every step a descent step
    assert np.all(np.diff(loss) <= 1e-7 * loss[0]), loss
    assert loss[-1] < 0.7 * loss[0], loss


def test_bad_training_input(helmholtz):
    run = RunOptions(steps=1, progress=False)
    with pytest.raises(ValueError, match="coordinates"):  # a model for the wrong domain dimension
        train_pinn(helmholtz, PIG(3, 4, key=_key()), key=_key(), run=run)
    with pytest.raises(ValueError, match="optimizer"):
        PINNConfig(optimizer="sgd")
    with pytest.raises(ValueError, match="causal_tol"):
        train_pinn(helmholtz, PIG(2, 4, key=_key()), key=_key(), config=PINNConfig(causal_tol=1.0), run=run)
    with pytest.raises(TypeError, match="problem"):
        train_pinn("helmholtz_2d", PIG(2, 4, key=_key()), key=_key(), run=run)
    with pytest.raises(ValueError, match="steps"):
        RunOptions(steps=0)
    with pytest.raises(ValueError, match="steps"):  # neither the run nor the recipe sets the length
        train_pinn(helmholtz, PIG(2, 4, key=_key()), key=_key())
    with pytest.raises(TypeError, match="run"):
        train_pinn(helmholtz, PIG(2, 4, key=_key()), key=_key(), run={"steps": 1})
    with pytest.raises(ValueError, match="spatial dimension"):  # KS is 1-D
        Problem("ks", KuramotoSivashinsky(), Box((0, 0, 0), (1, 1, 1)), exact=lambda z: z[0], test_shape=3)


@pytest.mark.slow
def test_readme_pinn_example_runs():
    namespace = run_readme_block(6, "train_pinn(", {"jax.random.key(0)": 'jax.random.key(0, impl="rbg")'})
    res = namespace["res"]
    assert 0 < res.best_error <= res.final_error < 1.5 and len(res.fit.history["loss"]) == 20
