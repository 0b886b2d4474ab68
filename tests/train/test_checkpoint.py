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
    CheckpointError,
    RunOptions,
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
