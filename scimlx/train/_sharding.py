"""Data parallelism on a JAX mesh: batches split along the `"data"` axis, everything else replicated.

JAX's own sharding does the work (as in Equinox's parallelism example; no `pmap`, no communication code
here): the compiled step sees the batch laid out with a `NamedSharding` over the `"data"` axis and the
parameters, optimiser state and model state replicated, and the compiler inserts the reductions, so the
gradients, the loss and BatchNorm's statistics are those of the global batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import equinox as eqx
import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P
from jaxtyping import PyTree

__all__ = ["DATA_AXIS", "data_mesh"]

DATA_AXIS = "data"


def data_mesh(devices: int | Sequence[Any] | None = None, mesh: Mesh | None = None) -> Mesh | None:
    """The mesh `fit` trains on, or `None` for one device (no sharding).

    **Arguments:**

    - `devices`: `None` (every device JAX sees: all local accelerators, or every host's after
        `jax.distributed.initialize`), a count `n` (the first `n`), or a sequence of `jax.Device`.
    - `mesh`: a ready `jax.sharding.Mesh` with a `"data"` axis, used as it is.
    """
    if mesh is not None:
        return mesh if mesh.devices.size > 1 else None
    available = jax.devices()
    if devices is None:
        chosen = available
    elif isinstance(devices, int):
        if devices > len(available):
            raise ValueError(f"`devices`={devices} but JAX sees only {len(available)} device(s).")
        chosen = available[:devices]
    else:
        chosen = list(devices)
        if not chosen or not all(isinstance(d, jax.Device) for d in chosen):
            raise TypeError(f"`devices` must be a non-empty sequence of jax devices, got {devices!r}.")
        if len(set(chosen)) != len(chosen):
            raise ValueError("`devices` lists a device twice.")
    if len(chosen) == 1:
        return None
    axis_type = getattr(jax.sharding, "AxisType", None)
    kwargs = {} if axis_type is None else {"axis_types": (axis_type.Auto,)}
    return jax.make_mesh((len(chosen),), (DATA_AXIS,), devices=chosen, **kwargs)


def data_size(mesh: Mesh | None) -> int:
    """The number of shards a batch is split into."""
    return 1 if mesh is None else int(mesh.shape[DATA_AXIS])


def replicate(tree: PyTree, mesh: Mesh | None) -> PyTree:
    """Every array of `tree` replicated on every device of `mesh` (unchanged without a mesh)."""
    if mesh is None:
        return tree
    sharding = NamedSharding(mesh, P())

    def put(x):
        if jax.process_count() > 1 and isinstance(x, np.ndarray | jax.Array) and x.dtype != object:
            if not jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key):
                host = np.asarray(jax.device_get(x))  # the same on every process (same seed, same data)
                return jax.make_array_from_callback(host.shape, sharding, lambda index: host[index])
        return jax.device_put(x, sharding)

    return jax.tree.map(lambda x: put(x) if eqx.is_array(x) else x, tree)


def shard_batch(batch: PyTree, mesh: Mesh | None) -> PyTree:
    """Inside the compiled step: lay each array of `batch` out along the data axis by its leading axis.

    An array whose leading axis does not divide the number of devices (a smaller last batch of an epoch, or
    a sampler's small set of boundary points) stays replicated: every device computes it whole, which is
    correct, only not parallel.
    """
    if mesh is None:
        return batch
    n = data_size(mesh)
    split, whole = NamedSharding(mesh, P(DATA_AXIS)), NamedSharding(mesh, P())

    def constrain(x):
        if not eqx.is_array(x):
            return x
        if x.ndim >= 1 and x.shape[0] % n == 0:
            return jax.lax.with_sharding_constraint(x, split)
        return jax.lax.with_sharding_constraint(x, whole)

    return jax.tree.map(constrain, batch)
