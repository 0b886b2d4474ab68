"""How a training run is carried out, written once for every family: [`scimlx.train.RunOptions`][]."""

from __future__ import annotations

import dataclasses
import numbers
import os
from collections.abc import Sequence
from typing import Any

import jax
import numpy as np

from scimlx.core.validate import check_bool, check_int

__all__ = ["RunOptions"]

_LENGTH = ("steps", "epochs")


@dataclasses.dataclass(frozen=True)
class RunOptions:
    """How a training run is carried out: its length, batches, evaluations, checkpoints, progress and devices.

    Every family's `train_*` takes one (`run=`), beside its recipe config (the paper's optimiser, schedule
    and loss), and [`scimlx.train.fit`][] takes one directly. A field left `None` takes the recipe's value
    (for example an operator's 500 epochs and batch 20); see
    [`RunOptions.with_defaults`][scimlx.train.RunOptions.with_defaults].

    **Arguments:**

    - `steps`: the total number of optimiser steps (counted from the start of the run, also when
        resuming).
    - `epochs`: alternatively, passes over array data. At most one of `steps` and `epochs`.
    - `batch_size`: samples per step, for array data.
    - `eval_every`: the evaluation period in steps (the recipe's evaluation runs at the end in any case).
    - `checkpoint_dir`: a directory for the run's checkpoint, written atomically after the last step
        and every `checkpoint_every` steps.
    - `checkpoint_every`: the checkpoint period in steps (needs `checkpoint_dir`).
    - `resume`: continue the run saved in `checkpoint_dir`; the result is bit-identical to an
        uninterrupted run.
    - `overwrite`: replace an existing checkpoint of another run in `checkpoint_dir` (without `resume` or
        `overwrite`, an existing checkpoint is an error, so nothing is overwritten unasked).
    - `progress`: show a progress bar.
    - `devices`: the devices to train on, data-parallel: `None` (every local device, or every device
        of every host after `jax.distributed.initialize`; with array data on one host, the most of them
        that divide `batch_size`), a count `n` (the first `n`), or a sequence of `jax.Device`. One device
        trains without sharding.
    - `mesh`: alternatively, a `jax.sharding.Mesh` with an axis named `"data"` (batches are split along
        it; the other axes replicate).
    """

    steps: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    eval_every: int | None = None
    checkpoint_dir: str | os.PathLike | None = None
    checkpoint_every: int | None = None
    resume: bool = False
    overwrite: bool = False
    progress: bool = True
    devices: int | Sequence[Any] | None = None
    mesh: jax.sharding.Mesh | None = None

    def __post_init__(self):
        for name in ("steps", "epochs", "batch_size", "eval_every", "checkpoint_every"):
            check_int(name, getattr(self, name), optional=True)
        for name in ("resume", "overwrite", "progress"):
            check_bool(name, getattr(self, name))
        if self.steps is not None and self.epochs is not None:
            raise ValueError(
                f"Exactly one of `steps` and `epochs` must be given, got steps={self.steps} and "
                f"epochs={self.epochs}."
            )
        if self.checkpoint_dir is not None and not isinstance(self.checkpoint_dir, str | os.PathLike):
            raise TypeError(f"`checkpoint_dir` must be a path, got {type(self.checkpoint_dir).__name__}.")
        if self.checkpoint_dir is not None and not os.fspath(self.checkpoint_dir):
            raise ValueError("`checkpoint_dir` must be a non-empty path (use '.' for the working directory).")
        if self.checkpoint_dir is None:
            if self.checkpoint_every is not None:
                raise ValueError("`checkpoint_every` needs `checkpoint_dir`.")
            if self.resume:
                raise ValueError("`resume=True` needs `checkpoint_dir`.")
        if self.resume and self.overwrite:
            raise ValueError("`resume` and `overwrite` are mutually exclusive.")
        if self.mesh is not None:
            if self.devices is not None:
                raise ValueError("Pass `devices` or `mesh`, not both.")
            if not isinstance(self.mesh, jax.sharding.Mesh):
                raise TypeError(f"`mesh` must be a jax.sharding.Mesh, got {type(self.mesh).__name__}.")
            if "data" not in self.mesh.axis_names:
                raise ValueError(f"`mesh` needs an axis named 'data', got axes {self.mesh.axis_names}.")
        if self.devices is not None:
            object.__setattr__(self, "devices", _check_devices(self.devices))

    def with_defaults(self, **defaults: Any) -> RunOptions:
        """These options with every field that is `None` set from `defaults` (a recipe's values).

        The length counts as one field: a run that sets `steps` or `epochs` keeps it and ignores the
        other's default.
        """
        unknown = set(defaults) - {f.name for f in dataclasses.fields(self)}
        if unknown:
            raise TypeError(f"Unknown run options {sorted(unknown)}.")
        values = {k: v for k, v in defaults.items() if getattr(self, k) is None}
        if any(getattr(self, k) is not None for k in _LENGTH):
            values = {k: v for k, v in values.items() if k not in _LENGTH}
        return dataclasses.replace(self, **values)


def _check_devices(devices: Any) -> int | tuple[Any, ...]:
    """A device count (a Python int `>= 1`) or a non-empty tuple of distinct `jax.Device`s."""
    expected = "`devices` must be None, a count or a sequence of jax devices"
    if isinstance(devices, numbers.Integral) or isinstance(devices, bool | np.bool_):
        return check_int("devices", devices)
    if isinstance(devices, str | bytes) or not isinstance(devices, Sequence):
        raise TypeError(f"{expected}, got {devices!r}.")
    chosen = tuple(devices)
    if not chosen:
        raise ValueError(f"{expected}; the sequence is empty.")
    if not all(isinstance(d, jax.Device) for d in chosen):
        raise TypeError(f"{expected}, got {devices!r}.")
    if len(set(chosen)) != len(chosen):
        raise ValueError("`devices` lists a device twice.")
    return chosen
