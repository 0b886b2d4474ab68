"""Run by `test_data_parallel.py` as `python _data_parallel_script.py N OUT.npz`, in a subprocess with 4
simulated CPU devices and float64: trains an LSM with BatchNorm and a PINN on `N` of the devices and saves the
arrays, so that the test can compare one device against four (the two runs go in parallel processes:
compiling is single-threaded). With `N = 4` it also records how a batch is laid out and what an
indivisible batch gets.

float64, because Adam divides by the root of the second moment: gradients that are zero up to round-off (whose
round-off differs with the order of the reductions) become steps of the size of the learning rate in float32.
"""

import json
import os
import sys

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

n_devices, path = int(sys.argv[1]), sys.argv[2]


def arrays(tree):
    return [np.asarray(x) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))]


def devices_of(tree):
    return sorted({len(x.sharding.device_set) for x in jax.tree.leaves(eqx.filter(tree, eqx.is_array))})


saved, info = {}, {"visible": len(jax.devices())}

# LSM with BatchNorm on a Darcy-like map: 16 samples, batches of 8 (split over the devices), 4 steps
rng = np.random.default_rng(0)
x = rng.normal(size=(16, 1, 16, 16))
y = np.tanh(x) + 0.1 * x**2
model, state = eqx.nn.make_with_state(LSM)(1, 1, ndim=2, width=8, key=jax.random.key(0, impl="rbg"))
res = train_operator(
    model, state, x, y, key=jax.random.key(1),
    config=OperatorConfig(epochs=2, batch_size=8, learning_rate=1e-3),
    run=RunOptions(progress=False, devices=n_devices),
)  # fmt: skip
for i, a in enumerate(arrays(model)):
    saved[f"lsm_init_{i}"] = a
for i, a in enumerate(arrays(res.model)):
    saved[f"lsm_model_{i}"] = a
for i, a in enumerate(arrays(res.state)):
    saved[f"lsm_state_{i}"] = a
saved["lsm_loss"] = res.history["loss"]
info["lsm_dtype"] = str(arrays(res.model)[0].dtype)
info["lsm_devices"] = devices_of(res.model)

# a PINN (PIG) on Klein-Gordon: sampled collocation points (split over the devices), 6 steps
problem = get_problem("klein_gordon_2p1d", preset="quick", n_collocation=64, n_initial=16, n_boundary=8,
                      test_resolution=6)  # fmt: skip
pig = PIG(3, 8, box=problem.box, key=jax.random.key(2, impl="rbg"))
out = train_pinn(
    problem, pig, key=jax.random.key(3), config=PINNConfig(learning_rate=1e-2, resample_every=2),
    run=RunOptions(steps=6, eval_every=3, progress=False, devices=n_devices),
)  # fmt: skip
for i, a in enumerate(arrays(pig)):
    saved[f"pinn_init_{i}"] = a
for i, a in enumerate(arrays(out.model)):
    saved[f"pinn_model_{i}"] = a
saved["pinn_error"] = np.asarray(out.final_error)

if n_devices == 4:
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
    info["batch_sharding"] = seen[0]
    # a batch size that does not divide the devices asked for is refused before any work
    try:
        fit(W(jnp.ones(3)), loss_fn, data, optax.sgd(0.1), key=jax.random.key(4),
            run=RunOptions(steps=1, batch_size=6, progress=False, devices=4))  # fmt: skip
        info["indivisible"] = "no error"
    except ValueError as e:
        info["indivisible"] = str(e)
    # with the default `devices=None` it is split over the most devices that divide it, with a warning
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        auto = fit(W(jnp.ones(3)), loss_fn, data, optax.sgd(0.1), key=jax.random.key(4),
                   run=RunOptions(steps=1, batch_size=6, progress=False))  # fmt: skip
    info["auto_devices"] = len(auto.model.w.sharding.device_set)
    info["auto_warning"] = " ".join(str(w.message) for w in caught)

saved["info"] = np.asarray(json.dumps(info))
np.savez(path, **saved)
