"""The CAPE cases of the `operators` suite: FNO and U-Net with and without CAPE on 1-D advection and Burgers,
tested on the PDE parameters seen in training and on unseen ones.

Protocol (CAPE's reference configs `config_PrmEmbd_Adv.yaml` / `_Bgs.yaml` and `fno/train.py`):

- Data from the suite's PDEBench finite-volume recipes: advection with beta in {0.2, 0.4, 0.7, 2, 4} and
  Burgers with nu in {0.002, 0.007, 0.02, 0.04, 0.2, 0.4, 2} for training; unseen beta in {0.1, 1, 7} and
  nu in {0.001, 0.01, 0.1, 1, 4} for the generalisation test. PDEBench's 1024 cells and 201 frames reduced
  to 128 cells and 41 frames (every 8th cell, every 5th frame), as the reference loads them.
- One-step models rolled out from the first frame: the per-step relative L2 averaged over the batch and
  summed over the 40 steps, input noise 1e-3, the curriculum from teacher forcing to autoregressive
  training, Adam (coupled L2 1e-4) at 3e-3 halved every 20 epochs, batch 50, 100 epochs; CAPE models add
  their auxiliary loss and 3 warm-up epochs (`OperatorConfig.cape`), the bases train with the same recipe
  without them.
- Models: CAPE-FNO (FNO width 20, 12 modes, on two channels, plus the module: width 64, kernel 5, 16
  modes) against FNO width 36 (the reference's widened baseline: 134,717 against 120,198 parameters);
  CAPE-U-Net (U-Net 32 features on two channels) against U-Net 32 features. The convolutions of the module
  wrap around (the data are periodic); the FNO pads 2 cells as PDEBench's.
- Figures: the fully autoregressive rollout's nRMSE (PDEBench's, the 40 predicted frames as channels),
  relative L2, RMSE, max error and the Fourier-band RMSE (low/mid/high, edges 4 and 12), on the seen and the
  unseen parameters.

`--quick` keeps the protocol at CPU scale: 64 cells, t in [0, 1] saved every 0.05 (21 frames), 16 training
samples per parameter value and 4 test samples per value (seen and unseen), 60 epochs (warm-up 3, the rate
halved every 20), batch 16, the module's spectral branch at 8 modes (the pooled grid has 16 points),
U-Net 8 features.

Figures: `cape_<equation>_<model>_training.png` (the loss, and a CAPE model's two terms, against the epoch;
the rollouts' test errors) and `..._prediction.png` (the rollout of the first test sample with a seen and
with an unseen parameter: space-time images of truth, prediction and error, and the final frame).
"""

from __future__ import annotations

from typing import Any

from ._registry import RunContext

ADVECTION_UNSEEN = (0.1, 1.0, 7.0)
BURGERS_UNSEEN = (0.001, 0.01, 0.1, 1.0, 4.0)

PAPER = {
    "data": {"resolution": 1024, "t_final": 2.0, "dt_save": 0.01, "every_x": 8, "every_t": 5},
    "per_value": {"train": 9000, "test": 1000, "unseen": 1000},
    "train": {"epochs": 100, "batch_size": 50, "step_size": 20, "warmup_epochs": 3},
    "fno": {"modes": 12, "width_cape": 20, "width_base": 36, "padding": 2},
    "unet": {"width": 32},
    "cape": {"width": 64, "kernel_size": 5, "modes": 16},
}
QUICK = {
    "data": {"resolution": 64, "t_final": 1.0, "dt_save": 0.05, "every_x": 1, "every_t": 1},
    "per_value": {"train": 16, "test": 4, "unseen": 4},
    "train": {"epochs": 60, "batch_size": 16, "step_size": 20, "warmup_epochs": 3},
    "fno": {"modes": 12, "width_cape": 20, "width_base": 36, "padding": 2},
    "unet": {"width": 8},
    "cape": {"width": 64, "kernel_size": 5, "modes": 8},
}


