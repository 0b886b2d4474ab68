"""The training recipes of the operator papers (LSM, FNO), on top of `scimlx.train.fit`.

- Steady tasks (Darcy): point-wise Gaussian normalisation of inputs and targets fitted on the training set
  (FNO's `UnitGaussianNormalizer`); the model predicts the normalised target, decoded before the loss.
- Autoregressive tasks (Navier-Stokes 10 -> 10): the input holds `t_in` frames as channels; the model predicts
  the next frame, which is appended while the oldest is dropped; the loss is the sum over the `t_out` steps of
  the per-step relative L2, with full backpropagation through the rollout.
- The loss is the relative L2 error per sample, `||y_hat - y||_2 / ||y||_2` over all channels and points,
  **summed** over the batch (the reference codes' `LpLoss(size_average=False)`); Adam with coupled L2 weight
  decay 1e-4 (PyTorch's `Adam(weight_decay=...)`, [`scimlx.train.adam_l2`][]), learning rate 5e-4 halved every
  100 epochs (`StepLR`), batch 20, 500 epochs.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any, Literal

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray

from scimlx.core.validate import check_bool, check_choice, check_int, check_key, check_number
from scimlx.train import (
    GradientStep,
    Recipe,
    RunOptions,
    adam_l2,
    fit,
    one_cycle,
    one_cycle_momentum,
    step_decay,
    switch_at,
)

from ._cape import CAPE, curriculum_t_ar
from ._common import apply_batch, is_conditioned, vmap_batch

__all__ = [
    "OperatorConfig",
    "OperatorTrainResult",
    "UnitGaussianNormalizer",
    "evaluate_operator",
    "relative_h1",
    "curriculum_rollout",
    "relative_l2",
    "rollout",
    "train_operator",
]


def relative_l2(pred: Float[Array, "b ..."], target: Float[Array, "b ..."]) -> Float[Array, " b"]:
    """The relative L2 error `||pred - target||_2 / ||target||_2` of each sample (all channels, points)."""
    b = pred.shape[0]
    diff = jnp.linalg.norm((pred - target).reshape(b, -1), axis=1)
    return diff / jnp.linalg.norm(target.reshape(b, -1), axis=1)


def relative_h1(
    pred: Float[Array, "b c *spatial"],  # noqa: F821
    target: Float[Array, "b c *spatial"],  # noqa: F821
    *,
    truncation: int | None = 20,
) -> Float[Array, " b"]:
    """The relative Fourier H1 error of each sample, MgNO's training loss (its `HsLoss(k=1)`).

    `||w (F pred - F target)||_2 / ||w F target||_2`, with `F` the discrete Fourier transform over the spatial
    axes (every channel, all channels in one norm) and `w = sqrt(1 + sum_i k_i^2)` at the integer wavenumbers
    `k_i` of each axis. As in the reference, a wavenumber component with `|k_i| >= truncation` counts as 0
    (those modes get weight 1, the L2 weight); `truncation=None` keeps them all. The wavenumbers are NumPy's
    `fftfreq`; on an odd axis the reference lists `|k| = (n+1)/2` where `fftfreq` has `(n-1)/2` for one
    mode, which changes nothing when `(n+1)/2 >= truncation` (MgNO's 211 x 211 grid at 20).
    """
    if pred.shape != target.shape or pred.ndim < 3:
        raise ValueError(
            f"`pred` and `target` must have the same shape (batch, channels, *spatial), got {pred.shape} and "
            f"{target.shape}"
        )
    spatial = pred.shape[2:]
    k2 = np.zeros(spatial)
    for axis, n in enumerate(spatial):
        k = np.abs(np.fft.fftfreq(n, d=1.0 / n))
        if truncation is not None:
            k = np.where(k < truncation, k, 0.0)
        shape = [1] * len(spatial)
        shape[axis] = n
        k2 = k2 + (k**2).reshape(shape)
    weight = jnp.asarray(np.sqrt(1.0 + k2), pred.dtype)
    axes = tuple(range(2, pred.ndim))
    b = pred.shape[0]
    diff = jnp.fft.fftn(pred - target, axes=axes) * weight
    ref = jnp.fft.fftn(target, axes=axes) * weight
    return jnp.linalg.norm(diff.reshape(b, -1), axis=1) / jnp.linalg.norm(ref.reshape(b, -1), axis=1)


class UnitGaussianNormalizer(eqx.Module):
    """Point-wise Gaussian normalisation `(x - mean) / (std + eps)` with statistics over the training samples.

    **Arguments:**

    - `mean`, `std`: per-point statistics (the shape of one sample).
    - `eps`: added to `std` (FNO and LSM: 1e-5).
    """

    mean: Array
    std: Array
    eps: float = eqx.field(static=True, default=1e-5)

    @classmethod
    def fit(cls, x: Float[Array, "n ..."], eps: float = 1e-5) -> UnitGaussianNormalizer:
        """The statistics of `x` over its first (sample) axis; `std` is unbiased, as `torch.std`."""
        x = jnp.asarray(x)
        if x.shape[0] < 2:
            raise ValueError(f"`x` needs at least 2 samples to fit a normaliser, got {x.shape[0]}")
        return cls(jnp.mean(x, axis=0), jnp.std(x, axis=0, ddof=1), eps)

    def encode(self, x: Array) -> Array:
        return (x - self.mean) / (self.std + self.eps)

    def decode(self, x: Array) -> Array:
        return x * (self.std + self.eps) + self.mean


class _Identity(eqx.Module):
    def encode(self, x):
        return x

    def decode(self, x):
        return x


@dataclasses.dataclass(frozen=True)
class OperatorConfig(Recipe):
    """The operators' training recipe (defaults: the LSM/FNO reference recipe; `.mgno()`: MgNO's).

    **Arguments:**

    - `epochs`: passes over the training set (500); a run's `epochs` or `steps` overrides it.
    - `batch_size`: samples per step (20); a run's `batch_size` overrides it.
    - `learning_rate`: the initial Adam learning rate (5e-4); the peak rate of a one-cycle schedule.
    - `weight_decay`: the coupled L2 coefficient (1e-4).
    - `schedule`: `"step"` (PyTorch's `StepLR`: the rate times `gamma` every `step_size` epochs) or
        `"one_cycle"` (PyTorch's `OneCycleLR` stepped once per epoch, cosine annealing, Adam's `b1` cycled
        between 0.95 and 0.85 against the rate: [`scimlx.train.one_cycle`][] and
        [`scimlx.train.one_cycle_momentum`][]).
    - `step_size`, `gamma`: the step schedule's period in epochs and factor (100, 0.5).
    - `pct_start`, `div_factor`, `final_div_factor`: the one-cycle schedule's rising fraction and the ratios
        of the peak to the initial rate and of the initial to the final rate (MgNO: 0.2, 2, 100).
    - `loss`: the training loss of steady tasks, summed over the batch: `"l2"` (relative L2) or `"h1"` (the
        relative Fourier H1 norm, [`scimlx.operators.relative_h1`][]). Autoregressive tasks use relative L2.
    - `normalize`: `"gaussian"` (point-wise, steady tasks in the references) or `None`.
    - `reduction`: how the per-sample losses of a batch combine, `"sum"` (LSM, FNO, MgNO) or `"mean"` (CAPE).
    - `input_noise`: the standard deviation of Gaussian noise added to every input window of a training
        rollout (CAPE: 1e-3); 0 for none.
    - `curriculum`: CAPE's curriculum from teacher forcing to autoregressive training
        ([`scimlx.operators.curriculum_t_ar`][]); without it every step feeds its prediction back.
    - `warmup_epochs`: epochs at the start that train only a CAPE model's module on its auxiliary loss, with
        an Adam of its own (the base held); the main optimiser starts after them and its step schedule is
        counted from the epoch after (as the reference steps `StepLR` only for `epoch > warmup`).
    - `aux_weight`: the weight of a CAPE model's auxiliary loss (the relative L2 of its module's guess of the
        next state) in the training loss (5.7e-5 in 1-D, 8.34e-5 in 2-D).
    """

    epochs: int = 500
    batch_size: int = 20
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    schedule: Literal["step", "one_cycle"] = "step"
    step_size: int = 100
    gamma: float = 0.5
    pct_start: float = 0.2
    div_factor: float = 2.0
    final_div_factor: float = 100.0
    loss: Literal["l2", "h1"] = "l2"
    normalize: Literal["gaussian"] | None = "gaussian"
    reduction: Literal["sum", "mean"] = "sum"
    input_noise: float = 0.0
    curriculum: bool = False
    warmup_epochs: int = 0
    aux_weight: float = 0.0

    def __post_init__(self):
        check_int("epochs", self.epochs)
        check_int("batch_size", self.batch_size)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("weight_decay", self.weight_decay, low=0)
        check_choice("schedule", self.schedule, ("step", "one_cycle"))
        check_int("step_size", self.step_size)
        check_number("gamma", self.gamma, low=0, high=1, low_open=True)
        check_number("pct_start", self.pct_start, low=0, high=1, low_open=True, high_open=True)
        check_number("div_factor", self.div_factor, low=0, low_open=True)
        check_number("final_div_factor", self.final_div_factor, low=0, low_open=True)
        check_choice("loss", self.loss, ("l2", "h1"))
        check_choice("normalize", self.normalize, ("gaussian", None))
        check_choice("reduction", self.reduction, ("sum", "mean"))
        check_number("input_noise", self.input_noise, low=0)
        check_bool("curriculum", self.curriculum)
        check_int("warmup_epochs", self.warmup_epochs, low=0)
        check_number("aux_weight", self.aux_weight, low=0)
        if self.warmup_epochs >= self.epochs:
            raise ValueError(f"`warmup_epochs` ({self.warmup_epochs}) must be below `epochs` ({self.epochs})")

    @classmethod
    def mgno(cls, task: Literal["darcy", "navier_stokes"] = "darcy", **overrides) -> OperatorConfig:
        """MgNO's recipe (`darcy.py`, `navier.py`): Adam with coupled L2 and a one-cycle schedule per epoch
        (peak 5e-4, `pct_start` 0.2, `final_div_factor` 100 for Darcy; peak 1e-3, 0.1, 50 and weight decay
        1e-5 for Navier-Stokes), batch 8, 500 epochs, the relative H1 loss for Darcy and relative L2 for
        Navier-Stokes (no normalisation). `overrides` replace any field."""
        check_choice("task", task, ("darcy", "navier_stokes"))
        common = dict(epochs=500, batch_size=8, schedule="one_cycle", div_factor=2.0)
        if task == "darcy":
            preset = dict(
                learning_rate=5e-4, weight_decay=1e-4, pct_start=0.2, final_div_factor=100.0, loss="h1"
            )
        else:
            preset = dict(
                learning_rate=1e-3,
                weight_decay=1e-5,
                pct_start=0.1,
                final_div_factor=50.0,
                loss="l2",
                normalize=None,
            )
        return cls(**{**common, **preset, **overrides})

    @classmethod
    def cape(cls, ndim: int = 1, **overrides) -> OperatorConfig:
        """CAPE's recipe (`fno/train.py` with `config_PrmEmbd_*.yaml`): Adam with coupled L2 1e-4 at 3e-3,
        halved every 20 epochs after the warm-up, 100 epochs, batch 50, the batch mean of the per-step
        relative L2 summed over the rollout, input noise 1e-3, the curriculum, 3 warm-up epochs and an
        auxiliary weight of 5.7e-5 (1-D) or 8.34e-5 (2-D), no normalisation. For the baseline without CAPE
        module, pass `warmup_epochs=0, aux_weight=0.0` (the reference's baseline also starts its curriculum 3
        epochs late while training everything; here it starts at epoch 0). The reference's optional gradient
        penalty on the output's derivative in the parameters (1-D) is not part of this recipe. `overrides`
        replace any field."""
        ndim = check_choice("ndim", ndim, (1, 2))
        preset = dict(
            epochs=100, batch_size=50, learning_rate=3e-3, weight_decay=1e-4, schedule="step", step_size=20,
            gamma=0.5, loss="l2", normalize=None, reduction="mean", input_noise=1e-3, curriculum=True,
            warmup_epochs=3, aux_weight=5.7e-5 if ndim == 1 else 8.34e-5,
        )  # fmt: skip
        return cls(**{**preset, **overrides})

    def run_defaults(self) -> dict:
        return {"epochs": self.epochs, "batch_size": self.batch_size}

    def optimizer(self, steps_per_epoch: int, epochs: int | None = None):
        """Adam with coupled L2 decay under the recipe's schedule; a one-cycle schedule spans `epochs` (the
        run's, default the recipe's)."""
        if self.schedule == "step":
            lr = step_decay(
                self.learning_rate, self.step_size, self.gamma, steps_per_epoch=steps_per_epoch,
                delay_epochs=1 if self.warmup_epochs else 0,
            )  # fmt: skip
            return adam_l2(lr, self.weight_decay)
        epochs = self.epochs if epochs is None else epochs
        cycle = dict(pct_start=self.pct_start, steps_per_epoch=steps_per_epoch)
        lr = one_cycle(
            epochs,
            self.learning_rate,
            div_factor=self.div_factor,
            final_div_factor=self.final_div_factor,
            **cycle,
        )
        return adam_l2(lr, self.weight_decay, b1=one_cycle_momentum(epochs, **cycle))

    def warmup_optimizer(self, main, steps_per_epoch: int):
        """`main` preceded by the warm-up: for `warmup_epochs` epochs only the parameters labelled `"cape"`
        move, with an Adam of their own at the initial rate; then `main` (fresh) moves every parameter. An
        `optax.multi_transform` over the labels `"cape"` and `"base"` (see `cape_labels`)."""
        boundary = self.warmup_epochs * steps_per_epoch
        return optax.multi_transform(
            {
                "cape": switch_at(boundary, adam_l2(self.learning_rate, self.weight_decay), main),
                "base": switch_at(boundary, optax.set_to_zero(), main),
            },
            cape_labels,
        )


def cape_labels(params):
    """`"cape"` on the arrays of a CAPE model's module, `"base"` on every other array (the labels of the
    warm-up's `optax.multi_transform`)."""
    labels = jax.tree.map(lambda _: "base", params)
    return eqx.tree_at(lambda m: m.cape, labels, replace_fn=lambda sub: jax.tree.map(lambda _: "cape", sub))


