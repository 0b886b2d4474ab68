"""`load_file`: public data files (FNO `.mat`, PDEBench HDF5, `.npz`) as the `PDEDataset` of `load`."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable
from typing import Any

import numpy as np

from scimlx.core.validate import check_choice, check_int

from ._dataset import PDEDataset
from ._formats import read_array_file
from ._recipe import get_recipe

__all__ = ["load_file"]


def _pick(raw: dict, *names: str) -> np.ndarray:
    for n in names:
        if n in raw:
            return np.asarray(raw[n])
    have = sorted(k for k in raw if k != "attrs")
    raise ValueError(f"the file holds none of the arrays {list(names)}; it has {have}")


def _darcy(raw: dict, r: int, rt: int) -> tuple[dict, dict]:
    # FNO: coeff/sol (N, s, s); PDEBench 2-D Darcy: nu (N, s, s) and tensor (N, 1, s, s)
    a = _pick(raw, "coeff", "nu", "a")
    u = _pick(raw, "sol", "tensor", "u")
    if u.ndim == 4 and u.shape[1] == 1:
        u = u[:, 0]
    if a.ndim != 3 or u.shape != a.shape:
        raise ValueError(f"Darcy data must be (N, s, s) coefficients and solutions, got {a.shape}, {u.shape}")
    a, u = a[:, ::r, ::r], u[:, ::r, ::r]
    return {"coeff": a, "sol": u}, {"resolution": a.shape[-1]}


def _navier_stokes(raw: dict, r: int, rt: int) -> tuple[dict, dict]:
    # FNO: u (N, s, s, T) (records at t = 1..T) and optionally a (N, s, s) = w0
    u = _pick(raw, "u")
    if u.ndim != 4:
        raise ValueError(f"Navier-Stokes `u` must be (N, s, s, T), got {u.shape}")
    w = np.moveaxis(u, -1, 1)[:, ::rt, ::r, ::r]
    w0 = np.asarray(raw["a"])[:, ::r, ::r] if "a" in raw else np.full_like(w[:, 0], np.nan)
    return {"w0": w0, "w": w}, {"resolution": w.shape[-1], "n_records": w.shape[1]}


def _burgers(raw: dict, r: int, rt: int) -> tuple[dict, dict]:
    # FNO: a (N, s) = u0 and u (N, s) = u(t = 1)
    u0, u = _pick(raw, "a"), _pick(raw, "u")
    if u0.ndim != 2 or u.shape != u0.shape:
        raise ValueError(f"Burgers data must be (N, s) arrays `a` and `u`, got {u0.shape} and {u.shape}")
    u0, u = u0[:, ::r], u[:, ::r]
    return {"u0": u0, "u": u}, {"resolution": u.shape[-1]}


def _pdebench_1d(param: str) -> Callable:
    def convert(raw: dict, r: int, rt: int) -> tuple[dict, dict]:
        u = _pick(raw, "tensor")
        if u.ndim != 3:
            raise ValueError(f"PDEBench 1-D `tensor` must be (N, T, nx), got {u.shape}")
        u = u[:, ::rt, ::r]
        value = raw.get("attrs", {}).get(param, raw.get("attrs", {}).get(param.capitalize()))
        arrays = {"u": u, param: np.full(u.shape[0], np.nan if value is None else float(value))}
        extra: dict[str, Any] = {"resolution": u.shape[-1]}
        if "t-coordinate" in raw:
            t = np.asarray(raw["t-coordinate"])[: (u.shape[1] - 1) * rt + 1 : rt]
            if t.size >= 2:
                extra["dt_save"] = float(np.round(t[1] - t[0], 12))
                extra["t_final"] = float(np.round(t[-1] - t[0], 12))
        if value is not None:
            extra[param] = float(value)
        return arrays, extra

    return convert


_CONVERTERS: dict[str, Callable] = {
    "darcy": _darcy,
    "navier_stokes_2d": _navier_stokes,
    "burgers_1d": _burgers,
    "advection_1d": _pdebench_1d("beta"),
    "burgers_1d_pdebench": _pdebench_1d("nu"),
}


def load_file(
    path: str | os.PathLike,
    name: str,
    n_train: int,
    n_test: int = 0,
    *,
    test_path: str | os.PathLike | None = None,
    subsample: int = 1,
    subsample_t: int = 1,
    **params,
) -> PDEDataset:
    """Read a public data file into the [`scimlx.datasets.PDEDataset`][] of the matching recipe.

    Understood layouts: FNO Darcy `.mat` (`coeff`, `sol`) and PDEBench 2-D Darcy HDF5 (`nu`, `tensor`) as
    `"darcy"`; FNO Navier-Stokes `.mat` (`u` of shape `(N, s, s, T)`, optional `a`) as `"navier_stokes_2d"`;
    FNO Burgers `.mat` (`a`, `u`) as `"burgers_1d"`; PDEBench 1-D HDF5 (`tensor` of shape `(N, T, nx)`) as
    `"advection_1d"` or `"burgers_1d_pdebench"` (the parameter is read from the file's attributes when
    present). `.npz` files with the same array names work too. The pairs are made by the recipe, so they are
    laid out exactly as generated data (e.g. Navier-Stokes `x = w[:, :t_in]`, `y = w[:, t_in:t_in + t_out]`).

    **Arguments:**

    - `path`: the file.
    - `name`: the recipe whose layout the file has (see the list above).
    - `n_train`: the number of training samples: the first `n_train` of the file.
    - `n_test`: the number of test samples: the first `n_test` of `test_path` if given (FNO's Darcy
        `smooth2` file), else the last `n_test` of `path` (the FNO/LSM Navier-Stokes protocol).
    - `test_path`: a separate file for the test samples.
    - `subsample`: keep every `subsample`-th grid point (FNO: 5 for Darcy 421 -> 85).
    - `subsample_t`: keep every `subsample_t`-th time frame (time-dependent sets).
    - `**params`: recipe parameters for the pairs (e.g. `t_in`, `t_out`).
    """
    check_choice("name", name, sorted(_CONVERTERS), context="for a public file")
    recipe = get_recipe(name)
    n_train = check_int("n_train", n_train)
    n_test = check_int("n_test", n_test, low=0)
    r = check_int("subsample", subsample)
    rt = check_int("subsample_t", subsample_t)
    convert = _CONVERTERS[name]
    train, found = convert(read_array_file(path), r, rt)
    n_file = len(next(iter(train.values())))
    if test_path is not None:
        test, _ = convert(read_array_file(test_path), r, rt)
        if n_train > n_file or n_test > len(next(iter(test.values()))):
            raise ValueError(f"`n_train`/`n_test` exceed the samples in the files ({n_file} in {path})")
        test = {k: v[:n_test] for k, v in test.items()}
    else:
        if n_train + n_test > n_file:
            raise ValueError(f"`n_train + n_test` = {n_train + n_test} exceeds the {n_file} samples: {path}")
        test = {k: v[n_file - n_test :] for k, v in train.items()}
    train = {k: v[:n_train] for k, v in train.items()}
    overrides = {k: v for k, v in found.items() if k in recipe.params}
    overrides.update(params)
    if "subsample" in recipe.params:
        overrides.setdefault("subsample", 1)
    resolved = recipe.resolve(**overrides)
    x_train, y_train = recipe.pairs(train, resolved)
    x_test, y_test = recipe.pairs(test, resolved)
    return PDEDataset(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        grid=recipe.grid(resolved),
        params=resolved,
        arrays_train=train,
        arrays_test=test,
        metadata={
            "path": str(pathlib.Path(path)),
            "test_path": None if test_path is None else str(pathlib.Path(test_path)),
            "subsample": r,
            "subsample_t": rt,
            "from_cache": False,
        },
    )