def _trajectories(equation: str, values: tuple, per_value: int, cfg: dict, seed: int, progress: bool):
    """`u` (n, frames, cells), reduced as the reference loads it, and the parameter of each sample (n, 1)."""
    import numpy as np

    from scimlx.datasets import generate

    name, pname = ("advection_1d", "beta") if equation == "advection" else ("burgers_1d_pdebench", "nu")
    d = cfg["data"]
    g = generate(
        name, per_value * len(values), seed=seed, resolution=d["resolution"], t_final=d["t_final"],
        dt_save=d["dt_save"], progress=progress, **{pname: tuple(values)},
    )  # fmt: skip
    u = np.asarray(g.arrays["u"])[:, :: d["every_t"], :: d["every_x"]]
    return u.astype(np.float32), np.asarray(g.arrays[pname], np.float32)[:, None]


def _scores(model, state, u, p) -> dict[str, float]:
    """The rollout from the first frame against the rest: PDEBench's metric families."""
    import equinox as eqx
    import jax.numpy as jnp
    import numpy as np

    from scimlx.core.metrics import fourier_band_rmse, max_error, nrmse, rmse
    from scimlx.operators import rollout

    run = eqx.filter_jit(
        lambda m, s, x, pp: rollout(m, s, x, u.shape[1] - 1, pde_params=pp, inference=True)[0]
    )
    preds = []
    for i in range(0, u.shape[0], 50):
        pp = None if p is None else jnp.asarray(p[i : i + 50])
        preds.append(np.asarray(run(model, state, jnp.asarray(u[i : i + 50, :1]), pp)))
    pred, true = jnp.asarray(np.concatenate(preds)), jnp.asarray(u[:, 1:])
    rel = float(jnp.mean(jnp.linalg.norm((pred - true).reshape(len(pred), -1), axis=1)
                         / jnp.linalg.norm(true.reshape(len(true), -1), axis=1)))  # fmt: skip
    bands = fourier_band_rmse(pred, true)
    return {
        "nrmse": float(nrmse(pred, true, channel_axis=1)),
        "rel_l2": rel,
        "rmse": float(rmse(pred, true, channel_axis=1)),
        "max_error": float(max_error(pred, true, channel_axis=1)),
        **{f"frmse_{k}": float(v) for k, v in bands.items()},
    }


def cape_case(ctx: RunContext, equation: str, base: str, with_cape: bool) -> dict[str, Any]:
    """Train one model (FNO or U-Net, with or without CAPE) on one equation and score it on seen and unseen
    parameters."""
    import equinox as eqx
    import jax
    import numpy as np

    from scimlx.datasets import CAPE_ADVECTION_BETAS, CAPE_BURGERS_NUS
    from scimlx.operators import CAPE, FNO, OperatorConfig, UNet, train_operator
    from scimlx.train import RunOptions, count_params

    cfg = QUICK if ctx.quick else PAPER
    seen = CAPE_ADVECTION_BETAS if equation == "advection" else CAPE_BURGERS_NUS
    unseen = ADVECTION_UNSEEN if equation == "advection" else BURGERS_UNSEEN
    n = cfg["per_value"]
    u_train, p_train = _trajectories(equation, seen, n["train"], cfg, ctx.seed, ctx.progress)
    u_test, p_test = _trajectories(equation, seen, n["test"], cfg, ctx.seed + 1, ctx.progress)
    u_new, p_new = _trajectories(equation, unseen, n["unseen"], cfg, ctx.seed + 2, ctx.progress)
    cells = u_train.shape[-1]

    k_base, k_cape, k_train = jax.random.split(jax.random.key(ctx.seed), 3)
    channels = 2 if with_cape else 1
    if base == "fno":
        f = cfg["fno"]
        width = f["width_cape"] if with_cape else f["width_base"]
        model = FNO(
            channels, channels, ndim=1, modes=f["modes"], width=width, padding=f["padding"], key=k_base
        )
        state = None
    else:
        model, state = eqx.nn.make_with_state(UNet)(
            channels, channels, ndim=1, width=cfg["unet"]["width"], key=k_base
        )
    if with_cape:
        model = CAPE(
            model, channels=1, n_params=1, shape=(cells,), padding="circular", key=k_cape, **cfg["cape"]
        )
        config = OperatorConfig.cape(ndim=1, **cfg["train"])
        pde = {"pde_params_train": p_train}
    else:
        config = OperatorConfig.cape(ndim=1, **{**cfg["train"], "warmup_epochs": 0}, aux_weight=0.0)
        pde = {}
    res = train_operator(
        model, state, u_train[:, :1], u_train[:, 1:], key=k_train, task="autoregressive", config=config,
        run=RunOptions(progress=ctx.progress), **pde,
    )  # fmt: skip
    seen_scores = _scores(res.model, res.state, u_test, p_test if with_cape else None)
    unseen_scores = _scores(res.model, res.state, u_new, p_new if with_cape else None)
    if ctx.plotting:
        name = f"cape_{equation}/{'cape_' if with_cape else ''}{base}"
        rel = {"seen": seen_scores["rel_l2"], "unseen": unseen_scores["rel_l2"]}
        samples = {"seen": (u_test, p_test), "unseen": (u_new, p_new)}
        _figures(ctx, name, equation, res, config, u_train.shape[0], rel, samples, cfg, with_cape)
    return {
        **{f"seen_{k}": v for k, v in seen_scores.items()},
        **{f"unseen_{k}": v for k, v in unseen_scores.items()},
        "params": count_params(res.model),
        "s_per_epoch": res.seconds_per_epoch,
        "final_train_loss": float(np.mean(res.history["loss"][-3:])),
        "cells": cells,
        "frames": int(u_train.shape[1]),
        "n_train": int(u_train.shape[0]),
        "epochs": config.epochs,
    }


