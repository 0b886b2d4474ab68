"""Where the residual points go: uniform sampling, residual-based refinement and distribution (RAR, RAD), deep
adaptive sampling with a normalising flow (DAS), and adversarial adaptive sampling (AAS). Each sampler is a
small module that [`train_pinn`][scimlx.pinn.train_pinn] takes as `sampler=`; it makes the training step that
[`scimlx.train.fit`][] compiles, and its point set lives in `fit`'s state, so that it is checkpointed and a
resumed run continues bit for bit."""

from __future__ import annotations

import abc
import dataclasses
import math
from typing import Any, ClassVar

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, Float, PRNGKeyArray, PyTree

from scimlx.core import sample_interior
from scimlx.core.validate import check_choice, check_int, check_number
from scimlx.flows import AbstractFlow, LogitBox, sample_in_box
from scimlx.train import AbstractTrainStep, GameStep, GradientStep, Player, TrainCarry

from ._models import map_points
from ._problem import Problem

__all__ = [
    "AAS", "DAS", "RAD", "RAR", "SAMPLERS", "AbstractSampler", "SampledModel", "Uniform", "get_sampler",
]  # fmt: skip


class SampledModel(eqx.Module):
    """The solution network and, for the samplers that learn one, the flow that draws its residual points:
    the model [`scimlx.train.fit`][] trains under an adaptive sampler.

    **Arguments:**

    - `solution`: the point model `u(z)`.
    - `flow`: the generator of residual points (an [`AbstractFlow`][scimlx.flows.AbstractFlow]) or `None`.
    """

    solution: eqx.Module
    flow: AbstractFlow | None = None


def squared_residuals(
    problem: Problem, fn, points: Float[Array, "n d"], chunk_size: int | None = None
) -> Float[Array, " n"]:
    """`r(z)²` of `fn` at every row of `points`."""
    return map_points(lambda z: problem.residual(fn, z), points, chunk_size) ** 2


def _solution_loss(problem: Problem, chunk_size: int | None):
    """The physics-informed loss of the solution on the batch's residual points (and weights)."""

    def loss_fn(model: SampledModel, batch, *, key):
        del key
        return problem.loss(model.solution, batch, chunk_size=chunk_size)

    return loss_fn


def _at(step: Array, every: int) -> Array:
    """Whether `step` (> 0) is a multiple of `every`."""
    return (step > 0) & (step % every == 0)


class AbstractSampler(eqx.Module):
    """How the residual points of a physics-informed loss are chosen while the solution trains.

    A sampler makes the state its points live in (`init`) and the training step that uses and refreshes them
    (`make_step`); samplers that learn a generator also hold the initial `flow`.
    """

    name: ClassVar[str]

    @property
    def flow_model(self) -> AbstractFlow | None:
        """The generator trained alongside the solution, or `None`."""
        return None

    def check(self, problem: Problem, n: int, steps: int) -> None:
        """Refuse a sampler that cannot run on `problem` (before any work starts)."""
        del problem, n, steps

    @abc.abstractmethod
    def init(self, problem: Problem, n: int, steps: int, *, key: PRNGKeyArray) -> PyTree:
        """The initial state: the point set of `n` residual points (a run of `steps` steps)."""

    @abc.abstractmethod
    def make_step(
        self, problem: Problem, n: int, optimizer: optax.GradientTransformation, chunk_size: int | None
    ) -> AbstractTrainStep:
        """The training step over a [`SampledModel`][scimlx.pinn.SampledModel] with this sampler's state."""


class _SolutionStep(AbstractTrainStep):
    """One gradient step of the solution on the state's points, after the sampler's refresh (if due)."""

    problem: Problem
    sampler: AbstractSampler
    inner: GradientStep
    n: int = eqx.field(static=True)
    chunk_size: int | None = eqx.field(static=True)

    def init(self, model):
        return self.inner.init(model)

    def optimizers(self, model, opt_state):
        return self.inner.optimizers(model, opt_state)

    def __call__(self, carry, batch, *, key):
        k_refresh, k_step = jax.random.split(key)
        state = self.sampler.refresh(self.problem, carry.model, carry.state, carry.step, self.n,
                                     self.chunk_size, key=k_refresh)  # fmt: skip
        inner_batch = {"residual": state["points"], "conditions": batch["conditions"]}
        if "weights" in state:
            inner_batch["weights"] = state["weights"]
        new, loss, aux = self.inner(TrainCarry(carry.model, carry.opt_state, None), inner_batch, key=k_step)
        return TrainCarry(new.model, new.opt_state, state), loss, aux


