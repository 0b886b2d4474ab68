"""Training steps other than one loss and one optimiser (a min-max game, a sampler's state), run options,
trainable versus fixed arrays, and the one parameter count."""

import dataclasses

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from scimlx.train import (
    CHECKPOINT_NAME,
    AbstractTrainStep,
    Fixed,
    GameStep,
    Player,
    RunOptions,
    TrainCarry,
    adam_l2,
    count_params,
    fit,
    trainable,
)

# f(x, y) = a/2 |x|^2 + x.B y - c/2 |y|^2 - p.x - q.y: strongly convex in x, strongly concave in y, one saddle
A_, C_ = 1.0, 0.5
B_ = np.array([[1.0, 0.5], [-0.3, 1.2]])
P_, Q_ = np.array([1.0, -2.0]), np.array([0.5, 1.0])


def _saddle_point():
    # grad_x f = a x + B y - p = 0, grad_y f = B^T x - c y - q = 0
    m = np.block([[A_ * np.eye(2), B_], [B_.T, -C_ * np.eye(2)]])
    z = np.linalg.solve(m, np.concatenate([P_, Q_]))
    return z[:2], z[2:]


class Saddle(eqx.Module):
    x: jax.Array
    y: jax.Array


def _f(m):
    b, p, q = jnp.asarray(B_), jnp.asarray(P_), jnp.asarray(Q_)
    return 0.5 * A_ * m.x @ m.x + m.x @ b @ m.y - 0.5 * C_ * m.y @ m.y - p @ m.x - q @ m.y


def _game(simultaneous=False):
    return GameStep(
        [
            Player("min", lambda m: m.x, lambda m, batch, *, key: _f(m), optax.sgd(0.2)),
            Player("max", lambda m: m.y, lambda m, batch, *, key: -_f(m), optax.sgd(0.2)),
        ],
        simultaneous=simultaneous,
    )


def _start():
    return Saddle(jnp.zeros(2), jnp.zeros(2))


@pytest.mark.parametrize("simultaneous", [False, True])
def test_game_step_converges_to_the_saddle_point(simultaneous):
    x_star, y_star = _saddle_point()
    out = fit(
        _start(), _game(simultaneous), None, key=jax.random.key(0), run=RunOptions(steps=300, progress=False)
    )
    np.testing.assert_allclose(out.model.x, x_star, atol=1e-4)
    np.testing.assert_allclose(out.model.y, y_star, atol=1e-4)
    h = out.history
    assert set(h["aux"]) == {"min_loss", "max_loss"}
    np.testing.assert_allclose(h["loss"], h["aux"]["min_loss"])  # the step's loss is the first player's
    np.testing.assert_allclose(
        h["loss"][-1], float(_f(Saddle(jnp.asarray(x_star), jnp.asarray(y_star)))), rtol=1e-4
    )
    assert isinstance(out.opt_state, tuple) and len(out.opt_state) == 2


def test_game_step_alternates_updates():
    """Gauss-Seidel: the second player sees the first one's new parameters within the same step."""
    out = fit(_start(), _game(), None, key=jax.random.key(0), run=RunOptions(steps=1, progress=False))
    x1 = 0.2 * np.asarray(P_)  # from x = y = 0: grad_x f = -p
    y1 = 0.2 * (np.asarray(B_).T @ x1 - np.asarray(Q_))  # ascent on f at (x1, 0)
    np.testing.assert_allclose(out.model.x, x1, rtol=1e-6)
    np.testing.assert_allclose(out.model.y, y1, rtol=1e-6)
    jacobi = fit(_start(), _game(True), None, key=jax.random.key(0), run=RunOptions(steps=1, progress=False))
    np.testing.assert_allclose(jacobi.model.y, -0.2 * np.asarray(Q_), rtol=1e-6)  # ascent at (0, 0)


def test_game_step_checkpoints_resumes_and_evaluates(tmp_path):
    run = RunOptions(steps=40, progress=False, eval_every=10)

    def eval_fn(m):
        return {"gap": float(jnp.linalg.norm(m.x - jnp.asarray(_saddle_point()[0])))}

    full = fit(_start(), _game(), None, key=jax.random.key(1), run=run, eval_fn=eval_fn)
    half = dataclasses.replace(run, steps=20, checkpoint_dir=tmp_path, checkpoint_every=10)
    fit(_start(), _game(), None, key=jax.random.key(1), run=half, eval_fn=eval_fn)
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    resumed = fit(
        _start(), _game(), None, key=jax.random.key(1), eval_fn=eval_fn,
        run=dataclasses.replace(run, checkpoint_dir=tmp_path, resume=True),
    )  # fmt: skip
    for a, b in zip(
        jax.tree.leaves((full.model, full.opt_state)), jax.tree.leaves((resumed.model, resumed.opt_state))
    ):
        assert jnp.array_equal(a, b)
    np.testing.assert_array_equal(full.history["aux"]["max_loss"], resumed.history["aux"]["max_loss"])
    assert [s for s, _ in resumed.history["eval"]] == [10, 20, 30, 40]
    gaps = [d["gap"] for _, d in resumed.history["eval"]]
    assert gaps[-1] < gaps[0]


