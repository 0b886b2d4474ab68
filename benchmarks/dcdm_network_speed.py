"""Time one application of the DCDM network (the cost of one DCDM iteration) on the grids of the solver suite.

    python benchmarks/dcdm_network_speed.py [--sizes 32,64,128] [--variant 64] [--repeats 5]

Compiled (`eqx.filter_jit`), float32, one right-hand side; each figure is the median of `--repeats` calls
after two warm-up calls. To compare two versions of the code, run the script under each
(`PYTHONPATH=<checkout>`).
"""

from __future__ import annotations

import argparse
import statistics
import time


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="32,64,128", help="comma-separated grid sides (even)")
    parser.add_argument("--variant", type=int, default=64, choices=(64, 128), help="the network variant")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per size")
    args = parser.parse_args(argv)
    try:
        sizes = [int(v) for v in args.sizes.split(",") if v.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, got {args.sizes!r}")
    if not sizes or any(n < 2 or n % 2 for n in sizes):
        parser.error(f"--sizes must be even integers >= 2, got {args.sizes!r}")
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")

    import equinox as eqx
    import jax
    import numpy as np

    import scimlx
    from scimlx.solvers import DCDMNet

    net = DCDMNet(3, args.variant, key=jax.random.key(0))
    apply = eqx.filter_jit(lambda net, x: net(x))
    print(f"# scimlx from {scimlx.__file__}, jax {jax.__version__}, {jax.devices()[0]}")
    print("| grid | seconds per application |")
    print("|---|---|")
    for n in sizes:
        x = np.random.default_rng(0).standard_normal((1, n, n, n)).astype(np.float32)
        for _ in range(2):
            apply(net, x).block_until_ready()
        times = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            apply(net, x).block_until_ready()
            times.append(time.perf_counter() - t0)
        print(f"| {n}^3 | {statistics.median(times):.3f} |", flush=True)


if __name__ == "__main__":
    main()
