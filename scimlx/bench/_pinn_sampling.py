"""Cases `sampling/<problem>/<sampler>` of suite `pinn`: adversarial adaptive sampling (AAS) against uniform
points, RAR, RAD and DAS (-R and -G) on the DAS/AAS problems, with the same network, residual points per
draw and solution steps, over several seeds (mean and spread).

Paper preset: DAS's settings (its code's defaults; the AAS paper's own are not reproduced here): the 6 x 32
tanh network, 1,000 residual and 1,000 boundary points, Adam at 1e-4 for both networks, KRnet (6 couplings of
width 24, 32 CDF bins), 15,000 solution steps (DAS: 5 stages of 3,000, with 3,000 flow steps between
stages), 5 seeds. `--quick` keeps the protocol and shrinks it: 500 residual points, 3,000 solution steps
(1,000 in 10-D; DAS in 3 or 2 stages) at Adam 1e-3, 3 seeds, smaller test sets.

Each case reports the relative L2 error (and the MSE, the DAS code's metric on the 2-D problems) of the final
model, mean and standard deviation over the seeds, the coefficient of variation of the squared residual on
the test points (how flat the residual profile ends up), seconds per solution step and the number of points
the set ends with. For the flow samplers the first seed's points are plotted over the solution's residual.
"""

from __future__ import annotations

from typing import Any

from ._registry import Case, RunContext

PROBLEMS = ("peak_2d", "two_peak_2d", "exponential_nd")
SAMPLERS = ("uniform", "rar", "rad", "das_r", "das_g", "aas")

PAPER = {"n_collocation": 1000, "steps": 15_000, "stages": 5, "learning_rate": 1e-4, "seeds": 5}
QUICK = {
    "peak_2d": {"n_collocation": 500, "steps": 3000, "stages": 3, "learning_rate": 1e-3, "seeds": 3},
    "two_peak_2d": {"n_collocation": 500, "steps": 3000, "stages": 3, "learning_rate": 1e-3, "seeds": 3},
    "exponential_nd": {"n_collocation": 500, "steps": 1000, "stages": 2, "learning_rate": 1e-3, "seeds": 3},
}


def settings(problem_name: str, quick: bool) -> dict[str, Any]:
    """The protocol of a case: points, solution steps, DAS stages, learning rate, seeds."""
    return dict(QUICK[problem_name] if quick else PAPER)


def make_sampler(name: str, problem, s: dict[str, Any], key):
    """The sampler `name` with the protocol `s`: RAR and RAD refresh as often as DAS starts a stage, RAR
    adding a quarter of the points each time; AAS redraws its points every 100 rounds."""
    from scimlx.flows import KRnet
    from scimlx.pinn import AAS, DAS, RAD, RAR, Uniform

    steps, stages, n = s["steps"], s["stages"], s["n_collocation"]
    period = steps // stages
    if name == "uniform":
        return Uniform()
    if name == "rar":
        return RAR(every=period, add=n // 4)
    if name == "rad":
        return RAD(every=period)
    flow = KRnet(problem.ndim, box=problem.box, key=key)
    if name in ("das_r", "das_g"):
        mode = "replace" if name == "das_r" else "grow"
        lr = s["learning_rate"]
        return DAS(flow, mode=mode, solution_steps=period, flow_steps=period, learning_rate=lr)
    return AAS(flow, learning_rate=s["learning_rate"], resample_every=100)


def run_case(ctx: RunContext, problem_name: str, sampler_name: str) -> dict[str, Any]:
    """Train the 6 x 32 tanh PINN with one sampler over the seeds and report the figures."""
    import jax
    import numpy as np

    from scimlx.pinn import PINN, PINNConfig, get_problem, plot_points, train_pinn
    from scimlx.train import RunOptions

    s = settings(problem_name, ctx.quick)
    problem = get_problem(problem_name, "quick" if ctx.quick else "paper", n_collocation=s["n_collocation"])
    rows = []
    for i in range(s["seeds"]):
        k_model, k_flow, k_train = jax.random.split(jax.random.key(ctx.seed + 1000 * i), 3)
        sampler = make_sampler(sampler_name, problem, s, k_flow)
        # DAS's stages add flow steps between the solution's: the same solution steps for every sampler
        steps = s["steps"] + (s["steps"] - s["steps"] // s["stages"] if sampler_name.startswith("das") else 0)
        config = PINNConfig(steps=steps, learning_rate=s["learning_rate"], decay_rate=1.0, resample_every=100)
        res = train_pinn(
            problem, PINN(problem.ndim, 32, 6, box=problem.box, key=k_model), key=k_train, config=config,
            run=RunOptions(progress=ctx.progress, eval_every=max(steps // 10, 1)), sampler=sampler,
        )  # fmt: skip
        state = res.fit.state
        if state is None:
            n_final = s["n_collocation"]
        elif "weights" in state:  # a grown set: its rows in use
            n_final = int(np.sum(np.asarray(state["weights"]) > 0))
        else:
            n_final = int(state["points"].shape[0])
        per_step = res.seconds_per_step * steps / s["steps"]  # per solution step (DAS's flow steps included)
        rows.append((res.final_error, res.final_mse, res.residual_cv, per_step, n_final))
        if i == 0 and problem.ndim == 2 and ctx.plotting:
            pts = None if state is None else np.asarray(state["points"])
            if state is not None and "weights" in state:  # a grown set: its rows in use
                pts = pts[np.asarray(state["weights"]) > 0]
            fig = plot_points(problem, res.model, pts, title=f"{problem_name}, {sampler_name}")
            ctx.save_figure(fig, f"sampling_{problem_name}_{sampler_name}")
    a = np.asarray(rows, dtype=float)
    return {
        "rel_l2_mean": float(a[:, 0].mean()),
        "rel_l2_std": float(a[:, 0].std(ddof=1)) if len(a) > 1 else float("nan"),
        "mse_mean": float(a[:, 1].mean()),
        "mse_std": float(a[:, 1].std(ddof=1)) if len(a) > 1 else float("nan"),
        "residual_cv_mean": float(a[:, 2].mean()),
        "s_per_solution_step": float(a[:, 3].mean()),
        "solution_steps": s["steps"],
        "n_points_final": int(a[0, 4]),
        "seeds": s["seeds"],
        "rel_l2_per_seed": [float(v) for v in a[:, 0]],
        "device": str(jax.devices()[0]),
    }


def cases(quick: bool) -> list[Case]:
    return [
        Case(f"sampling/{p}/{m}", lambda ctx, p=p, m=m: run_case(ctx, p, m))
        for p in PROBLEMS
        for m in SAMPLERS
    ]
