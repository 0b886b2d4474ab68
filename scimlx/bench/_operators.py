"""Suite `operators`: LSM and MgNO against FNO and U-Net on Darcy and Navier-Stokes, same data and budget.

Protocols (the LSM paper and its reference scripts):

- Darcy: FNO's piecewise-constant recipe at 85 x 85 nodes (solved at 421 and subsampled by 5), 1000 training
  and 200 test samples, point-wise Gaussian normalisation, a -> u.
- Navier-Stokes: vorticity at nu = 1e-5 on 64 x 64, frames 0-9 -> 10-19, autoregressive (one frame per step,
  loss summed over the 10 steps, full backpropagation), 1000 / 200, no normalisation.
- Training for every model: relative L2 summed over the batch, Adam with coupled L2 1e-4, lr 5e-4 halved every
  100 epochs, batch 20, 500 epochs. LSM at width 64 (K = 12, T = 4, 8 heads), FNO at modes 12 / width 32
  (Darcy) and 20 (Navier-Stokes), U-Net at 32 initial features.
- MgNO with its own recipe at the same budget; on Navier-Stokes under both protocols, labelled (10 -> 10 as
  above, and MgNO's 1 -> 10: one-step pairs, rolled out from frame 0 over frames 1-10). On Darcy: the
  `darcy_rough` layers (4 layers, width 24, six levels, zero padding) built for the 85 x 85 grid (prolongation
  kernels by parity), the one-cycle schedule per epoch with Adam's `b1` cycled and the relative Fourier H1
  loss (`OperatorConfig.mgno`), peak rate and batch as the other models, and the same point-wise normalisation
  (MgNO's own scripts normalise the rough-Darcy target globally and not the input). Its paper reports Darcy at
  211^2 and 256^2, not 85^2, so there is no paper figure to set beside it.

`--quick` keeps the protocols and shrinks everything to CPU scale: Darcy at 32 x 32 nodes with 96 training
/ 24 test samples and 20 epochs (batch 8, lr 1e-3 halved every 8 epochs); Navier-Stokes at 32 x 32 (dt
1e-3) with 48 / 12 samples and 12 epochs (lr halved every 5); LSM width 16, FNO width 16 with 8 modes,
U-Net with 8 initial features, MgNO width 12 with four levels (32 -> 4). Each case reports the test
relative L2, the parameter count, seconds per epoch (after the first, which compiles) and per inference
sample. The case `lsm_reference_step` times one training step of LSM at the reference configuration
(85 x 85, batch 20, width 64) in both presets.

The cases `cape_advection/...` and `cape_burgers/...` set CAPE-FNO and CAPE-U-Net beside their bases on
1-D advection and Burgers, on seen and unseen PDE parameters (protocol: `scimlx.bench._operators_cape`).

Figures (the case's name with `_` for `/`): `<case>_training.png`, the training loss per sample against the
epoch with the test error after training, and `<case>_prediction.png`, the first test sample's input, truth,
prediction and error (Darcy), or its rollout's first and last predicted frames (Navier-Stokes).
"""

from __future__ import annotations

import time
from typing import Any

from ._operators_cape import cape_case
from ._registry import Case, RunContext, Suite

