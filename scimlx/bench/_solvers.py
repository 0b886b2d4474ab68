"""Suite `solvers`: CG, Jacobi-PCG, multigrid-PCG and DCDM on pressure-Poisson systems with obstacles, with
SciPy's CG on the same matrix as an external reference.

Each grid size gets one geometry (solid spheres and a box in a closed tank with an open top,
`scimlx.datasets.make_geometry`) and one right-hand side (the divergence of a random smooth velocity field,
unit norm). Every method starts from zero and stops at `‖b - Ax‖ / ‖b‖ <= 1e-4` (DCDM within 100 iterations,
the reference's limit; the others within 1000); the table reports the iterations, the wall time of the solve
(compiled; best of 2, DCDM one run) and the true relative residual at the end. `dcdm_rescaled` feeds the
network the residual scaled to the training grid's per-cell magnitude (`input_scale`; ours, not the
paper's). Figures: `dcdm_training_loss.png`, and per case `N<n>_<method>_residuals.png`, the relative
residual against the iteration of the method, beside those run before it at that size (the size's last case
shows them all; SciPy's history from one more, untimed, solve).

DCDM is trained once per run, at one size, and applied unchanged to every size (the paper's generalisation
claim): the reference data recipe (Lanczos with full re-orthogonalisation from `A g`, Ritz vectors, the
smallest-value modes weighted 9x), the unsupervised loss, Adam.

- Paper preset (GPU): sizes 64, 128, 256; DCDM trained at 64^3 from 10,000 Lanczos vectors (a 10 GB basis),
  2,000 right-hand sides held in memory (the reference streams 20,000 from disk), lr 1e-4, batch 10, 500
  epochs (the reference trains up to 1000).
- `--quick` (CPU): sizes 16 (the training size), 32 and 64; DCDM trained at 16^3 from 400 Lanczos vectors,
  400 right-hand sides, lr 1e-3, batch 10, 8 epochs (320 steps).
"""

from __future__ import annotations

import time
from typing import Any

from ._registry import Case, RunContext, Suite

PAPER = {
    "sizes": (64, 128, 256),
    "train_size": 64,
    "lanczos": 10_000,
    "n_rhs": 2_000,
    "epochs": 500,
    "learning_rate": 1e-4,
    "batch_size": 10,
    "max_iter": 1000,
}
QUICK = {
    "sizes": (16, 32, 64),
    "train_size": 16,
    "lanczos": 400,
    "n_rhs": 400,
    "epochs": 8,
    "learning_rate": 1e-3,
    "batch_size": 10,
    "max_iter": 1000,
}
METHODS = ("cg", "jacobi_pcg", "multigrid_pcg", "dcdm", "dcdm_rescaled", "scipy_cg")
DCDM_MAX_ITER = 100  # the reference's test script
TOL = 1e-4
_MODELS: dict[tuple, Any] = {}
_LOSSES: dict[tuple, Any] = {}  # DCDM's training loss per step, beside the cached model
_HISTORIES: dict[tuple, dict[str, Any]] = {}  # (run, size) -> method -> residual history, for the figures


def _system(n: int, seed: int):
    import jax

    from scimlx.datasets import make_geometry, poisson_system, random_rhs

    flags = make_geometry((n, n, n), key=jax.random.fold_in(jax.random.key(seed), n))
    system = poisson_system(flags)
    b = random_rhs(system, key=jax.random.fold_in(jax.random.key(seed + 1), n))
    return system, b