# ------------------------------------------------------------------------------------------------------------
# Uniform, RAR, RAD


class Uniform(AbstractSampler):
    """Uniform residual points, redrawn every `resample_every` steps of the recipe
    ([`PINNConfig`][scimlx.pinn.PINNConfig]); `resample_every` at least the run's steps keeps one fixed
    set, the classic PINN."""

    name: ClassVar[str] = "uniform"

    def init(self, problem, n, steps, *, key):
        return None

    def make_step(self, problem, n, optimizer, chunk_size):
        """The plain physics-informed step over the solution itself (not a `SampledModel`): the points come
        with each batch."""

        def loss_fn(model, batch, *, key):
            del key
            return problem.loss(model, batch, chunk_size=chunk_size)

        return GradientStep(loss_fn, optimizer, has_aux=True)


class _ResidualSampler(AbstractSampler):
    """A sampler that refreshes its points every `every` steps from the residual on uniform candidates."""

    every: eqx.AbstractVar[int]
    n_candidates: eqx.AbstractVar[int | None]

    def candidates(self, n: int) -> int:
        return self.n_candidates if self.n_candidates is not None else 10 * n

    def make_step(self, problem, n, optimizer, chunk_size):
        inner = GradientStep(_solution_loss(problem, chunk_size), optimizer, has_aux=True)
        return _SolutionStep(problem, self, inner, n, chunk_size)

    @abc.abstractmethod
    def refresh(self, problem, model, state, step, n, chunk_size, *, key):
        """The state after this step's refresh (a no-op at steps that are not multiples of `every`)."""


