"""Figure parts shared by the benchmark suites: training curves and prediction / truth / error panels.

The suites call these only when figures are wanted (`ctx.plotting`) and save what they build with
`ctx.save_figure`; matplotlib is imported here, at call time, so that importing a suite stays light.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def loss_curve(
    ax, values, *, block: int = 1, x_scale: float = 1.0, label: str, color=None, ls: str = "-"
) -> None:
    """Per-step values as a thin line and, with `block > 1`, the means of consecutive blocks of `block` steps
    (an epoch, say) as a bold one with markers (line style `ls`), on a log axis; the x coordinate of step `s`
    (1-based) is `s * x_scale`. Non-positive and non-finite values are left out (a log axis cannot show
    them)."""
    v = np.asarray(values, dtype=float)
    x = np.arange(1, len(v) + 1) * x_scale
    ok = np.isfinite(v) & (v > 0)
    if block > 1:
        (line,) = ax.plot(x[ok], v[ok], lw=0.6, alpha=0.35, color=color)
        n = math.ceil(len(v) / block)
        means = np.array([np.mean(v[i * block : (i + 1) * block]) for i in range(n)])
        ends = np.minimum(np.arange(1, n + 1) * block, len(v)) * x_scale
        keep = np.isfinite(means) & (means > 0)
        ax.plot(ends[keep], means[keep], marker="o", ls=ls, ms=3, lw=1.4, color=line.get_color(), label=label)
    else:
        ax.plot(x[ok], v[ok], ls=ls, lw=1.0, color=color, label=label)
    ax.set_yscale("log")


def operator_training_figure(
    history: dict,
    *,
    n_train: int,
    batch_size: int,
    reduction: str,
    loss_name: str,
    test: dict[str, float],
    title: str,
    aux: dict[str, str] | None = None,
    warmup_epochs: int = 0,
):
    """The training curve of an operator trained by `scimlx.operators.train_operator`: the loss per sample
    against the epoch (each step thin, epoch means bold), the auxiliary terms named in `aux` (history key ->
    label) likewise, and the test errors measured after training as markers at the last epoch.

    **Arguments:**

    - `history`: the `history` of the training result (per-step `loss`, `aux`).
    - `n_train`, `batch_size`: the training pairs and the batch (an epoch's last batch may be smaller).
    - `reduction`: how the recipe combines a batch (`"sum"`: the loss is divided by the batch's size).
    - `loss_name`: the y label (what one sample's loss is).
    - `test`: label -> value of the errors measured after training.
    - `title`: the figure's title.
    - `aux`: the auxiliary terms to draw, history key -> label.
    - `warmup_epochs`: epochs to shade as a warm-up.
    """
    import matplotlib.pyplot as plt

    steps_per_epoch = math.ceil(n_train / batch_size)
    loss = np.asarray(history["loss"], dtype=float)
    # the size of each step's batch: full ones, then the epoch's remainder
    sizes = np.full(steps_per_epoch, batch_size, dtype=float)
    sizes[-1] = n_train - (steps_per_epoch - 1) * batch_size
    per_step = np.resize(sizes, len(loss)) if reduction == "sum" else np.ones(len(loss))
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    kw = {"block": steps_per_epoch, "x_scale": 1.0 / steps_per_epoch}
    if warmup_epochs:
        ax.axvspan(0, warmup_epochs, color="0.9", label="warm-up (loss: the auxiliary term alone)")
    loss_curve(ax, loss / per_step, label="training loss (epoch mean)", color="C0", **kw)
    for i, (key, label) in enumerate((aux or {}).items()):  # dashed over the total, which they may match
        if key in history.get("aux", {}):
            values = np.asarray(history["aux"][key], dtype=float) / per_step
            loss_curve(ax, values, label=label, color=f"C{i + 1}", ls="--", **kw)
    epochs = len(loss) / steps_per_epoch
    for i, (label, value) in enumerate(test.items()):
        if value is not None and np.isfinite(value) and value > 0:
            marker, size = ("*", 10) if i == 0 else ("D", 6)
            ax.plot([epochs], [value], marker, ms=size, color=f"C{3 + i}", label=f"{label}: {value:.3g}")
    ax.set(xlabel="epoch", ylabel=loss_name, title=title)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def rel_l2(pred, truth) -> float:
    """`‖pred - truth‖ / ‖truth‖` over all entries."""
    pred, truth = np.asarray(pred, dtype=float), np.asarray(truth, dtype=float)
    return float(np.linalg.norm(pred - truth) / max(np.linalg.norm(truth), 1e-30))


def image(ax, field, title: str, *, extent=None, xlabel="x", ylabel="y", aspect="equal", **kw) -> None:
    """A 2-D field `(n_x, n_y)` as an image, its first axis horizontal, with a colour bar."""
    kw.setdefault("cmap", "RdBu_r")
    im = ax.imshow(np.asarray(field).T, origin="lower", extent=extent, aspect=aspect, **kw)
    ax.figure.colorbar(im, ax=ax, shrink=0.85)
    ax.set_title(title, fontsize=9)
    ax.set_xlabel(xlabel, fontsize=8)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)


def field_row(
    axes,
    truth,
    pred,
    *,
    label: str = "",
    inp=None,
    input_title: str = "input",
    extent=None,
    xlabel: str = "x",
    ylabel: str = "y",
    aspect: str = "equal",
) -> None:
    """One row of a prediction figure for a 2-D field `(n_x, n_y)`: images of `[input,] truth, prediction,
    |prediction - truth|`, truth and prediction on one colour scale (centred on zero for a signed field),
    the error on its own. `axes`: one per panel; `label` prefixes the titles."""
    truth, pred = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    err = np.abs(pred - truth)
    rel = rel_l2(pred, truth)
    prefix = f"{label}: " if label else ""
    axes = list(axes)
    if truth.ndim != 2:
        raise ValueError(f"field_row draws 2-D fields (a slice of anything larger), got shape {truth.shape}")
    kw = {"extent": extent, "xlabel": xlabel, "ylabel": ylabel, "aspect": aspect}
    if inp is not None:
        image(axes.pop(0), inp, f"{prefix}{input_title}", cmap="viridis", **kw)
    lo, hi = float(min(truth.min(), pred.min())), float(max(truth.max(), pred.max()))
    scale = {"vmin": lo, "vmax": hi, "cmap": "viridis"}
    top = max(-lo, hi)
    if min(-lo, hi) > 0.05 * top:  # a signed field: a diverging map centred on zero
        scale = {"vmin": -top, "vmax": top, "cmap": "RdBu_r"}
    image(axes[0], truth, f"{prefix}truth", **scale, **kw)
    image(axes[1], pred, f"{prefix}prediction", **scale, **kw)
    image(axes[2], err, f"{prefix}|error| (rel. L2 {rel:.2e})", cmap="magma", **kw)


def extent_of(grid: Any) -> tuple[float, float, float, float] | None:
    """The `imshow` extent of a 2-D grid's box (`None` for anything else)."""
    box = getattr(grid, "box", None)
    if box is None or len(box.lo) != 2:
        return None
    return (box.lo[0], box.hi[0], box.lo[1], box.hi[1])