PAPER = {
    "darcy": {"resolution": 85, "preset": "paper", "n_train": 1000, "n_test": 200},
    "navier_stokes": {"resolution": 64, "preset": "paper", "n_train": 1000, "n_test": 200},
    "train": {"epochs": 500, "batch_size": 20, "learning_rate": 5e-4, "step_size": 100},
    "lsm": {"width": 64},
    "fno_darcy": {"modes": 12, "width": 32},
    "fno_ns": {"modes": 12, "width": 20},
    "unet": {"width": 32},
    "mgno": {"width": 24, "n_layers": 4, "num_iteration": ((1, 0),) * 5 + ((2, 0),)},
    "mgno_ns": {"width": 32, "n_layers": 5, "num_iteration": ((1, 0),) * 3 + ((2, 0),) * 2},
}
QUICK = {
    "darcy": {"resolution": 32, "preset": None, "n_train": 96, "n_test": 24},
    "navier_stokes": {"resolution": 32, "preset": None, "n_train": 48, "n_test": 12, "dt": 1e-3},
    "train": {"epochs": 20, "batch_size": 8, "learning_rate": 1e-3, "step_size": 8},
    # a rollout step costs 10 forward and backward passes: fewer samples and epochs keep it to minutes
    "train_ns": {"epochs": 12, "batch_size": 8, "learning_rate": 1e-3, "step_size": 5},
    "lsm": {"width": 16},
    "fno_darcy": {"modes": 8, "width": 16},
    "fno_ns": {"modes": 8, "width": 16},
    "unet": {"width": 8},
    "mgno": {"width": 12, "n_layers": 4, "num_iteration": ((1, 0),) * 3 + ((2, 0),)},
    "mgno_ns": {"width": 12, "n_layers": 4, "num_iteration": ((1, 0),) * 3 + ((2, 0),)},
}
# the paper's Darcy ordering (relative L2 at 85 x 85): LSM 0.0065 < U-Net 0.0080 < FNO 0.0108
PAPER_DARCY = {"lsm": 0.0065, "unet": 0.0080, "fno": 0.0108}
PAPER_NS = {"lsm": 0.1535, "unet": 0.1982, "fno": 0.1556}
# MgNO's paper reports Darcy at other resolutions (rough 256^2: 0.339e-2), not at 85^2
PAPER_DARCY["mgno"] = None


def _data(problem: str, cfg: dict, seed: int, progress: bool):
    from scimlx.datasets import load

    c = cfg[problem]
    if problem == "darcy":
        kw = {} if c["preset"] else {"resolution": c["resolution"]}
        return load(
            "darcy", c["n_train"], c["n_test"], seed=seed, preset=c["preset"], progress=progress, **kw
        )
    kw = {"nu": 1e-5, "n_records": 20, "t_in": 10, "t_out": 10}
    if c["preset"] is None:
        kw.update(resolution=c["resolution"], dt=c["dt"])
    return load(
        "navier_stokes_2d", c["n_train"], c["n_test"], seed=seed, preset=c["preset"], progress=progress, **kw
    )


def _model(name: str, problem: str, cfg: dict, c_in: int, c_out: int, key, grid=None):
    import equinox as eqx

    from scimlx.operators import FNO, LSM, MgNO, UNet

    if name == "mgno":
        return eqx.nn.make_with_state(MgNO)(c_in, c_out, ndim=2, shape=grid, key=key, **cfg["mgno"])
    if name == "lsm":
        return eqx.nn.make_with_state(LSM)(c_in, c_out, ndim=2, key=key, **cfg["lsm"])
    if name == "fno":
        fno = cfg["fno_darcy" if problem == "darcy" else "fno_ns"]
        return eqx.nn.make_with_state(FNO)(c_in, c_out, ndim=2, key=key, **fno)
    return eqx.nn.make_with_state(UNet)(c_in, c_out, ndim=2, key=key, **cfg["unet"])