def test_game_step_bad_input():
    lose = lambda m, b, *, key: _f(m)  # noqa: E731
    with pytest.raises(ValueError, match="overlap"):
        fit(_start(), GameStep([Player("a", lambda m: m.x, lose, optax.sgd(0.1)),
                                Player("b", lambda m: (m.x, m.y), lose, optax.sgd(0.1))]),
            None, key=jax.random.key(0), run=RunOptions(steps=1, progress=False))  # fmt: skip
    with pytest.raises(ValueError, match="distinct"):
        GameStep(
            [
                Player("a", lambda m: m.x, lose, optax.sgd(0.1)),
                Player("a", lambda m: m.y, lose, optax.sgd(0.1)),
            ]
        )
    with pytest.raises(TypeError, match="optimizer"):
        Player("a", lambda m: m.x, lose, optax.sgd)
    with pytest.raises(ValueError, match="steps"):
        Player("a", lambda m: m.x, lose, optax.sgd(0.1), steps=0)
    with pytest.raises(ValueError, match="stateful"):
        fit(_start(), _game(), None, key=jax.random.key(0), state={"n": jnp.zeros(())},
            run=RunOptions(steps=1))  # fmt: skip
    with pytest.raises(ValueError, match="optimizer=None"):
        fit(_start(), _game(), None, optax.sgd(0.1), key=jax.random.key(0), run=RunOptions(steps=1))
    with pytest.raises(ValueError, match="does not select"):
        fit(_start(), GameStep([Player("a", lambda m: m.z, lose, optax.sgd(0.1))]), None,
            key=jax.random.key(0), run=RunOptions(steps=1, progress=False))  # fmt: skip


class CountingStep(AbstractTrainStep):
    """Gradient descent on |w - batch|^2 that counts its calls in the carried state (a sampler's state)."""

    optimizer: optax.GradientTransformation

    def init(self, model):
        return self.optimizer.init(trainable(model))

    def __call__(self, carry, batch, *, key):
        loss, grads = eqx.filter_value_and_grad(lambda m: jnp.sum((m.w - batch) ** 2))(carry.model)
        updates, opt_state = self.optimizer.update(grads, carry.opt_state, trainable(carry.model))
        state = {"calls": carry.state["calls"] + 1}
        return TrainCarry(eqx.apply_updates(carry.model, updates), opt_state, state), loss, {}


class W(eqx.Module):
    w: jax.Array


def test_custom_step_carries_state_and_resumes(tmp_path):
    data = jnp.full((6, 3), 2.0)
    state = {"calls": jnp.zeros((), jnp.int32)}
    step = CountingStep(optax.sgd(0.1))
    base = RunOptions(batch_size=2, progress=False)
    out = fit(W(jnp.zeros(3)), step, data, key=jax.random.key(0), state=state,
              run=dataclasses.replace(base, epochs=4))  # fmt: skip
    assert int(out.state["calls"]) == 12
    # the gradient over a batch of two rows is 4 (w - 2): each step multiplies w - 2 by 0.6
    np.testing.assert_allclose(out.model.w, 2.0 * (1 - 0.6**12), rtol=1e-5)
    fit(W(jnp.zeros(3)), step, data, key=jax.random.key(0), state=state,
        run=dataclasses.replace(base, steps=5, checkpoint_dir=tmp_path))  # fmt: skip
    resumed = fit(W(jnp.zeros(3)), step, data, key=jax.random.key(0), state=state,
                  run=dataclasses.replace(base, epochs=4, checkpoint_dir=tmp_path, resume=True))  # fmt: skip
    assert int(resumed.state["calls"]) == 12 and jnp.array_equal(resumed.model.w, out.model.w)


# ------------------------------------------------------------------------------------------ run options


