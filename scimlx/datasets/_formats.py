"""Readers and writers for the public PDE data formats: FNO `.mat` (v5 and v7.3), PDEBench HDF5, `.npz`.

Every writer is atomic (a temporary file renamed over the target) and refuses to replace an existing
file unless `overwrite=True`. Every reader raises a `ValueError` naming the file when it is not of the
expected format or is truncated, and a `FileNotFoundError` when it does not exist.
"""

from __future__ import annotations

import os
import pathlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from scimlx.core._io import atomic_path

__all__ = [
    "read_array_file",
    "read_mat",
    "read_npz",
    "read_pdebench",
    "write_mat",
    "write_npz",
    "write_pdebench",
]

_MAT73_HEADER = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, Created by: scimlx. HDF5 schema 1.00 ."
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
_MAT_CLASS = {
    np.dtype("float64"): "double",
    np.dtype("float32"): "single",
    np.dtype("int8"): "int8",
    np.dtype("int16"): "int16",
    np.dtype("int32"): "int32",
    np.dtype("int64"): "int64",
    np.dtype("uint8"): "uint8",
    np.dtype("uint16"): "uint16",
    np.dtype("uint32"): "uint32",
    np.dtype("uint64"): "uint64",
    np.dtype("bool"): "logical",
}


def _existing(path) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}")
    path = pathlib.Path(path)
    if not path.exists():
        raise FileNotFoundError(f"`path` does not exist: {path}")
    if not path.is_file():
        raise ValueError(f"`path` is not a file: {path}")
    return path


def _target(path, overwrite: bool) -> pathlib.Path:
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"`path` must be a str or os.PathLike, got {type(path).__name__}")
    path = pathlib.Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path} exists; pass `overwrite=True` to replace it")
    return path


def _check_arrays(arrays: Mapping[str, Any]) -> dict[str, np.ndarray]:
    if not isinstance(arrays, Mapping) or not arrays:
        raise TypeError("`arrays` must be a non-empty mapping from names to arrays")
    out = {}
    for k, v in arrays.items():
        if not isinstance(k, str) or not k.isidentifier():
            raise ValueError(f"array names must be identifiers, got {k!r}")
        out[k] = np.asarray(v)
    return out


def _signature(path: pathlib.Path, n: int = 512) -> bytes:
    with open(path, "rb") as f:
        return f.read(n)


def _is_hdf5(path: pathlib.Path) -> bool:
    head = _signature(path, 2048 + 8)
    # The HDF5 superblock sits at offset 0, 512, 1024 or 2048 (after a user block, as in MATLAB v7.3).
    return any(head[o : o + 8] == _HDF5_SIGNATURE for o in (0, 512, 1024, 2048))


# ---------------------------------------------------------------------------------------------------------
# MATLAB


