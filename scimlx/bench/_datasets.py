"""Suite `datasets`: throughput of the data recipes, and their solvers against numpy/scipy versions of the
same schemes (same discretisation, same answer, compared in the same run).

Cases: one `throughput/<recipe>` per recipe (one compiled, vmapped chunk timed after the call that compiled
it; the CPU defaults with `--quick`, the `"paper"` preset otherwise; the figure `throughput_<recipe>.png`
shows the chunk's first samples as model inputs and targets), and three solver comparisons:

- Darcy: the matrix-free Jacobi-PCG of `darcy_solve` (vmapped) against scipy's sparse direct solver (SuperLU,
  what the FNO MATLAB script does with `\\`) on the same assembled 5-point matrix;
- Navier-Stokes: the jitted, vmapped FNO Crank-Nicolson/Euler scheme against the same scheme with numpy's FFT;
- Kuramoto-Sivashinsky: the jitted ETDRK4 at MEDIDA's settings (N = 1024, dt = 1e-3) against the same ETDRK4
  with numpy's FFT (float64 both).
"""

from __future__ import annotations

import time

import jax
import jax.numpy as jnp
import numpy as np

from ._registry import Case, RunContext, Suite


def _best(fn, repeats=3):
    best = float("inf")
    out = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best, out


def throughput(name: str, n: int, preset: str | None = None, ctx: RunContext | None = None) -> dict:
    """Samples per second of one compiled chunk of `n` samples of the recipe `name`; with `ctx` drawing
    figures, the first samples of the chunk as `throughput_<name>.png`."""
    from scimlx.datasets import get_recipe

    recipe = get_recipe(name)
    params = recipe.resolve(preset)
    key = jax.random.key(0)
    sample = recipe.build(params, jnp.float32)
    batched = jax.jit(jax.vmap(sample))  # what `generate` runs per chunk
    keys = jax.vmap(jax.random.fold_in, in_axes=(None, 0))(key, jnp.arange(n))
    index = jnp.arange(n, dtype=jnp.int32)
    t0 = time.perf_counter()
    jax.block_until_ready(batched(keys, index))  # compiles
    first = time.perf_counter() - t0
    steady, out = _best(lambda: jax.block_until_ready(batched(keys, index)), repeats=2)
    shapes = ", ".join(f"{k} {tuple(v.shape[1:])}" for k, v in out.items())
    if ctx is not None and ctx.plotting:
        _samples_figure(ctx, recipe, params, out)
    return {
        "recipe": name,
        "resolution": params["resolution"],
        "stored per sample": shapes,
        "chunk": n,
        "compile (s)": round(first - steady, 2),
        "samples/s": f"{n / steady:.3g}",
        "s/sample": f"{steady / n:.3g}",
    }


def _samples_figure(ctx: RunContext, recipe, params: dict, arrays: dict, shown: int = 3) -> None:
    """The first `shown` generated samples as the recipe's model inputs and targets (`PDEDataset.plot`)."""
    from scimlx.datasets import PDEDataset

    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    x, y = recipe.pairs(arrays, params)
    ds = PDEDataset(
        name=recipe.name, x_train=x, y_train=y, x_test=x[:0], y_test=y[:0], grid=recipe.grid(params),
        params=params, arrays_train=arrays, arrays_test={}, metadata={},
    )  # fmt: skip
    fig = ds.plot(shown)
    title = f"throughput/{recipe.name}: samples 0-{min(shown, len(x)) - 1} of the {len(x)} timed"
    fig.suptitle(f"{title}\ninputs {tuple(x.shape[1:])}, targets {tuple(y.shape[1:])}", fontsize=9)
    fig.tight_layout()
    ctx.save_figure(fig, f"throughput_{recipe.name}")


# ------------------------------------------------------------------------------------------------------------
# Darcy: JAX PCG vs scipy direct


def _darcy_matrix(a: np.ndarray):
    """The 5-point matrix of -div(a grad u), u = 0 on the boundary, arithmetic face means."""
    import scipy.sparse

    s = a.shape[0]
    h2 = 1.0 / (s - 1) ** 2
    m = s - 2
    idx = np.arange(m * m).reshape(m, m)
    ax = 0.5 * (a[1:, 1:-1] + a[:-1, 1:-1])  # faces between (i, j) and (i + 1, j), i = 0..s-2
    ay = 0.5 * (a[1:-1, 1:] + a[1:-1, :-1])
    west, east = ax[:-1], ax[1:]
    south, north = ay[:, :-1], ay[:, 1:]
    diag = (west + east + south + north) / h2
    rows, cols, vals = [idx.ravel()], [idx.ravel()], [diag.ravel()]
    for di, dj, c in ((1, 0, east), (-1, 0, west), (0, 1, north), (0, -1, south)):
        ii, jj = np.meshgrid(np.arange(m), np.arange(m), indexing="ij")
        ok = (ii + di >= 0) & (ii + di < m) & (jj + dj >= 0) & (jj + dj < m)
        rows.append(idx[ii[ok], jj[ok]])
        cols.append(idx[ii[ok] + di, jj[ok] + dj])
        vals.append(-c[ok] / h2)
    return scipy.sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(m * m, m * m)
    )


