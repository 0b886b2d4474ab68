"""Training and inference speed of LSM, FNO and the U-Net against their PyTorch reference models, side by
side in one process on the same CPU.

    python benchmarks/operator_speed.py [--refs DIR] [--models lsm,unet,fno] [--repeats 5] [--json out.json]

Needs PyTorch and the reference repositories (cloned at pinned commits into `--refs` by
`benchmarks/torch_reference.py`'s `checkout`); neither is a dependency of scimlx. The models are the Darcy
configurations at 85 x 85 (LSM: width 64, patch 6, padding 11; FNO: modes 12, width 32, padding 9; the
PDEBench U-Net: 32 features, depth 4, which needs a side divisible by 16, so the reference gets the 96 x 96
grid that ours pads 85 x 85 to internally), float32, batch 20 (and LSM at batch 4).

A train step is what the training loops run: the forward pass in training mode, the relative L2 loss summed
over the batch, the backward pass and an Adam step with coupled L2 decay 1e-4 (`torch.optim.Adam(...,
weight_decay=1e-4)`; ours is `scimlx.train.GradientStep` with `OperatorConfig`'s optimiser, compiled as
`fit` compiles it). A forward is inference (`model.eval()` under `torch.no_grad()`; ours
`apply_batch(..., inference=True)`, compiled). Each side runs in a process of its own (in one process,
whichever framework ran last slows the other: thread pools and the memory allocator), twice, alternating:
scimlx, PyTorch, scimlx, PyTorch; each process times `--repeats` runs after two warm-up runs, and a figure is
the median of all the timed runs of its side.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
from torch_reference import DEFAULT_REFS, build, checkout  # noqa: E402

GRID = 85
CASES = {  # name: (model, batch)
    "lsm": ("lsm", 20),
    "lsm_b4": ("lsm", 4),
    "unet": ("unet", 20),
    "fno": ("fno", 20),
}
DARCY = {
    "lsm": dict(width=64, num_basis=12, num_token=4, patch=6, padding=11),
    "fno": dict(width=32, modes=12, padding=9),
    "unet": dict(width=32),
}


def ours(model_name: str, batch: int):
    """Our model at the Darcy configuration, a compiled train step and a compiled forward, and a batch."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp

    from scimlx.operators import FNO, FNO_CONFIGS, LSM, OperatorConfig, UNet, apply_batch, relative_l2
    from scimlx.train import GradientStep, TrainCarry

    key = jax.random.key(0)
    if model_name == "lsm":
        model, state = eqx.nn.make_with_state(LSM)(1, 1, **DARCY["lsm"], key=key)
    elif model_name == "fno":
        model, state = eqx.nn.make_with_state(FNO)(**FNO_CONFIGS["darcy_2d"], key=key)
    else:
        model, state = eqx.nn.make_with_state(UNet)(1, 1, width=32, depth=4, key=key)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((batch, 1, GRID, GRID)), jnp.float32)
    y = jnp.asarray(rng.standard_normal((batch, 1, GRID, GRID)), jnp.float32)

    def loss_fn(model, state, data, *, key):
        xb, yb = data
        pred, state = apply_batch(model, state, xb)
        return jnp.sum(relative_l2(pred, yb)), state

    step = GradientStep(loss_fn, OperatorConfig().optimizer(steps_per_epoch=50), stateful=True)
    carry = TrainCarry(model, step.init(model), state)

    @eqx.filter_jit
    def train(step, carry, data, key):
        return step(carry, data, key=key)

    @eqx.filter_jit
    def forward(model, state, x):
        return apply_batch(model, state, x, inference=True)[0]

    box = {"carry": carry}

    def run_train():
        box["carry"], loss, _ = train(step, box["carry"], (x, y), key)
        loss.block_until_ready()

    def run_forward():
        forward(box["carry"].model, box["carry"].state, x).block_until_ready()

    n = sum(a.size for a in jax.tree.leaves(eqx.filter(model, eqx.is_inexact_array)))
    return run_train, run_forward, n


