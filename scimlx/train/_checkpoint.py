"""Single-file, atomically written checkpoints of arbitrary PyTrees.

File layout (all integers little-endian):

1. 8 bytes magic, `b"SCXCKPT1"` (the trailing `1` is the format version);
2. 8 bytes unsigned header length `H`;
3. `H` bytes UTF-8 JSON header: `{"format": 1, "payload_bytes": N, "payload_sha256": ...,
   "leaves": [...], "keys": [...], "metadata": {...}}`;
4. `N` bytes payload: the leaves written by `eqx.tree_serialise_leaves`.

The size and SHA-256 of the payload are checked on load, so truncated or corrupted files
are reported as such instead of producing garbage parameters.
"""

import hashlib
import io
import json
import math
import os
import pathlib
import re
import struct
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PyTree

from scimlx.core._io import atomic_write

_MAGIC = b"SCXCKPT1"
_FORMAT = 1
_LEN = struct.Struct("<Q")


class CheckpointError(ValueError):
    """A checkpoint file is missing, corrupted, or does not match what it is loaded into."""


def _is_key(x: Any) -> bool:
    return isinstance(x, jax.Array) and jax.dtypes.issubdtype(x.dtype, jax.dtypes.prng_key)


def _leaf_spec(x: Any) -> Any:
    if isinstance(x, jax.Array | np.ndarray | np.generic):
        return [list(np.shape(x)), str(np.dtype(x.dtype))]
    if eqx.is_array_like(x):
        return type(x).__name__
    return None


def _specs(tree: PyTree) -> list[list[Any]]:
    leaves = jax.tree_util.tree_flatten_with_path(tree)[0]
    out = []
    for path, leaf in leaves:
        spec = _leaf_spec(leaf)
        if spec is not None:
            out.append([jax.tree_util.keystr(path), spec])
    return out


def _keys_to_data(tree: PyTree) -> tuple[PyTree, list[str]]:
    """Replace typed PRNG key leaves by their raw key data; record their paths."""
    paths = []

    def _convert(path, x):
        if _is_key(x):
            paths.append(jax.tree_util.keystr(path))
            return jax.random.key_data(x)
        return x

    return jax.tree_util.tree_map_with_path(_convert, tree), paths


def save_checkpoint(
    path: str | os.PathLike,
    tree: PyTree,
    metadata: Mapping[str, Any] | None = None,
) -> pathlib.Path:
    """Atomically write a PyTree and JSON metadata to a single checkpoint file.

    The file is first written to a temporary file in the same directory, flushed and
    `fsync`-ed, and then moved into place with `os.replace`, so that `path` always holds
    either the previous or the new checkpoint, never a partial one. Typed PRNG keys in
    `tree` are stored through `jax.random.key_data` and restored on load.

    **Arguments:**

    - `path`: the checkpoint file. Its directory is created if needed.
    - `tree`: any PyTree, e.g. `(model, opt_state)`. Its array leaves (JAX and NumPy
        arrays, Python scalars) are saved; other leaves are taken from `like` on load.
    - `metadata`: a JSON-serialisable mapping stored in the header.

    **Returns:**

    The path written, as a `pathlib.Path`.
    """
    path = pathlib.Path(path)
    metadata = {} if metadata is None else dict(metadata)
    try:
        json.dumps(metadata)
    except (TypeError, ValueError) as e:
        raise TypeError(f"`metadata` must be JSON-serialisable: {e}") from e
    tree, key_paths = _keys_to_data(tree)
    buffer = io.BytesIO()
    eqx.tree_serialise_leaves(buffer, tree)
    payload = buffer.getvalue()
    header = {
        "format": _FORMAT,
        "payload_bytes": len(payload),
        "payload_sha256": hashlib.sha256(payload).hexdigest(),
        "leaves": _specs(tree),
        "keys": key_paths,
        "metadata": metadata,
    }
    header_bytes = json.dumps(header).encode("utf-8")

    atomic_write(path, _MAGIC, _LEN.pack(len(header_bytes)), header_bytes, payload)
    return path


