"""`load`: one way in to every generated data set, with an on-disk cache that checks what it reads."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import pathlib
import shutil
import time
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import numpy as np

from scimlx._cache import user_cache_root
from scimlx.core._io import atomic_write
from scimlx.core.geometry import Grid
from scimlx.core.validate import check_bool, check_int

from ._recipe import (
    Recipe,
    _dtype_name,
    _generate_parts,
    check_sample_count,
    check_seed,
    get_recipe,
    seed_key,
)

__all__ = ["CorruptedDataError", "PDEDataset", "cache_dir", "load"]

_FORMAT = 1  # the layout of the cache files themselves
_REGENERATE = "pass `regenerate=True` (`--overwrite` on the command line)"


class CorruptedDataError(ValueError):
    """A cached or saved data file does not match its checksum or its sidecar (truncated, edited, damaged)."""


@dataclasses.dataclass(frozen=True, eq=False)
class PDEDataset:
    """A generated PDE data set: channels-first train/test pairs, the grid, the PDE parameters and metadata.

    **Arguments:**

    - `name`: the recipe name.
    - `x_train`, `y_train`, `x_test`, `y_test`: inputs and targets, `(n, C, *spatial)`.
    - `grid`: the grid of the spatial axes.
    - `params`: the recipe parameters (PDE coefficients, resolution, scheme, ...).
    - `arrays_train`, `arrays_test`: every stored array (e.g. per-sample PDE parameters, full trajectories).
    - `metadata`: seed, dtype, versions, checksum, cache path (`path`), whether it was read from the
        cache (`from_cache`), generation time.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    grid: Grid
    params: dict
    arrays_train: dict[str, np.ndarray]
    arrays_test: dict[str, np.ndarray]
    metadata: dict

    @property
    def n_train(self) -> int:
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        return int(self.x_test.shape[0])

    def plot(self, n: int = 3, *, split: str = "train", path=None):
        """Plot inputs and targets of `n` samples (see [`scimlx.datasets.plot_samples`][])."""
        from ._plot import plot_samples

        return plot_samples(self, n, split=split, path=path)

    def __repr__(self) -> str:
        return (
            f"PDEDataset({self.name!r}, x_train={self.x_train.shape}, y_train={self.y_train.shape}, "
            f"x_test={self.x_test.shape}, y_test={self.y_test.shape}, dtype={self.x_train.dtype})"
        )


# ---------------------------------------------------------------------------------------------------------
# cache location and spec


def cache_dir() -> pathlib.Path:
    """Where generated data sets are cached: `$SCIMLX_DATA`, else the user cache directory + `/scimlx`."""
    env = os.environ.get("SCIMLX_DATA")
    if env:
        return pathlib.Path(env).expanduser()
    return user_cache_root()


def _jsonable(v: Any) -> Any:
    if isinstance(v, (tuple, list)):
        return [_jsonable(x) for x in v]
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, np.ndarray):
        return v.tolist()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    raise TypeError(f"parameter value {v!r} of type {type(v).__name__} cannot be recorded in a data spec")


def _spec(recipe: Recipe, params: dict, seed: int, n_train: int, n_test: int, dtype: str) -> dict:
    return {
        "generator": recipe.name,
        "recipe_version": recipe.version,
        "format": _FORMAT,
        "params": _jsonable({k: v for k, v in params.items() if k != "chunk_size"}),
        "seed": seed,
        "n_train": n_train,
        "n_test": n_test,
        "dtype": dtype,
    }


