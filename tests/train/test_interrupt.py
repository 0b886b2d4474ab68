"""Ctrl-C during `fit`: the first interrupt stops after the current step, keeps a checkpoint and raises
`Interrupted`, one line saying what was kept and how to resume, from which the run resumes bit-identically; a
second interrupt stops at once (a plain KeyboardInterrupt)."""

import os
import pathlib
import re
import signal
import subprocess
import sys
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import optax
import pytest

from scimlx._interrupt import Interrupted
from scimlx.train import CHECKPOINT_NAME, RunOptions, fit, read_checkpoint_metadata
from tests.train._interrupt_script import CHECKPOINT_EVERY, STEPS, problem

SCRIPT = pathlib.Path(__file__).with_name("_interrupt_script.py")
_STOP_LINE = "scimlx: interrupt: training stops at the next safe point (press Ctrl-C again to stop at once)"


def _fit(steps, eval_fn=None, **options):
    model, loss_fn, data = problem()
    run = RunOptions(steps=steps, batch_size=4, progress=False, **options)
    return fit(model, loss_fn, data, optax.adam(1e-2), key=jax.random.key(1), run=run, eval_fn=eval_fn)


def _equal(a, b):
    la, lb = (jax.tree.leaves(eqx.filter(t, eqx.is_array)) for t in (a, b))
    assert len(la) == len(lb) > 0
    assert all(bool(jnp.array_equal(x, y)) for x, y in zip(la, lb))


def _press_ctrl_c(times):
    def eval_fn(model):
        for _ in range(times):
            before = signal.getsignal(signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
            # wait until the handler has run (it swaps the handler, or raises): two signals still pending
            # when a loaded machine is slow to deliver them would reach Python as one
            deadline = time.monotonic() + 10
            while signal.getsignal(signal.SIGINT) is before and time.monotonic() < deadline:
                time.sleep(0.001)
        return {}

    return eval_fn


def test_ctrl_c_keeps_a_checkpoint_and_resumes_bit_identically(tmp_path, capsys):
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(Interrupted) as info:
        _fit(12, checkpoint_dir=tmp_path, checkpoint_every=4, eval_every=5, eval_fn=_press_ctrl_c(1))
    err = info.value
    path = tmp_path / CHECKPOINT_NAME
    assert str(err) == (
        f"Training interrupted at step 5 of 12: the checkpoint {path} holds step 5; to continue, call again "
        "with the same arguments and `RunOptions(..., resume=True)`."
    )
    assert isinstance(err, KeyboardInterrupt)
    assert err.step == 5 and err.checkpoint_path == path
    assert err.result.step == 5 and err.result.history["step"].tolist() == [1, 2, 3, 4, 5]
    assert capsys.readouterr().err.strip() == _STOP_LINE
    assert signal.getsignal(signal.SIGINT) is handler
    assert read_checkpoint_metadata(path)["step"] == 5

    resumed = _fit(12, checkpoint_dir=tmp_path, resume=True)
    full = _fit(12)
    _equal(resumed.model, full.model)
    _equal(resumed.opt_state, full.opt_state)
    assert resumed.history["loss"].tolist() == full.history["loss"].tolist()


def test_ctrl_c_without_checkpoint_dir_keeps_the_result():
    with pytest.raises(Interrupted, match=r"^Training interrupted at step 3 of 8: nothing was kept") as info:
        _fit(8, eval_every=3, eval_fn=_press_ctrl_c(1))
    assert info.value.checkpoint_path is None
    _equal(info.value.result.model, _fit(3).model)


def test_a_second_ctrl_c_stops_at_once(tmp_path):
    handler = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt) as info:
        _fit(12, checkpoint_dir=tmp_path, eval_every=5, eval_fn=_press_ctrl_c(2))
    assert type(info.value) is KeyboardInterrupt  # raised inside eval_fn, not the clean stop
    assert not (tmp_path / CHECKPOINT_NAME).exists()
    assert signal.getsignal(signal.SIGINT) is handler


@pytest.mark.slow
def test_ctrl_c_in_a_subprocess(tmp_path):
    root = pathlib.Path(__file__).parents[2]
    env = {**os.environ, "SCIMLX_JAX_CACHE": "0", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    path = tmp_path / CHECKPOINT_NAME
    proc = subprocess.Popen([sys.executable, str(SCRIPT), str(tmp_path)], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        deadline = time.monotonic() + 120
        while not path.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert path.exists(), proc.communicate(timeout=10)[1][-3000:] if proc.poll() is not None else "none"
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr[-3000:]
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert lines[-2] == _STOP_LINE
    match = re.fullmatch(
        rf"Training interrupted at step (\d+) of {STEPS}: the checkpoint (.+) holds step (\d+); to continue, "
        r"call again with the same arguments and `RunOptions\(\.\.\., resume=True\)`\.",
        lines[-1],
    )
    assert match, lines[-1]
    step = int(match[1])
    assert match[2] == str(path) and int(match[3]) == step >= CHECKPOINT_EVERY
    assert read_checkpoint_metadata(path)["step"] == step

    resumed = _fit(step + 5, checkpoint_dir=tmp_path, resume=True)
    full = _fit(step + 5)
    _equal(resumed.model, full.model)
    assert resumed.history["loss"].tolist() == full.history["loss"].tolist()