def _dcdm_model(ctx: RunContext):
    """Train DCDM once per run (cached), at the preset's training size."""
    key = (ctx.quick, ctx.seed)
    if key in _MODELS:
        return _MODELS[key]
    import jax

    from scimlx.solvers import DCDMConfig, DCDMNet, ritz_pairs, ritz_rhs, train_dcdm
    from scimlx.train import RunOptions

    cfg = QUICK if ctx.quick else PAPER
    system, _ = _system(cfg["train_size"], ctx.seed + 100)
    t0 = time.perf_counter()
    _, vectors = ritz_pairs(system.operator, cfg["lanczos"], key=jax.random.key(ctx.seed + 2))
    rhs = ritz_rhs(vectors, cfg["n_rhs"], key=jax.random.key(ctx.seed + 3), mask=system.fluid)
    del vectors
    t_data = time.perf_counter() - t0
    net = DCDMNet(3, 64, key=jax.random.key(ctx.seed + 4))
    t0 = time.perf_counter()
    res = train_dcdm(
        system.operator, net, rhs, key=jax.random.key(ctx.seed + 5),
        config=DCDMConfig(
            epochs=cfg["epochs"], batch_size=cfg["batch_size"], learning_rate=cfg["learning_rate"]
        ),
        run=RunOptions(progress=ctx.progress),
    )  # fmt: skip
    info = {
        "train_size": cfg["train_size"],
        "lanczos_steps": cfg["lanczos"],
        "n_rhs": cfg["n_rhs"],
        "steps": int(res.step),
        "data_s": t_data,
        "train_s": time.perf_counter() - t0,
        "first_loss": float(res.history["loss"][: cfg["batch_size"]].mean()),
        "last_loss": float(res.history["loss"][-cfg["batch_size"] :].mean()),
    }
    _MODELS[key] = (res.model, info)
    _LOSSES[key] = res.history["loss"]
    return _MODELS[key]


def train_case(ctx: RunContext) -> dict[str, Any]:
    """Build the DCDM training data and train the network (the figures of the training run)."""
    from scimlx.train import count_params

    model, info = _dcdm_model(ctx)
    if ctx.plotting:
        _training_figure(ctx, _LOSSES[(ctx.quick, ctx.seed)], info)
    return {**info, "params": count_params(model)}


def _training_figure(ctx: RunContext, loss, info: dict) -> None:
    """DCDM's training loss against the epoch (each step thin, epoch means bold)."""
    import matplotlib.pyplot as plt

    from ._plots import loss_curve

    cfg = QUICK if ctx.quick else PAPER
    per_epoch = -(-cfg["n_rhs"] // cfg["batch_size"])
    fig, ax = plt.subplots(figsize=(6.4, 3.8))
    loss_curve(ax, loss, block=per_epoch, x_scale=1 / per_epoch, label="training loss (epoch mean)")
    n = info["train_size"]
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss: mean ‖b − α·Aq‖², q = net(b)")
    ax.set_title(f"dcdm_training: {n}³ grid, {info['n_rhs']} Ritz right-hand sides, {info['steps']} steps")
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, "dcdm_training_loss")


def _residual_figure(ctx: RunContext, n: int, method: str, history, unknowns: int) -> None:
    """Record `method`'s residual history at size `n` and draw it with those of the methods run before it at
    this size in this run (the size's last case shows them all), on one semilog axes."""
    import matplotlib.pyplot as plt
    import numpy as np

    runs = _HISTORIES.setdefault((str(ctx.out_dir), ctx.quick, ctx.seed, n), {})
    runs[method] = np.asarray(history, dtype=float)
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for i, m in enumerate(METHODS):
        if m in runs:
            h = runs[m][np.isfinite(runs[m])]
            style = {"lw": 2.0, "alpha": 1.0} if m == method else {"lw": 1.0, "alpha": 0.7}
            style["ls"] = "--" if m in ("dcdm_rescaled", "scipy_cg") else "-"  # they may overlay dcdm, cg
            ax.semilogy(np.arange(len(h)), h, color=f"C{i}", label=f"{m}: {len(h) - 1} iterations", **style)
    ax.axhline(TOL, color="0.4", ls=":", lw=1, label=f"tolerance {TOL:g}")
    ax.set_xlabel("iteration")
    ax.set_ylabel("relative residual ‖b − Ax_k‖ / ‖b‖")
    title = f"N{n}/{method}: {n}³ grid, {unknowns:,} fluid unknowns"
    if len(runs) > 1:
        title += f"\n(bold; thin: the methods run before it at N{n})"
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, f"N{n}_{method}_residuals")