def train_case(ctx: RunContext, problem: str, name: str) -> dict[str, Any]:
    """Train one model on one problem with the suite's protocol and report its figures."""
    import jax
    import numpy as np

    from scimlx.operators import OperatorConfig, apply_batch, evaluate_operator, train_operator
    from scimlx.train import RunOptions, count_params

    cfg = QUICK if ctx.quick else PAPER
    ds = _data(problem, cfg, ctx.seed, ctx.progress)
    task = "steady" if problem == "darcy" else "autoregressive"
    c_out = ds.y_train.shape[1] if task == "steady" else 1
    k_model, k_train = jax.random.split(jax.random.key(ctx.seed))
    grid = tuple(ds.x_train.shape[2:])
    model, state = _model(name, problem, cfg, ds.x_train.shape[1], c_out, k_model, grid)
    train = cfg["train"] if task == "steady" else cfg.get("train_ns", cfg["train"])
    if name == "mgno":  # its own recipe at the suite's budget (epochs, batch, peak rate)
        budget = {k: train[k] for k in ("epochs", "batch_size", "learning_rate")}
        config = OperatorConfig.mgno("darcy", **budget, normalize="gaussian")
    else:
        config = OperatorConfig(**train, normalize="gaussian" if task == "steady" else None)
    res = train_operator(
        model, state, ds.x_train, ds.y_train, key=k_train, task=task, config=config,
        run=RunOptions(progress=ctx.progress),
    )  # fmt: skip
    err = evaluate_operator(
        res.model, res.state, ds.x_test, ds.y_test, task=task,
        x_normalizer=res.x_normalizer, y_normalizer=res.y_normalizer,
    )  # fmt: skip
    # inference time per sample: a batch of the test set, after compilation
    xb = jax.numpy.asarray(ds.x_test[: config.batch_size])
    infer = jax.jit(lambda m, s, x: apply_batch(m, s, x, inference=True)[0])
    jax.block_until_ready(infer(res.model, res.state, xb))
    t0 = time.perf_counter()
    jax.block_until_ready(infer(res.model, res.state, xb))
    per_sample = (time.perf_counter() - t0) / xb.shape[0] * (10 if task == "autoregressive" else 1)
    paper = (PAPER_DARCY if problem == "darcy" else PAPER_NS)[name]
    if ctx.plotting:
        _figures(ctx, f"{problem}/{name}", res, config, ds.n_train, err, ds.x_test, ds.y_test,
                 train_task=task, test_task=task, grid=ds.grid)  # fmt: skip
    return {
        "test_rel_l2": err,
        "paper_rel_l2": paper,
        "params": count_params(res.model),
        "s_per_epoch": res.seconds_per_epoch,
        "s_per_inference_sample": per_sample,
        "final_train_loss_per_sample": float(np.mean(res.history["loss"][-5:]) / config.batch_size),
        "grid": f"{ds.x_train.shape[-2]}x{ds.x_train.shape[-1]}",
        "n_train": ds.n_train,
        "n_test": ds.n_test,
        "epochs": config.epochs,
    }


def _figures(ctx: RunContext, case: str, res, config, n_train: int, test_err: float, x_test, y_test, *,
             train_task: str, test_task: str, grid) -> None:  # fmt: skip
    """Draw a trained operator's training curve, and its prediction of the first test sample against the
    truth: for a steady map the input, truth, prediction and error; for a rollout its first and last
    predicted frames."""
    import jax.numpy as jnp
    import matplotlib.pyplot as plt
    import numpy as np

    from scimlx.operators import apply_batch, rollout

    from ._plots import extent_of, field_row, operator_training_figure

    tag = case.replace("/", "_")
    loss_name = f"relative {'H1' if config.loss == 'h1' else 'L2'} per sample"
    if train_task == "autoregressive":
        loss_name += f",\nsummed over the {y_test.shape[1]} rollout steps"
    test_name = "test rel. L2 after training"
    if test_task == "autoregressive":
        test_name += f" ({y_test.shape[1]}-step rollout)"
    fig = operator_training_figure(
        res.history, n_train=n_train, batch_size=config.batch_size, reduction=config.reduction,
        loss_name=loss_name, test={test_name: test_err},
        title=f"{case}: training ({n_train} samples, batch {config.batch_size})",
    )  # fmt: skip
    ctx.save_figure(fig, f"{tag}_training")

    x0, truth = jnp.asarray(x_test[:1]), np.asarray(y_test[0])
    kw = {"extent": extent_of(grid), "xlabel": "x", "ylabel": "y"}
    if test_task == "autoregressive":  # the first and the last predicted frame
        pred = np.asarray(rollout(res.model, res.state, x0, truth.shape[0], inference=True)[0][0])
        fig, axes = plt.subplots(2, 3, figsize=(12, 7.2), squeeze=False)
        t_in = x0.shape[1]
        for row, j in zip(axes, (0, truth.shape[0] - 1)):
            field_row(row, truth[j], pred[j], label=f"frame {t_in + j} (step {j + 1})", **kw)
        what = f"rollout of test sample 0 from frame{'s 0-' if t_in > 1 else ' '}{t_in - 1}"
    else:
        out, _ = apply_batch(res.model, res.state, res.x_normalizer.encode(x0), inference=True)
        pred = np.asarray(res.y_normalizer.decode(out)[0])
        fig, axes = plt.subplots(1, 4, figsize=(16, 3.9), squeeze=False)
        field_row(axes[0], truth[0], pred[0], inp=np.asarray(x0[0, 0]), input_title="input (channel 0)", **kw)
        what = "test sample 0"
    fig.suptitle(f"{case}: {what}", fontsize=10)
    fig.tight_layout()
    ctx.save_figure(fig, f"{tag}_prediction")