def reference(model_name: str, batch: int, paths):
    """The PyTorch reference model (float32), its train step and its forward, and a batch."""
    import torch

    model = build(model_name, paths, DARCY[model_name], float64=False)
    grid = 96 if model_name == "unet" else GRID
    rng = np.random.default_rng(0)
    shape = (batch, 1, grid, grid) if model_name == "unet" else (batch, grid, grid, 1)
    x = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    y = torch.from_numpy(rng.standard_normal(shape).astype(np.float32))
    optimizer = torch.optim.Adam(model.parameters(), lr=5e-4, weight_decay=1e-4)

    def rel_l2(pred, target):  # the references' LpLoss(size_average=False)
        diff = torch.linalg.vector_norm((pred - target).reshape(batch, -1), dim=1)
        return torch.sum(diff / torch.linalg.vector_norm(target.reshape(batch, -1), dim=1))

    def run_train():
        model.train()
        optimizer.zero_grad()
        loss = rel_l2(model(x), y)
        loss.backward()
        optimizer.step()

    def run_forward():
        model.eval()
        with torch.no_grad():
            model(x)

    n = sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters())
    return run_train, run_forward, n


def time_runs(f, repeats: int) -> list[float]:
    """Seconds of `repeats` calls of `f` after two warm-up calls."""
    for _ in range(2):
        f()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return times


def worker(side: str, case: str, repeats: int, refs: pathlib.Path) -> None:
    """One side of one case in this process: print `{"params": n, "train": [...], "forward": [...]}`."""
    model_name, batch = CASES[case]
    if side == "scimlx":
        train, forward, n = ours(model_name, batch)
    else:
        train, forward, n = reference(model_name, batch, checkout(refs))
    out = {"params": n, "train": time_runs(train, repeats), "forward": time_runs(forward, repeats)}
    print("RESULT " + json.dumps(out), flush=True)


def run_worker(side: str, case: str, repeats: int, refs: pathlib.Path) -> dict:
    cmd = [
        sys.executable,
        __file__,
        "--worker",
        side,
        "--models",
        case,
        "--repeats",
        str(repeats),
        "--refs",
        str(refs),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode or not lines:
        raise RuntimeError(f"the {side} worker of {case} failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1][len("RESULT ") :])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--refs", type=pathlib.Path, default=DEFAULT_REFS, help="scratch folder of the clones"
    )
    parser.add_argument("--models", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per measurement")
    parser.add_argument("--json", type=pathlib.Path, default=None, help="also write the figures here")
    parser.add_argument("--worker", choices=("scimlx", "pytorch"), default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    cases = [c.strip() for c in args.models.split(",") if c.strip()]
    unknown = [c for c in cases if c not in CASES]
    if unknown or not cases:
        parser.error(f"--models: unknown {unknown or cases}; choose from {', '.join(CASES)}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    if args.json is not None and args.json.exists():
        parser.error(f"--json {args.json} exists; choose another file")
    if args.worker is not None:
        return worker(args.worker, cases[0], args.repeats, args.refs)

    import jax
    import torch

    checkout(args.refs)
    rows = []
    import scimlx

    print(f"# scimlx from {pathlib.Path(scimlx.__file__).parent}")
    print(f"# {platform.processor() or platform.machine()}, {torch.get_num_threads()} PyTorch threads, "
          f"torch {torch.__version__}, jax {jax.__version__}")  # fmt: skip
    print("| model | batch | params (ours / ref) | what | scimlx s | PyTorch s | ratio |")
    print("|---|---|---|---|---|---|---|")
    for case in cases:
        model_name, batch = CASES[case]
        runs = {"scimlx": [], "pytorch": []}
        for _ in range(2):
            for side in runs:
                runs[side].append(run_worker(side, case, args.repeats, args.refs))
        n_ours, n_ref = runs["scimlx"][0]["params"], runs["pytorch"][0]["params"]
        for what, key in (("train step", "train"), ("forward", "forward")):
            t_ours = statistics.median([t for r in runs["scimlx"] for t in r[key]])
            t_ref = statistics.median([t for r in runs["pytorch"] for t in r[key]])
            row = dict(model=model_name, batch=batch, params_ours=n_ours, params_ref=n_ref, what=what,
                       ours_s=t_ours, ref_s=t_ref, ratio=t_ours / t_ref)  # fmt: skip
            rows.append(row)
            cells = [model_name, batch, f"{n_ours:,} / {n_ref:,}", what, f"{t_ours:.3f}", f"{t_ref:.3f}"]
            print("| " + " | ".join(map(str, cells)) + f" | {t_ours / t_ref:.2f}x |", flush=True)
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