def solve_case(ctx: RunContext, n: int, method: str) -> dict[str, Any]:
    """Solve the size-`n` system with one method and report iterations, time and the true residual."""
    import equinox as eqx
    import jax
    import jax.numpy as jnp
    import numpy as np

    from scimlx.solvers import dcdm, multigrid_preconditioner, pcg

    cfg = QUICK if ctx.quick else PAPER
    system, b = _system(n, ctx.seed)
    op = system.operator
    fluid = np.asarray(system.fluid)
    if method == "scipy_cg":
        import scipy.sparse.linalg

        A = system.to_scipy_sparse(fluid_only=True).tocsr()
        rhs = np.asarray(b, np.float64)[fluid]
        best, its, x = np.inf, 0, None
        for _ in range(2):
            count = [0]
            t0 = time.perf_counter()
            x, _info = scipy.sparse.linalg.cg(
                A,
                rhs,
                rtol=TOL,
                atol=0.0,
                maxiter=cfg["max_iter"],
                callback=lambda _x, c=count: c.__setitem__(0, c[0] + 1),
            )
            best, its = min(best, time.perf_counter() - t0), count[0]
        true = float(np.linalg.norm(rhs - A @ x) / np.linalg.norm(rhs))
        if ctx.plotting:  # once more, untimed, recording the residual after each iteration
            norm = np.linalg.norm(rhs)
            history = [1.0]  # x_0 = 0

            def record(xk):
                history.append(np.linalg.norm(rhs - A @ xk) / norm)

            scipy.sparse.linalg.cg(A, rhs, rtol=TOL, atol=0.0, maxiter=cfg["max_iter"], callback=record)
            _residual_figure(ctx, n, method, history, int(fluid.sum()))
        return {
            "n": n,
            "unknowns": int(fluid.sum()),
            "iterations": its,
            "seconds": best,
            "true_rel_residual": true,
            "converged": true <= TOL * 1.01,
            "device": "cpu (scipy)",
        }
    if method in ("dcdm", "dcdm_rescaled"):
        model, _ = _dcdm_model(ctx)
        scale = (n / cfg["train_size"]) ** 1.5 if method == "dcdm_rescaled" else 1.0

        def run(tol):  # eagerly: the host loop of compiled steps (see `dcdm`'s `host_loop`)
            return dcdm(op, b, model, tol=tol, max_iter=DCDM_MAX_ITER, mask=system.fluid, input_scale=scale)

        jax.block_until_ready(run(0.999999))  # one iteration: compiles the step
        t0 = time.perf_counter()
        res = jax.block_until_ready(run(TOL))
        times = [time.perf_counter() - t0]
    else:
        pre = {"cg": None, "jacobi_pcg": "jacobi"}.get(method)
        if method == "multigrid_pcg":
            pre = multigrid_preconditioner(system)
        solve = eqx.filter_jit(lambda p, b: pcg(op, b, tol=TOL, maxiter=cfg["max_iter"], preconditioner=p))
        compiled = solve.lower(pre, b).compile()  # compile without solving
        times = []
        for _ in range(2):
            t0 = time.perf_counter()
            res = jax.block_until_ready(compiled(pre, b))
            times.append(time.perf_counter() - t0)
    true = float(jnp.linalg.norm(b - op.mv(res.x)) / jnp.linalg.norm(b))
    if ctx.plotting:
        history = np.asarray(res.residual_history)[: int(res.iterations) + 1]
        _residual_figure(ctx, n, method, history, int(fluid.sum()))
    return {
        "n": n,
        "unknowns": int(fluid.sum()),
        "iterations": int(res.iterations),
        "seconds": min(times),
        "true_rel_residual": true,
        "converged": bool(res.converged),
        "device": str(jax.devices()[0]),
    }


def _cases(quick: bool) -> list[Case]:
    cfg = QUICK if quick else PAPER
    cases = [Case("dcdm_training", train_case)]
    for n in cfg["sizes"]:
        for m in METHODS:
            cases.append(Case(f"N{n}/{m}", lambda ctx, n=n, m=m: solve_case(ctx, n, m)))
    return cases


SUITE = Suite(
    name="solvers",
    description="CG, Jacobi-PCG, multigrid-PCG, DCDM, SciPy CG on 3-D pressure-Poisson systems, obstacles",
    cases=_cases,
)