@dataclasses.dataclass(frozen=True)
class OperatorTrainResult:
    """A trained operator: the model and its state, the normalisers, the history and the timings."""

    model: eqx.Module
    state: Any
    x_normalizer: Any
    y_normalizer: Any
    history: dict
    seconds_per_epoch: float
    compile_seconds: float


def rollout(
    model: eqx.Module,
    state: Any,
    x: Float[Array, "b t_in *spatial"],  # noqa: F821
    n_steps: int,
    *,
    pde_params: Float[Array, "b p"] | None = None,  # noqa: F821
    inference: bool = False,
) -> tuple[Float[Array, "b n_steps *spatial"], Any]:  # noqa: F821
    """Autoregressive rollout: predict one frame from the last `t_in`, append it, slide the window.

    **Arguments:**

    - `model`, `state`: an operator mapping `t_in` channels to 1 (and its state).
    - `x`: the initial window, `(B, t_in, *spatial)`.
    - `n_steps`: the number of predicted frames.
    - `pde_params`: the PDE parameters `(B, P)` of a parameter-conditioned operator (CAPE).
    - `inference`: BatchNorm in inference mode.

    **Returns:** the predicted frames `(B, n_steps, *spatial)` and the final state.
    """

    def step(carry, _):
        window, st = carry
        frame, st = apply_batch(model, st, window, pde_params=pde_params, inference=inference)
        if frame.shape[1] != 1:
            raise ValueError(f"an autoregressive operator must output 1 channel, got {frame.shape[1]}")
        return (jnp.concatenate([window[:, 1:], frame], axis=1), st), frame[:, 0]

    (_, state), frames = jax.lax.scan(step, (x, state), None, length=n_steps)
    return jnp.moveaxis(frames, 0, 1), state


