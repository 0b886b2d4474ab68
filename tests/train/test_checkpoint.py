import json
import os

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import scimlx
from scimlx.train import (
    CHECKPOINT_NAME,
    AbstractTrainStep,
    CheckpointError,
    GameStep,
    Player,
    RunOptions,
    TrainCarry,
    fit,
    load_checkpoint,
    read_checkpoint_metadata,
    save_checkpoint,
)


def _tree(seed=0):
    model = eqx.nn.MLP(2, 1, 4, 1, key=jax.random.key(seed))
    params = eqx.filter(model, eqx.is_inexact_array)
    return {
        "model": model,
        "opt_state": optax.adam(1e-3).init(params),
        "typed_key": jax.random.key(seed + 1),
        "raw_key": jax.random.PRNGKey(seed + 2),
        "np": np.arange(3, dtype=np.int64) + seed,
        "scalar": 1.5 + seed,
    }


def _equal(a, b):
    la, ta = jax.tree.flatten(a)
    lb, tb = jax.tree.flatten(b)
    assert ta == tb
    for x, y in zip(la, lb):
        if isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
            assert jax.random.key_impl(x) == jax.random.key_impl(y)
            x, y = jax.random.key_data(x), jax.random.key_data(y)
        if eqx.is_array_like(x):
            assert np.array_equal(np.asarray(x), np.asarray(y))
            assert type(x) is type(y) or isinstance(x, jax.Array)
        else:
            assert x is y


def test_round_trip(tmp_path):
    path = tmp_path / "sub" / "ckpt.eqx"
    tree = _tree(0)
    meta = {"step": 3, "config": {"lr": 1e-3, "layers": [1, 2]}}
    assert save_checkpoint(path, tree, meta) == path
    loaded, loaded_meta = load_checkpoint(path, _tree(5))
    _equal(loaded, tree)
    assert loaded_meta == meta
    assert read_checkpoint_metadata(path) == meta
    assert jax.dtypes.issubdtype(loaded["typed_key"].dtype, jax.dtypes.prng_key)
    # Only the checkpoint itself is left: no temporary files.
    assert os.listdir(path.parent) == ["ckpt.eqx"]


def test_file_layout(tmp_path):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _tree(), {"a": 1})
    raw = path.read_bytes()
    assert raw[:8] == b"SCXCKPT1"
    size = int.from_bytes(raw[8:16], "little")
    header = json.loads(raw[16 : 16 + size])
    assert header["format"] == 1 and header["metadata"] == {"a": 1}
    assert header["payload_bytes"] == len(raw) - 16 - size


def test_overwrite_is_atomic(tmp_path, monkeypatch):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _tree(0))
    save_checkpoint(path, _tree(1))
    _equal(load_checkpoint(path, _tree(0))[0], _tree(1))
    before = path.read_bytes()

    def broken_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken_fsync)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, _tree(2))
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["c.eqx"]


def test_bad_metadata(tmp_path):
    with pytest.raises(TypeError, match="metadata"):
        save_checkpoint(tmp_path / "c.eqx", _tree(), {"x": object()})
    assert os.listdir(tmp_path) == []


def test_corrupted_files(tmp_path):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _tree(), {"a": 1})
    raw = path.read_bytes()

    path.write_bytes(raw[:-10])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path, _tree())
    path.write_bytes(raw[:20])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(path, _tree())
    flipped = bytearray(raw)
    flipped[-5] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(path, _tree())
    path.write_bytes(b"hello world, not a checkpoint")
    with pytest.raises(CheckpointError, match="not a scimlx checkpoint"):
        load_checkpoint(path, _tree())
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.eqx", _tree())


def test_like_mismatch(tmp_path):
    path = tmp_path / "c.eqx"
    save_checkpoint(path, _tree())
    other = _tree()
    other["model"] = eqx.nn.MLP(2, 1, 5, 1, key=jax.random.key(0))
    other["opt_state"] = optax.adam(1e-3).init(eqx.filter(other["model"], eqx.is_inexact_array))
    with pytest.raises(CheckpointError, match="does not match"):
        load_checkpoint(path, other)
    with pytest.raises(CheckpointError, match="does not match.*leaves"):
        load_checkpoint(path, {"model": other["model"]})


