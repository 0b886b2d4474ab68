"""Suite `pinn`: Physics-Informed Gaussians against the MLP-PINN on the PIG benchmark problems, same steps;
and the adaptive samplers on the DAS/AAS problems (cases `sampling/...`, see `_pinn_sampling`).

Paper preset: each problem at the reference code's sizes and PIG settings ([`scimlx.pinn.PAPER_SETTINGS`][]:
Gaussians, scales, learning rates, 50k-100k Adam steps, points resampled every 100 steps, Helmholtz every
step); the MLP-PINN (4 x 128 tanh, Adam 1e-3 with the same decay) runs the same
number of steps on the same points.

`--quick` keeps the protocol (same problems, losses, weights, optimiser and schedules) and shrinks it to CPU
scale: fewer Gaussians, fewer collocation points, smaller test grids and 1,000-2,000 steps, the MLP at 4 x 64.
Each case reports the final test relative L2, the best seen at the evaluations (test-set selection, as the
reference scripts report it), the steps and seconds per step; and draws `<problem>_<model>_training.png` (the
loss and its terms, the test error at the evaluations) and `<problem>_<model>_solution.png` (model, exact or
reference solution and error over the domain; a (2+1)-D problem at its final time).
"""

from __future__ import annotations

from typing import Any

from ._registry import Case, RunContext, Suite

# relative L2 of Table 1 of the PIG paper (mean over seeds; PINN figures are quoted there from other papers)
PAPER_PIG = {
    "helmholtz_2d": 4.13e-5,
    "klein_gordon_2p1d": 2.76e-3,
    "flow_mixing_2p1d": 4.51e-4,
    "nonlinear_diffusion_2p1d": 2.69e-3,
    "allen_cahn_1d": 1.04e-4,
}
PAPER_PINN = {"helmholtz_2d": 4.02e-1, "klein_gordon_2p1d": 3.43e-2, "nonlinear_diffusion_2p1d": 9.50e-3}

PINN_PAPER = {"width": 128, "depth": 4, "learning_rate": 1e-3}
PINN_QUICK = {"width": 64, "depth": 4, "learning_rate": 1e-3}

# CPU scale: the Gaussians per channel, collocation points and steps; the rest of the paper settings is kept
QUICK = {
    "helmholtz_2d": {"n_gaussians": 100, "n_collocation": 1024, "steps": 2000},
    "klein_gordon_2p1d": {"n_gaussians": 100, "n_collocation": 1024, "steps": 2000},
    "flow_mixing_2p1d": {"n_gaussians": 200, "n_collocation": 1024, "steps": 1500},
    "nonlinear_diffusion_2p1d": {"n_gaussians": 200, "n_collocation": 1024, "steps": 1500},
    "allen_cahn_1d": {"n_gaussians": 100, "n_collocation": 1024, "steps": 2000},
}


