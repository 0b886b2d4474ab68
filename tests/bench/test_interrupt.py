"""Ctrl-C on the `scimlx` command: real SIGINTs sent to a real process, and the suite runner's safe points."""

import os
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from scimlx._interrupt import Interrupted

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals")

# The cheapest recipe to compile; chunks of one sample, each kept on disk (about 2 s of work in all): a Ctrl-C
# sent once the first chunk is there lands well before the last.
N = 150
ARGS = [
    "data",
    "generate",
    "burgers_1d",
    "--n",
    str(N),
    "--chunk-size",
    "1",
    "--resolution",
    "32",
    "--param",
    "dt=0.01",
    "--no-progress",
]


def _start(cache):
    env = {**os.environ, "SCIMLX_DATA": str(cache), "SCIMLX_JAX_CACHE": "0", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scimlx.bench._cli", *ARGS],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    pump = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
    pump.start()
    return proc, lines, pump


def _chunks(cache):
    return sorted(cache.glob("*.partial/chunk*.npz"))


def _wait_for(condition, proc, timeout=90):
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            return False
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("the command showed no progress in time")
        time.sleep(0.01)
    return True


def _finish(proc, lines, pump, timeout=60):
    rc = proc.wait(timeout=timeout)
    pump.join(timeout=10)
    return rc, "".join(lines)


@pytest.mark.slow
@posix_only
def test_ctrl_c_keeps_the_finished_chunks_and_the_same_command_resumes(tmp_path, monkeypatch, capsys):
    cache = tmp_path / "cache"
    proc, lines, pump = _start(cache)
    assert _wait_for(lambda: _chunks(cache), proc), "the command ended before its first chunk was kept"
    proc.send_signal(signal.SIGINT)
    rc, stderr = _finish(proc, lines, pump)
    assert rc == 130, stderr
    assert "Traceback" not in stderr
    assert "burgers_1d data generation stops at the next safe point" in stderr
    last = stderr.strip().splitlines()[-1]
    assert [line for line in stderr.splitlines() if line.startswith("scimlx: interrupted")] == [last]
    kept = _chunks(cache)
    (partial,) = cache.glob("*.partial")
    assert 1 <= len(kept) < N and not list(cache.glob("*.npz"))
    assert last == (
        f"scimlx: interrupted: burgers_1d data generation stopped after {len(kept)} of {N} samples; "
        f"the {len(kept)} finished chunk(s) are kept in {partial}; the same call (or command) again "
        "resumes from them"
    )

    first = [np.load(c) for c in kept]

    # the same command again reads the kept chunks back and generates the rest
    import scimlx.datasets._recipe as rmod
    from scimlx.bench._cli import main
    from scimlx.datasets import load

    monkeypatch.setenv("SCIMLX_DATA", str(cache))
    original, read = rmod._read_chunk, []
    monkeypatch.setattr(rmod, "_read_chunk", lambda p: read.append(original(p)) or read[-1])
    assert main(ARGS) == 0
    assert f"burgers_1d: {N} samples in" in capsys.readouterr().out
    assert sum(r is not None for r in read) == len(kept)
    assert not partial.exists()
    monkeypatch.setattr(rmod, "_read_chunk", original)
    ds = load("burgers_1d", N, 0, resolution=32, dt=0.01, progress=False)
    assert ds.metadata["from_cache"] and ds.arrays_train["u"].shape == (N, 32)
    for i, chunk in enumerate(first):  # the kept samples, in their places
        np.testing.assert_array_equal(ds.arrays_train["u"][i], chunk["u"][0])


@pytest.mark.slow
@posix_only
def test_a_second_ctrl_c_ends_the_command_at_once(tmp_path):
    cache = tmp_path / "cache"
    proc, lines, pump = _start(cache)
    assert _wait_for(lambda: _chunks(cache), proc), "the command ended before its first chunk was kept"
    proc.send_signal(signal.SIGINT)
    if _wait_for(lambda: "stops at the next safe point" in "".join(lines), proc):
        proc.send_signal(signal.SIGINT)  # while the first one is being honoured
    t0 = time.monotonic()
    rc, stderr = _finish(proc, lines, pump, timeout=20)
    assert rc in (130, -signal.SIGINT), stderr
    assert time.monotonic() - t0 < 10
    assert "Traceback" not in stderr


def test_ctrl_c_anywhere_in_the_command_is_one_line(monkeypatch, capsys, tmp_path):
    """Outside long work (e.g. while JAX is imported) Ctrl-C is a KeyboardInterrupt: one line, status 130."""
    from scimlx.bench import _cli

    def ctrl_c():
        raise KeyboardInterrupt

    monkeypatch.setattr(_cli, "_enable_compilation_cache", ctrl_c)
    assert _cli.main(["data", "generate", "advection_1d", "--n", "2"]) == 130
    assert capsys.readouterr().err == "scimlx: interrupted\n"

    def stopped():
        raise Interrupted("work stopped; kept in X")

    monkeypatch.setattr(_cli, "_enable_compilation_cache", stopped)
    assert _cli.main(["bench", "smoke", "--out", str(tmp_path / "run"), "--no-progress"]) == 130
    assert capsys.readouterr().err == "scimlx: interrupted: work stopped; kept in X\n"


@posix_only
def test_ctrl_c_during_the_heavy_imports_waits_for_their_end(monkeypatch, capsys):
    """A KeyboardInterrupt inside an extension module's initialisation would become an ImportError (with a
    traceback) or be lost: during the imports Ctrl-C is noted, and raised once they are done."""
    from scimlx.bench import _cli

    imported = []

    def heavy_import(*modules):
        with _cli._interrupts_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            assert signal.getsignal(signal.SIGINT) is signal.SIG_DFL  # a second one would end the process
            imported.extend(modules)  # not stopped midway
            raise ImportError("initialising the extension failed")  # what the interrupt would have caused

    handler = signal.getsignal(signal.SIGINT)
    monkeypatch.setattr(_cli, "_import", heavy_import)
    assert _cli.main(["data", "generate", "burgers_1d", "--n", "2"]) == 130
    assert imported == ["jax", "scimlx.datasets"]
    assert capsys.readouterr().err == "scimlx: interrupted\n"
    assert signal.getsignal(signal.SIGINT) is handler


def test_a_swallowed_ctrl_c_is_delivered_again():
    """Python swallows a KeyboardInterrupt raised while a `__del__` or a gc callback runs; the command
    raises it again at the next bytecode."""
    from scimlx.bench import _cli

    class Finaliser:
        def __del__(self):
            raise KeyboardInterrupt  # as Ctrl-C landing in JAX's gc callback

    hook = sys.unraisablehook
    # the interrupt is delivered again through Python's handler; under another one it would not raise
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    with _cli._interrupts_not_lost():
        obj = Finaliser()
        with pytest.raises(KeyboardInterrupt):
            del obj  # swallowed here ...
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:  # ... and raised again a moment later
                pass
    assert sys.unraisablehook is hook


@pytest.fixture
def toy_suite(monkeypatch):
    import types

    from scimlx.bench import Case, Suite, _registry

    def ok(ctx):
        return {"value": 1.0}

    def ctrl_c(ctx):
        os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C while this case runs: it still finishes
        return {"value": 2.0}

    suite = Suite("toy", "a toy suite", lambda quick: [Case("a", ok), Case("b", ctrl_c), Case("c", ok)])
    module = types.ModuleType("toy_interrupt_suite")
    module.SUITE = suite
    monkeypatch.setitem(sys.modules, "toy_interrupt_suite", module)
    monkeypatch.setitem(_registry._SUITES, "toy", "toy_interrupt_suite:SUITE")


@posix_only
def test_the_suite_stops_between_cases_and_keeps_the_results(toy_suite, tmp_path, capsys):
    import json

    from scimlx.bench._cli import main

    out = tmp_path / "run"
    assert main(["bench", "toy", "--out", str(out), "--no-progress"]) == 130
    err = capsys.readouterr().err
    assert "the toy suite stops at the next safe point" in err
    assert err.strip().splitlines()[-1] == (
        f"scimlx: interrupted: the toy suite stopped after b (2 of 3 cases done); the results so far are in "
        f"{out}/; run it again with `--overwrite` or another output directory"
    )
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [(r["case"], r["status"]) for r in rows] == [("a", "ok"), ("b", "ok"), ("c", "interrupted")]
