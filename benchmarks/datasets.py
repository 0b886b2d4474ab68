"""Throughput of the data generators, and their solvers against numpy/scipy versions of the same schemes.

The figures of `benchmarks/RESULTS.md` ("Datasets"): every recipe at its CPU defaults with the chunk size it
generates with, then the three solver comparisons of the `datasets` suite (see `scimlx/bench/_datasets.py`).
The same cases run as `scimlx bench datasets --quick` (chunks of 4); without `--quick` that suite times the
paper-scale presets (for a GPU).

Usage: python benchmarks/datasets.py [--quick]
"""

from __future__ import annotations

import argparse
import os
import platform

import jax

from scimlx.bench import markdown_table
from scimlx.bench._datasets import darcy_vs_scipy, ks_vs_numpy, ns_vs_numpy, throughput
from scimlx.datasets import get_recipe, recipe_names


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="chunks of 4 and shorter runs (a smoke run)")
    args = p.parse_args()
    device = jax.devices()[0]
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, jax {jax.__version__} on {device}")
    rows = []
    for name in recipe_names():
        n = 4 if args.quick else int(get_recipe(name).params.get("chunk_size", 16))
        rows.append(throughput(name, n))
        print(rows[-1], flush=True)
    print("\n## Throughput at the CPU defaults\n")
    print(markdown_table(rows))
    chunk = 4 if args.quick else 16
    comp = [
        darcy_vs_scipy(64, chunk),
        ns_vs_numpy(max(2, chunk // 4)),
        ks_vs_numpy(500 if args.quick else 2000),
    ]
    print("\n## Solvers against reference implementations of the same schemes\n")
    print(markdown_table(comp))


if __name__ == "__main__":
    main()
