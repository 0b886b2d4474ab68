"""Training a point model on a [`Problem`][scimlx.pinn.Problem] with the shared loop `scimlx.train.fit`."""

from __future__ import annotations

import dataclasses
import os
import time
from typing import Any

import equinox as eqx
import jax
import numpy as np
import optax
from jaxtyping import PRNGKeyArray

from scimlx.core.validate import check_int, check_key, check_number
from scimlx.train import FitResult, exponential_decay, fit, lbfgs

from ._models import PointModel, map_points
from ._problem import Problem


@dataclasses.dataclass(frozen=True)
class PINNResult:
    """The outcome of [`train_pinn`][scimlx.pinn.train_pinn].

    **Fields:**

    - `model`: the trained model (after the last step).
    - `final_error`: the test relative L2 error of `model`.
    - `best_error`, `best_step`: the smallest test error seen at the evaluations during training and its step
        (model selection on the test set, as the PIG reference scripts report it: label it as such).
    - `errors`: `(n_evals, 2)` array of `(step, error)`.
    - `seconds_per_step`: wall-clock training time per step, evaluations and the first (compiling) step
        excluded.
    - `fit`: the [`FitResult`][scimlx.train.FitResult] (loss history, per-term history, optimiser state).
    """

    model: Any
    final_error: float
    best_error: float
    best_step: int
    errors: np.ndarray
    seconds_per_step: float
    fit: FitResult


def _optimizer(optimizer, learning_rate, decay_rate, decay_steps) -> optax.GradientTransformation:
    if isinstance(optimizer, optax.GradientTransformation):
        return optimizer
    if optimizer == "adam":
        lr = check_number("learning_rate", learning_rate, low=0, low_open=True)
        rate = check_number("decay_rate", decay_rate, low=0, high=1, low_open=True)
        steps = check_int("decay_steps", decay_steps)
        return optax.adam(exponential_decay(lr, steps, rate))
    if optimizer == "lbfgs":
        return lbfgs()
    raise ValueError(f"`optimizer` must be 'adam', 'lbfgs' or an optax transformation, got {optimizer!r}")