class RAR(_ResidualSampler):
    """Residual-based adaptive refinement, greedy (RAR; Lu, Meng, Mao & Karniadakis, SIAM Review 2021; RAR-G
    in Wu et al., CMAME 2023): start from `n` uniform points; every `every` steps evaluate the residual on
    `n_candidates` fresh uniform points and add the `add` with the largest `|r|` to the set, which grows to
    `n + add · (steps // every)` points (a fixed buffer whose unused rows carry weight 0 in the loss).

    **Arguments:**

    - `every`: steps between refinements; default 1000.
    - `add`: points added per refinement; default `n // 10` (`None`).
    - `n_candidates`: uniform candidates per refinement; default `10 n` (`None`).
    """

    name: ClassVar[str] = "rar"
    every: int = eqx.field(default=1000, static=True)
    add: int | None = eqx.field(default=None, static=True)
    n_candidates: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        check_int("every", self.every)
        check_int("add", self.add, optional=True)
        check_int("n_candidates", self.n_candidates, optional=True)

    def n_add(self, n: int) -> int:
        return self.add if self.add is not None else max(n // 10, 1)

    def check(self, problem, n, steps):
        if self.n_add(n) > self.candidates(n):
            raise ValueError(f"`add`={self.n_add(n)} exceeds `n_candidates`={self.candidates(n)}")

    def init(self, problem, n, steps, *, key):
        total = n + self.n_add(n) * max((steps - 1) // self.every, 0)
        pts = sample_interior(problem.box, n, key=key)
        points = jnp.concatenate([pts, jnp.broadcast_to(pts[:1], (total - n, pts.shape[1]))])
        weights = jnp.concatenate([jnp.ones((n,), pts.dtype), jnp.zeros((total - n,), pts.dtype)])
        return {"points": points, "weights": weights, "count": jnp.asarray(n, jnp.int32)}

    def refresh(self, problem, model, state, step, n, chunk_size, *, key):
        m = self.n_add(n)

        def grow(state):
            total, count = state["points"].shape[0], state["count"]
            dtype = state["points"].dtype
            cand = sample_interior(problem.box, self.candidates(n), key=key, dtype=dtype)
            r2 = squared_residuals(problem, model.solution, cand, chunk_size)
            top = cand[jnp.argsort(-r2)[:m]]
            start = jnp.minimum(count, total - m)  # a full buffer overwrites its last rows (never reached)
            points = jax.lax.dynamic_update_slice(state["points"], top, (start, 0))
            weights = jax.lax.dynamic_update_slice(state["weights"], jnp.ones((m,), dtype), (start,))
            return {"points": points, "weights": weights, "count": jnp.minimum(count + m, total)}

        if m > state["points"].shape[0] - n:  # a run too short for any refinement
            return state
        return jax.lax.cond(_at(step, self.every), grow, lambda s: s, state)


class RAD(_ResidualSampler):
    """Residual-based adaptive distribution (RAD; Wu, Zhu, Tan, Kartha & Lu, CMAME 2023): every `every` steps
    the whole set of `n` points is redrawn, without replacement, from `n_candidates` uniform candidates with
    probability `∝ |r|^k / mean(|r|^k) + c`. `k = 1, c = 1` are the paper's recommended defaults.

    **Arguments:**

    - `every`: steps between redraws; default 1000.
    - `k`: the residual's power (> 0); default 1.
    - `c`: the uniform part (>= 0); default 1.
    - `n_candidates`: uniform candidates per redraw; default `10 n` (`None`).
    """

    name: ClassVar[str] = "rad"
    every: int = eqx.field(default=1000, static=True)
    k: float = eqx.field(default=1.0, static=True)
    c: float = eqx.field(default=1.0, static=True)
    n_candidates: int | None = eqx.field(default=None, static=True)

    def __check_init__(self):
        check_int("every", self.every)
        check_number("k", self.k, low=0, low_open=True)
        check_number("c", self.c, low=0)
        check_int("n_candidates", self.n_candidates, optional=True)

    def check(self, problem, n, steps):
        if n > self.candidates(n):
            raise ValueError(f"`n_candidates`={self.candidates(n)} must be at least `n_collocation`={n}")

    def init(self, problem, n, steps, *, key):
        return {"points": sample_interior(problem.box, n, key=key)}

    def refresh(self, problem, model, state, step, n, chunk_size, *, key):
        def redraw(state):
            k_cand, k_pick = jax.random.split(key)
            cand = sample_interior(problem.box, self.candidates(n), key=k_cand, dtype=state["points"].dtype)
            rk = squared_residuals(problem, model.solution, cand, chunk_size) ** (self.k / 2)
            prob = rk / jnp.maximum(jnp.mean(rk), jnp.finfo(rk.dtype).tiny) + self.c
            idx = jax.random.choice(k_pick, cand.shape[0], (n,), replace=False, p=prob / jnp.sum(prob))
            return {"points": cand[idx]}

        return jax.lax.cond(_at(step, self.every), redraw, lambda s: s, state)


# ------------------------------------------------------------------------------------------------------------
# The flow-based samplers


def _check_flow(flow: Any) -> AbstractFlow:
    if not isinstance(flow, AbstractFlow):
        raise TypeError(f"`flow` must be a scimlx.flows flow (KRnet, RealNVP), got {type(flow).__name__}")
    return flow


_EXP_MAX = 60.0  # exponents of importance ratios are capped here (float32 overflows at ~88)


def _uniform_start(problem: Problem, n: int, key) -> dict[str, Array]:
    """`n` uniform points and their density `1 / |Ω|`: the first set of DAS and AAS."""
    pts = sample_interior(problem.box, n, key=key)
    return {"points": pts, "log_q": jnp.full((n,), -math.log(problem.box.volume), pts.dtype)}


def _support_of(flow: AbstractFlow) -> LogitBox | None:
    """The flow's bounded-support map, if its first layer is one."""
    layers = getattr(flow.bijector, "layers", ())
    return layers[0] if layers and isinstance(layers[0], LogitBox) else None


class _FlowSampler(AbstractSampler):
    flow: eqx.AbstractVar[AbstractFlow]

    @property
    def flow_model(self):
        return self.flow

    def check(self, problem, n, steps):
        if self.flow.dim != problem.ndim:
            raise ValueError(
                f"the `flow` has dimension {self.flow.dim} but the problem {problem.name!r} has "
                f"{problem.ndim} coordinates per point"
            )
        support = _support_of(self.flow)
        if support is not None:
            lo, hi = np.asarray(problem.box.lo), np.asarray(problem.box.hi)
            if np.any(np.asarray(support.lb) > lo) or np.any(np.asarray(support.hb) < hi):
                raise ValueError(
                    f"the `flow`'s support [{support.lb}, {support.hb}] does not cover the problem's box "
                    f"[{problem.box.lo}, {problem.box.hi}]: build it with `box=problem.box`"
                )


class DAS(_FlowSampler):
    """Deep adaptive sampling (Tang, Wan & Yang, J. Comput. Phys. 2023), as its code (`das_pde.py`) runs it:
    stages of `solution_steps` steps of the solution on the current set, then `flow_steps` steps of the flow
    minimising the cross-entropy `-mean[(r²(x) / p_prev(x)) · clip(log p_α(x), log 1e-10, 5)]` over points
    `x` drawn from the previous flow (`p_prev` its density at them, clipped to `[1e-10, e⁵]`; the first stage:
    the uniform points), so that `p_α ∝ r²`; then `n` new points are drawn from the flow (inside the box:
    rejection, else projection): DAS-R (`mode="replace"`) replaces the set, DAS-G (`mode="grow"`) adds them.
    Each solution step uses `n` points of the set drawn without replacement (DAS's minibatches of 1,000).
    The flow trains on `n` fresh samples of itself, not restricted to the box (as the DAS code does).

    A run of `S` stages is `S · solution_steps + (S - 1) · flow_steps` steps (the last stage trains the
    solution only): DAS's default is 5 stages of 3,000 + 3,000 steps, Adam at 1e-4 for both networks.
    The first stage's `p_prev` is the uniform density `1/|Ω|` (the code uses 1: a constant factor).

    **Arguments:**

    - `flow`: the generator, e.g. `KRnet(d, box=problem.box, key=...)`.
    - `mode`: `"replace"` (DAS-R) or `"grow"` (DAS-G); default `"replace"`.
    - `solution_steps`, `flow_steps`: per stage; default 3000 each.
    - `learning_rate`: the flow's Adam; default 1e-4.
    """

    name: ClassVar[str] = "das"
    flow: AbstractFlow
    mode: str = eqx.field(default="replace", static=True)
    solution_steps: int = eqx.field(default=3000, static=True)
    flow_steps: int = eqx.field(default=3000, static=True)
    learning_rate: float = eqx.field(default=1e-4, static=True)

    def __check_init__(self):
        _check_flow(self.flow)
        check_choice("mode", self.mode, ("replace", "grow"))
        check_int("solution_steps", self.solution_steps)
        check_int("flow_steps", self.flow_steps)
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)

    @property
    def stage(self) -> int:
        return self.solution_steps + self.flow_steps

    def stages(self, steps: int) -> int:
        """The stages (resamplings + 1) a run of `steps` steps reaches."""
        return (steps - 1) // self.stage + 1

    def init(self, problem, n, steps, *, key):
        start = _uniform_start(problem, n, key)
        total = n * self.stages(steps) if self.mode == "grow" else n
        pad = total - n
        dtype = start["points"].dtype
        filler = jnp.broadcast_to(start["points"][:1], (pad, problem.ndim))
        return {
            "points": jnp.concatenate([start["points"], filler]),
            "weights": jnp.concatenate([jnp.ones((n,), dtype), jnp.zeros((pad,), dtype)]),
            "count": jnp.asarray(n, jnp.int32),
            "flow_points": start["points"],
            "flow_log_q": start["log_q"],
        }

    def make_step(self, problem, n, optimizer, chunk_size):
        solution = Player("solution", lambda m: m.solution, _solution_loss(problem, chunk_size), optimizer,
                          has_aux=True)  # fmt: skip
        flow = Player("flow", lambda m: m.flow, self._flow_loss(problem, chunk_size),
                      optax.adam(self.learning_rate), has_aux=True)  # fmt: skip
        return _DASStep(problem, self, GameStep([solution]), GameStep([flow]), n, chunk_size)

    def _flow_loss(self, problem, chunk_size):
        lo, hi = math.log(1e-10), 5.0

        def loss_fn(model, batch, *, key):
            del key
            x = batch["flow_points"]
            r2 = jax.lax.stop_gradient(squared_residuals(problem, model.solution, x, chunk_size))
            p_prev = jnp.exp(jnp.clip(batch["flow_log_q"], lo, hi))  # p_prev clipped to [1e-10, e⁵]
            log_p = jnp.clip(jax.vmap(model.flow.log_prob)(x), lo, hi)
            return -jnp.mean(r2 / p_prev * log_p), {"mean_log_p": jnp.mean(log_p)}

        return loss_fn

    def resample(self, problem, flow, state, n, *, key):
        """The state after drawing `n` new points from `flow` (and `n` more to train the flow on)."""
        k_pts, k_flow = jax.random.split(key)
        new, _ = sample_in_box(flow, n, problem.box, key=k_pts, dtype=state["points"].dtype)
        flow_points, flow_log_q = flow.sample_and_log_prob(n, key=k_flow, dtype=state["points"].dtype)
        if self.mode == "replace":
            points, weights, count = new, state["weights"], state["count"]
        else:
            total = state["points"].shape[0]
            start = jnp.minimum(state["count"], total - n)
            points = jax.lax.dynamic_update_slice(state["points"], new, (start, 0))
            weights = jax.lax.dynamic_update_slice(state["weights"], jnp.ones((n,), new.dtype), (start,))
            count = jnp.minimum(state["count"] + n, total)
        return {"points": points, "weights": weights, "count": count, "flow_points": flow_points,
                "flow_log_q": jax.lax.stop_gradient(flow_log_q)}  # fmt: skip


class _DASStep(AbstractTrainStep):
    """A DAS step: a resampling at the start of a stage, then a solution step or a flow step by phase."""

    problem: Problem
    sampler: DAS
    solution_game: GameStep
    flow_game: GameStep
    n: int = eqx.field(static=True)
    chunk_size: int | None = eqx.field(static=True)

    def init(self, model):
        return (self.solution_game.init(model), self.flow_game.init(model))

    def optimizers(self, model, opt_state):
        return {**self.solution_game.optimizers(model, opt_state[0]),
                **self.flow_game.optimizers(model, opt_state[1])}  # fmt: skip

    def __call__(self, carry, batch, *, key):
        das, step = self.sampler, carry.step
        k_draw, k_pick, k_step = jax.random.split(key, 3)
        state = jax.lax.cond(
            _at(step, das.stage),
            lambda s: das.resample(self.problem, carry.model.flow, s, self.n, key=k_draw),
            lambda s: s,
            carry.state,
        )
        # the solution's minibatch: n rows of the (possibly grown) set, without replacement
        w = state["weights"]
        idx = jax.random.choice(k_pick, w.shape[0], (self.n,), replace=False, p=w / jnp.sum(w))
        inner = {"residual": state["points"][idx], "conditions": batch["conditions"],
                 "flow_points": state["flow_points"], "flow_log_q": state["flow_log_q"]}  # fmt: skip
        solution_loss = _solution_loss(self.problem, self.chunk_size)

        # the branches of `cond` carry the model's arrays; its functions and other static parts stay outside
        static = eqx.filter(carry.model, eqx.is_array, inverse=True)

        def solution_phase(opt_states):
            c = TrainCarry(carry.model, opt_states[0], None, step)
            new, loss, aux = self.solution_game(c, inner, key=k_step)
            arrays = eqx.filter(new.model, eqx.is_array)
            nan = jnp.nan * loss
            aux = {"flow_loss": nan, "flow/mean_log_p": nan, **aux}
            return arrays, (new.opt_state, opt_states[1]), loss, aux

        def flow_phase(opt_states):
            c = TrainCarry(carry.model, opt_states[1], None, step)
            new, loss, aux = self.flow_game(c, inner, key=k_step)
            # the step shows the solution's loss (one scale in the history); a non-finite flow loss shows too
            shown, terms = solution_loss(carry.model, inner, key=k_step)
            out = {f"solution/{k}": v for k, v in terms.items()}
            out.update(solution_loss=shown, flow_loss=loss, **{"flow/mean_log_p": aux["flow/mean_log_p"]})
            shown = jnp.where(jnp.isfinite(loss), shown, loss)
            return eqx.filter(new.model, eqx.is_array), (opt_states[0], new.opt_state), shown, out

        in_solution = step % das.stage < das.solution_steps
        arrays, opt_state, loss, aux = jax.lax.cond(in_solution, solution_phase, flow_phase, carry.opt_state)
        return TrainCarry(eqx.combine(arrays, static), opt_state, state), loss, aux


class AAS(_FlowSampler):
    """Adversarial adaptive sampling (Tang, Zhai, Wan & Yang, ICLR 2024): the solution `u_θ` and the flow
    density `p_α` play `min_θ max_α J(θ, α)`, with

    `J = ∫ μ_r p_α dx - β R(p_α)`, `μ_r = r²(·; θ) / ∫ r² dx`,

    so that the maximiser moves the points to where the normalised squared residual is large, the penalty
    keeps `p_α` Lipschitz (the critic of the Kantorovich-Rubinstein dual of `W₁(μ_r, uniform)`), and the
    minimiser flattens the residual profile. Each training step is one round of alternating updates
    ([`scimlx.train.GameStep`][]): `solution_steps` updates of `θ` on the mean squared residual at the current
    points (plus the boundary terms), then `flow_steps` updates of `α` ascending `J`. The points, `n` of
    them, are redrawn from the flow every `resample_every` steps (inside the box: rejection, else projection),
    a fraction `uniform_fraction` of them uniformly.

    Both integrals are importance-sampled at the current points `x_i ~ q` (the density they were drawn
    from): `∫ μ_r p dx ≈ mean(r² p/q) / mean(r²/q)`, whose gradient in `α` at `q = p_α` is the
    log-derivative (REINFORCE) estimator `mean(μ̂ᵢ ∇_α log p_α(x_i))` of the paper; `R` is

    - `"h1"` (default): `∫|∇_x p_α|² dx ≈ mean(|∇_x p|² / q)`, the Sobolev penalty on the density;
    - `"log_h1"`: `E_p |∇_x log p_α|²`, the regulariser the DAS code's KRnet defines.

    The objective follows the paper's description (its abstract and §3: the W₁ dual with the density as the
    critic, a Sobolev penalty, the log-derivative gradient, alternating updates); its exact equations (6)-(11)
    and its hyperparameters are not reproduced here. The normalisation of `r²` into the density `μ_r` (so
    that `β` does not depend on the residual's scale), the penalty's estimator and the default `β` are this
    library's choices.

    **Arguments:**

    - `flow`: the generator, e.g. `KRnet(d, box=problem.box, key=...)`.
    - `beta`: the penalty weight `β > 0`; default 1e-3.
    - `penalty`: `"h1"` or `"log_h1"`.
    - `learning_rate`: the flow's Adam; default 1e-4 (DAS's).
    - `solution_steps`, `flow_steps`: updates of each player per round; default 1 and 1.
    - `resample_every`: rounds between draws of the points; default 100.
    - `uniform_fraction`: the share of uniform points in each draw (in `[0, 1)`); default 0.
    """

    name: ClassVar[str] = "aas"
    flow: AbstractFlow
    beta: float = eqx.field(default=1e-3, static=True)
    penalty: str = eqx.field(default="h1", static=True)
    learning_rate: float = eqx.field(default=1e-4, static=True)
    solution_steps: int = eqx.field(default=1, static=True)
    flow_steps: int = eqx.field(default=1, static=True)
    resample_every: int = eqx.field(default=100, static=True)
    uniform_fraction: float = eqx.field(default=0.0, static=True)

    def __check_init__(self):
        _check_flow(self.flow)
        check_number("beta", self.beta, low=0, low_open=True)
        check_choice("penalty", self.penalty, ("h1", "log_h1"))
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_int("solution_steps", self.solution_steps)
        check_int("flow_steps", self.flow_steps)
        check_int("resample_every", self.resample_every)
        check_number("uniform_fraction", self.uniform_fraction, low=0, high=1, high_open=True)

    def init(self, problem, n, steps, *, key):
        return _uniform_start(problem, n, key)

    def make_step(self, problem, n, optimizer, chunk_size):
        solution = Player("solution", lambda m: m.solution, _solution_loss(problem, chunk_size), optimizer,
                          steps=self.solution_steps, has_aux=True)  # fmt: skip
        flow = Player("flow", lambda m: m.flow, self._flow_loss(problem, chunk_size),
                      optax.adam(self.learning_rate), steps=self.flow_steps, has_aux=True)  # fmt: skip
        return _AASStep(problem, self, GameStep([solution, flow]), n)

    def _flow_loss(self, problem, chunk_size):
        def loss_fn(model, batch, *, key):
            del key
            x, log_q = batch["residual"], batch["log_q"]
            r2 = jax.lax.stop_gradient(squared_residuals(problem, model.solution, x, chunk_size))
            log_p, grad_log_p = jax.vmap(jax.value_and_grad(model.flow.log_prob))(x)
            # mean(r² p/q) / mean(r²/q) = Σ wᵢ pᵢ with w = softmax(log r² - log q): in log space, so that
            # stale densities (points drawn rounds ago) or tiny residuals neither overflow nor divide 0 by 0
            tiny = jnp.finfo(r2.dtype).tiny
            w = jax.nn.softmax(jnp.log(jnp.maximum(r2, tiny)) - log_q)
            objective = jnp.sum(w * jnp.exp(log_p))
            sq = jnp.sum(grad_log_p**2, axis=1)
            if self.penalty == "h1":  # |∇p|²/q = p² |∇ log p|² / q
                penalty = jnp.mean(jnp.exp(jnp.minimum(2 * log_p - log_q, _EXP_MAX)) * sq)
            else:  # E_p |∇ log p|² = mean(|∇ log p|² p/q)
                penalty = jnp.mean(jnp.exp(jnp.minimum(log_p - log_q, _EXP_MAX)) * sq)
            return -(objective - self.beta * penalty), {"objective": objective, "penalty": penalty}

        return loss_fn

    def draw(self, problem, flow, n, *, key, dtype):
        """`n` points (a share `uniform_fraction` uniform, the rest from `flow` inside the box) and the log
        of the density they were drawn from."""
        n_uniform = min(int(round(self.uniform_fraction * n)), n - 1)
        k_flow, k_uniform = jax.random.split(key)
        pts, log_q = sample_in_box(flow, n - n_uniform, problem.box, key=k_flow, dtype=dtype)
        if n_uniform:
            f, log_vol = n_uniform / n, math.log(problem.box.volume)
            pts = jnp.concatenate([pts, sample_interior(problem.box, n_uniform, key=k_uniform, dtype=dtype)])
            log_p = jax.vmap(flow.log_prob)(pts)
            log_q = jnp.logaddexp(math.log1p(-f) + log_p, math.log(f) - log_vol)
        return {"points": pts, "log_q": jax.lax.stop_gradient(log_q)}


class _AASStep(AbstractTrainStep):
    """An AAS round: the points redrawn from the flow when due, then the game's alternating updates."""

    problem: Problem
    sampler: AAS
    game: GameStep
    n: int = eqx.field(static=True)

    def init(self, model):
        return self.game.init(model)

    def optimizers(self, model, opt_state):
        return self.game.optimizers(model, opt_state)

    def __call__(self, carry, batch, *, key):
        aas, step = self.sampler, carry.step
        k_draw, k_step = jax.random.split(key)
        dtype = carry.state["points"].dtype
        state = jax.lax.cond(
            _at(step, aas.resample_every),
            lambda s: aas.draw(self.problem, carry.model.flow, self.n, key=k_draw, dtype=dtype),
            lambda s: s,
            carry.state,
        )
        inner = {"residual": state["points"], "log_q": state["log_q"], "conditions": batch["conditions"]}
        new, loss, aux = self.game(TrainCarry(carry.model, carry.opt_state, None, step), inner, key=k_step)
        return TrainCarry(new.model, new.opt_state, state), loss, aux


SAMPLERS: dict[str, type[AbstractSampler]] = {c.name: c for c in (Uniform, RAR, RAD, DAS, AAS)}


def get_sampler(name: str, **params) -> AbstractSampler:
    """Build a sampler by name: `"uniform"`, `"rar"`, `"rad"`, `"das"` or `"aas"` (the flow samplers need
    `flow=`).

    **Arguments:**

    - `name`: one of `SAMPLERS`.
    - `**params`: the sampler's arguments.
    """
    if not isinstance(name, str) or name not in SAMPLERS:
        raise ValueError(f"unknown sampler `name` {name!r}; known: {', '.join(SAMPLERS)}")
    cls = SAMPLERS[name]
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise TypeError(f"unknown parameter(s) {unknown} of the {name} sampler; known: {sorted(known)}")
    if "flow" in known and "flow" not in params:
        raise TypeError(
            f"the {name} sampler needs `flow=` (e.g. scimlx.flows.KRnet(d, box=problem.box, key=...))"
        )
    return cls(**params)