def _figures(ctx: RunContext, case: str, equation: str, res, config, n_train: int, rel: dict, samples: dict,
             cfg: dict, with_cape: bool) -> None:  # fmt: skip
    """Draw the training curve and the rollout of the first test sample, seen and unseen parameter, as
    space-time images of truth, prediction and error, and as lines at the final time."""
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from scimlx.operators import rollout

    from ._plots import field_row, operator_training_figure

    tag = case.replace("/", "_")
    frames = samples["seen"][0].shape[1]
    symbol = "β" if equation == "advection" else "ν"
    fig = operator_training_figure(
        res.history, n_train=n_train, batch_size=config.batch_size, reduction=config.reduction,
        loss_name=f"relative L2 per step, batch mean,\nsummed over the {frames - 1} steps",
        test={f"test rel. L2 of the rollout, {k} {symbol}": v for k, v in rel.items()},
        aux={"rollout_l2": "rollout term", "cape_l2": "CAPE module's auxiliary term"} if with_cape else None,
        title=f"{case}: training ({n_train} trajectories)", warmup_epochs=config.warmup_epochs,
    )  # fmt: skip
    ctx.save_figure(fig, f"{tag}_training")

    d = cfg["data"]
    dt = d["dt_save"] * d["every_t"]
    cells = samples["seen"][0].shape[2]
    x = (np.arange(cells) * d["every_x"] + 0.5) / d["resolution"]  # the kept cells' centres in (0, 1)
    extent = (0.0, 1.0, dt / 2, (frames - 0.5) * dt)  # the predicted frames 1 .. frames - 1
    fig, axes = plt.subplots(2, 4, figsize=(16, 7), squeeze=False)
    for row, (kind, (u, p)) in zip(axes, samples.items()):
        pp = jnp.asarray(p[:1]) if with_cape else None
        pred = rollout(
            res.model, res.state, jnp.asarray(u[:1, :1]), frames - 1, pde_params=pp, inference=True
        )
        pred, truth = np.asarray(pred[0][0]), u[0, 1:]  # (frames - 1, cells)
        label = f"{kind} {symbol} = {float(p[0, 0]):g}"
        field_row(row[:3], truth.T, pred.T, label=label, extent=extent, xlabel="x", ylabel="t", aspect="auto")
        ax = row[3]
        ax.plot(x, u[0, 0], color="0.6", lw=1.0, label="t = 0 (input)")
        ax.plot(x, truth[-1], "k-", lw=1.4, label=f"truth, t = {(frames - 1) * dt:g}")
        ax.plot(x, pred[-1], "C3--", lw=1.2, label="prediction")
        ax.set_title(f"{label}: final frame", fontsize=9)
        ax.set_xlabel("x", fontsize=8)
        ax.set_ylabel("u", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    fig.suptitle(f"{case}: rollout from t = 0 of test sample 0", fontsize=10)
    fig.tight_layout()
    ctx.save_figure(fig, f"{tag}_prediction")