def _read(path: pathlib.Path) -> tuple[dict[str, Any], bytes]:
    if not path.is_file():
        raise FileNotFoundError(f"No checkpoint file at {path}.")
    data = path.read_bytes()
    prefix = len(_MAGIC) + _LEN.size
    if len(data) < prefix or data[: len(_MAGIC)] != _MAGIC:
        raise CheckpointError(f"{path} is not a scimlx checkpoint (bad magic bytes).")
    (header_len,) = _LEN.unpack(data[len(_MAGIC) : prefix])
    if len(data) < prefix + header_len:
        raise CheckpointError(f"Checkpoint {path} is truncated (incomplete header).")
    try:
        header = json.loads(data[prefix : prefix + header_len].decode("utf-8"))
        n = int(header["payload_bytes"])
        digest = header["payload_sha256"]
    except (ValueError, KeyError, TypeError) as e:
        raise CheckpointError(f"Checkpoint {path} has a corrupted header: {e}") from e
    if header.get("format") != _FORMAT:
        raise CheckpointError(
            f"Checkpoint {path} has format {header.get('format')!r}; expected {_FORMAT}."
        )
    payload = data[prefix + header_len :]
    if len(payload) != n:
        raise CheckpointError(
            f"Checkpoint {path} is truncated or corrupted: payload has {len(payload)} bytes, "
            f"expected {n}."
        )
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(f"Checkpoint {path} is corrupted (payload checksum mismatch).")
    return header, payload


def read_checkpoint_metadata(path: str | os.PathLike) -> dict[str, Any]:
    """Read only the JSON metadata of a checkpoint (no `like` needed).

    **Arguments:**

    - `path`: the checkpoint file.

    **Returns:**

    The `metadata` mapping passed to [`scimlx.train.save_checkpoint`][].
    """
    header, _ = _read(pathlib.Path(path))
    return header["metadata"]


def load_checkpoint(path: str | os.PathLike, like: PyTree) -> tuple[PyTree, dict[str, Any]]:
    """Load a checkpoint written by [`scimlx.train.save_checkpoint`][].

    **Arguments:**

    - `path`: the checkpoint file.
    - `like`: a PyTree with the same structure, shapes and dtypes as the saved one (e.g.
        a freshly initialised model and `optimizer.init(...)`). Typed PRNG keys in `like`
        mark where keys were saved; they are re-wrapped with the same implementation.

    **Returns:**

    A 2-tuple `(tree, metadata)`.

    Raises `FileNotFoundError` if the file does not exist, and
    [`scimlx.train.CheckpointError`][] if it is truncated, corrupted, or does not match
    `like`.
    """
    path = pathlib.Path(path)
    header, payload = _read(path)
    return _restore(path, header, payload, like), header["metadata"]


def _restore(path: pathlib.Path, header: dict[str, Any], payload: bytes, like: PyTree) -> PyTree:
    raw_like, key_paths = _keys_to_data(like)
    saved, expected = header["leaves"], _specs(raw_like)
    if len(saved) != len(expected):
        raise CheckpointError(
            f"Checkpoint {path} does not match `like`: it holds {len(saved)} array leaves, "
            f"but `like` has {len(expected)} (the model or optimiser differs from the saved "
            "one)."
        )
    for (spath, sspec), (epath, espec) in zip(saved, expected):
        if spath != epath or sspec != espec:
            raise CheckpointError(
                f"Checkpoint {path} does not match `like`: saved leaf {spath} is {sspec}, "
                f"expected leaf {epath} is {espec}."
            )
    if sorted(key_paths) != sorted(header.get("keys", [])):
        raise CheckpointError(
            f"Checkpoint {path} does not match `like`: it stores PRNG keys at "
            f"{header.get('keys')}, but `like` has them at {key_paths}."
        )
    try:
        tree = eqx.tree_deserialise_leaves(io.BytesIO(payload), raw_like)
    except Exception as e:  # noqa: BLE001 - re-raised with context
        raise CheckpointError(f"Could not deserialise checkpoint {path}: {e}") from e

    key_like = {
        jax.tree_util.keystr(p): x
        for p, x in jax.tree_util.tree_flatten_with_path(like, is_leaf=_is_key)[0]
        if _is_key(x)
    }

    def _rewrap(p, x):
        original = key_like.get(jax.tree_util.keystr(p))
        if original is None:
            return x
        return jax.random.wrap_key_data(jnp.asarray(x), impl=jax.random.key_impl(original))

    return jax.tree_util.tree_map_with_path(_rewrap, tree)