def test_fit_checkpoint_contents(tmp_path):
    x = jnp.linspace(0.0, 1.0, 10)[:, None]
    model = eqx.nn.MLP(1, 1, 4, 1, key=jax.random.key(0))

    def loss_fn(model, batch, *, key):
        return jnp.mean(jax.vmap(model)(batch) ** 2)

    result = fit(
        model,
        loss_fn,
        x,
        optax.adam(1e-2),
        key=jax.random.key(1),
        run=RunOptions(steps=7, batch_size=3, checkpoint_dir=tmp_path, checkpoint_every=3, progress=False),
        config={"width": 4},
    )
    path = tmp_path / CHECKPOINT_NAME
    meta = read_checkpoint_metadata(path)
    assert meta["step"] == 7
    assert meta["epoch"] == 1 and meta["batch_in_epoch"] == 3 and meta["steps_per_epoch"] == 4
    assert meta["config"] == {"width": 4}
    assert meta["scimlx_version"] == scimlx.__version__
    assert meta["history"]["loss"] == result.history["loss"].tolist()
    like = {
        "model": model,
        "opt_state": optax.adam(1e-2).init(eqx.filter(model, eqx.is_inexact_array)),
        "state": None,
        "key": jax.random.key(1),
    }
    tree, _ = load_checkpoint(path, like)
    leaves = [jax.tree.leaves(eqx.filter(m, eqx.is_array)) for m in (tree["model"], result.model)]
    for a, b in zip(*leaves):
        assert jnp.array_equal(a, b)
    assert os.listdir(tmp_path) == [CHECKPOINT_NAME]

    # A corrupted checkpoint is reported clearly when resuming.
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(CheckpointError, match="truncated"):
        fit(
            model,
            loss_fn,
            x,
            optax.adam(1e-2),
            key=jax.random.key(1),
            run=RunOptions(steps=9, batch_size=3, checkpoint_dir=tmp_path, resume=True, progress=False),
            config={"width": 4},
        )


# --------------------------------------------------------------- resuming with another optimiser or recipe


def _mse(model, batch, *, key):
    x, y = batch
    return jnp.mean((jax.vmap(model)(x) - y) ** 2)


def _fit_small(directory, optimizer, steps, **options):
    x = jnp.linspace(-1.0, 1.0, 12)[:, None]
    return fit(
        eqx.nn.MLP(1, 1, 6, 1, activation=jnp.tanh, key=jax.random.key(0)),
        _mse,
        (x, jnp.sin(3.0 * x)),
        optimizer,
        key=jax.random.key(1),
        run=RunOptions(steps=steps, batch_size=4, progress=False, checkpoint_dir=directory, **options),
    )


def _same_arrays(a, b):
    la, lb = (jax.tree.leaves(eqx.filter(t, eqx.is_array)) for t in (a, b))
    assert len(la) == len(lb) > 0
    return all(bool(jnp.array_equal(x, y)) for x, y in zip(la, lb))


def test_resume_refuses_another_optimiser(tmp_path):
    run = tmp_path / "run"
    _fit_small(run, optax.adam(1e-3), 3)
    meta = read_checkpoint_metadata(run / CHECKPOINT_NAME)
    assert set(meta["fingerprint"]) == {"optimizers", "probes"}
    assert set(meta["fingerprint"]["optimizers"]) == {"optimizer"}
    before = (run / CHECKPOINT_NAME).read_bytes()

    # Adam -> AdamW with the same learning rate: the same state shapes, another state and update
    with pytest.raises(CheckpointError, match=r"optimiser differs from the checkpoint's: .*ScaleByAdamState"):
        _fit_small(run, optax.adamw(1e-3), 6, resume=True)
    # another learning rate: the same state, another update
    with pytest.raises(ValueError, match=r"optimiser differs .*update of a test gradient.*overwrite=True"):
        _fit_small(run, optax.adam(1e-4), 6, resume=True)
    assert (run / CHECKPOINT_NAME).read_bytes() == before

    # the same optimiser built again: resumed, bit-identical to an uninterrupted run
    resumed = _fit_small(run, optax.adam(1e-3), 6, resume=True)
    full = _fit_small(tmp_path / "full", optax.adam(1e-3), 6)
    assert resumed.step == 6
    assert _same_arrays(resumed.model, full.model) and _same_arrays(resumed.opt_state, full.opt_state)


def test_resume_refuses_another_schedule_or_hyperparameter(tmp_path):
    # two schedules with the same first value: told apart by the update from the checkpoint's state
    _fit_small(tmp_path / "s", optax.adam(optax.exponential_decay(1e-2, 7, 0.5)), 4)
    with pytest.raises(CheckpointError, match=r"update from the checkpoint's state \(step 4\) differs"):
        _fit_small(tmp_path / "s", optax.adam(optax.exponential_decay(1e-2, 10, 0.5)), 8, resume=True)
    # an injected hyperparameter is named (a checkpoint restores it, so the update would not tell)
    _fit_small(tmp_path / "h", optax.inject_hyperparams(optax.adam)(learning_rate=1e-3), 2)
    with pytest.raises(CheckpointError, match=r"learning_rate'\]: 0.001 -> 0.0001"):
        _fit_small(tmp_path / "h", optax.inject_hyperparams(optax.adam)(learning_rate=1e-4), 4, resume=True)