def darcy_vs_scipy(resolution: int, n: int) -> dict:
    """Darcy solves per second: vmapped Jacobi-PCG (float32) against scipy's SuperLU (float64)."""
    import scipy.sparse.linalg

    from scimlx.datasets import darcy_coefficient, darcy_solve

    keys = jax.random.split(jax.random.key(1), n)
    a = jax.vmap(lambda k: darcy_coefficient(resolution, key=k))(keys)
    solve = jax.jit(jax.vmap(lambda ai: darcy_solve(ai)))
    u, res = jax.block_until_ready(solve(a))
    t_jax, (u, res) = _best(lambda: jax.block_until_ready(solve(a)))
    a_np = np.asarray(a, dtype=np.float64)

    def scipy_all():
        out = []
        for ai in a_np:
            A = _darcy_matrix(ai)
            out.append(scipy.sparse.linalg.spsolve(A.tocsc(), np.ones(A.shape[0])))
        return out

    t_sp, ref = _best(scipy_all)
    u_np = np.asarray(u, np.float64)[:, 1:-1, 1:-1].reshape(n, -1)
    diff = max(np.linalg.norm(u_np[i] - ref[i]) / np.linalg.norm(ref[i]) for i in range(n))
    return {
        "solver": f"Darcy {resolution}^2 nodes, f = 1",
        "scimlx (s/sample)": f"{t_jax / n:.3g}",
        "reference (s/sample)": f"{t_sp / n:.3g}",
        "reference": "scipy spsolve (SuperLU), float64",
        "speed-up": f"{t_sp / t_jax:.2f}",
        "max rel. difference": f"{diff:.1e}",
        "note": f"Jacobi-PCG float32, {int(np.max(np.asarray(res.iterations)))} iterations max, tol 1e-6",
    }


# ------------------------------------------------------------------------------------------------------------
# Navier-Stokes: JAX CN/Euler vs numpy