# ------------------------------------------------------------------------- fingerprints of optimisers
#
# An optax optimiser is a pair of functions, so a checkpoint recognises it by what it does: the structure of
# the state it makes and the scalars in that state (e.g. the hyperparameters of `optax.inject_hyperparams`),
# for a fixed pseudo-random parameter tree of the model's shapes; and statistics of the update it makes of a
# fixed test gradient (pseudo-random on every other entry and zero on the rest, where only a weight decay
# moves), from that initial state and from the state being saved (which tells schedules, momenta and second
# moments apart). The statistics are compared with a relative tolerance, so that a run resumed on another
# kind of device is not refused for round-off. One compiled update, reused for every checkpoint of a run.

_PROBE_RTOL = 1e-4
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _params_like(params: PyTree) -> Any:
    treedef = jax.tree.structure(params)
    return lambda x: jax.tree.structure(x) == treedef


def _hash(index: Array, seed: int) -> Array:
    """A 32-bit integer hash of `index` (exact integer arithmetic: the same bits on every platform)."""
    h = index * jnp.uint32(0x9E3779B1) + jnp.uint32((seed * 0x85EBCA77) % 2**32)
    h = (h ^ (h >> 16)) * jnp.uint32(0x7FEB352D)
    h = (h ^ (h >> 15)) * jnp.uint32(0x846CA68B)
    return h ^ (h >> 16)


def _uniform(index: Array, seed: int) -> Array:
    return (_hash(index, seed) >> 8).astype(jnp.float32) * (2.0 / 2**24) - 1.0


def _split(params: PyTree, real: Array, imag: Array | None = None) -> PyTree:
    """Vectors over all the inexact leaves of `params` (in order) as a tree of their shapes and dtypes."""
    leaves, treedef = jax.tree.flatten(params)
    out, start = [], 0
    for x in leaves:
        if eqx.is_inexact_array(x):
            value = real[start : start + x.size].reshape(x.shape)
            if jnp.iscomplexobj(x):
                value = value + 1j * imag[start : start + x.size].reshape(x.shape)
            out.append(value.astype(x.dtype))
            start += x.size
        else:
            out.append(x)
    return jax.tree.unflatten(treedef, out)


def _test_vectors(params: PyTree, seed: int) -> tuple[Array, Array, Array | None]:
    """The flat index of `params`' inexact entries, and pseudo-random values in [-1, 1) for them (real and,
    if any leaf is complex, imaginary parts): cheap to compile and the same on every platform."""
    inexact = [x for x in jax.tree.leaves(params) if eqx.is_inexact_array(x)]
    index = jnp.arange(sum(x.size for x in inexact), dtype=jnp.uint32)
    imag = _uniform(index, 2 * seed + 1) if any(jnp.iscomplexobj(x) for x in inexact) else None
    return index, _uniform(index, 2 * seed), imag


def _test_tree(params: PyTree, seed: int) -> PyTree:
    _, real, imag = _test_vectors(params, seed)
    return _split(params, real, imag)


def _probe_stats(optimizer: optax.GradientTransformation, params: PyTree, state: PyTree) -> Array:
    """One update of `optimizer` from `state` at `params`, for the gradient of `0.5 |mask (p - target)|^2`:
    a pseudo-random target, and a mask that zeroes the gradient of every other entry (where only a weight
    decay moves). For each half: the sum, absolute sum and squared sum of the update, and its real and
    absolute products with a pseudo-random direction (the scales of the sums with signs)."""
    index, real, imag = _test_vectors(params, 1)
    target = _split(params, real + 0.5, imag)
    m = (index % 2 == 0).astype(jnp.float32)
    mask = _split(params, m, jnp.zeros_like(m))

    def value_fn(p):
        def term(a, b, w):
            return jnp.sum(w * jnp.real((a - b) * jnp.conj(a - b)))

        return 0.5 * sum(jax.tree.leaves(jax.tree.map(term, p, target, mask)), jnp.zeros(()))

    # the gradient of `value_fn` (as `jax.grad` writes it for complex arrays: the conjugate of d/dz)
    grad = jax.tree.map(lambda a, b, w: w * (a - b), params, target, mask)
    opt = optax.with_extra_args_support(optimizer)
    updates, _ = opt.update(grad, state, params, value=value_fn(params), grad=grad, value_fn=value_fn)

    leaves = [jnp.ravel(x) for x in jax.tree.leaves(updates)]
    u = jnp.concatenate(leaves) if leaves else jnp.zeros(0)
    u = u.astype(jnp.promote_types(u.dtype, jnp.float32))
    _, d, d_imag = _test_vectors(params, 2)
    ud = u * d if d_imag is None else u * (d - 1j * d_imag)
    a = jnp.abs(u)
    parts = (jnp.real(u), a, a * a, jnp.real(ud), jnp.abs(ud))
    m = m.astype(a.dtype)
    return jnp.stack([jnp.sum(w * x) for w in (m, 1 - m) for x in parts])