def test_resume_of_a_checkpoint_without_fingerprint_warns(tmp_path):
    _fit_small(tmp_path, optax.adam(1e-3), 3)
    path = tmp_path / CHECKPOINT_NAME
    model = eqx.nn.MLP(1, 1, 6, 1, activation=jnp.tanh, key=jax.random.key(0))
    like = {
        "model": model,
        "opt_state": optax.adam(1e-3).init(eqx.filter(model, eqx.is_inexact_array)),
        "state": None,
        "key": jax.random.key(1),
    }
    tree, meta = load_checkpoint(path, like)
    del meta["fingerprint"]  # as an older version wrote it
    save_checkpoint(path, tree, meta)
    # not refused (nothing to compare with), even with another optimiser of the same state shapes
    with pytest.warns(UserWarning, match="no fingerprint of its optimiser"):
        resumed = _fit_small(tmp_path, optax.adamw(1e-3), 5, resume=True)
    assert resumed.step == 5
    # the checkpoints it writes have one again
    assert "fingerprint" in read_checkpoint_metadata(path)


@pytest.mark.slow
def test_resume_refuses_another_recipe(tmp_path):
    from scimlx.pinn import PINN, PINNConfig, get_problem, train_pinn

    problem = get_problem("helmholtz_2d", preset="quick", n_collocation=16, n_boundary=8, test_resolution=4)
    model = PINN(2, 4, 1, box=problem.box, key=jax.random.key(0))

    def train(config, steps, resume=False):
        run = RunOptions(steps=steps, progress=False, checkpoint_dir=tmp_path, resume=resume)
        return train_pinn(problem, model, key=jax.random.key(3), config=config, run=run)

    train(PINNConfig(optimizer=optax.adam(1e-2)), 1)
    with pytest.raises(ValueError, match=r"`config` differs .*learning_rate: 0.001 -> 0.01"):
        train(PINNConfig(optimizer=optax.adam(1e-2), learning_rate=1e-2), 2, resume=True)
    # an optimiser object in the recipe is recorded by its type only: its fingerprint tells them apart
    with pytest.raises(CheckpointError, match="the optimiser differs from the checkpoint's"):
        train(PINNConfig(optimizer=optax.adam(1e-3)), 2, resume=True)


class _Pair(eqx.Module):
    x: jax.Array
    y: jax.Array


def _pair_loss(m, batch, *, key):
    return jnp.sum((m.x - 1.0) ** 2) + m.x @ m.y - jnp.sum(m.y**2)


def _game(lr_max):
    return GameStep([
        Player("min", lambda m: m.x, _pair_loss, optax.sgd(0.1)),
        Player("max", lambda m: m.y, lambda m, b, *, key: -_pair_loss(m, b, key=key), optax.sgd(lr_max)),
    ])  # fmt: skip


class _Shrink(AbstractTrainStep):
    """A step of a user's, without an optax optimiser."""

    def init(self, model):
        return None

    def __call__(self, carry, batch, *, key):
        model = jax.tree.map(lambda a: 0.9 * a, carry.model)
        return TrainCarry(model, None, carry.state), jnp.sum(model.x**2), {}


def test_resume_checks_each_players_optimiser(tmp_path):
    start = _Pair(jnp.zeros(2), jnp.ones(2))

    def run(step, steps, directory, resume=False):
        options = RunOptions(steps=steps, progress=False, checkpoint_dir=directory, resume=resume)
        return fit(start, step, None, key=jax.random.key(0), run=options)

    run(_game(0.1), 3, tmp_path / "game")
    saved = read_checkpoint_metadata(tmp_path / "game" / CHECKPOINT_NAME)["fingerprint"]
    assert set(saved["optimizers"]) == set(saved["probes"]) == {"min", "max"}
    with pytest.raises(CheckpointError, match="optimiser of player 'max' differs"):
        run(_game(0.2), 5, tmp_path / "game", resume=True)
    assert run(_game(0.1), 5, tmp_path / "game", resume=True).step == 5

    # a step without optimisers: nothing to fingerprint, resumed on its type and config
    run(_Shrink(), 2, tmp_path / "custom")
    assert read_checkpoint_metadata(tmp_path / "custom" / CHECKPOINT_NAME)["fingerprint"] == {
        "optimizers": {}, "probes": {}
    }  # fmt: skip
    resumed = run(_Shrink(), 4, tmp_path / "custom", resume=True)
    assert resumed.step == 4 and jnp.allclose(resumed.model.y, 0.9**4)
