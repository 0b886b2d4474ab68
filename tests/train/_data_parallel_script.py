"""Run by `test_data_parallel.py` in a subprocess with 4 simulated CPU devices and float64: the same training
on one device and on four (data-parallel) must agree. Prints one JSON line of the measured differences.

float64, because Adam divides by the root of the second moment: gradients that are zero up to round-off (whose
round-off differs with the order of the reductions) become steps of the size of the learning rate in float32.
"""

import json
import os
import sys
import time

assert "xla_force_host_platform_device_count=4" in os.environ.get("XLA_FLAGS", "")
os.environ["JAX_ENABLE_X64"] = "1"

import equinox as eqx  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

from scimlx.operators import LSM, OperatorConfig, train_operator  # noqa: E402
from scimlx.pinn import PIG, PINNConfig, get_problem, train_pinn  # noqa: E402
from scimlx.train import RunOptions, fit  # noqa: E402


def max_diff(a, b):
    """The largest difference of two models' arrays, relative to the largest entry of each array."""
    la = jax.tree.leaves(eqx.filter(a, eqx.is_inexact_array))
    lb = jax.tree.leaves(eqx.filter(b, eqx.is_inexact_array))
    assert len(la) == len(lb) > 0
    return max(float(jnp.max(jnp.abs(x - y)) / max(float(jnp.max(jnp.abs(x))), 1e-3)) for x, y in zip(la, lb))


def devices_of(tree):
    return sorted({len(x.sharding.device_set) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))})


out = {"n_devices": len(jax.devices())}
t0 = time.perf_counter()

# LSM with BatchNorm on a Darcy-like map: 16 samples, batches of 8 split over 4 devices, 6 steps
rng = np.random.default_rng(0)
x = rng.normal(size=(16, 1, 16, 16))
y = np.tanh(x) + 0.1 * x**2
model, state = eqx.nn.make_with_state(LSM)(1, 1, ndim=2, width=8, key=jax.random.key(0, impl="rbg"))
config = OperatorConfig(epochs=2, batch_size=8, learning_rate=1e-3)
runs = {}
for n in (1, 4):
    runs[n] = train_operator(
        model, state, x, y, key=jax.random.key(1), config=config, run=RunOptions(progress=False, devices=n)
    )
out["lsm_params"] = max_diff(runs[1].model, runs[4].model)
out["lsm_state"] = max_diff(runs[1].state, runs[4].state)
loss1, loss4 = runs[1].history["loss"], runs[4].history["loss"]
out["lsm_loss"] = float(np.max(np.abs(loss1 - loss4) / loss1))
out["lsm_moved"] = max_diff(model, runs[1].model)
out["lsm_dtype"] = str(jax.tree.leaves(eqx.filter(runs[4].model, eqx.is_inexact_array))[0].dtype)
out["lsm_devices"] = devices_of(runs[4].model) + devices_of(runs[1].model)

print(f"lsm {time.perf_counter() - t0:.1f} s", file=sys.stderr)
# a PINN (PIG) on Klein-Gordon: sampled collocation points split over the devices, 6 steps
problem = get_problem("klein_gordon_2p1d", preset="quick", n_collocation=64, n_initial=16, n_boundary=8,
                      test_resolution=6)  # fmt: skip
pig = PIG(3, 8, box=problem.box, key=jax.random.key(2, impl="rbg"))
pinn = {}
for n in (1, 4):
    pinn[n] = train_pinn(
        problem, pig, key=jax.random.key(3), config=PINNConfig(learning_rate=1e-2, resample_every=2),
        run=RunOptions(steps=6, eval_every=3, progress=False, devices=n),
    )  # fmt: skip
out["pinn_params"] = max_diff(pinn[1].model, pinn[4].model)
out["pinn_error"] = abs(pinn[1].final_error - pinn[4].final_error) / pinn[1].final_error
out["pinn_moved"] = max_diff(pig, pinn[1].model)


print(f"pinn {time.perf_counter() - t0:.1f} s", file=sys.stderr)


# the batch is laid out over the devices inside the compiled step
class W(eqx.Module):
    w: jax.Array


seen = []


def loss_fn(m, batch, *, key):
    jax.debug.inspect_array_sharding(batch, callback=lambda s: seen.append(str(s)))
    return jnp.mean((batch @ m.w) ** 2)


data = jnp.asarray(rng.normal(size=(12, 3)))
fit(W(jnp.ones(3)), loss_fn, data, optax.sgd(0.1), key=jax.random.key(4),
    run=RunOptions(steps=1, batch_size=8, progress=False))  # fmt: skip
out["batch_sharding"] = seen[0]

# a batch size that does not divide the device count is refused before any work
try:
    fit(W(jnp.ones(3)), loss_fn, data, optax.sgd(0.1), key=jax.random.key(4),
        run=RunOptions(steps=1, batch_size=6, progress=False))  # fmt: skip
    out["indivisible"] = "no error"
except ValueError as e:
    out["indivisible"] = str(e)

print("RESULT " + json.dumps(out))