_test_params = eqx.filter_jit(_test_tree)


@eqx.filter_jit
def _probe(optimizer: optax.GradientTransformation, params: PyTree, state: PyTree) -> Array:
    return _probe_stats(optimizer, params, state)


def _rounded(stats: Array) -> list[float]:
    return [float(f"{x:.7g}") for x in np.asarray(jax.device_get(stats), dtype=np.float64).tolist()]


def optimizer_fingerprint(optimizer: optax.GradientTransformation, params: PyTree) -> dict[str, Any]:
    """What identifies `optimizer` on parameters of the shapes of `params` (their values are not used)."""
    params = _test_params(params, 0)
    state = optimizer.init(params)
    stats = _probe(optimizer, params, state)  # compiled once: the probes of the run's states reuse it
    is_params = _params_like(params)
    leaves, treedef = jax.tree_util.tree_flatten_with_path(state, is_leaf=is_params)
    structure = _ADDRESS.sub("", str(treedef))
    scalars = {}
    for path, leaf in leaves:
        if is_params(leaf) or not isinstance(leaf, jax.Array) or leaf.ndim or _is_key(leaf):
            continue
        value = np.asarray(jax.device_get(leaf)).item()
        scalars[jax.tree_util.keystr(path)] = float(f"{value:.7g}") if isinstance(value, float) else value
    return {
        "structure": hashlib.sha256(structure.encode()).hexdigest()[:16],
        "types": re.findall(r"namedtuple\[(\w+)\]", structure),
        "scalars": scalars,
        "probe": _rounded(stats),
    }


def optimizer_probe(optimizer: optax.GradientTransformation, params: PyTree, state: PyTree) -> list[float]:
    """What `optimizer` does from `state` (the state of a run) at `params`: compared on resume."""
    return _rounded(_probe(optimizer, params, state))


def _same(a: float, b: float, scale: float) -> bool:
    if a == b or (math.isnan(a) and math.isnan(b)):
        return True
    if not (math.isfinite(a) and math.isfinite(b)):
        return False
    return abs(a - b) <= _PROBE_RTOL * scale


def probes_match(saved: list[float], current: list[float]) -> bool:
    """Whether two probes of `optimizer_probe` agree up to round-off."""
    if len(saved) != len(current):
        return False
    for k in range(0, len(saved), 5):
        a, b = saved[k : k + 5], current[k : k + 5]
        for i, j in enumerate((1, 1, 2, 4, 4)):
            scale = max(abs(a[j]), abs(b[j])) if all(map(math.isfinite, (a[j], b[j]))) else 0.0
            if not _same(a[i], b[i], scale):
                return False
    return True


def fingerprint_differences(saved: Mapping[str, Any], current: Mapping[str, Any]) -> list[str]:
    """What differs between two `optimizer_fingerprint`s, in words (empty when they agree)."""
    if saved.get("structure") != current["structure"]:
        if saved.get("types") != current["types"]:
            old, new = ", ".join(saved.get("types", [])), ", ".join(current["types"])
            return [f"its state is ({old}) in the checkpoint and ({new}) now"]
        return ["the structure of its state differs"]
    out = []
    old, new = saved.get("scalars", {}), current["scalars"]
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if a is None or b is None or not _same(float(a), float(b), max(abs(a), abs(b))):
            out.append(f"state{k}: {a!r} -> {b!r}")
    if not out and not probes_match(saved.get("probe", []), current["probe"]):
        out.append("its update of a test gradient differs (another learning rate, schedule or weight decay)")
    return out
