"""Data parallelism on a JAX mesh: with 4 simulated CPU devices (in subprocesses, since JAX fixes its devices
at start-up), an LSM with BatchNorm and a PINN train to the same parameters on four devices as on one, the
batch is split over the devices, and a batch that does not divide the devices asked for is refused (by
default, the most devices that divide it are used)."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # the slower tier: `pytest -m slow`

SCRIPT = pathlib.Path(__file__).with_name("_data_parallel_script.py")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """`{1: arrays, 4: arrays}`: the same script on one and on four devices, in two processes at once."""
    root = pathlib.Path(__file__).parents[2]
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    out = tmp_path_factory.mktemp("parallel")
    procs = {
        n: subprocess.Popen([sys.executable, str(SCRIPT), str(n), str(out / f"{n}.npz")], env=env, cwd=root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for n in (1, 4)
    }  # fmt: skip
    for n, proc in procs.items():
        _, err = proc.communicate(timeout=900)
        assert proc.returncode == 0, err[-4000:]
    result = {}
    for n in (1, 4):
        with np.load(out / f"{n}.npz") as f:
            result[n] = {k: f[k] for k in f.files}
        result[n]["info"] = json.loads(str(result[n]["info"]))
    return result


def _max_diff(a, b, prefix):
    """The largest difference of the arrays `prefix_*` of two runs, relative to each array's largest entry."""
    keys = sorted(k for k in a if k.startswith(prefix + "_"))
    assert keys and keys == sorted(k for k in b if k.startswith(prefix + "_"))
    return max(float(np.max(np.abs(a[k] - b[k])) / max(float(np.max(np.abs(a[k]))), 1e-3)) for k in keys)


def _moved(run, name):
    return max(float(np.max(np.abs(run[f"{name}_model_{i}"] - run[f"{name}_init_{i}"])))
               for i in range(sum(k.startswith(f"{name}_init_") for k in run)))  # fmt: skip


def test_lsm_with_batchnorm_matches_one_device(runs):
    one, four = runs[1], runs[4]
    assert four["info"]["visible"] == 4 and four["info"]["lsm_dtype"] == "float64"
    assert four["info"]["lsm_devices"] == [4] and one["info"]["lsm_devices"] == [1]  # replicated on the mesh
    assert _moved(one, "lsm") > 1e-4  # it trained
    assert _max_diff(one, four, "lsm_model") < 1e-5
    assert _max_diff(one, four, "lsm_state") < 1e-5  # BatchNorm's statistics are those of the global batch
    np.testing.assert_allclose(four["lsm_loss"], one["lsm_loss"], rtol=1e-5)


def test_pinn_matches_one_device(runs):
    one, four = runs[1], runs[4]
    assert _moved(one, "pinn") > 1e-4
    assert _max_diff(one, four, "pinn_model") < 1e-5
    np.testing.assert_allclose(four["pinn_error"], one["pinn_error"], rtol=1e-5)


def test_batches_are_split_and_indivisible_batches_refused(runs):
    info = runs[4]["info"]
    assert "data" in info["batch_sharding"]
    assert "batch_size" in info["indivisible"] and "4 devices" in info["indivisible"]
    # the default uses the most devices that divide the batch, and says so
    assert info["auto_devices"] == 3 and "3 of the 4" in info["auto_warning"]  # 3 divides 6
