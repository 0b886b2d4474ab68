"""Train the DCDM network that scimlx ships (`scimlx.solvers.pretrained_dcdm()`) and measure it.

The recipe: one 16^3 pressure-Poisson system (`make_geometry` with key 100: spheres and a box in a tank with
an open top), 400 Lanczos steps, 800 Ritz right-hand sides, the reference's variant-64 network, Adam at lr
1e-3, batch 10. CG and DCDM (tol 1e-4) are then compared on unseen 16^3 geometries, and the network is written
with `eqx.tree_serialise_leaves` next to a JSON record of the recipe, the file's SHA-256 and those
iterations.

    python benchmarks/dcdm_pretrained.py --epochs 6 --out scimlx/solvers/_weights

Training checkpoints go to `runs/dcdm_pretrained/` and resume (`--resume`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import pathlib
import time

import equinox as eqx
import jax
import numpy as np

from scimlx.datasets import make_geometry, poisson_system, random_rhs
from scimlx.solvers import DCDMConfig, DCDMNet, cg, dcdm, ritz_pairs, ritz_rhs, train_dcdm
from scimlx.train import RunOptions

SIZE = 16
TRAIN_GEOMETRY = 100
TEST_GEOMETRIES = range(8)


def compare(net, keys) -> list[dict]:
    rows = []
    for k in keys:
        system = poisson_system(make_geometry((SIZE,) * 3, key=jax.random.key(k)))
        b = random_rhs(system, key=jax.random.key(1000 + k))
        c = cg(system.operator, b, tol=1e-4, maxiter=1000)
        d = dcdm(system.operator, b, net, tol=1e-4, max_iter=100, mask=system.fluid)
        rows.append({"geometry_key": k, "cg": int(c.iterations), "dcdm": int(d.iterations),
                     "dcdm_converged": bool(d.converged)})  # fmt: skip
        print(rows[-1], flush=True)
    return rows


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--lanczos", type=int, default=400)
    p.add_argument("--n-rhs", type=int, default=800)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--out", default="scimlx/solvers/_weights")
    p.add_argument("--checkpoints", default="runs/dcdm_pretrained")
    p.add_argument("--resume", action="store_true")
    args = p.parse_args()

    system = poisson_system(make_geometry((SIZE,) * 3, key=jax.random.key(TRAIN_GEOMETRY)))
    t0 = time.perf_counter()
    _, vectors = ritz_pairs(system.operator, args.lanczos, key=jax.random.key(2))
    rhs = ritz_rhs(vectors, args.n_rhs, key=jax.random.key(3), mask=system.fluid)
    del vectors
    print(f"training data: {rhs.shape} in {time.perf_counter() - t0:.1f} s", flush=True)
    recipe = DCDMConfig(epochs=args.epochs, batch_size=10, learning_rate=args.learning_rate)
    t0 = time.perf_counter()
    res = train_dcdm(
        system.operator, DCDMNet(3, 64, key=jax.random.key(4)), rhs, key=jax.random.key(5), config=recipe,
        run=RunOptions(checkpoint_dir=args.checkpoints, checkpoint_every=80, resume=args.resume,
                       overwrite=not args.resume),
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    loss = np.asarray(res.history["loss"])
    per_epoch = args.n_rhs // 10
    first, last = float(loss[:per_epoch].mean()), float(loss[-per_epoch:].mean())
    print(f"trained {res.step} steps in {seconds:.0f} s; loss {first:.3f} -> {last:.3f}", flush=True)

    rows = compare(res.model, TEST_GEOMETRIES)
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    weights = out / "dcdm_poisson16.eqx"
    eqx.tree_serialise_leaves(weights, res.model)
    meta = {
        "name": "poisson16",
        "network": {"ndim": 3, "variant": 64},
        "sha256": hashlib.sha256(weights.read_bytes()).hexdigest(),
        "recipe": {"size": SIZE, "geometry_key": TRAIN_GEOMETRY, "lanczos": args.lanczos,
                   "n_rhs": args.n_rhs, **recipe.as_config(), "epochs": args.epochs, "steps": int(res.step)},
        "loss_first_epoch": first,
        "loss_last_epoch": last,
        "train_seconds": round(seconds),
        "unseen_geometries": rows,
        "command": "python benchmarks/dcdm_pretrained.py " + f"--epochs {args.epochs}",
    }  # fmt: skip
    (out / "dcdm_poisson16.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"written {weights} ({weights.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