def read_mat(path: str | os.PathLike, keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Read the arrays of a MATLAB `.mat` file, v5 (via scipy) or v7.3 (HDF5, via h5py).

    Axes are returned in MATLAB's order in both cases (v7.3 files store them reversed; they are
    transposed back), so e.g. FNO's `NavierStokes_V1e-5_N1200_T20.mat` gives `u` of shape
    `(1200, 64, 64, 20)` and `piececonst_r421_N1024_smooth1.mat` gives `coeff` and `sol` of shape
    `(1024, 421, 421)`.

    **Arguments:**

    - `path`: the file.
    - `keys`: the variables to read (default: all numeric arrays); a missing key raises `KeyError`.
    """
    path = _existing(path)
    if keys is not None:
        if isinstance(keys, str):
            keys = [keys]
        keys = list(keys)
    if _is_hdf5(path):
        return _read_mat73(path, keys)
    import scipy.io

    try:
        raw = scipy.io.loadmat(path, variable_names=keys)
    except Exception as e:  # scipy raises several types for damaged files
        raise ValueError(f"{path} is not a readable MATLAB v5 .mat file ({type(e).__name__}: {e})") from e
    out = {k: np.asarray(v) for k, v in raw.items() if not k.startswith("__")}
    return _select(out, keys, path)


def _read_mat73(path: pathlib.Path, keys) -> dict[str, np.ndarray]:
    import h5py

    try:
        with h5py.File(path, "r") as f:
            names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset) and not k.startswith("#")]
            wanted = names if keys is None else keys
            out = {}
            for k in wanted:
                if k not in f:
                    continue
                arr = np.asarray(f[k][()])
                out[k] = arr.T if arr.ndim > 1 else arr
    except OSError as e:
        raise ValueError(f"{path} is not a readable MATLAB v7.3 (HDF5) file: {e}") from e
    return _select(out, keys, path)


def _select(out: dict, keys, path) -> dict[str, np.ndarray]:
    if keys is not None:
        missing = [k for k in keys if k not in out]
        if missing:
            raise KeyError(f"{path} has no variable(s) {missing}; it has {sorted(out)}")
    return out


def write_mat(
    path: str | os.PathLike,
    arrays: Mapping[str, Any],
    *,
    version: str = "5",
    overwrite: bool = False,
) -> pathlib.Path:
    """Write arrays to a MATLAB `.mat` file, v5 (scipy; up to 2 GiB) or v7.3 (HDF5, readable by MATLAB).

    **Arguments:**

    - `path`: the target file.
    - `arrays`: a mapping from variable names to arrays (stored with MATLAB's axis order as given).
    - `version`: `"5"` or `"7.3"`.
    - `overwrite`: replace an existing file.
    """
    if version not in ("5", "7.3"):
        raise ValueError(f"`version` must be '5' or '7.3', got {version!r}")
    path = _target(path, overwrite)
    arrays = _check_arrays(arrays)
    with atomic_path(path) as tmp:
        if version == "5":
            import scipy.io

            with open(tmp, "wb") as f:
                scipy.io.savemat(f, arrays, do_compression=False)
        else:
            _write_mat73(tmp, arrays)
    return path


def _write_mat73(tmp: pathlib.Path, arrays: dict[str, np.ndarray]) -> None:
    import h5py

    with h5py.File(tmp, "w", userblock_size=512) as f:
        for k, v in arrays.items():
            if v.dtype not in _MAT_CLASS:
                raise TypeError(f"array {k!r} has dtype {v.dtype}, which MATLAB v7.3 files cannot hold here")
            data = v.astype(np.uint8) if v.dtype == np.bool_ else v
            ds = f.create_dataset(k, data=data.T if data.ndim > 1 else data)
            ds.attrs["MATLAB_class"] = np.bytes_(_MAT_CLASS[v.dtype])
    header = _MAT73_HEADER.ljust(116, b" ") + b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(tmp, "r+b") as f:
        f.write(header.ljust(512, b"\x00"))


# ---------------------------------------------------------------------------------------------------------
# PDEBench HDF5


def read_pdebench(path: str | os.PathLike, *, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Read a PDEBench HDF5 file: `tensor` (samples, time, *space), `x-coordinate`, `t-coordinate`, `nu`.

    The 2-D Darcy files hold `nu` (the coefficient, the input) and `tensor` (the solution); the 1-D files
    hold `tensor`, `x-coordinate` and `t-coordinate` and keep the PDE parameter in the file attributes.

    **Arguments:**

    - `path`: the file.
    - `keys`: the datasets to read (default: every top-level dataset).

    **Returns:**

    A dict of arrays, plus `"attrs"`: the file's attributes as a dict.
    """
    path = _existing(path)
    if not _is_hdf5(path):
        raise ValueError(f"{path} is not an HDF5 file (PDEBench data are HDF5)")
    import h5py

    try:
        with h5py.File(path, "r") as f:
            names = [k for k in f.keys() if isinstance(f[k], h5py.Dataset)]
            wanted = names if keys is None else list(keys)
            missing = [k for k in wanted if k not in names]
            if missing:
                raise KeyError(f"{path} has no dataset(s) {missing}; it has {sorted(names)}")
            out: dict[str, Any] = {k: np.asarray(f[k][()]) for k in wanted}
            out["attrs"] = {k: _attr(v) for k, v in f.attrs.items()}
    except OSError as e:
        raise ValueError(f"{path} is not a readable HDF5 file: {e}") from e
    return out


def _attr(v):
    if isinstance(v, bytes):
        return v.decode()
    if isinstance(v, np.ndarray) and v.shape == ():
        return v.item()
    if isinstance(v, np.generic):
        return v.item()
    return v


def write_pdebench(
    path: str | os.PathLike,
    tensor: Any,
    *,
    x: Any | None = None,
    t: Any | None = None,
    nu: Any | None = None,
    attrs: Mapping[str, Any] | None = None,
    overwrite: bool = False,
) -> pathlib.Path:
    """Write data in PDEBench's HDF5 layout (`tensor`, `x-coordinate`, `t-coordinate`, `nu`, attributes).

    **Arguments:**

    - `path`: the target file.
    - `tensor`: the solutions, `(samples, time, *space)` (or `(samples, *space)` for steady problems).
    - `x`, `t`: the coordinates (optional).
    - `nu`: the coefficient field of the steady Darcy sets, or any parameter array (optional).
    - `attrs`: scalar attributes such as the PDE parameter (`{"beta": 0.4}`).
    - `overwrite`: replace an existing file.
    """
    path = _target(path, overwrite)
    import h5py

    with atomic_path(path) as tmp:
        with h5py.File(tmp, "w") as f:
            f.create_dataset("tensor", data=np.asarray(tensor))
            if x is not None:
                f.create_dataset("x-coordinate", data=np.asarray(x))
            if t is not None:
                f.create_dataset("t-coordinate", data=np.asarray(t))
            if nu is not None:
                f.create_dataset("nu", data=np.asarray(nu))
            for k, v in (attrs or {}).items():
                f.attrs[k] = v
    return path


# ---------------------------------------------------------------------------------------------------------
# numpy


def read_npz(path: str | os.PathLike, keys: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Read the arrays of an `.npz` file (no pickled objects are loaded).

    **Arguments:**

    - `path`: the file.
    - `keys`: the arrays to read (default: all).
    """
    path = _existing(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            wanted = list(z.files) if keys is None else list(keys)
            missing = [k for k in wanted if k not in z.files]
            if missing:
                raise KeyError(f"{path} has no array(s) {missing}; it has {sorted(z.files)}")
            return {k: z[k] for k in wanted}
    except KeyError:
        raise
    except Exception as e:  # zipfile.BadZipFile, ValueError, EOFError, zlib.error, ...
        raise ValueError(f"{path} is not a readable .npz file ({type(e).__name__}: {e})") from e


def write_npz(
    path: str | os.PathLike, arrays: Mapping[str, Any], *, compress: bool = False, overwrite: bool = False
) -> pathlib.Path:
    """Write arrays to an `.npz` file.

    **Arguments:**

    - `path`: the target file (should end in `.npz`).
    - `arrays`: a mapping from names to arrays.
    - `compress`: use zip compression.
    - `overwrite`: replace an existing file.
    """
    path = _target(path, overwrite)
    arrays = _check_arrays(arrays)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            (np.savez_compressed if compress else np.savez)(f, **arrays)
    return path


def read_array_file(path: str | os.PathLike, keys: Sequence[str] | None = None) -> dict[str, Any]:
    """Read `.mat`, PDEBench `.h5`/`.hdf5` or `.npz` files by their extension (see the format readers)."""
    p = _existing(path)
    suffix = p.suffix.lower()
    if suffix == ".mat":
        return read_mat(p, keys)
    if suffix in (".h5", ".hdf5"):
        return read_pdebench(p, keys=keys)
    if suffix == ".npz":
        return read_npz(p, keys)
    raise ValueError(f"`path` must end in .mat, .h5, .hdf5 or .npz, got {p.name!r}")