def mgno_navier_stokes(ctx: RunContext, protocol: str) -> dict[str, Any]:
    """MgNO on the suite's Navier-Stokes data under one of two protocols, labelled:

    - `"10->10"` (LSM, FNO): frames 0-9 -> 10-19, one frame per step, the loss summed over the 10 steps; MgNO
      maps the 10 input frames to the next (wrap-around padding, biased smoothers).
    - `"1->10"` (MgNO's paper): trained on the one-step pairs `u_t -> u_{t+1}`, t = 0..9, of the training
      trajectories (the paper's 10,000 pairs from 1,000 trajectories), the NS variant predicting the
      increment; tested by rolling out 10 steps from frame 0 of each test trajectory against frames 1-10.

    Both with MgNO's Navier-Stokes recipe (`OperatorConfig.mgno("navier_stokes")`: one-cycle, coupled L2
    1e-5, relative L2, no normalisation) at the suite's epochs, batch and peak rate."""
    import equinox as eqx
    import jax
    import numpy as np

    from scimlx.operators import MgNO, OperatorConfig, evaluate_operator, train_operator
    from scimlx.train import RunOptions, count_params

    cfg = QUICK if ctx.quick else PAPER
    ds = _data("navier_stokes", cfg, ctx.seed, ctx.progress)
    grid = tuple(ds.x_train.shape[2:])
    train = cfg.get("train_ns", cfg["train"])
    budget = {k: train[k] for k in ("epochs", "batch_size", "learning_rate")}
    config = OperatorConfig.mgno("navier_stokes", **budget)
    k_model, k_train = jax.random.split(jax.random.key(ctx.seed))
    common = dict(shape=grid, padding_mode="circular", bias=True, key=k_model, **cfg["mgno_ns"])
    if protocol == "10->10":
        model, state = eqx.nn.make_with_state(MgNO)(ds.x_train.shape[1], 1, **common)
        x_train, y_train, x_test, y_test = ds.x_train, ds.y_train, ds.x_test, ds.y_test
        task = "autoregressive"
    else:
        model, state = eqx.nn.make_with_state(MgNO)(1, 1, variant="navier_stokes", **common)
        u = np.concatenate([ds.x_train, ds.y_train], axis=1)
        x_train = np.concatenate([u[:, t : t + 1] for t in range(10)])
        y_train = np.concatenate([u[:, t + 1 : t + 2] for t in range(10)])
        u_test = np.concatenate([ds.x_test, ds.y_test], axis=1)
        x_test, y_test = u_test[:, :1], u_test[:, 1:11]
        task = "steady"
    res = train_operator(
        model, state, x_train, y_train, key=k_train, task=task, config=config,
        run=RunOptions(progress=ctx.progress),
    )  # fmt: skip
    err = evaluate_operator(res.model, res.state, x_test, y_test, task="autoregressive")
    if ctx.plotting:
        case = f"navier_stokes/mgno_{protocol.replace('->', 'to')}"
        _figures(ctx, case, res, config, int(x_train.shape[0]), err, x_test, y_test,
                 train_task=task, test_task="autoregressive", grid=ds.grid)  # fmt: skip
    return {
        "protocol": protocol,
        "test_rel_l2": err,
        "params": count_params(res.model),
        "s_per_epoch": res.seconds_per_epoch,
        "n_train_pairs": int(x_train.shape[0]),
        "n_test": int(x_test.shape[0]),
        "grid": f"{grid[0]}x{grid[1]}",
        "epochs": config.epochs,
    }