def curriculum_rollout(
    model: eqx.Module,
    state: Any,
    x: Float[Array, "b t_in *spatial"],  # noqa: F821
    y: Float[Array, "b t_out *spatial"],  # noqa: F821
    t_ar,
    *,
    pde_params: Float[Array, "b p"] | None = None,  # noqa: F821
    input_noise: float = 0.0,
    key: PRNGKeyArray | None = None,
) -> tuple[Array, Array | None, Any]:
    """A training rollout between teacher forcing and autoregression (CAPE's curriculum).

    Step `j` (the frame `t = t_in + j`) predicts from the current window, to which Gaussian noise of standard
    deviation `input_noise` is added; the next window appends the prediction when `t < t_ar` and the true
    frame `y[:, j]` otherwise. `t_ar = t_in` is pure teacher forcing (every input true), `t_ar = t_in + t_out`
    the plain autoregressive [`rollout`][scimlx.operators.rollout]. `t_ar` may be traced.

    **Arguments:**

    - `model`, `state`: an operator mapping `t_in` frames to 1 (a CAPE model: also its module's guess).
    - `x`: the first window `(B, t_in, *spatial)`; `y`: the true next frames `(B, t_out, *spatial)`.
    - `t_ar`: the curriculum's switch ([`scimlx.operators.curriculum_t_ar`][]).
    - `pde_params`: `(B, P)` for a parameter-conditioned model.
    - `input_noise`, `key`: the noise's standard deviation and a PRNG key (needed when it is positive).

    **Returns:** the predictions `(B, t_out, *spatial)`, a CAPE model's guesses `(B, t_out, n_cape,
    *spatial)` (else `None`), and the new state.
    """
    input_noise = check_number("input_noise", input_noise, low=0)
    if input_noise > 0 and key is None:
        raise ValueError("`key` is required with `input_noise > 0`")
    if x.ndim < 3 or y.ndim != x.ndim or x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise ValueError(
            "`x` (B, t_in, *spatial) and `y` (B, t_out, *spatial) must agree in batch and grid, got "
            f"{x.shape} and {y.shape}"
        )
    t_in, t_out = x.shape[1], y.shape[1]
    cape = isinstance(model, CAPE)
    keys = jax.random.split(key, t_out) if input_noise > 0 else jnp.zeros((t_out,))

    def body(carry, inputs):
        window, st = carry
        j, target, k = inputs
        if input_noise > 0:
            window = window + input_noise * jax.random.normal(k, window.shape, window.dtype)
        if cape:
            call = lambda xi, s, kk, pi: model.with_guess(xi, s, pde_params=pi, key=kk)  # noqa: E731
            pred, guess, st = vmap_batch(call, st, window, None, pde_params)
        else:
            (pred, st), guess = apply_batch(model, st, window, pde_params=pde_params), None
        if pred.shape[1] != 1:
            raise ValueError(f"an autoregressive operator must output 1 channel, got {pred.shape[1]}")
        feed = jnp.where(t_in + j < t_ar, pred[:, 0], target)
        window = jnp.concatenate([window[:, 1:], feed[:, None]], axis=1)
        return (window, st), (pred[:, 0], guess)

    steps = (jnp.arange(t_out), jnp.moveaxis(y, 1, 0), keys)
    (_, state), (preds, guesses) = jax.lax.scan(body, (x, state), steps)
    return jnp.moveaxis(preds, 0, 1), None if guesses is None else jnp.moveaxis(guesses, 0, 1), state


