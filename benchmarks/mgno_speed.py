"""Speed of MgNO: our forward pass and training step beside the authors' PyTorch code, back to back.

The model is the paper's Darcy-rough configuration (`MgNO.from_config("darcy_rough")`: 4 layers, width 24,
6 levels, 572,661 parameters) on a batch of 8 samples of 256 x 256, float32, with MgNO's training recipe
(`OperatorConfig.mgno("darcy")`: the relative Fourier H1 loss summed over the batch, Adam with coupled L2
under a one-cycle schedule that also cycles beta1). Rows:

- `forward`: one jitted `apply_batch` (ours); `model(x)` under `torch.no_grad()` (the reference).
- `train step`: one jitted `GradientStep` of that loss and optimiser, the step `fit` compiles (ours); the
  body of the reference's training loop in `darcy.py`, which also evaluates the relative L2 of the batch
  without gradients and reads both losses back to the host (the reference), and the bare
  forward/H1 loss/backward/Adam step of the same code ("reference, bare step").
- `train_operator`: seconds per step of a short `train_operator` run through `fit` (host loop, batching,
  history), from its epoch clock (first epoch, with compilation, left out).

Inputs and targets are random arrays (the values do not change the work); both codes get the same arrays.
The reference runs in a child process (its own Python, which must have torch, scipy, h5py, matplotlib and
torchinfo, as the reference imports them), after ours, never at the same time. Each figure is the best of 3
means over `--repeats` calls, after 2 warm-up calls. The reference code is not part of scimlx: pass the
folder holding the authors' `models.py`, `utilities3.py` and `Adam.py` (github.com/xlliu2017/MgNO).

Usage: python benchmarks/mgno_speed.py [--reference DIR] [--torch-python PATH] [--batch 8] [--grid 256]
       [--repeats 5] [--fit-epochs 4]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from scimlx.bench import markdown_table
from scimlx.operators import MGNO_CONFIGS, MgNO, OperatorConfig, apply_batch, relative_h1, train_operator
from scimlx.train import GradientStep, RunOptions, TrainCarry

_EPOCHS = 500  # the recipe's run length, which sets the one-cycle schedule (not the cost of a step)
_TRAIN_SAMPLES = 1000  # Darcy-rough's training set: 125 steps per epoch at batch 8


def _best_mean(fn, repeats: int) -> float:
    """Best of 3 means over `repeats` calls of `fn` (which blocks until its result is ready)."""
    for _ in range(2):
        fn()
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def ours(x: np.ndarray, y: np.ndarray, repeats: int, fit_epochs: int) -> dict:
    model = MgNO.from_config("darcy_rough", key=jax.random.key(0))
    n_params = sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    xb, yb = jnp.asarray(x), jnp.asarray(y)

    forward = eqx.filter_jit(lambda m, v: apply_batch(m, None, v)[0])
    t_fwd = _best_mean(lambda: forward(model, xb).block_until_ready(), repeats)

    config = OperatorConfig.mgno("darcy")
    optimizer = config.optimizer(_TRAIN_SAMPLES // x.shape[0], epochs=_EPOCHS)

    def loss_fn(m, batch, *, key):
        inputs, targets = batch
        return jnp.sum(relative_h1(apply_batch(m, None, inputs)[0], targets))

    step = GradientStep(loss_fn, optimizer)
    run_step = eqx.filter_jit(lambda s, c, b, k: s(c, b, key=k))
    carry = TrainCarry(model, step.init(model), None)
    key = jax.random.key(1)
    box = {"carry": carry}

    def one_step():
        box["carry"], loss, _ = run_step(step, box["carry"], (xb, yb), key)
        loss.block_until_ready()

    t_step = _best_mean(one_step, repeats)

    out = {"params": int(n_params), "forward": t_fwd, "train step": t_step}
    if fit_epochs > 1:
        # two batches per epoch; the recipe otherwise as above
        x2, y2 = jnp.concatenate([xb, xb[::-1]]), jnp.concatenate([yb, yb[::-1]])
        result = train_operator(
            model, None, x2, y2, key=jax.random.key(2), config=config,
            run=RunOptions(epochs=fit_epochs, batch_size=x.shape[0], progress=False),
        )  # fmt: skip
        out["train_operator step"] = result.seconds_per_epoch / 2
    return out


# The reference side, run in a child process with the reference's folder first on sys.path. It builds the
# Darcy-rough model exactly as the authors' darcy.py does (MgNO_DC with its README's settings), their H1 loss
# (HsLoss, summed over the batch), their Adam and OneCycleLR (getOptimizerScheduler), and times the body of
# their training loop.
_REFERENCE_DRIVER = r"""
import json, math, sys, time
import numpy as np
import torch
sys.path.insert(0, sys.argv[1])
from models import MgNO_DC
from utilities3 import HsLoss, LpLoss, count_params, getOptimizerScheduler

