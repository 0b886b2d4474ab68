"""Throughput of the PDE-residual core.

1. Points per second for the Laplacian of a 4 x 64 tanh MLP at d = 2, 3, 10 (and 100 with --high-dim):
   PointField's default forward-over-forward Laplacian and its forward-over-reverse "hvp" variant, against the
   naive trace of `jax.hessian`, in the same run; the ratio is the speed-up over the naive trace.
2. GridField spectral Laplacians per second on a periodic 256 x 256 grid (float32), against the same
   Laplacian computed with numpy's FFT in the same run, plus the order-2 finite-difference Laplacian on a
   bounded grid of the same size.

Usage: python benchmarks/core_residual.py [--points 4096] [--repeats 20] [--high-dim]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np

from scimlx.bench import markdown_table
from scimlx.core import Box, Grid, GridField, PointField


def _time(fn, *args, repeats: int) -> float:
    jax.block_until_ready(fn(*args))  # compile and warm up
    best = float("inf")
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(repeats):
            out = fn(*args)
        jax.block_until_ready(out)
        best = min(best, (time.perf_counter() - t0) / repeats)
    return best


def point_laplacians(dims, n_points: int, repeats: int) -> list[dict]:
    rows = []
    for d in dims:
        model = eqx.nn.MLP(d, "scalar", 64, 4, activation=jnp.tanh, key=jax.random.key(d))
        x = jax.random.normal(jax.random.key(0), (n_points, d))
        fns = {
            m: jax.jit(jax.vmap(lambda xi, m=m: PointField(model, xi).laplacian(m)))
            for m in ("hessian", "forward", "hvp")
        }
        ref = fns["hessian"](x)
        t = {}
        for m, fn in fns.items():
            err = float(jnp.max(jnp.abs(fn(x) - ref)) / (1 + jnp.max(jnp.abs(ref))))
            assert err < 1e-4, (m, err)
            t[m] = _time(fn, x, repeats=repeats)
        rows.append({
            "d": d,
            "naive hessian trace (pts/s)": n_points / t["hessian"],
            "PointField forward (pts/s)": n_points / t["forward"],
            "speed-up forward": t["hessian"] / t["forward"],
            "PointField hvp (pts/s)": n_points / t["hvp"],
            "speed-up hvp": t["hessian"] / t["hvp"],
        })
    return rows


def grid_laplacians(n: int, repeats: int) -> list[dict]:
    periodic = Grid((n, n), Box((0, 0), (2 * np.pi, 2 * np.pi)), periodic=True)
    X, Y = periodic.coords()
    u = (jnp.sin(3 * X) * jnp.cos(5 * Y)).astype(jnp.float32)
    spectral = jax.jit(lambda v: GridField(v, periodic).laplacian())
    un = np.asarray(u)
    k = 2 * np.pi * np.fft.fftfreq(n, d=2 * np.pi / n)
    kr = 2 * np.pi * np.fft.rfftfreq(n, d=2 * np.pi / n)
    k2 = (k[:, None] ** 2 + kr[None, :] ** 2).astype(np.float32)

    def numpy_lap(v):
        return np.fft.irfft2(-k2 * np.fft.rfft2(v), s=v.shape).astype(np.float32)

    # float32 round-off of the samples is amplified by |k|^2 up to 2 (n/2)^2, so agree only to ~1e-4
    np.testing.assert_allclose(np.asarray(spectral(u)), numpy_lap(un), atol=1e-4 * 34 * 4)
    t_jax = _time(spectral, u, repeats=repeats)
    t0 = time.perf_counter()
    for _ in range(repeats):
        numpy_lap(un)
    t_np = (time.perf_counter() - t0) / repeats
    bounded = Grid((n, n))
    fd = jax.jit(lambda v: GridField(v, bounded).laplacian())
    t_fd = _time(fd, u, repeats=repeats)
    return [{
        "grid": f"{n}x{n}",
        "GridField spectral (lap/s)": 1 / t_jax,
        "numpy rfft2 reference (lap/s)": 1 / t_np,
        "speed-up vs numpy": t_np / t_jax,
        "GridField FD order 2, bounded (lap/s)": 1 / t_fd,
    }]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--points", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--grid", type=int, default=256)
    p.add_argument("--high-dim", action="store_true", help="also d = 100")
    args = p.parse_args()
    dev = jax.devices()[0]
    print(f"jax {jax.__version__}, {dev.platform} ({dev.device_kind}), {os.cpu_count()} CPU cores, "
          f"{platform.processor() or platform.machine()}, float32\n")
    dims = (2, 3, 10, 100) if args.high_dim else (2, 3, 10)
    print(markdown_table(point_laplacians(dims, args.points, args.repeats)))
    print()
    print(markdown_table(grid_laplacians(args.grid, args.repeats)))


if __name__ == "__main__":
    main()