def _spec_digest(spec: dict) -> str:
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def _sha256_file(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _write_cached(
    path: pathlib.Path,
    spec: dict,
    arrays: dict[str, np.ndarray],
    extra: dict,
    side: pathlib.Path | None = None,
) -> dict:
    """Write the `.npz` and then its `.json` sidecar, both atomically; returns the sidecar."""
    import scimlx

    payload = _npz_bytes(arrays)
    sidecar = {
        **spec,
        "scimlx_version": scimlx.__version__,
        "jax_version": jax.__version__,
        "prng_impl": str(jax.config.jax_default_prng_impl),
        "arrays": {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in arrays.items()},
        "sha256": hashlib.sha256(payload).hexdigest(),
        "bytes": len(payload),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **extra,
    }
    atomic_write(path, payload)
    atomic_write(side or path.with_suffix(".json"), json.dumps(sidecar, indent=2).encode())
    return sidecar


def _read_cached(path: pathlib.Path, spec: dict | None = None) -> tuple[dict[str, np.ndarray], dict]:
    """Read and verify a cached `.npz` against its sidecar; raise `CorruptedDataError` on any mismatch."""
    side_path = path.with_suffix(".json")
    if not side_path.exists():
        raise CorruptedDataError(f"{path} has no sidecar {side_path.name}; delete the file or {_REGENERATE}")
    try:
        sidecar = json.loads(side_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptedDataError(
            f"the sidecar {side_path} is not valid JSON ({e}); delete both files or {_REGENERATE}"
        ) from e
    if spec is not None:
        recorded = {k: sidecar.get(k) for k in spec}
        if recorded != json.loads(json.dumps(spec)):
            raise CorruptedDataError(
                f"the sidecar {side_path} does not describe the requested data set; delete both files or "
                f"{_REGENERATE}"
            )
    size = path.stat().st_size
    if "bytes" in sidecar and size != sidecar["bytes"]:
        raise CorruptedDataError(
            f"{path} has {size} bytes but its sidecar records {sidecar['bytes']}: the file is truncated or "
            f"damaged; delete it or {_REGENERATE}"
        )
    digest = _sha256_file(path)
    if digest != sidecar.get("sha256"):
        raise CorruptedDataError(
            f"{path} does not match the SHA-256 checksum in its sidecar: the file is damaged; "
            f"delete it or {_REGENERATE}"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except Exception as e:
        raise CorruptedDataError(
            f"{path} cannot be read as .npz ({type(e).__name__}: {e}); delete it or {_REGENERATE}"
        ) from e
    for k, meta in sidecar.get("arrays", {}).items():
        if k not in arrays or list(arrays[k].shape) != meta["shape"]:
            raise CorruptedDataError(
                f"{path}: array {k!r} does not have the shape its sidecar records; delete it or {_REGENERATE}"
            )
    return arrays, sidecar


# ---------------------------------------------------------------------------------------------------------
# load


def load(
    name: str | Recipe,
    n_train: int = 1000,
    n_test: int = 200,
    resolution: int | None = None,
    seed: int = 0,
    *,
    preset: str | None = None,
    dtype: Any = "float32",
    cache: bool = True,
    data_dir: str | os.PathLike | None = None,
    regenerate: bool = False,
    progress: bool = True,
    chunk_size: int | None = None,
    **params,
) -> PDEDataset:
    """Generate (or read from the cache) the data set `name` as a [`scimlx.datasets.PDEDataset`][].

    Training sample `i` is drawn with `fold_in(fold_in(key(seed), 0), i)` and test sample `i` with
    `fold_in(fold_in(key(seed), 1), i)`: a larger `n_train` extends the training set without changing
    its first samples (up to round-off), the test set does not depend on `n_train`, and
    `generate(name, n, seed=seed)` gives the same training samples.

    The arrays are cached in `data_dir` (default [`scimlx.datasets.cache_dir`][], i.e. `$SCIMLX_DATA`
    or the user cache directory) as `<name>-<digest>.npz` with a JSON sidecar holding the generator
    name and parameters, the scimlx version, the seed, the array shapes and a SHA-256 checksum. A
    different spec is a different file; a file that fails its checksum raises
    [`scimlx.datasets.CorruptedDataError`][] instead of being loaded; writes are atomic. While a set is
    generated, finished chunks are kept in `<name>-<digest>.partial/`, so an interrupted run resumes
    from its last chunk.

    **Arguments:**

    - `name`: a recipe name (`scimlx data list`), e.g. `"darcy"`, `"navier_stokes_2d"`.
    - `n_train`, `n_test`: the numbers of training and test samples (`n_test` may be 0).
    - `resolution`: the grid resolution (default: the recipe's; see its `resolution_note`).
    - `seed`: the seed of the whole set, in `[0, 2^32)`.
    - `preset`: a parameter preset of the recipe (`"paper"` for the paper-scale recipe).
    - `dtype`: `"float32"` or `"float64"`.
    - `cache`: read and write the on-disk cache.
    - `data_dir`: the cache directory (default: `cache_dir()`).
    - `regenerate`: generate even if a cached file exists, and replace it.
    - `progress`: show a progress bar with an ETA while generating.
    - `chunk_size`: samples per compiled call.
    - `**params`: recipe parameters (PDE coefficients, scheme, ...).
    """
    recipe = get_recipe(name)
    n_train = check_int("n_train", n_train)
    n_test = check_int("n_test", n_test, low=0)
    seed = check_seed(seed)
    dtype = _dtype_name(dtype)
    cache = check_bool("cache", cache)
    regenerate = check_bool("regenerate", regenerate)
    progress = check_bool("progress", progress)
    if data_dir is not None and not isinstance(data_dir, (str, os.PathLike)):
        raise TypeError(f"`data_dir` must be a str, an os.PathLike or None, got {type(data_dir).__name__}")
    if resolution is not None:
        params["resolution"] = check_int("resolution", resolution)
    resolved = recipe.resolve(preset, **params)
    check_sample_count(recipe, resolved, n_train + n_test, "`n_train` + `n_test`")
    chunk_size = check_int("chunk_size", chunk_size, optional=True)
    spec = _spec(recipe, resolved, seed, n_train, n_test, dtype)
    digest = _spec_digest(spec)

    path = None
    arrays = sidecar = None
    from_cache = False
    if cache:
        root = pathlib.Path(data_dir).expanduser() if data_dir is not None else cache_dir()
        path = root / f"{recipe.name}-{digest[:16]}.npz"
        if path.exists() and not regenerate:
            if path.with_suffix(".json").exists():
                arrays, sidecar = _read_cached(path, spec)
                from_cache = True
            else:  # the sidecar is written last: its absence marks an interrupted write
                warnings.warn(
                    f"{path} has no sidecar (an interrupted write); generating it again", stacklevel=2
                )
    if arrays is None:
        t0 = time.perf_counter()
        partial = path.with_suffix(".partial") if path is not None else None
        train, test = _generate_parts(
            recipe,
            resolved,
            dtype,
            [(seed_key(seed, 0), n_train), (seed_key(seed, 1), n_test)],
            chunk_size,
            progress,
            resume_dir=partial,
        )
        seconds = time.perf_counter() - t0
        arrays = {f"train/{k}": v for k, v in train.items()} | {f"test/{k}": v for k, v in test.items()}
        extra = {"seconds": seconds, "samples_per_second": (n_train + n_test) / seconds}
        if path is not None:
            sidecar = _write_cached(path, spec, arrays, extra)
            shutil.rmtree(partial, ignore_errors=True)
        else:
            sidecar = {**spec, **extra}
    return _assemble(recipe, resolved, arrays, sidecar, path, from_cache)


def _assemble(
    recipe: Recipe, params: dict, arrays: dict, sidecar: dict, path, from_cache: bool
) -> PDEDataset:
    train = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("train/")}
    test = {k.split("/", 1)[1]: v for k, v in arrays.items() if k.startswith("test/")}
    x_train, y_train = recipe.pairs(train, params)
    x_test, y_test = recipe.pairs(test, params)
    metadata = dict(sidecar)
    metadata.pop("params", None)
    metadata["path"] = str(path) if path is not None else None
    metadata["from_cache"] = from_cache
    return PDEDataset(
        name=recipe.name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        grid=recipe.grid(params),
        params=params,
        arrays_train=train,
        arrays_test=test,
        metadata=metadata,
    )


def save_arrays(
    path: str | os.PathLike,
    arrays: Mapping[str, np.ndarray],
    *,
    metadata: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Write arrays by the file's extension, with a JSON sidecar `<file>.json` (metadata, shapes, SHA-256).

    `.npz`; `.mat` (MATLAB v5, or v7.3 above 2 GiB); `.h5`/`.hdf5` (one dataset per array, `metadata` also as
    JSON in the `scimlx` attribute). Array names containing `/` are written with `_`. Refuses to replace an
    existing file or sidecar unless `overwrite=True`. [`scimlx.datasets.verify_file`][] checks a file against
    its sidecar.
    """
    from ._formats import write_mat

    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}")
    path = pathlib.Path(path)
    suffix = path.suffix.lower()
    if suffix not in (".npz", ".mat", ".h5", ".hdf5"):
        raise ValueError(f"`path` must end in .npz, .mat, .h5 or .hdf5, got {path.name!r}")
    side = _sidecar_of(path)
    for target in (path, side):
        if target.exists() and not overwrite:
            raise FileExistsError(
                f"{target} exists; pass `overwrite=True` (`--overwrite` on the command line) to replace it"
            )
    meta = _jsonable(dict(metadata or {}))
    flat = {k.replace("/", "_"): np.asarray(v) for k, v in arrays.items()}
    if suffix == ".npz":
        _write_cached(path, meta, flat, {}, side)
        return path
    if suffix == ".mat":
        big = sum(v.nbytes for v in flat.values()) > 2**31 - 1
        write_mat(path, flat, version="7.3" if big else "5", overwrite=True)
    else:
        import h5py

        from scimlx.core._io import atomic_path

        with atomic_path(path) as tmp, h5py.File(tmp, "w") as f:
            for k, v in flat.items():
                f.create_dataset(k, data=v)
            f.attrs["scimlx"] = json.dumps(meta)
    sidecar = {
        **meta,
        "arrays": {k: {"shape": list(v.shape), "dtype": v.dtype.name} for k, v in flat.items()},
        "sha256": _sha256_file(path),
        "bytes": path.stat().st_size,
    }
    atomic_write(side, json.dumps(sidecar, indent=2).encode())
    return path


def verify_file(path: str | os.PathLike) -> dict:
    """Check a file written by [`scimlx.datasets.save_arrays`][] (or the cache) against its JSON sidecar.

    **Returns:** the sidecar. **Raises:** [`scimlx.datasets.CorruptedDataError`][] when the size or the
    SHA-256 checksum differs, or the sidecar is missing or unreadable.
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}")
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"`path` does not exist: {path}")
    side = _sidecar_of(path)
    if not side.exists():
        raise CorruptedDataError(f"{path} has no sidecar {side.name}")
    try:
        sidecar = json.loads(side.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorruptedDataError(f"the sidecar {side} is not valid JSON ({e})") from e
    if path.stat().st_size != sidecar.get("bytes"):
        raise CorruptedDataError(f"{path} does not have the size its sidecar records: truncated or damaged")
    if _sha256_file(path) != sidecar.get("sha256"):
        raise CorruptedDataError(f"{path} does not match the SHA-256 checksum in its sidecar: damaged")
    return sidecar


def _sidecar_of(path: pathlib.Path) -> pathlib.Path:
    """`data.npz` -> `data.npz.json` (so `data.npz` and `data.mat` side by side keep separate sidecars)."""
    return path.with_name(path.name + ".json")