def test_run_options_defaults_and_checks():
    run = RunOptions(steps=7)
    assert run.with_defaults(epochs=500, batch_size=20) == RunOptions(steps=7, batch_size=20)
    assert RunOptions(batch_size=4).with_defaults(epochs=3, batch_size=20) == RunOptions(
        epochs=3, batch_size=4
    )
    with pytest.raises(ValueError, match="steps.*epochs"):
        RunOptions(steps=1, epochs=1)
    with pytest.raises(TypeError, match="progress"):
        RunOptions(progress="yes")
    with pytest.raises(ValueError, match="devices"):
        RunOptions(devices=0)
    with pytest.raises(ValueError, match="mesh"):
        RunOptions(devices=1, mesh=jax.make_mesh((1,), ("data",)))
    with pytest.raises(ValueError, match="'data'"):
        RunOptions(mesh=jax.make_mesh((1,), ("batch",)))
    with pytest.raises(TypeError, match="Unknown"):
        run.with_defaults(learning_rate=1.0)
    loss = lambda m, b, *, key: jnp.sum(m.w**2)  # noqa: E731
    with pytest.raises(TypeError, match="run"):
        fit(W(jnp.zeros(3)), loss, None, optax.sgd(0.1), key=jax.random.key(0), run={"steps": 3})
    with pytest.raises(ValueError, match="devices"):  # more devices than JAX sees
        fit(W(jnp.zeros(3)), loss, None, optax.sgd(0.1), key=jax.random.key(0),
            run=RunOptions(steps=1, devices=len(jax.devices()) + 1))  # fmt: skip


# ------------------------------------------------------------------------------ trainable and fixed


class Net(eqx.Module):
    w: jax.Array
    z: jax.Array  # complex
    shift: Fixed
    bn: eqx.nn.BatchNorm

    def __init__(self):
        self.w = jnp.ones((2, 3))
        self.z = jnp.ones(4, jnp.complex64)
        self.shift = Fixed(jnp.arange(5.0))
        self.bn = eqx.nn.BatchNorm(3, axis_name="batch", mode="batch")


def test_count_params_and_trainable():
    net = Net()
    # w: 6, z: 4 complex = 8 reals, BatchNorm: weight + bias = 6; the fixed shift and running stats excluded
    assert count_params(net) == 6 + 8 + 6
    assert count_params(net, complex_as_real=False) == 6 + 4 + 6
    shapes_only = eqx.filter_eval_shape(Net)  # ShapeDtypeStruct leaves count the same
    assert count_params(shapes_only) == 6 + 8 + 6 and count_params(shapes_only, complex_as_real=False) == 16
    params = trainable(net)
    assert params.shift.array is None and params.w is not None
    assert count_params(eqx.nn.MLP(2, 1, 8, 2, key=jax.random.key(0))) == 2 * 8 + 8 + 8 * 8 + 8 + 8 + 1
    g = jax.grad(lambda f: jnp.sum(f.value * 3.0))(Fixed(jnp.arange(5.0)))
    assert float(jnp.abs(g.array).max()) == 0.0  # `.value` stops gradients


def test_fixed_arrays_never_reach_the_optimizer():
    class Shifted(eqx.Module):
        w: jax.Array
        shift: Fixed

        def __call__(self, x):
            return self.w * (x - self.shift.value)

    model = Shifted(jnp.ones(()), Fixed(jnp.asarray(0.5)))
    x = jnp.linspace(0.0, 1.0, 8)

    def loss_fn(m, batch, *, key):
        return jnp.mean((m(batch) - 2.0 * batch) ** 2)

    out = fit(model, loss_fn, x, adam_l2(0.05, weight_decay=1.0), key=jax.random.key(0),
              run=RunOptions(steps=20, batch_size=8, progress=False))  # fmt: skip
    assert out.model.shift.array.tobytes() == model.shift.array.tobytes()
    assert float(out.model.w) != 1.0
    adam = out.opt_state[1]  # add_decayed_weights, scale_by_adam, scale_by_learning_rate
    assert adam.mu.shift.array is None and adam.mu.w.shape == ()  # Adam's moments cover `w` alone


def test_recipes_share_one_shape():
    from scimlx.operators import OperatorConfig
    from scimlx.pinn import PINNConfig
    from scimlx.solvers import DCDMConfig

    assert OperatorConfig().run_defaults() == {"epochs": 500, "batch_size": 20}
    assert DCDMConfig().run_defaults() == {"epochs": 1000, "batch_size": 10}
    assert PINNConfig(steps=7).run_defaults() == {"steps": 7, "eval_every": 100}
    # the run's length and batch are not part of the recipe a resumed run is compared against
    recipe = OperatorConfig().as_config()
    assert "epochs" not in recipe and "batch_size" not in recipe and recipe["learning_rate"] == 5e-4
    assert PINNConfig(optimizer=optax.sgd(0.1)).as_config()["optimizer"].startswith("<")
    run = RunOptions(epochs=2).with_defaults(**OperatorConfig().run_defaults())
    assert (run.epochs, run.batch_size, run.steps) == (2, 20, None)
    with pytest.raises(ValueError, match="gamma"):
        OperatorConfig(gamma=0.0)
    with pytest.raises(ValueError, match="learning_rate"):
        DCDMConfig(learning_rate=-1.0)
