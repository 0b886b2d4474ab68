import dataclasses
import math

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from scimlx.train import CHECKPOINT_NAME, FitResult, NonFiniteLossError, RunOptions, fit, lbfgs
from tests.tiers import tiered


def _data(n=13):
    x = jnp.linspace(-1.0, 1.0, n)[:, None]
    return x, jnp.sin(3.0 * x)


def _mlp(seed=0):
    return eqx.nn.MLP(1, 1, 8, 2, activation=jnp.tanh, key=jax.random.key(seed))


def _mse(model, batch, *, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _noisy_mse(model, batch, *, key):
    # Uses the key, so that resumption must reproduce the per-step keys too.
    x, y = batch
    x = x + 1e-2 * jax.random.normal(key, x.shape)
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _sampler(key):
    x = jax.random.uniform(key, (16, 1), minval=-1.0, maxval=1.0)
    return x, jnp.sin(3.0 * x)


def _assert_trees_equal(a, b):
    la = jax.tree.leaves(eqx.filter(a, eqx.is_array))
    lb = jax.tree.leaves(eqx.filter(b, eqx.is_array))
    assert len(la) == len(lb) > 0
    for x, y in zip(la, lb):
        assert jnp.array_equal(x, y)


def test_fit_array_data_epochs():
    x, y = _data(37)
    result = fit(
        _mlp(),
        _mse,
        (x, y),
        optax.adam(1e-2),
        key=jax.random.key(1),
        run=RunOptions(epochs=6, batch_size=8, progress=False),
    )
    assert isinstance(result, FitResult)
    n_steps = 6 * math.ceil(37 / 8)
    assert result.step == n_steps
    assert result.state is None
    h = result.history
    np.testing.assert_array_equal(h["step"], np.arange(1, n_steps + 1))
    assert h["loss"].shape == h["time"].shape == (n_steps,)
    assert np.all(np.diff(h["time"]) >= 0)
    assert h["eval"] == [] and h["aux"] == {}
    assert np.mean(h["loss"][-5:]) < 0.5 * np.mean(h["loss"][:5])
    assert _mse(result.model, (x, y), key=None) < _mse(_mlp(), (x, y), key=None)


def test_fit_sampler_steps():
    result = fit(
        _mlp(),
        _noisy_mse,
        _sampler,
        optax.adam(1e-2),
        key=jax.random.key(2),
        run=RunOptions(steps=60, progress=False),
    )
    h = result.history
    assert len(h["loss"]) == 60
    assert np.mean(h["loss"][-5:]) < 0.5 * np.mean(h["loss"][:5])


def test_fit_data_none_and_progress_bar(capsys):
    x, y = _data()

    def loss_fn(model, batch, *, key):
        assert batch is None
        return _mse(model, (x, y), key=key)

    result = fit(
        _mlp(),
        loss_fn,
        None,
        optax.adam(1e-2),
        key=jax.random.key(3),
        run=RunOptions(steps=30),
    )
    assert result.history["loss"][-1] < result.history["loss"][0]
    assert "loss=" in capsys.readouterr().err


def test_minibatches_are_epoch_permutations():
    n, batch_size, epochs = 11, 4, 3
    data = jnp.arange(n, dtype=jnp.float32)
    model = _mlp()

    def loss_fn(model, batch, *, key):
        loss = jnp.mean((jax.vmap(model)(batch[:, None]) - 1.0) ** 2)
        return loss, {
            "sum": jnp.sum(batch),
            "size": jnp.asarray(batch.shape[0], jnp.float32),
            "first": batch[0],
        }

    result = fit(
        model,
        loss_fn,
        data,
        optax.sgd(0.0),
        key=jax.random.key(4),
        run=RunOptions(epochs=epochs, batch_size=batch_size, progress=False),
        has_aux=True,
    )
    aux = result.history["aux"]
    assert set(aux) == {"sum", "size", "first"}
    np.testing.assert_array_equal(aux["size"], [4, 4, 3] * epochs)
    np.testing.assert_array_equal(aux["sum"].reshape(epochs, 3).sum(1), [n * (n - 1) / 2] * 3)
    # Shuffled: the epochs do not all start with the same sample.
    assert len(set(aux["first"][::3].tolist())) > 1


def test_eval_hook_steps():
    x, y = _data()
    calls = []

    def eval_fn(model):
        calls.append(model)
        return {"mse": _mse(model, (x, y), key=None), "vec": jnp.arange(2.0)}

    result = fit(
        _mlp(),
        _mse,
        (x, y),
        optax.adam(1e-2),
        key=jax.random.key(5),
        run=RunOptions(steps=10, batch_size=5, eval_every=4, progress=False),
        eval_fn=eval_fn,
    )
    evals = result.history["eval"]
    assert [s for s, _ in evals] == [4, 8, 10]
    assert all(isinstance(d["mse"], float) for _, d in evals)
    assert evals[0][1]["vec"] == [0.0, 1.0]
    assert len(calls) == 3
    assert evals[-1][1]["mse"] == pytest.approx(float(_mse(result.model, (x, y), key=None)))

    # Without eval_every: only at the end.
    result = fit(
        _mlp(),
        _mse,
        (x, y),
        optax.adam(1e-2),
        key=jax.random.key(5),
        run=RunOptions(steps=3, batch_size=5, progress=False),
        eval_fn=eval_fn,
    )
    assert [s for s, _ in result.history["eval"]] == [3]


# (the default tier resumes bit-identically after Ctrl-C in tests/train/test_interrupt.py)
@pytest.mark.parametrize("kind", tiered(["arrays", "sampler"], []))
def test_resume_is_bit_identical(tmp_path, kind):
    if kind == "arrays":
        # 13 samples, batches of 5: 3 steps per epoch with a partial last batch; step 10
        # is inside epoch 3.
        data, base = _data(13), RunOptions(batch_size=5, progress=False)
    else:
        data, base = _sampler, RunOptions(progress=False)
    schedule = optax.exponential_decay(1e-2, 7, 0.5)
    kwargs = dict(key=jax.random.key(7), config={"lr": 1e-2})

    full = fit(
        _mlp(), _noisy_mse, data, optax.adam(schedule), run=dataclasses.replace(base, steps=20), **kwargs
    )

    d = tmp_path / "run"
    first = fit(
        _mlp(),
        _noisy_mse,
        data,
        optax.adam(schedule),
        run=dataclasses.replace(base, steps=10, checkpoint_dir=d, checkpoint_every=5),
        **kwargs,
    )
    assert first.step == 10
    second = fit(
        _mlp(),
        _noisy_mse,
        data,
        optax.adam(schedule),
        run=dataclasses.replace(base, steps=20, checkpoint_dir=d, checkpoint_every=5, resume=True),
        **kwargs,
    )
    assert second.step == 20
    _assert_trees_equal(full.model, second.model)
    _assert_trees_equal(full.opt_state, second.opt_state)
    np.testing.assert_array_equal(full.history["loss"], second.history["loss"])
    np.testing.assert_array_equal(second.history["step"], np.arange(1, 21))
    assert sorted(p.name for p in d.iterdir()) == [CHECKPOINT_NAME]

    # Resuming a finished run does nothing.
    again = fit(
        _mlp(),
        _noisy_mse,
        data,
        optax.adam(schedule),
        run=dataclasses.replace(base, steps=20, checkpoint_dir=d, resume=True),
        **kwargs,
    )
    assert again.step == 20
    _assert_trees_equal(again.model, second.model)


@pytest.mark.slow
def test_resume_after_interruption_epochs(tmp_path):
    data = _data(13)
    key, base = jax.random.key(8), RunOptions(batch_size=5, epochs=7, progress=False)
    full = fit(_mlp(), _noisy_mse, data, optax.adam(1e-2), key=key, run=base)

    def interrupt(model):
        raise KeyboardInterrupt

    d = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(
            _mlp(),
            _noisy_mse,
            data,
            optax.adam(1e-2),
            key=key,
            run=dataclasses.replace(base, checkpoint_dir=d, checkpoint_every=4, eval_every=14),
            eval_fn=interrupt,
        )
    resumed = fit(
        _mlp(),
        _noisy_mse,
        data,
        optax.adam(1e-2),
        key=key,
        run=dataclasses.replace(base, checkpoint_dir=d, checkpoint_every=4, resume=True),
    )
    assert resumed.step == full.step == 21
    _assert_trees_equal(full.model, resumed.model)
    np.testing.assert_array_equal(full.history["loss"], resumed.history["loss"])


class _BNNet(eqx.Module):
    lin1: eqx.nn.Linear
    bn: eqx.nn.BatchNorm
    lin2: eqx.nn.Linear

    def __init__(self, *, key):
        k1, k2 = jax.random.split(key)
        self.lin1 = eqx.nn.Linear(1, 8, key=k1)
        self.bn = eqx.nn.BatchNorm(8, axis_name="batch", mode="ema")
        self.lin2 = eqx.nn.Linear(8, 1, key=k2)

    def __call__(self, x, state):
        x, state = self.bn(self.lin1(x), state)
        return self.lin2(jnp.tanh(x)), state


def _bn_loss(model, state, batch, *, key):
    x, y = batch
    pred, state = jax.vmap(model, axis_name="batch", in_axes=(0, None), out_axes=(0, None))(x, state)
    return jnp.mean((pred - y) ** 2), state


def test_stateful_model_trains_and_checkpoints(tmp_path):
    data = _data(16)
    model, state0 = eqx.nn.make_with_state(_BNNet)(key=jax.random.key(9))
    seen = []

    def eval_fn(model, state):
        seen.append(state)
        return {}

    key, base = jax.random.key(10), RunOptions(batch_size=8, progress=False)
    full = fit(
        model,
        _bn_loss,
        data,
        optax.adam(1e-2),
        key=key,
        run=dataclasses.replace(base, steps=30),
        state=state0,
        eval_fn=eval_fn,
    )
    assert full.history["loss"][-1] < full.history["loss"][0]
    assert isinstance(full.state, eqx.nn.State)
    assert len(seen) == 1
    changed = [
        not jnp.array_equal(a, b) for a, b in zip(jax.tree.leaves(state0), jax.tree.leaves(full.state))
    ]
    assert any(changed)

    d = tmp_path / "bn"
    fit(
        model,
        _bn_loss,
        data,
        optax.adam(1e-2),
        key=key,
        run=dataclasses.replace(base, steps=12, checkpoint_dir=d),
        state=state0,
    )
    resumed = fit(
        model,
        _bn_loss,
        data,
        optax.adam(1e-2),
        key=key,
        run=dataclasses.replace(base, steps=30, checkpoint_dir=d, resume=True),
        state=state0,
    )
    _assert_trees_equal(full.model, resumed.model)
    _assert_trees_equal(full.state, resumed.state)

    # Resuming a stateful run without `state` is refused.
    with pytest.raises(ValueError, match="stateful"):
        fit(
            model,
            _mse,
            data,
            optax.adam(1e-2),
            key=key,
            run=dataclasses.replace(base, steps=40, checkpoint_dir=d, resume=True),
        )


class _Scalar(eqx.Module):
    w: jax.Array


def test_nan_guard(tmp_path):
    # SGD with lr=1 on loss -w moves w by +1 per step; the loss of step k (1-based) is
    # evaluated at w = k - 1 and is NaN from step 7 on.
    def loss_fn(model, batch, *, key):
        return -model.w + jnp.where(model.w > 5.5, jnp.nan, 0.0)

    d = tmp_path / "nan"
    with pytest.raises(NonFiniteLossError, match="step 7") as info:
        fit(
            _Scalar(jnp.array(0.0)),
            loss_fn,
            None,
            optax.sgd(1.0),
            key=jax.random.key(0),
            run=RunOptions(steps=20, checkpoint_dir=d, checkpoint_every=5, progress=False),
        )
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert err.step == 7
    assert str(d / CHECKPOINT_NAME) in str(err) and "step 5" in str(err)
    assert err.checkpoint_path == d / CHECKPOINT_NAME
    np.testing.assert_array_equal(err.history["loss"][:6], -np.arange(6.0))
    assert np.isnan(err.history["loss"][-1])

    # The checkpoint on disk still holds the finite parameters of step 5.
    resumed = fit(
        _Scalar(jnp.array(0.0)),
        lambda m, b, *, key: -m.w,
        None,
        optax.sgd(1.0),
        key=jax.random.key(0),
        run=RunOptions(steps=5, checkpoint_dir=d, resume=True, progress=False),
    )
    assert resumed.step == 5
    assert float(resumed.model.w) == 5.0

    # Without checkpoints the message still names the step.
    with pytest.raises(NonFiniteLossError, match="step 7"):
        fit(
            _Scalar(jnp.array(0.0)),
            loss_fn,
            None,
            optax.sgd(1.0),
            key=jax.random.key(0),
            run=RunOptions(steps=20, progress=False),
        )


def test_nonfinite_parameters_are_not_checkpointed(tmp_path):
    # The loss of step 3 is finite, but its update (learning rate inf) is not.
    opt = optax.sgd(lambda count: jnp.where(count >= 2, jnp.inf, 1.0))
    d = tmp_path / "inf"
    with pytest.raises(NonFiniteLossError, match="non-finite at step 3") as info:
        fit(
            _Scalar(jnp.array(0.0)),
            lambda m, b, *, key: -m.w,
            None,
            opt,
            key=jax.random.key(0),
            run=RunOptions(steps=10, checkpoint_dir=d, checkpoint_every=1, progress=False),
        )
    assert "step 2" in str(info.value)
    assert info.value.history["loss"].tolist() == [0.0, -1.0, -2.0]


def test_has_aux_with_state():
    data = _data(16)
    model, state = eqx.nn.make_with_state(_BNNet)(key=jax.random.key(9))

    def loss_fn(model, state, batch, *, key):
        loss, state = _bn_loss(model, state, batch, key=key)
        return loss, (state, {"double": 2 * loss})

    result = fit(
        model,
        loss_fn,
        data,
        optax.adam(1e-2),
        key=jax.random.key(1),
        run=RunOptions(steps=5, batch_size=8, progress=False),
        state=state,
        has_aux=True,
    )
    np.testing.assert_allclose(result.history["aux"]["double"], 2 * result.history["loss"])


def test_lbfgs_minimises_quadratic():
    a = jnp.array([[3.0, 1.0, 0.0], [1.0, 2.0, 0.5], [0.0, 0.5, 1.5]])
    b = jnp.array([1.0, -2.0, 0.5])

    class Vec(eqx.Module):
        v: jax.Array

    def loss_fn(model, batch, *, key):
        return 0.5 * model.v @ a @ model.v - b @ model.v

    result = fit(
        Vec(jnp.zeros(3)),
        loss_fn,
        None,
        lbfgs(),
        key=jax.random.key(0),
        run=RunOptions(steps=15, progress=False),
    )
    np.testing.assert_allclose(result.model.v, jnp.linalg.solve(a, b), rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_lbfgs_with_state():
    data = _data(16)
    model, state = eqx.nn.make_with_state(_BNNet)(key=jax.random.key(9))
    result = fit(
        model,
        _bn_loss,
        data,
        lbfgs(),
        key=jax.random.key(1),
        run=RunOptions(steps=10, batch_size=16, progress=False),
        state=state,
    )
    assert result.history["loss"][-1] < result.history["loss"][0]


def test_existing_checkpoint_is_not_overwritten(tmp_path):
    data = _data()
    key, run = jax.random.key(0), RunOptions(batch_size=5, steps=3, progress=False, checkpoint_dir=tmp_path)
    fit(_mlp(), _mse, data, optax.adam(1e-2), key=key, run=run)
    before = (tmp_path / CHECKPOINT_NAME).read_bytes()
    with pytest.raises(FileExistsError, match="overwrite"):
        fit(_mlp(1), _mse, data, optax.adam(1e-2), key=key, run=run)
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() == before
    fit(_mlp(1), _mse, data, optax.adam(1e-2), key=key, run=dataclasses.replace(run, overwrite=True))
    assert (tmp_path / CHECKPOINT_NAME).read_bytes() != before


def test_resume_mismatches(tmp_path):
    data = _data()
    good = {"lr": 1e-2, "width": 8, "tag": "a"}

    def run(optimizer=None, key=jax.random.key(0), config=good, **overrides):
        options = dict(steps=6, resume=True, batch_size=5, progress=False, checkpoint_dir=tmp_path)
        options.update(overrides)
        return fit(
            _mlp(),
            _mse,
            data,
            optimizer or optax.adam(1e-2),
            key=key,
            config=config,
            run=RunOptions(**options),
        )

    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        run(steps=3)
    run(steps=3, resume=False)
    with pytest.raises(ValueError, match=r"config.*\['depth', 'lr'\]"):
        run(config={"lr": 1e-3, "width": 8, "tag": "a", "depth": 2})
    with pytest.raises(ValueError, match="key"):
        run(key=jax.random.key(1))
    with pytest.raises(ValueError, match="batch_size"):
        run(batch_size=4)
    with pytest.raises(ValueError, match="steps"):
        run(steps=2)
    with pytest.raises(ValueError, match="does not match|leaves"):
        run(optax.sgd(1e-2))
    # A raw uint32 key is the same key as its typed form.
    assert run(key=jax.random.key_data(jax.random.key(0))).step == 6


_RUN_FIELDS = {f.name for f in dataclasses.fields(RunOptions)}


def _bad(**overrides):
    """Valid `fit` arguments with `overrides`; run options are built inside the caller's `pytest.raises`."""
    x, y = _data()
    kwargs = dict(
        model=_mlp(),
        loss_fn=_mse,
        data=(x, y),
        optimizer=optax.adam(1e-2),
        key=jax.random.key(0),
    )
    options = dict(steps=3, batch_size=4, progress=False)
    for name, value in overrides.items():
        (options if name in _RUN_FIELDS else kwargs)[name] = value
    return kwargs, options


def _fit_bad(**overrides):
    kwargs, options = _bad(**overrides)
    return fit(**kwargs, run=RunOptions(**options))


@pytest.mark.parametrize(
    "overrides, error, match",
    [
        (dict(model=lambda x: x), TypeError, "model"),
        (dict(loss_fn=1.0), TypeError, "loss_fn"),
        (dict(optimizer=optax.adam), TypeError, "optimizer"),
        (dict(key=0), TypeError, "key"),
        (dict(key=jax.random.split(jax.random.key(0))), ValueError, "key"),
        (dict(steps=None), ValueError, "steps.*epochs"),
        (dict(epochs=2), ValueError, "steps.*epochs"),
        (dict(steps=0), ValueError, "steps"),
        (dict(steps=2.5), TypeError, "steps"),
        (dict(steps=None, epochs=-1), ValueError, "epochs"),
        (dict(batch_size=None), ValueError, "batch_size"),
        (dict(batch_size=0), ValueError, "batch_size"),
        (dict(batch_size=14), ValueError, "batch_size"),
        (dict(data=(jnp.zeros((13, 1)), jnp.zeros((12, 1)))), ValueError, "data"),
        (dict(data=(jnp.zeros(()),)), ValueError, "data"),
        (dict(data=[1.0, 2.0]), TypeError, "data"),
        (dict(data=_sampler), ValueError, "batch_size"),
        (dict(data=_sampler, batch_size=None, steps=None, epochs=2), ValueError, "epochs"),
        (dict(data=None, batch_size=None, steps=None, epochs=2), ValueError, "epochs"),
        (dict(eval_fn=3), TypeError, "eval_fn"),
        (dict(eval_every=2), ValueError, "eval_every"),
        (dict(eval_fn=lambda m: {}, eval_every=0), ValueError, "eval_every"),
        (dict(checkpoint_every=2), ValueError, "checkpoint_every"),
        (dict(resume=True), ValueError, "checkpoint_dir"),
        (dict(config=[1]), TypeError, "config"),
        (dict(config={"f": object()}), TypeError, "config"),
    ],
)
def test_bad_inputs(overrides, error, match):
    with pytest.raises(error, match=match):
        _fit_bad(**overrides)


def test_bad_inputs_with_dir(tmp_path):
    with pytest.raises(ValueError, match="resume.*overwrite"):
        _fit_bad(checkpoint_dir=tmp_path, resume=True, overwrite=True)
    with pytest.raises(ValueError, match="checkpoint_every"):
        _fit_bad(checkpoint_dir=tmp_path, checkpoint_every=-3)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "loss_fn, kwargs, match",
    [
        (lambda m, b, *, key: jnp.zeros(2), {}, "scalar"),
        (lambda m, b, *, key: (jnp.zeros(()), {"a": 1.0}), {}, "has_aux"),
        (lambda m, b, *, key: jnp.zeros(()), {"has_aux": True}, "has_aux"),
        (lambda m, b, *, key: (jnp.zeros(()), jnp.zeros(3)), {"has_aux": True}, "dict"),
    ],
)
def test_bad_loss_outputs(loss_fn, kwargs, match):
    with pytest.raises(TypeError, match=match):
        fit(
            _mlp(),
            loss_fn,
            None,
            optax.adam(1e-2),
            key=jax.random.key(0),
            run=RunOptions(steps=2, progress=False),
            **kwargs,
        )