def train_case(ctx: RunContext, problem_name: str, model_name: str) -> dict[str, Any]:
    """Train PIG or the MLP-PINN on one problem with the suite's protocol and report its figures."""
    import jax

    from scimlx.pinn import PAPER_SETTINGS, PIG, PINN, PINNConfig, get_problem, train_pinn
    from scimlx.train import RunOptions, count_params

    problem = get_problem(problem_name, preset="quick" if ctx.quick else "paper")
    settings = PAPER_SETTINGS[problem_name]
    train = dict(settings["train"])
    pig_cfg = dict(settings["pig"])
    quick = QUICK[problem_name] if ctx.quick else {}
    if quick:
        pig_cfg["n_gaussians"] = quick["n_gaussians"]
        train["steps"] = quick["steps"]
        train["n_collocation"] = quick["n_collocation"]
        if "learning_rate" in quick:
            train["learning_rate"] = quick["learning_rate"]
    k_model, k_train = jax.random.split(jax.random.key(ctx.seed))
    if model_name == "pig":
        model = PIG(problem.ndim, box=problem.box, key=k_model, **pig_cfg)
    else:
        cfg = PINN_QUICK if ctx.quick else PINN_PAPER
        model = PINN(problem.ndim, cfg["width"], cfg["depth"], box=problem.box, key=k_model)
        train["learning_rate"] = cfg["learning_rate"]
    steps = train["steps"]
    res = train_pinn(
        problem, model, key=k_train, config=PINNConfig(**train),
        run=RunOptions(progress=ctx.progress, eval_every=max(steps // 20, 1)),
        chunk_size=None if ctx.quick else 4096,
    )  # fmt: skip
    paper = (PAPER_PIG if model_name == "pig" else PAPER_PINN).get(problem_name)
    if ctx.plotting:
        _figures(ctx, f"{problem_name}/{model_name}", problem, res, paper)
    return {
        "final_rel_l2": res.final_error,
        "best_rel_l2_test_selected": res.best_error,
        "best_step": res.best_step,
        "paper_rel_l2": paper,
        "steps": steps,
        "s_per_step": res.seconds_per_step,
        "params": count_params(res.model),
        "n_collocation": train.get("n_collocation", problem.n_collocation),
        "n_gaussians_per_channel": pig_cfg["n_gaussians"] if model_name == "pig" else None,
        "device": str(jax.devices()[0]),
    }


def _figures(ctx: RunContext, case: str, problem, res, paper: float | None) -> None:
    """Draw the training curves (the loss and its terms, the test error at the evaluations) and the trained
    model against the exact or reference solution over the domain."""
    import matplotlib.pyplot as plt
    import numpy as np

    from scimlx.pinn import plot_solution

    from ._plots import loss_curve

    tag = case.replace("/", "_")
    history = res.fit.history
    steps = len(history["loss"])
    block = max(steps // 40, 1)
    fig, (ax_loss, ax_err) = plt.subplots(1, 2, figsize=(11, 3.9))
    for name, values in history["aux"].items():  # the loss's terms (not diagnostics such as causal weights)
        index, _, kind = name.partition(":")
        if kind or name == "residual":
            label = f"condition {index} ({kind})" if kind else name
            loss_curve(ax_loss, values, block=block, label=f"{label} term, unweighted", ls="--")
    loss_curve(
        ax_loss, history["loss"], block=block, label=f"loss, weighted sum (means of {block} steps)", color="k"
    )
    ax_loss.set(xlabel="step", ylabel="loss (mean squares)", title=f"{case}: training loss")
    errors = np.asarray(res.errors)
    ax_err.semilogy(errors[:, 0], errors[:, 1], "o-", ms=3, label="test rel. L2")
    ax_err.semilogy([res.best_step], [res.best_error], "*", ms=10, label=f"best {res.best_error:.2e}")
    if paper is not None:
        ax_err.axhline(paper, color="0.4", ls=":", label=f"paper {paper:.2e} (paper scale)")
    ax_err.set(xlabel="step", ylabel="relative L2 error", title=f"{case}: test error")
    for ax in (ax_loss, ax_err):
        ax.grid(True, which="both", alpha=0.25)
        ax.legend(fontsize=7)
    fig.tight_layout()
    ctx.save_figure(fig, f"{tag}_training")

    fig = plot_solution(problem, res.model)
    fig.suptitle(f"{case}: {problem.description}", fontsize=10)
    ctx.save_figure(fig, f"{tag}_solution")


def _cases(quick: bool) -> list[Case]:
    from scimlx.pinn import PAPER_SETTINGS

    from ._pinn_sampling import cases as sampling_cases

    pig = [
        Case(f"{p}/{m}", lambda ctx, p=p, m=m: train_case(ctx, p, m))
        for p in PAPER_SETTINGS
        for m in ("pig", "pinn")
    ]
    return pig + sampling_cases(quick)


SUITE = Suite(
    name="pinn",
    description="PIG vs MLP-PINN on the PIG problems; AAS vs uniform, RAR, RAD, DAS on the peak problems",
    cases=_cases,
)