data = np.load(sys.argv[2])
repeats, epochs = int(sys.argv[3]), int(sys.argv[4])
x, y = torch.from_numpy(data["x"]), torch.from_numpy(data["y"])
torch.manual_seed(0)
model = MgNO_DC(num_layer=4, num_channel_u=24, num_channel_f=1, num_classes=1,
                num_iteration=[[1, 0]] * 5 + [[2, 0]], padding_mode="zeros")
optimizer, scheduler = getOptimizerScheduler(model.parameters(), epochs=epochs, optimizer_type="adam", lr=5e-4,
                                             weight_decay=1e-4, final_div_factor=100, div_factor=2)
h1loss = HsLoss(d=2, p=2, k=1, size_average=False, res=y.size(-1))
l2loss = LpLoss(size_average=False)


def best_mean(fn):
    for _ in range(2):
        fn()
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            fn()
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def forward():
    with torch.no_grad():
        model(x)


def loop_body():  # darcy.py's train(): one batch
    model.train()
    optimizer.zero_grad()
    out = model(x)
    with torch.no_grad():
        train_l2loss = l2loss(out, y)
    train_h1loss, train_f_l2loss, f_l2x, f_l2y = h1loss(out, y)
    train_h1loss.backward()
    optimizer.step()
    train_h1loss.item(), train_l2loss.item()
    sum(torch.squeeze(torch.abs(f_l2x - f_l2y))).cpu()


def bare_step():
    optimizer.zero_grad()
    loss = h1loss(model(x), y)[0]
    loss.backward()
    optimizer.step()
    loss.detach()


print(json.dumps({
    "params": count_params(model), "threads": torch.get_num_threads(), "torch": torch.__version__,
    "forward": best_mean(forward), "train step": best_mean(loop_body), "bare step": best_mean(bare_step),
}))
"""


def reference(folder: Path, python: str, x: np.ndarray, y: np.ndarray, repeats: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "batch.npz"
        np.savez(path, x=x, y=y)
        proc = subprocess.run(
            [python, "-c", _REFERENCE_DRIVER, str(folder), str(path), str(repeats), str(_EPOCHS)],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"the reference run failed:\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--reference", type=Path, help="folder with the authors' models.py, utilities3.py, Adam.py")
    p.add_argument("--torch-python", default=sys.executable, help="the Python that runs the reference")
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--grid", type=int, default=256)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--fit-epochs", type=int, default=4, help="epochs of the train_operator row (0: skip it)")
    args = p.parse_args()
    if args.batch < 1:
        p.error("--batch must be at least 1")
    if args.repeats < 1:
        p.error("--repeats must be at least 1")
    if args.grid < 64 or args.grid % 32:
        p.error("--grid must be a multiple of 32 and at least 64 (6 levels halve it 5 times)")
    if args.reference is not None and not (args.reference / "models.py").is_file():
        p.error(f"--reference: no models.py in {args.reference}")

    dev = jax.devices()[0]
    print(
        f"jax {jax.__version__}, {dev.platform} ({dev.device_kind}), {os.cpu_count()} CPU cores, "
        f"{platform.processor() or platform.machine()}, float32; MgNO darcy_rough "
        f"({MGNO_CONFIGS['darcy_rough']['n_layers']} layers, width {MGNO_CONFIGS['darcy_rough']['width']}), "
        f"batch {args.batch} x 1 x {args.grid} x {args.grid}\n"
    )
    rng = np.random.default_rng(0)
    x = rng.standard_normal((args.batch, 1, args.grid, args.grid)).astype(np.float32)
    y = rng.standard_normal((args.batch, 1, args.grid, args.grid)).astype(np.float32)

    mine = ours(x, y, args.repeats, args.fit_epochs)
    rows = [
        {"code": "scimlx (JAX)", "parameters": mine["params"], "forward (s)": mine["forward"],
         "train step (s)": mine["train step"]},
    ]  # fmt: skip
    if "train_operator step" in mine:
        rows.append({"code": "scimlx, train_operator (fit loop)", "parameters": mine["params"],
                     "forward (s)": float("nan"), "train step (s)": mine["train_operator step"]})  # fmt: skip
    if args.reference is not None:
        ref = reference(args.reference, args.torch_python, x, y, args.repeats)
        print(f"reference: torch {ref['torch']}, {ref['threads']} threads")
        rows.append({"code": "reference (PyTorch), darcy.py loop body", "parameters": ref["params"],
                     "forward (s)": ref["forward"], "train step (s)": ref["train step"]})  # fmt: skip
        rows.append({"code": "reference (PyTorch), bare step", "parameters": ref["params"],
                     "forward (s)": float("nan"), "train step (s)": ref["bare step"]})  # fmt: skip
        for row in rows:
            row["step / reference"] = row["train step (s)"] / ref["train step"]
            row["forward / reference"] = row["forward (s)"] / ref["forward"]
    print(markdown_table(rows))


if __name__ == "__main__":
    main()