def train_pinn(
    problem: Problem,
    model: PointModel | eqx.Module,
    *,
    steps: int,
    key: PRNGKeyArray,
    optimizer: str | optax.GradientTransformation = "adam",
    learning_rate: float = 1e-3,
    decay_rate: float = 0.9,
    decay_steps: int = 2000,
    n_collocation: int | None = None,
    resample_every: int = 100,
    causal_tol: float | None = None,
    causal_chunks: int = 32,
    chunk_size: int | None = None,
    eval_every: int = 100,
    eval_chunk_size: int | None = 4096,
    progress: bool = True,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
) -> PINNResult:
    """Train a point model (PINN, PIG, or any `eqx.Module` mapping a point to a scalar) on a problem.

    The loss is [`Problem.loss`][scimlx.pinn.Problem.loss] on points drawn by
    [`Problem.sample`][scimlx.pinn.Problem.sample], redrawn every `resample_every` steps (the PIG reference:
    100; its Helmholtz script: 1). The default optimiser is the reference's: one Adam for every parameter,
    learning rate `learning_rate · decay_rate^(step / decay_steps)` (smooth, `optax.exponential_decay`).
    `optimizer="lbfgs"` uses [`scimlx.train.lbfgs`][] (one L-BFGS iteration with its line search per step).

    **Arguments:**

    - `problem`: a [`Problem`][scimlx.pinn.Problem].
    - `model`: a function of one point returning a scalar, an Equinox module.
    - `steps`: optimiser steps.
    - `key`: a PRNG key (draws the points).
    - `optimizer`: `"adam"`, `"lbfgs"` or an optax transformation.
    - `learning_rate`, `decay_rate`, `decay_steps`: the Adam schedule.
    - `n_collocation`: residual points per draw (default: the problem's).
    - `resample_every`: steps between draws of new points.
    - `causal_tol`, `causal_chunks`: JAX-PI's causal weighting ([`Problem.loss`][scimlx.pinn.Problem.loss]).
    - `chunk_size`: residual points evaluated at a time (memory; `None`: all at once).
    - `eval_every`: steps between test-error evaluations (the reference: 10).
    - `eval_chunk_size`: test points evaluated at a time.
    - `progress`: show a progress bar.
    - `checkpoint_dir`, `checkpoint_every`, `resume`, `overwrite`: as in [`scimlx.train.fit`][].

    **Returns:** a [`PINNResult`][scimlx.pinn.PINNResult].
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"`problem` must be a scimlx.pinn Problem, got {type(problem).__name__}")
    if not isinstance(model, eqx.Module) or not callable(model):
        raise TypeError(f"`model` must be an Equinox module mapping a point to a scalar, got {model!r}")
    key = check_key(key)
    steps = check_int("steps", steps)
    n_collocation = check_int("n_collocation", n_collocation, optional=True) or problem.n_collocation
    resample_every = check_int("resample_every", resample_every)
    chunk_size = check_int("chunk_size", chunk_size, optional=True)
    eval_every = check_int("eval_every", eval_every)
    eval_chunk_size = check_int("eval_chunk_size", eval_chunk_size, optional=True)
    causal_chunks = check_int("causal_chunks", causal_chunks)
    if causal_tol is not None:
        causal_tol = check_number("causal_tol", causal_tol, low=0)
        if not problem.time:
            raise ValueError("`causal_tol` needs a time-dependent problem")
        if n_collocation % causal_chunks:
            raise ValueError(f"`causal_chunks`={causal_chunks} must divide `n_collocation`={n_collocation}")
    opt = _optimizer(optimizer, learning_rate, decay_rate, decay_steps)
    try:
        out = jax.eval_shape(model, jax.ShapeDtypeStruct((problem.ndim,), jax.numpy.result_type(float)))
    except Exception as e:
        raise ValueError(
            f"`model` cannot be evaluated at a point of {problem.ndim} coordinates ({problem.name}): {e}"
        ) from e
    if out.shape != ():
        raise ValueError(f"`model` must return a scalar at a point, got shape {out.shape}")

    def sampler(k):
        return problem.sample(k, n_collocation)

    def loss_fn(m, batch, *, key):
        del key
        return problem.loss(
            m, batch, chunk_size=chunk_size, causal_tol=causal_tol, causal_chunks=causal_chunks
        )

    pts, vals = problem.test_data()
    pts, vals = jax.device_put(pts), jax.device_put(vals)

    @eqx.filter_jit
    def test_error(m):
        pred = map_points(m, pts, eval_chunk_size)
        return jax.numpy.linalg.norm(pred - vals) / jax.numpy.linalg.norm(vals)

    eval_seconds: list[float] = []

    def eval_fn(m):
        t0 = time.perf_counter()
        err = float(test_error(m))
        eval_seconds.append(time.perf_counter() - t0)
        return {"test_error": err}

    config = {
        "problem": problem.name,
        "n_collocation": n_collocation,
        "resample_every": resample_every,
        "causal_tol": causal_tol,
        "optimizer": optimizer if isinstance(optimizer, str) else "custom",
        "learning_rate": learning_rate,
        "decay_rate": decay_rate,
        "decay_steps": decay_steps,
    }
    result = fit(
        model,
        loss_fn,
        sampler,
        opt,
        key=key,
        steps=steps,
        eval_fn=eval_fn,
        eval_every=eval_every,
        checkpoint_dir=checkpoint_dir,
        checkpoint_every=checkpoint_every,
        resume=resume,
        overwrite=overwrite,
        config=config,
        progress=progress,
        has_aux=True,
        resample_every=resample_every,
    )
    evals = [(s, d["test_error"]) for s, d in result.history["eval"]]
    errors = np.asarray(evals, dtype=np.float64).reshape(-1, 2)
    final = float(errors[-1, 1])
    best_i = int(np.nanargmin(errors[:, 1]))
    times = np.asarray(result.history["time"])
    if times.size >= 3:
        spent = sum(eval_seconds[:-1])
        seconds_per_step = max(float(times[-1] - times[0] - spent), 0.0) / (times.size - 1)
    else:
        seconds_per_step = float("nan")
    return PINNResult(
        model=result.model,
        final_error=final,
        best_error=float(errors[best_i, 1]),
        best_step=int(errors[best_i, 0]),
        errors=errors,
        seconds_per_step=seconds_per_step,
        fit=result,
    )
