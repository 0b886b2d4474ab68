"""A look at a trained physics-informed model: prediction, reference and error on the problem's test grid."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Callable

import jax.numpy as jnp
import numpy as np

from scimlx.core.validate import check_callable, check_int

from ._models import map_points
from ._problem import Problem


def plot_solution(
    problem: Problem,
    model: Callable,
    *,
    time: float | None = None,
    chunk_size: int | None = 4096,
    path: str | os.PathLike | None = None,
):
    """Plot the model's prediction, the exact or reference solution and the absolute error on the test grid.

    Two coordinates (a steady 2-D problem, or 1-D in space and time) give images over the whole domain; a 2-D
    problem in space and time is shown at one time of the test grid.

    **Arguments:**

    - `problem`: the [`Problem`][scimlx.pinn.Problem].
    - `model`: a function of one point (a trained PINN or PIG).
    - `time`: for (2+1)-D problems, the time shown (the nearest test time; default the final one).
    - `chunk_size`: test points evaluated at a time.
    - `path`: also save the figure there (any format matplotlib knows).

    **Returns:** the matplotlib `Figure`.
    """
    import matplotlib.pyplot as plt

    if not isinstance(problem, Problem):
        raise TypeError(f"`problem` must be a scimlx.pinn Problem, got {type(problem).__name__}")
    check_callable("model", model, "a function of one point")
    chunk_size = check_int("chunk_size", chunk_size, optional=True)
    pts, vals = problem.test_data()
    pred = np.asarray(map_points(model, pts, chunk_size))
    pts, vals = np.asarray(pts), np.asarray(vals)
    axes = [np.unique(pts[:, i]) for i in range(pts.shape[1])]
    shape = tuple(len(a) for a in axes)
    if int(np.prod(shape)) != pts.shape[0]:
        raise ValueError("the problem's test points do not form a tensor grid; plot them yourself")
    u, p = vals.reshape(shape), pred.reshape(shape)
    names = [f"x{i}" for i in range(problem.ndim - int(problem.time))] + (["t"] if problem.time else [])
    if problem.ndim == 3 and problem.time:
        ti = len(axes[2]) - 1 if time is None else int(np.argmin(np.abs(axes[2] - float(time))))
        u, p, axes, suffix = u[..., ti], p[..., ti], axes[:2], f" at t = {axes[2][ti]:.3g}"
        names = names[:2]
    elif problem.ndim == 2:
        suffix = ""
    else:
        raise ValueError(f"plot_solution shows 2-D and (2+1)-D problems; this one has {problem.ndim} axes")
    extent = (axes[0][0], axes[0][-1], axes[1][0], axes[1][-1])
    err = np.linalg.norm(p - u) / np.linalg.norm(u)
    fig, axs = plt.subplots(1, 3, figsize=(13, 3.8), constrained_layout=True)
    kind = "exact" if problem.reference is None else "reference"
    same = {"vmin": float(min(u.min(), p.min())), "vmax": float(max(u.max(), p.max()))}  # one colour scale
    for ax, field, title, cmap, scale in (
        (axs[0], p, "model", "RdBu_r", same),
        (axs[1], u, kind, "RdBu_r", same),
        (axs[2], np.abs(p - u), f"|error| (rel. L2 {err:.2e})", "magma", {}),
    ):
        im = ax.imshow(field.T, origin="lower", extent=extent, aspect="auto", cmap=cmap, **scale)
        fig.colorbar(im, ax=ax, shrink=0.85)
        ax.set_title(title + suffix, fontsize=9)
        ax.set_xlabel(names[0])
        ax.set_ylabel(names[1])
    fig.suptitle(f"{problem.name}: {problem.description}", fontsize=10)
    if path is not None:
        fig.savefig(pathlib.Path(path), dpi=120)
    return fig


def plot_points(
    problem: Problem,
    model: Callable,
    points=None,
    *,
    title: str | None = None,
    chunk_size: int | None = 4096,
    max_points: int = 5000,
    path: str | os.PathLike | None = None,
):
    """Plot where the residual points are: over the model's squared residual `r²` (log scale) on the test
    grid of a steady 2-D problem, beside the exact or reference solution and the model.

    **Arguments:**

    - `problem`: a steady 2-D [`Problem`][scimlx.pinn.Problem].
    - `model`: the trained model (a function of one point).
    - `points`: `(n, 2)` residual points (e.g. an adaptive sampler's final set, `result.fit.state["points"]`),
        or `None`.
    - `title`: the figure's title; default the problem's description.
    - `chunk_size`: test points evaluated at a time.
    - `max_points`: at most this many points are drawn.
    - `path`: also save the figure there.

    **Returns:** the matplotlib `Figure`.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    if not isinstance(problem, Problem):
        raise TypeError(f"`problem` must be a scimlx.pinn Problem, got {type(problem).__name__}")
    if problem.ndim != 2 or problem.time:
        raise ValueError(
            f"plot_points shows steady 2-D problems; {problem.name} has {problem.ndim} coordinates"
        )
    check_callable("model", model, "a function of one point")
    max_points = check_int("max_points", max_points)
    if points is not None:
        points = np.asarray(points)
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"`points` must have shape (n, 2), got {points.shape}")
    pts, vals = problem.test_data()
    r2 = np.asarray(map_points(lambda z: problem.residual(model, z), pts, chunk_size)) ** 2
    pts, vals = np.asarray(pts), np.asarray(vals)
    axes = [np.unique(pts[:, i]) for i in range(2)]
    shape = tuple(len(a) for a in axes)
    if int(np.prod(shape)) != pts.shape[0]:
        raise ValueError("the problem's test points do not form a tensor grid; plot them yourself")
    pred = np.asarray(map_points(model, jnp.asarray(pts), chunk_size))
    extent = (axes[0][0], axes[0][-1], axes[1][0], axes[1][-1])
    fig, axs = plt.subplots(1, 3, figsize=(14, 4.2), constrained_layout=True)
    lo, hi = float(min(vals.min(), pred.min())), float(max(vals.max(), pred.max()))
    err = np.linalg.norm(pred - vals) / np.linalg.norm(vals)
    panels = ((axs[0], vals, "exact" if problem.reference is None else "reference"),
              (axs[1], pred, f"model (rel. L2 {err:.2e})"))  # fmt: skip
    for ax, field, name in panels:
        im = ax.imshow(field.reshape(shape).T, origin="lower", extent=extent, cmap="RdBu_r", vmin=lo, vmax=hi)
        fig.colorbar(im, ax=ax, shrink=0.85)
        ax.set_title(name, fontsize=9)
    positive = r2[r2 > 0]
    floor = float(positive.min()) if positive.size else 1.0
    im = axs[2].imshow(np.maximum(r2, floor).reshape(shape).T, origin="lower", extent=extent, cmap="magma",
                       norm=LogNorm())  # fmt: skip
    fig.colorbar(im, ax=axs[2], shrink=0.85)
    cv = float(np.std(r2) / np.mean(r2))
    label = f"squared residual (CV {cv:.2f})"
    if points is not None:
        shown = points[np.unique(np.linspace(0, len(points) - 1, min(max_points, len(points))).astype(int))]
        axs[2].scatter(shown[:, 0], shown[:, 1], s=2, c="cyan", alpha=0.6, linewidths=0)
        label += f", {len(points)} points"
    axs[2].set_title(label, fontsize=9)
    for ax in axs:
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
    fig.suptitle(title or f"{problem.name}: {problem.description}", fontsize=10)
    if path is not None:
        fig.savefig(pathlib.Path(path), dpi=120)
    return fig
