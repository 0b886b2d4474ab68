"""The suites' figures: the shared figure parts, and that a case draws its PNGs only when figures are on."""

import numpy as np
import pytest

from scimlx.bench import RunContext


def _ctx(tmp_path, plots=True):
    return RunContext(quick=True, seed=0, out_dir=tmp_path, progress=False, plots=plots)


def test_operator_training_figure_normalises_the_loss_per_sample(tmp_path):
    from scimlx.bench._plots import operator_training_figure

    # 10 samples in batches of 4: steps of 4, 4 and 2 samples; a summed loss of 1 per sample
    history = {"loss": np.tile([4.0, 4.0, 2.0], 3), "aux": {"term": np.tile([2.0, 2.0, 1.0], 3)}}
    fig = operator_training_figure(
        history, n_train=10, batch_size=4, reduction="sum", loss_name="relative L2 per sample",
        test={"test": 0.5, "missing": None}, title="toy", aux={"term": "a term", "absent": "not drawn"},
    )  # fmt: skip
    ax = fig.axes[0]
    bold = {line.get_label(): line for line in ax.get_lines() if not line.get_label().startswith("_")}
    assert set(bold) == {"training loss (epoch mean)", "a term", "test: 0.5"}
    np.testing.assert_allclose(bold["training loss (epoch mean)"].get_ydata(), 1.0)
    np.testing.assert_allclose(bold["training loss (epoch mean)"].get_xdata(), [1, 2, 3])
    np.testing.assert_allclose(bold["a term"].get_ydata(), 0.5)
    assert ax.get_yscale() == "log" and ax.get_xlabel() == "epoch"
    assert _ctx(tmp_path).save_figure(fig, "toy_training") == "toy_training.png"
    assert (tmp_path / "toy_training.png").stat().st_size > 0


def test_field_row_shares_the_colour_scale_and_refuses_other_shapes():
    import matplotlib.pyplot as plt

    from scimlx.bench._plots import field_row

    truth = np.outer(np.linspace(-1, 1, 8), np.ones(5))
    fig, axes = plt.subplots(1, 4)
    field_row(axes, truth, 0.5 * truth, label="s", inp=np.ones((8, 5)), extent=(0, 1, 0, 1))
    images = [ax.get_images()[0] for ax in axes]
    assert images[1].get_clim() == images[2].get_clim() == (-1.0, 1.0)  # signed: centred on zero
    assert images[3].get_array().max() == pytest.approx(0.5)
    assert axes[3].get_title() == "s: |error| (rel. L2 5.00e-01)"
    with pytest.raises(ValueError, match="2-D"):
        field_row(axes, np.ones(3), np.ones(3))
    plt.close(fig)


def test_solver_residual_figures_gather_the_methods_of_a_size(tmp_path):
    from scimlx.bench import _solvers

    ctx = _ctx(tmp_path)
    _solvers._residual_figure(ctx, 8, "cg", [1.0, 0.1, 1e-3, 1e-5, np.nan], 100)
    _solvers._residual_figure(ctx, 8, "multigrid_pcg", [1.0, 1e-5], 100)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == [
        "N8_cg_residuals.png",
        "N8_multigrid_pcg_residuals.png",
    ]
    assert _solvers._HISTORIES[(str(tmp_path), True, 0, 8)].keys() == {"cg", "multigrid_pcg"}


@pytest.mark.slow
def test_cases_draw_their_figures_only_when_asked(tmp_path):
    """A shortened smoke case and a data recipe's samples: PNGs with plots on, none with `plots=False`."""
    from scimlx.bench._datasets import throughput
    from scimlx.bench._smoke import poisson_pinn

    short = {"adam_steps": 8, "lbfgs_steps": 2, "eval_grid": 11, "n_interior": 64, "n_boundary": 16}
    on, off = tmp_path / "on", tmp_path / "off"
    on.mkdir()
    off.mkdir()
    drawn, plain = poisson_pinn(_ctx(on), **short), poisson_pinn(_ctx(off, plots=False), **short)
    assert drawn["rel_l2"] == plain["rel_l2"] and drawn["final_loss"] == plain["final_loss"]  # figures only
    throughput("burgers_1d", 2, ctx=_ctx(on))
    throughput("burgers_1d", 2, ctx=_ctx(off, plots=False))
    assert sorted(p.name for p in on.glob("*.png")) == [
        "poisson2d_mlp_pinn_training.png",
        "throughput_burgers_1d.png",
    ]
    assert not list(off.glob("*.png"))
