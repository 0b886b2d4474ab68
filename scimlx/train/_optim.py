"""Optimisers and learning-rate schedules matching the PyTorch reference implementations."""

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
import optax
from jaxtyping import Array, ArrayLike, Float, Int

from scimlx.core.validate import check_int, check_number

Schedule = Callable[[Int[ArrayLike, ""]], Float[Array, ""]]


def _check_lr(name: str, value):
    if callable(value):
        return value
    return check_number(name, value, low=0.0)


def _adam_l2_chain(learning_rate, weight_decay, b1, b2, eps) -> optax.GradientTransformation:
    return optax.chain(
        optax.add_decayed_weights(weight_decay),
        optax.scale_by_adam(b1=b1, b2=b2, eps=eps),
        optax.scale_by_learning_rate(learning_rate),
    )


def adam_l2(
    learning_rate: float | Schedule,
    weight_decay: float = 0.0,
    *,
    b1: float | Schedule = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> optax.GradientTransformation:
    """Adam with coupled L2 regularisation, i.e. PyTorch's `Adam(weight_decay=...)`.

    The weight decay is added to the gradient *before* the Adam moment estimates
    (`g <- g + weight_decay * param`), unlike AdamW (`optax.adamw`), which decays the
    parameters after the Adam update.

    **Arguments:**

    - `learning_rate`: a non-negative float, or an optax schedule `step -> lr`.
    - `weight_decay`: the non-negative L2 coefficient.
    - `b1`, `b2`: the exponential decay rates of the moment estimates, in `[0, 1)`. `b1` may be a schedule
        `step -> b1` (e.g. [`scimlx.train.one_cycle_momentum`][]); it is then injected through
        `optax.inject_hyperparams`, and each step's bias correction `1 - b1**t` uses that step's `b1`, as
        PyTorch's Adam does when a scheduler changes `betas`.
    - `eps`: the non-negative term added to the denominator.

    **Returns:**

    An `optax.GradientTransformation`.
    """
    learning_rate = _check_lr("learning_rate", learning_rate)
    weight_decay = check_number("weight_decay", weight_decay, low=0.0)
    if not callable(b1):
        b1 = check_number("b1", b1, low=0.0, high=1.0, high_open=True)
    b2 = check_number("b2", b2, low=0.0, high=1.0, high_open=True)
    eps = check_number("eps", eps, low=0.0)
    if callable(b1):
        return optax.inject_hyperparams(_adam_l2_chain, static_args=("b2", "eps"))(
            learning_rate=learning_rate, weight_decay=weight_decay, b1=b1, b2=b2, eps=eps
        )
    return _adam_l2_chain(learning_rate, weight_decay, b1, b2, eps)


def step_decay(
    init_value: float, step_size: int, gamma: float, *, steps_per_epoch: int = 1, delay_epochs: int = 0
) -> Schedule:
    """Staircase exponential decay every `step_size` epochs: PyTorch's `StepLR`.

    `lr(step) = init_value * gamma ** floor(max(epoch - delay_epochs, 0) / step_size)` with
    `epoch = floor(step / steps_per_epoch)`.

    **Arguments:**

    - `init_value`: the initial (non-negative) learning rate.
    - `step_size`: the number of epochs between two decays (positive integer).
    - `gamma`: the multiplicative decay factor, in `(0, 1]`.
    - `steps_per_epoch`: the number of optimiser steps per epoch (for `fit` with array
        data, `ceil(n / batch_size)`).
    - `delay_epochs`: epochs at the start that the scheduler does not count (a `StepLR` stepped only after
        the first epochs, as CAPE's after its warm-up).

    **Returns:**

    An optax schedule `step -> lr`.
    """
    init_value = check_number("init_value", init_value, low=0.0)
    step_size = check_int("step_size", step_size)
    gamma = check_number("gamma", gamma, low=0.0, high=1.0, low_open=True)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch)
    delay_epochs = check_int("delay_epochs", delay_epochs, low=0)
    if delay_epochs:

        def schedule(step):
            counted = jnp.maximum(jnp.asarray(step) // steps_per_epoch - delay_epochs, 0)
            return init_value * gamma ** (counted // step_size).astype(jnp.float32)

        return schedule
    return optax.exponential_decay(
        init_value=init_value,
        transition_steps=step_size * steps_per_epoch,
        decay_rate=gamma,
        staircase=True,
    )


def exponential_decay(
    init_value: float,
    transition_steps: int,
    decay_rate: float,
    *,
    staircase: bool = False,
) -> Schedule:
    """Exponential decay `lr(step) = init_value * decay_rate ** (step / transition_steps)`.

    With `staircase=True` the exponent is rounded down to an integer.

    **Arguments:**

    - `init_value`: the initial (non-negative) learning rate.
    - `transition_steps`: the number of steps per factor `decay_rate` (positive integer).
    - `decay_rate`: the positive decay factor.
    - `staircase`: whether to decay in discrete jumps.

    **Returns:**

    An optax schedule `step -> lr`.
    """
    init_value = check_number("init_value", init_value, low=0.0)
    transition_steps = check_int("transition_steps", transition_steps)
    decay_rate = check_number("decay_rate", decay_rate, low=0.0, low_open=True)
    return optax.exponential_decay(
        init_value=init_value,
        transition_steps=transition_steps,
        decay_rate=decay_rate,
        staircase=bool(staircase),
    )


def one_cycle(
    total_steps: int,
    max_lr: float,
    *,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
    steps_per_epoch: int = 1,
) -> Schedule:
    """The one-cycle policy with cosine annealing: PyTorch's `OneCycleLR`.

    With `initial = max_lr / div_factor`, `final = initial / final_div_factor`,
    `e1 = pct_start * total_steps - 1` and `e2 = total_steps - 1`, the learning rate at
    scheduler step `t` is

    - `cos_anneal(initial, max_lr, t / e1)` for `t <= e1`,
    - `cos_anneal(max_lr, final, (t - e1) / (e2 - e1))` otherwise,

    where `cos_anneal(a, b, p) = b + (a - b) / 2 * (1 + cos(pi * p))`. Past `e2` the rate
    stays at `final`. The scheduler step is `t = floor(step / steps_per_epoch)`, so with
    `steps_per_epoch > 1` the schedule is a per-epoch staircase (as when PyTorch's
    scheduler is stepped once per epoch), and `total_steps` then counts epochs.

    Only the learning rate is scheduled here; PyTorch's `cycle_momentum` (which also cycles
    Adam's `beta1`) is [`scimlx.train.one_cycle_momentum`][], given to `adam_l2` as `b1`.

    **Arguments:**

    - `total_steps`: the number of scheduler steps in the cycle (positive integer).
    - `max_lr`: the peak (non-negative) learning rate.
    - `pct_start`: the fraction of the cycle spent increasing the rate, in `(0, 1)`.
    - `div_factor`: `initial = max_lr / div_factor` (positive).
    - `final_div_factor`: `final = initial / final_div_factor` (positive).
    - `steps_per_epoch`: optimiser steps per scheduler step.

    **Returns:**

    An optax schedule `step -> lr`.
    """
    total_steps = check_int("total_steps", total_steps)
    max_lr = check_number("max_lr", max_lr, low=0.0)
    pct_start = check_number("pct_start", pct_start, low=0.0, high=1.0, low_open=True, high_open=True)
    div_factor = check_number("div_factor", div_factor, low=0.0, low_open=True)
    final_div_factor = check_number("final_div_factor", final_div_factor, low=0.0, low_open=True)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch)

    initial_lr = max_lr / div_factor
    return _two_phase_cosine(
        total_steps, pct_start, steps_per_epoch, initial_lr, max_lr, initial_lr / final_div_factor
    )


def _two_phase_cosine(total_steps, pct_start, steps_per_epoch, start, middle, end) -> Schedule:
    """PyTorch's two-phase cosine `OneCycleLR` curve: `start -> middle` over scheduler steps `0 .. e1`, then
    `middle -> end` over `e1 .. e2`, with `e1 = pct_start * total_steps - 1`, `e2 = total_steps - 1` and the
    scheduler step `t = floor(step / steps_per_epoch)`."""
    end1 = pct_start * total_steps - 1.0
    end2 = total_steps - 1.0

    def _anneal(a, b, pct):
        # (1 + cos(pi p)) / 2 = cos(pi p / 2)^2, without cancellation near p = 1.
        pct = jnp.clip(pct, 0.0, 1.0)
        return b + (a - b) * jnp.cos(0.5 * jnp.pi * pct) ** 2

    def schedule(step):
        t = jnp.floor_divide(jnp.asarray(step), steps_per_epoch).astype(jnp.float32)
        if end1 > 0:
            warm = _anneal(start, middle, t / end1)
        else:  # empty first phase: torch only ever reaches the second one
            warm = jnp.asarray(middle, jnp.float32)
        if end2 > end1:
            cool = _anneal(middle, end, (t - end1) / (end2 - end1))
        else:
            cool = jnp.asarray(end, jnp.float32)
        return jnp.where(t <= end1, warm, cool)

    return schedule


def one_cycle_momentum(
    total_steps: int,
    *,
    pct_start: float = 0.3,
    base_momentum: float = 0.85,
    max_momentum: float = 0.95,
    steps_per_epoch: int = 1,
) -> Schedule:
    """The momentum half of PyTorch's `OneCycleLR(cycle_momentum=True)`: Adam's `b1` against the rate.

    With the phase ends `e1`, `e2` of [`scimlx.train.one_cycle`][], `b1` at scheduler step `t` is
    `cos_anneal(max_momentum, base_momentum, t / e1)` while the learning rate rises, then
    `cos_anneal(base_momentum, max_momentum, (t - e1) / (e2 - e1))`; it starts at `max_momentum`. Give it to
    [`scimlx.train.adam_l2`][] as `b1`, with the same `total_steps`, `pct_start` and `steps_per_epoch` as the
    learning-rate schedule.

    **Arguments:**

    - `total_steps`: scheduler steps in the cycle (positive integer).
    - `pct_start`: the fraction of the cycle in the first phase, in `(0, 1)`.
    - `base_momentum`, `max_momentum`: the lower and upper `b1`, `0 <= base <= max < 1` (PyTorch: 0.85, 0.95).
    - `steps_per_epoch`: optimiser steps per scheduler step.

    **Returns:**

    An optax schedule `step -> b1`.
    """
    total_steps = check_int("total_steps", total_steps)
    pct_start = check_number("pct_start", pct_start, low=0.0, high=1.0, low_open=True, high_open=True)
    max_momentum = check_number("max_momentum", max_momentum, low=0.0, high=1.0, high_open=True)
    base_momentum = check_number("base_momentum", base_momentum, low=0.0, high=max_momentum)
    steps_per_epoch = check_int("steps_per_epoch", steps_per_epoch)
    return _two_phase_cosine(
        total_steps, pct_start, steps_per_epoch, max_momentum, base_momentum, max_momentum
    )


def lbfgs(
    learning_rate: float | Schedule | None = None,
    memory_size: int = 10,
    *,
    scale_init_precond: bool = True,
    max_linesearch_steps: int = 20,
) -> optax.GradientTransformationExtraArgs:
    """L-BFGS with a zoom line search (strong Wolfe conditions), e.g. for PINNs.

    A thin validated wrapper of `optax.lbfgs`. Its `update` needs the objective:
    [`scimlx.train.fit`][] passes `value`, `grad` and `value_fn` automatically. Each
    `fit` step is one L-BFGS iteration (including its line search evaluations).

    **Arguments:**

    - `learning_rate`: `None` (the line search picks the step) or a fixed/scheduled
        scale applied before the line search.
    - `memory_size`: the number of past updates kept (positive integer).
    - `scale_init_precond`: whether to scale the initial inverse Hessian estimate.
    - `max_linesearch_steps`: the maximum number of line search evaluations per step.

    **Returns:**

    An `optax.GradientTransformationExtraArgs`.
    """
    if learning_rate is not None:
        learning_rate = _check_lr("learning_rate", learning_rate)
    memory_size = check_int("memory_size", memory_size)
    max_linesearch_steps = check_int("max_linesearch_steps", max_linesearch_steps)
    return optax.lbfgs(
        learning_rate=learning_rate,
        memory_size=memory_size,
        scale_init_precond=bool(scale_init_precond),
        linesearch=optax.scale_by_zoom_linesearch(
            max_linesearch_steps=max_linesearch_steps, initial_guess_strategy="one"
        ),
    )


class SwitchState(NamedTuple):
    """The state of [`scimlx.train.switch_at`][]: the update count and both optimisers' states."""

    count: Int[Array, ""]
    before: optax.OptState
    after: optax.OptState


def switch_at(
    boundary: int, before: optax.GradientTransformation, after: optax.GradientTransformation
) -> optax.GradientTransformation:
    """`before` for the first `boundary` updates, then `after`, each with a state of its own: `after`
    starts fresh (its step count at 0) at update `boundary`, as a second PyTorch optimiser created then would.

    With `optax.multi_transform` this gives warm-ups that train one part of a model first (CAPE's module on
    its own loss), `optax.set_to_zero()` holding the rest.

    **Arguments:**

    - `boundary`: the number of updates made by `before` (a non-negative integer).
    - `before`, `after`: optax gradient transformations.
    """
    boundary = check_int("boundary", boundary, low=0)
    for name, t in (("before", before), ("after", after)):
        if not isinstance(t, optax.GradientTransformation):
            raise TypeError(f"`{name}` must be an `optax.GradientTransformation`, got {type(t).__name__}")

    def init(params):
        return SwitchState(jnp.zeros((), jnp.int32), before.init(params), after.init(params))

    def update(updates, state, params=None):
        def first(_):
            u, s = before.update(updates, state.before, params)
            return u, s, state.after

        def second(_):
            u, s = after.update(updates, state.after, params)
            return u, state.before, s

        u, b, a = jax.lax.cond(state.count < boundary, first, second, None)
        return u, SwitchState(state.count + 1, b, a)

    return optax.GradientTransformation(init, update)