def _ns_numpy(w0: np.ndarray, nu: float, dt: float, steps: int) -> np.ndarray:
    """The FNO scheme (CN diffusion, explicit advection and forcing, 2/3 dealiasing) with numpy's FFT."""
    s = w0.shape[0]
    kx = np.fft.fftfreq(s, d=1 / s)[:, None]
    ky = np.fft.rfftfreq(s, d=1 / s)[None, :]
    lap = 4 * np.pi**2 * (kx**2 + ky**2)
    lap_inv = np.where(lap == 0, 0.0, 1 / np.where(lap == 0, 1.0, lap))
    keep = (np.abs(kx) <= 2 / 3 * (s // 2)) & (np.abs(ky) <= 2 / 3 * (s // 2))
    x = np.arange(s) / s
    f = 0.1 * (np.sin(2 * np.pi * (x[:, None] + x[None, :])) + np.cos(2 * np.pi * (x[:, None] + x[None, :])))
    f_hat = np.fft.rfft2(f)
    w_hat = np.fft.rfft2(w0)
    for _ in range(steps):
        psi_hat = w_hat * lap_inv
        u = np.fft.irfft2(2j * np.pi * ky * psi_hat, s=(s, s))
        v = np.fft.irfft2(-2j * np.pi * kx * psi_hat, s=(s, s))
        wx = np.fft.irfft2(2j * np.pi * kx * w_hat, s=(s, s))
        wy = np.fft.irfft2(2j * np.pi * ky * w_hat, s=(s, s))
        adv = np.fft.rfft2(u * wx + v * wy) * keep
        w_hat = (-dt * adv + dt * f_hat + (1 - 0.5 * dt * nu * lap) * w_hat) / (1 + 0.5 * dt * nu * lap)
    return np.fft.irfft2(w_hat, s=(s, s))


def ns_vs_numpy(n: int, resolution: int = 64, dt: float = 5e-4, time_span: float = 1.0) -> dict:
    """The FNO Navier-Stokes scheme, jitted and vmapped (float32), against numpy (float64)."""
    from scimlx.datasets import grf_periodic, navier_stokes_2d_solve

    s, nu = resolution, 1e-5
    keys = jax.random.split(jax.random.key(2), n)
    w0 = jax.vmap(lambda k: grf_periodic((s, s), key=k))(keys)
    solve = jax.jit(
        jax.vmap(lambda w: navier_stokes_2d_solve(w, nu=nu, n_records=1, record_every=time_span, dt=dt))
    )
    jax.block_until_ready(solve(w0))
    t_jax, w1 = _best(lambda: jax.block_until_ready(solve(w0)), repeats=2)
    steps = int(round(time_span / dt))
    w0_np = np.asarray(w0, np.float64)
    t_np, ref = _best(lambda: [_ns_numpy(w, nu, dt, steps) for w in w0_np], repeats=1)
    w1 = np.asarray(w1, np.float64)[:, -1]
    diff = max(np.abs(w1[i] - ref[i]).max() / np.abs(ref[i]).max() for i in range(n))
    return {
        "solver": f"Navier-Stokes {s}^2, nu {nu:g}, dt {dt:g}, {time_span:g} time units",
        "scimlx (s/sample)": f"{t_jax / n:.3g}",
        "reference (s/sample)": f"{t_np / n:.3g}",
        "reference": "the same scheme with numpy FFT, float64",
        "speed-up": f"{t_np / t_jax:.2f}",
        "max rel. difference": f"{diff:.1e}",
        "note": f"batch of {n}, float32 vs float64",
    }


# ------------------------------------------------------------------------------------------------------------
# KS: JAX ETDRK4 vs numpy


def ks_vs_numpy(steps: int) -> dict:
    """KS ETDRK4 at MEDIDA's settings, jitted, against the same scheme with numpy (float64 both)."""
    from scimlx.core.stepping import etdrk_coefficients
    from scimlx.datasets import ks_linear_operator, ks_solve, medida_initial_condition

    n, length, dt = 1024, 100.0, 1e-3
    u0 = np.asarray(medida_initial_condition(n, length), np.float64)
    with jax.enable_x64(True):
        solve = jax.jit(lambda u: ks_solve(u, length=length, dt=dt, n_steps=steps, save_every=steps))
        u_j = jnp.asarray(u0)
        jax.block_until_ready(solve(u_j))
        t_jax, out = _best(lambda: jax.block_until_ready(solve(u_j)), repeats=2)
        lin = ks_linear_operator(n, length)
        c = {k: np.asarray(v) for k, v in etdrk_coefficients(lin, dt, 4).items()}  # complex128
    k = 2 * np.pi * np.fft.rfftfreq(n, d=length / n)
    k[-1] = 0.0  # Nyquist derivative

    def nonlin(v):
        u = np.fft.irfft(v, n=n)
        return -0.5j * k * np.fft.rfft(u * u)

    def numpy_run():
        v = np.fft.rfft(u0)
        for _ in range(steps):
            nv = nonlin(v)
            a = c["exp_half"] * v + c["q"] * nv
            na = nonlin(a)
            b = c["exp_half"] * v + c["q"] * na
            nb = nonlin(b)
            cc = c["exp_half"] * a + c["q"] * (2 * nb - nv)
            nc = nonlin(cc)
            v = c["exp"] * v + c["f1"] * nv + 2 * c["f2"] * (na + nb) + c["f3"] * nc
        return np.fft.irfft(v, n=n)

    t_np, ref = _best(numpy_run, repeats=1)
    mine = np.asarray(out)[-1]
    diff = np.abs(mine - ref).max() / np.abs(ref).max()
    return {
        "solver": f"KS ETDRK4, N {n}, L {length:g}, dt {dt:g}, {steps} steps",
        "scimlx (s/sample)": f"{t_jax:.3g}",
        "reference (s/sample)": f"{t_np:.3g}",
        "reference": "the same ETDRK4 with numpy FFT, float64",
        "speed-up": f"{t_np / t_jax:.2f}",
        "max rel. difference": f"{diff:.1e}",
        "note": "one trajectory, float64 both",
    }


def _cases(quick: bool) -> list[Case]:
    from scimlx.datasets import get_recipe, recipe_names

    cases = []
    for name in recipe_names():
        if quick:
            n = 4
            run = lambda ctx, name=name, n=n: throughput(name, n, ctx=ctx)
        else:
            n = min(4, int(get_recipe(name).resolve("paper").get("chunk_size", 4)))
            run = lambda ctx, name=name, n=n: throughput(name, n, "paper", ctx=ctx)
        cases.append(Case(f"throughput/{name}", run))
    if quick:
        cases += [
            Case("darcy_vs_scipy", lambda ctx: darcy_vs_scipy(64, 16)),
            Case("navier_stokes_vs_numpy", lambda ctx: ns_vs_numpy(4)),
            Case("ks_vs_numpy", lambda ctx: ks_vs_numpy(2000)),
        ]
    else:
        cases += [
            Case("darcy_vs_scipy", lambda ctx: darcy_vs_scipy(421, 4)),
            Case("navier_stokes_vs_numpy", lambda ctx: ns_vs_numpy(2, 256, 1e-4, 0.1)),
            Case("ks_vs_numpy", lambda ctx: ks_vs_numpy(20000)),
        ]
    return cases


SUITE = Suite(
    name="datasets",
    description="data-recipe throughput; Darcy, Navier-Stokes and KS solvers against numpy/scipy versions",
    cases=_cases,
)