def lsm_reference_step(ctx: RunContext) -> dict[str, Any]:
    """Seconds per training step of LSM at the reference configuration: 85 x 85, batch 20, width 64."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from scimlx.operators import LSM, apply_batch, relative_l2
    from scimlx.train import adam_l2, count_params

    model, state = eqx.nn.make_with_state(LSM)(1, 1, ndim=2, width=64, key=jax.random.key(ctx.seed))
    opt = adam_l2(5e-4, 1e-4)
    opt_state = opt.init(eqx.filter(model, eqx.is_inexact_array))
    kx, ky = jax.random.split(jax.random.key(1))
    x = jax.random.normal(kx, (20, 1, 85, 85))
    y = jax.random.normal(ky, (20, 1, 85, 85))

    @eqx.filter_jit
    def step(model, state, opt_state):
        def loss(m):
            pred, s = apply_batch(m, state, x)
            return jnp.sum(relative_l2(pred, y)), s

        (value, new_state), grads = eqx.filter_value_and_grad(loss, has_aux=True)(model)
        updates, opt_state = opt.update(grads, opt_state, eqx.filter(model, eqx.is_inexact_array))
        return eqx.apply_updates(model, updates), new_state, opt_state, value

    t0 = time.perf_counter()
    out = step(model, state, opt_state)
    jax.block_until_ready(out[3])
    first = time.perf_counter() - t0
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        out = step(*out[:3])
        jax.block_until_ready(out[3])
        times.append(time.perf_counter() - t0)
    return {
        "s_per_step": min(times),
        "compile_s": first - min(times),
        "params": count_params(model),
        "device": str(jax.devices()[0]),
    }


def _cases(quick: bool) -> list[Case]:
    cases = [
        Case(f"{problem}/{name}", lambda ctx, p=problem, m=name: train_case(ctx, p, m))
        for problem in ("darcy", "navier_stokes")
        for name in ("lsm", "fno", "unet", "mgno")
        if not (problem == "navier_stokes" and name == "mgno")
    ]
    cases += [
        Case("navier_stokes/mgno_10to10", lambda ctx: mgno_navier_stokes(ctx, "10->10")),
        Case("navier_stokes/mgno_1to10", lambda ctx: mgno_navier_stokes(ctx, "1->10")),
    ]
    cases.append(Case("lsm_reference_step", lsm_reference_step))
    cases += [
        Case(f"cape_{equation}/{'cape_' if cape else ''}{base}",
             lambda ctx, e=equation, b=base, c=cape: cape_case(ctx, e, b, c))
        for equation in ("advection", "burgers")
        for base in ("fno", "unet")
        for cape in (False, True)
    ]  # fmt: skip
    return cases


SUITE = Suite(
    name="operators",
    description=(
        "LSM, MgNO, FNO, U-Net on Darcy (85^2) and Navier-Stokes (nu 1e-5, 10 -> 10); CAPE-FNO/U-Net against "
        "FNO/U-Net on 1-D advection and Burgers, seen and unseen parameters; --quick: CPU scale"
    ),
    cases=_cases,
)