def _check_pairs(x, y, name: str) -> tuple[np.ndarray, np.ndarray]:
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim < 3 or y.ndim != x.ndim:
        raise ValueError(
            f"`x_{name}` and `y_{name}` must be (n, C, *spatial) arrays, got {x.shape} and {y.shape}"
        )
    if x.shape[0] != y.shape[0] or x.shape[2:] != y.shape[2:]:
        raise ValueError(f"`x_{name}` {x.shape} and `y_{name}` {y.shape} disagree in samples or grid")
    return x, y


def _check_pde_params(model, p, n: int, name: str) -> np.ndarray | None:
    """`(n, P)` PDE parameters for a conditioned model (a vector is one parameter per sample), else `None`."""
    conditioned = is_conditioned(model)
    if p is None:
        if conditioned:
            raise ValueError(
                f"`{name}` is required: {type(model).__name__} is conditioned on the PDE parameters of each "
                "sample, shape (n, P)"
            )
        return None
    if not conditioned:
        raise ValueError(f"`{name}` given, but {type(model).__name__} is not conditioned on PDE parameters")
    p = np.asarray(p)
    if p.ndim == 1:
        p = p[:, None]
    if p.ndim != 2 or p.shape[0] != n:
        raise ValueError(f"`{name}` must have shape (n={n}, P) or (n,), got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError(f"`{name}` holds non-finite values")
    return p


def _check_rollout_recipe(model, config: OperatorConfig, task: str, x_train) -> None:
    """The options of `config` that only autoregressive tasks, or only CAPE models, can take."""
    rollout_only = {
        "input_noise": config.input_noise > 0,
        "curriculum": config.curriculum,
        "warmup_epochs": config.warmup_epochs > 0,
        "aux_weight": config.aux_weight > 0,
    }
    if task == "steady" and any(rollout_only.values()):
        used = [k for k, v in rollout_only.items() if v]
        raise ValueError(f"`config`: {', '.join(used)} apply to task='autoregressive' only")
    if not isinstance(model, CAPE):
        if config.warmup_epochs or config.aux_weight:
            raise ValueError(
                "`config`: warmup_epochs and aux_weight train a CAPE model's module; this model is a "
                f"{type(model).__name__} (for a baseline pass warmup_epochs=0, aux_weight=0.0)"
            )
    elif task == "autoregressive" and x_train.shape[1] != 1:
        raise ValueError(
            "a CAPE model rolls out one frame at a time: `x_train` must hold t_in=1 frame, got "
            f"{x_train.shape[1]}"
        )


def train_operator(
    model: eqx.Module,
    state: Any,
    x_train: Float[Array, "n c_in *spatial"],  # noqa: F821
    y_train: Float[Array, "n c_out *spatial"],  # noqa: F821
    *,
    key: PRNGKeyArray,
    task: Literal["steady", "autoregressive"] = "steady",
    config: OperatorConfig = OperatorConfig(),
    run: RunOptions = RunOptions(),
    x_test: Array | None = None,
    y_test: Array | None = None,
    pde_params_train: Array | None = None,
    pde_params_test: Array | None = None,
) -> OperatorTrainResult:
    """Train an operator with the reference recipe through [`scimlx.train.fit`][].

    **Arguments:**

    - `model`, `state`: the operator and its state (`eqx.nn.make_with_state(Operator)(...)`).
    - `x_train`, `y_train`: the training pairs `(n, C, *spatial)`; for `task="autoregressive"`, `x` holds the
        `t_in` input frames and `y` the `t_out` target frames as channels.
    - `key`: a PRNG key (keyword-only).
    - `task`: `"steady"` (one map `x -> y`) or `"autoregressive"` (one frame at a time, the per-step relative
        L2 summed over the `t_out` steps, full backpropagation through the rollout; with the recipe's
        `curriculum`, the steps past the curriculum's `t_ar` take the true frame as their next input, and
        `input_noise` perturbs every input window).
    - `config`: the recipe ([`scimlx.operators.OperatorConfig`][]); normalisation applies to steady
        tasks only, as in the references.
    - `run`: the [`scimlx.train.RunOptions`][]: `epochs` (or `steps`) and `batch_size` default to the
        recipe's; `eval_every` and `checkpoint_every` are in steps (default: a checkpoint every epoch with
        `checkpoint_dir`, an evaluation at the end); progress, resume, devices.
    - `x_test`, `y_test`: a test set, evaluated every `run.eval_every` steps and at the end (`test_rel_l2`;
        rollouts fully autoregressive).
    - `pde_params_train`, `pde_params_test`: the PDE parameters of each sample, `(n, P)` or `(n,)`, for a
        parameter-conditioned model ([`scimlx.operators.CAPE`][]); required by one, refused by others.

    A CAPE model trains as its reference (`OperatorConfig.cape()`): its loss adds `aux_weight` times the
    relative L2 of its module's guess of the next frame, summed over the steps whose target exists (as the
    reference, the last step's is left out); during `warmup_epochs` only the module trains, on that auxiliary
    loss alone. The reference re-adds a running sum of the auxiliary term at every step (later steps weigh
    more); here each step counts once.
    """
    key = check_key(key)
    check_choice("task", task, ("steady", "autoregressive"))
    if not isinstance(config, OperatorConfig):
        raise TypeError(f"`config` must be an OperatorConfig, got {type(config).__name__}")
    if not isinstance(run, RunOptions):
        raise TypeError(f"`run` must be a scimlx.train.RunOptions, got {type(run).__name__}")
    x_train, y_train = _check_pairs(x_train, y_train, "train")
    if (x_test is None) != (y_test is None):
        raise ValueError("pass both `x_test` and `y_test`, or neither")
    if x_test is not None:
        x_test, y_test = _check_pairs(x_test, y_test, "test")
    n = x_train.shape[0]
    p_train = _check_pde_params(model, pde_params_train, n, "pde_params_train")
    p_test = None
    if x_test is not None:
        p_test = _check_pde_params(model, pde_params_test, x_test.shape[0], "pde_params_test")
    elif pde_params_test is not None:
        raise ValueError("`pde_params_test` given without `x_test` and `y_test`")
    _check_rollout_recipe(model, config, task, x_train)
    run = run.with_defaults(**config.run_defaults())
    if run.batch_size > n:
        raise ValueError(f"`batch_size` ({run.batch_size}) exceeds the {n} training samples")
    steps_per_epoch = math.ceil(n / run.batch_size)
    if run.checkpoint_dir is not None:
        run = run.with_defaults(checkpoint_every=steps_per_epoch)
    total_steps = run.steps if run.steps is not None else run.epochs * steps_per_epoch
    epochs = math.ceil(total_steps / steps_per_epoch)
    if config.warmup_epochs >= epochs:
        raise ValueError(
            f"`config.warmup_epochs` ({config.warmup_epochs}) must be below the run's {epochs} epochs"
        )

    if task == "steady" and config.normalize == "gaussian":
        x_norm = UnitGaussianNormalizer.fit(x_train)
        y_norm = UnitGaussianNormalizer.fit(y_train)
    else:
        x_norm = y_norm = _Identity()
    reduce = jnp.sum if config.reduction == "sum" else jnp.mean

    def steady_loss(model, state, batch, *, key, step):
        x, y = batch
        pred, state = apply_batch(model, state, x_norm.encode(x))
        per_sample = relative_h1 if config.loss == "h1" else relative_l2
        return reduce(per_sample(y_norm.decode(pred), y)), (state, {})

    def rollout_loss(model, state, batch, *, key, step):
        x, y, p = batch if p_train is not None else (*batch, None)
        t_in, t_out = x.shape[1], y.shape[1]
        epoch = step // steps_per_epoch
        if config.curriculum:
            t_ar = curriculum_t_ar(epoch, epochs=epochs, warmup=config.warmup_epochs, t_train=t_in + t_out)
        else:
            t_ar = t_in + t_out  # every step feeds its prediction back
        cape = isinstance(model, CAPE)
        noise_key = key if config.input_noise > 0 else None
        preds, guesses, state = curriculum_rollout(
            model, state, x, y, t_ar, pde_params=p, input_noise=config.input_noise, key=noise_key
        )
        frames = jnp.moveaxis(y, 1, 0)  # (t_out, B, *spatial)
        preds, guesses = jnp.moveaxis(preds, 1, 0), None if guesses is None else jnp.moveaxis(guesses, 1, 0)
        per_step = jax.vmap(relative_l2)(preds[:, :, None], frames[:, :, None])  # (t_out, B)
        main = jnp.sum(reduce(per_step, axis=1))
        if not cape:
            return main, (state, {})
        n_cape = model.cape.n_cape
        ahead = jnp.concatenate([y, jnp.zeros_like(y[:, :n_cape])], axis=1)
        targets = jnp.stack(
            [ahead[:, k : k + t_out] for k in range(n_cape)], axis=2
        )  # (B, t_out, n_cape, ...)
        per_step_aux = jax.vmap(relative_l2)(guesses, jnp.moveaxis(targets, 1, 0))  # (t_out, B)
        valid = jnp.arange(t_out) < t_out - n_cape  # as the reference: t < t_train - n_cape
        aux = jnp.sum(jnp.where(valid, reduce(per_step_aux, axis=1), 0.0))
        loss = jnp.where(epoch < config.warmup_epochs, aux, main + config.aux_weight * aux)
        return loss, (state, {"rollout_l2": main, "cape_l2": aux})

    loss_fn = steady_loss if task == "steady" else rollout_loss
    if state is None:  # a stateless operator: `fit`'s stateless loss signature
        stateful_loss = loss_fn

        def loss_fn(model, batch, *, key, step):
            loss, (_, aux) = stateful_loss(model, None, batch, key=key, step=step)
            return loss, aux

    optimizer = config.optimizer(steps_per_epoch, epochs=epochs)
    if config.warmup_epochs:
        optimizer = config.warmup_optimizer(optimizer, steps_per_epoch)
    train_step = GradientStep(loss_fn, optimizer, has_aux=True, stateful=state is not None, with_step=True)

    def eval_fn(model, state=None):
        if x_test is None:
            return {}
        return {
            "test_rel_l2": evaluate_operator(
                model, state, x_test, y_test, task=task, x_normalizer=x_norm, y_normalizer=y_norm,
                pde_params=p_test,
            )
        }  # fmt: skip

    data = (jnp.asarray(x_train), jnp.asarray(y_train))
    if p_train is not None:
        data = (*data, jnp.asarray(p_train, x_train.dtype))
    t0 = time.perf_counter()
    result = fit(
        model,
        train_step,
        data,
        key=key,
        run=run,
        state=state,
        eval_fn=eval_fn,
        config={"task": task, **config.as_config()},
    )
    total = time.perf_counter() - t0
    # seconds per epoch from the step clock, excluding the first epoch (which includes compilation)
    times = np.asarray(result.history["time"])
    n_epochs = len(times) / steps_per_epoch
    if n_epochs > 1 and len(times) > steps_per_epoch:
        per_epoch = float(times[-1] - times[steps_per_epoch - 1]) / (n_epochs - 1)
        compile_s = max(float(times[steps_per_epoch - 1]) - per_epoch, 0.0)
    else:
        per_epoch, compile_s = total / max(n_epochs, 1e-12), float("nan")
    return OperatorTrainResult(
        model=result.model,
        state=result.state,
        x_normalizer=x_norm,
        y_normalizer=y_norm,
        history=result.history,
        seconds_per_epoch=per_epoch,
        compile_seconds=compile_s,
    )


def evaluate_operator(
    model: eqx.Module,
    state: Any,
    x: Float[Array, "n c_in *spatial"],  # noqa: F821
    y: Float[Array, "n c_out *spatial"],  # noqa: F821
    *,
    task: Literal["steady", "autoregressive"] = "steady",
    x_normalizer: Any = None,
    y_normalizer: Any = None,
    batch_size: int = 20,
    pde_params: Array | None = None,
) -> float:
    """The mean relative L2 error on `(x, y)` in inference mode (for rollouts: of the stacked prediction,
    fully autoregressive); `pde_params` `(n, P)` for a parameter-conditioned model."""
    x_norm = x_normalizer or _Identity()
    y_norm = y_normalizer or _Identity()
    x, y = _check_pairs(x, y, "test")
    batch_size = check_int("batch_size", batch_size)
    p = _check_pde_params(model, pde_params, x.shape[0], "pde_params")
    errors = []
    for i in range(0, x.shape[0], batch_size):
        part = slice(i, i + batch_size)
        pb = None if p is None else jnp.asarray(p[part], x.dtype)
        xb, yb = jnp.asarray(x[part]), jnp.asarray(y[part])
        errors.append(np.asarray(_batch_error(model, state, xb, yb, pb, x_norm, y_norm, task)))
    return float(np.mean(np.concatenate(errors)))


@eqx.filter_jit
def _batch_error(model, state, xb, yb, pb, x_norm, y_norm, task):
    """The per-sample relative L2 of one batch in inference mode (one compiled program per shape, shared by
    every evaluation of a run)."""
    if task == "steady":
        pred, _ = apply_batch(model, state, x_norm.encode(xb), pde_params=pb, inference=True)
        pred = y_norm.decode(pred)
    else:
        pred, _ = rollout(model, state, xb, yb.shape[1], pde_params=pb, inference=True)
    return relative_l2(pred, yb)
