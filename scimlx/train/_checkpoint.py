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
import os
import pathlib
import struct
from collections.abc import Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import PyTree

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
