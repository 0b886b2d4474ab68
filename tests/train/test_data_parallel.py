"""Data parallelism on a JAX mesh: with 4 simulated CPU devices (in a subprocess, since JAX fixes its devices
at start-up), an LSM with BatchNorm and a PINN train to the same parameters as on one device, the batch is
split over the devices, and a batch that does not divide the device count is refused."""

import json
import os
import pathlib
import subprocess
import sys

import pytest

SCRIPT = pathlib.Path(__file__).with_name("_data_parallel_script.py")


@pytest.fixture(scope="module")
def parallel():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=4", "JAX_PLATFORMS": "cpu"}
    root = pathlib.Path(__file__).parents[2]
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    proc = subprocess.run(
        [sys.executable, str(SCRIPT)], env=env, cwd=root, capture_output=True, text=True, timeout=900
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT ") :])


def test_lsm_with_batchnorm_matches_one_device(parallel):
    assert parallel["n_devices"] == 4
    assert parallel["lsm_dtype"] == "float64"
    assert parallel["lsm_moved"] > 1e-4  # it trained
    assert parallel["lsm_params"] < 1e-5
    assert parallel["lsm_state"] < 1e-5  # BatchNorm's running statistics are those of the global batch
    assert parallel["lsm_loss"] < 1e-5
    assert parallel["lsm_devices"] == [4, 1]  # replicated over the mesh, and on one device without it


def test_pinn_matches_one_device(parallel):
    assert parallel["pinn_moved"] > 1e-4
    assert parallel["pinn_params"] < 1e-5
    assert parallel["pinn_error"] < 1e-5


def test_batches_are_split_and_indivisible_batches_refused(parallel):
    assert "'data'" in parallel["batch_sharding"] or "data" in parallel["batch_sharding"]
    assert "batch_size" in parallel["indivisible"] and "4 devices" in parallel["indivisible"]
