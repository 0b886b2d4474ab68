"""A quick look at a data set: inputs next to targets for a few samples (matplotlib)."""

from __future__ import annotations

import os
import pathlib
from typing import Any

import numpy as np

from scimlx.core.validate import check_int

__all__ = ["plot_samples"]


def _image(ax, field: np.ndarray, title: str, extent=None, aspect="equal", xlabel=None, ylabel=None):
    im = ax.imshow(field.T, origin="lower", cmap="RdBu_r", extent=extent, aspect=aspect)
    ax.figure.colorbar(im, ax=ax, shrink=0.8)
    ax.set_title(title, fontsize=9)
    if xlabel:
        ax.set_xlabel(xlabel, fontsize=8)
    if ylabel:
        ax.set_ylabel(ylabel, fontsize=8)


def plot_samples(dataset: Any, n: int = 3, *, split: str = "train", path: str | os.PathLike | None = None):
    """Plot inputs and targets of the first `n` samples of a [`scimlx.datasets.PDEDataset`][].

    2-D fields are shown as images (the first input channel and the last target channel; a 3-D field by
    its middle slice), 1-D fields with several time channels as space-time images (inputs then targets,
    time upwards), single-channel 1-D fields as curves.

    **Arguments:**

    - `dataset`: the data set.
    - `n`: the number of samples (rows).
    - `split`: `"train"` or `"test"`.
    - `path`: also save the figure there (any format matplotlib knows, e.g. `.png`).

    **Returns:** the matplotlib `Figure`.
    """
    import matplotlib.pyplot as plt  # the user's backend (matplotlib falls back to Agg without a display)

    n = check_int("n", n)
    if split not in ("train", "test"):
        raise ValueError(f"`split` must be 'train' or 'test', got {split!r}")
    x = np.asarray(getattr(dataset, f"x_{split}"))
    y = np.asarray(getattr(dataset, f"y_{split}"))
    if x.shape[0] == 0:
        raise ValueError(f"the {split} split of {dataset.name!r} is empty")
    n = min(n, x.shape[0])
    spatial = x.ndim - 2
    name = dataset.name
    if spatial == 1 and x.shape[1] == 1 and y.shape[1] == 1:
        fig, axes = plt.subplots(n, 1, figsize=(6, 2.2 * n), squeeze=False)
        grid = np.linspace(0, 1, x.shape[-1], endpoint=False)
        for i in range(n):
            ax = axes[i, 0]
            ax.plot(grid, x[i, 0], label="input")
            ax.plot(grid, y[i, 0], label="target")
            ax.set_title(f"{name}: sample {i}", fontsize=9)
            ax.legend(fontsize=8)
    elif spatial == 1:
        fig, axes = plt.subplots(1, n, figsize=(3.6 * n, 3.2), squeeze=False)
        for i in range(n):
            frames = np.concatenate([x[i], y[i]], axis=0)  # (time, space)
            _image(axes[0, i], frames.T, f"{name}: sample {i}", aspect="auto", xlabel="x", ylabel="frame")
            axes[0, i].axhline(x.shape[1] - 0.5, color="k", lw=0.8, ls="--")  # inputs below, targets above
    else:
        fig, axes = plt.subplots(n, 2, figsize=(7, 3.2 * n), squeeze=False)
        for i in range(n):
            xi, yi = x[i, 0], y[i, -1]
            if spatial == 3:
                xi, yi = xi[:, :, xi.shape[2] // 2], yi[:, :, yi.shape[2] // 2]
            _image(axes[i, 0], xi, f"{name} {i}: input, channel 0")
            _image(axes[i, 1], yi, f"{name} {i}: target, channel {y.shape[1] - 1}")
    fig.tight_layout()
    if path is not None:
        pathlib.Path(path).parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=120)
    return fig
