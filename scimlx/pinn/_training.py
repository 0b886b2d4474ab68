"""Training a point model on a [`Problem`][scimlx.pinn.Problem] with the shared loop `scimlx.train.fit`."""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import PRNGKeyArray

from scimlx.core import sample_interior
from scimlx.core.validate import check_choice, check_int, check_key, check_number
from scimlx.train import FitResult, Recipe, RunOptions, exponential_decay, fit, lbfgs

from ._models import PointModel, map_points
from ._problem import Problem
from ._sampling import AbstractSampler, SampledModel, Uniform, squared_residuals


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
    - `fit`: the [`FitResult`][scimlx.train.FitResult] (loss history, per-term history, optimiser state;
        under an adaptive sampler `fit.state` holds its final point set).
    - `final_mse`: the test mean squared error of `model` (the DAS code's metric on its 2-D problems).
    - `residual_cv`: the coefficient of variation `std(r²) / mean(r²)` of the squared residual of `model` on
        (at most 20,000 of) the test points: how flat the residual profile is (0: flat).
    - `flow`: the trained generator of a flow-based sampler ([`DAS`][scimlx.pinn.DAS],
        [`AAS`][scimlx.pinn.AAS]), else `None`.
    """

    model: Any
    final_error: float
    best_error: float
    best_step: int
    errors: np.ndarray
    seconds_per_step: float
    fit: FitResult
    final_mse: float = float("nan")
    residual_cv: float = float("nan")
    flow: Any = None


@dataclasses.dataclass(frozen=True)
class PINNConfig(Recipe):
    """The physics-informed training recipe (defaults: the PIG reference's).

    One Adam for every parameter with learning rate `learning_rate · decay_rate^(step / decay_steps)` (smooth,
    `optax.exponential_decay`), collocation points redrawn every `resample_every` steps (the reference: 100;
    its Helmholtz script: 1). `optimizer="lbfgs"` uses [`scimlx.train.lbfgs`][] (one L-BFGS iteration with
    its line search per step); an optax transformation is used as given.

    **Arguments:**

    - `steps`: optimiser steps (a run's `steps` overrides it); `None`: the run must set them.
    - `optimizer`: `"adam"`, `"lbfgs"` or an optax transformation.
    - `learning_rate`, `decay_rate`, `decay_steps`: the Adam schedule (1e-3, 0.9, 2000).
    - `n_collocation`: residual points per draw (`None`: the problem's).
    - `resample_every`: steps between draws of new points (100).
    - `causal_tol`, `causal_chunks`: JAX-PI's causal weighting ([`Problem.loss`][scimlx.pinn.Problem.loss]);
        `None` turns it off.
    """

    steps: int | None = None
    optimizer: str | optax.GradientTransformation = "adam"
    learning_rate: float = 1e-3
    decay_rate: float = 0.9
    decay_steps: int = 2000
    n_collocation: int | None = None
    resample_every: int = 100
    causal_tol: float | None = None
    causal_chunks: int = 32

    def __post_init__(self):
        check_int("steps", self.steps, optional=True)
        if not isinstance(self.optimizer, optax.GradientTransformation):
            check_choice("optimizer", self.optimizer, ("adam", "lbfgs"))
        check_number("learning_rate", self.learning_rate, low=0, low_open=True)
        check_number("decay_rate", self.decay_rate, low=0, high=1, low_open=True)
        check_int("decay_steps", self.decay_steps)
        check_int("n_collocation", self.n_collocation, optional=True)
        check_int("resample_every", self.resample_every)
        if self.causal_tol is not None:
            check_number("causal_tol", self.causal_tol, low=0)
        check_int("causal_chunks", self.causal_chunks)

    def run_defaults(self) -> dict:
        return {"steps": self.steps, "eval_every": 100}

    def make_optimizer(self) -> optax.GradientTransformation:
        """The optimiser this recipe names."""
        if isinstance(self.optimizer, optax.GradientTransformation):
            return self.optimizer
        if self.optimizer == "lbfgs":
            return lbfgs()
        return optax.adam(exponential_decay(self.learning_rate, self.decay_steps, self.decay_rate))


def train_pinn(
    problem: Problem,
    model: PointModel | eqx.Module,
    *,
    key: PRNGKeyArray,
    config: PINNConfig = PINNConfig(),
    run: RunOptions = RunOptions(),
    chunk_size: int | None = None,
    eval_chunk_size: int | None = 4096,
    sampler: AbstractSampler | None = None,
) -> PINNResult:
    """Train a point model (PINN, PIG, or any `eqx.Module` mapping a point to a scalar) on a problem.

    The loss is [`Problem.loss`][scimlx.pinn.Problem.loss] on points drawn by
    [`Problem.sample`][scimlx.pinn.Problem.sample], through [`scimlx.train.fit`][] with the recipe `config`.

    **Arguments:**

    - `problem`: a [`Problem`][scimlx.pinn.Problem].
    - `model`: a function of one point returning a scalar, an Equinox module.
    - `key`: a PRNG key (draws the points).
    - `config`: the recipe, a [`PINNConfig`][scimlx.pinn.PINNConfig].
    - `run`: the [`scimlx.train.RunOptions`][]: `steps` (or the recipe's), `eval_every` (steps between
        test-error evaluations; default 100, the reference: 10), checkpoints, resume, progress, devices.
    - `chunk_size`: residual points evaluated at a time (memory; `None`: all at once).
    - `eval_chunk_size`: test points evaluated at a time.
    - `sampler`: where the residual points go: [`Uniform`][scimlx.pinn.Uniform] (the default: uniform points
        redrawn every `config.resample_every` steps), [`RAR`][scimlx.pinn.RAR], [`RAD`][scimlx.pinn.RAD],
        [`DAS`][scimlx.pinn.DAS] or [`AAS`][scimlx.pinn.AAS]. Under an adaptive sampler the boundary and
        initial points stay uniform (redrawn every `config.resample_every` steps), the model `fit` trains is
        a [`SampledModel`][scimlx.pinn.SampledModel] (with the sampler's flow, initialised on uniform points),
        and the point set is `fit`'s state: checkpointed, and resumed bit for bit. A set that grows (RAR,
        DAS-G) lives in a buffer sized by the run's steps: such a run resumes with the same `steps`.

    **Returns:** a [`PINNResult`][scimlx.pinn.PINNResult].
    """
    if not isinstance(problem, Problem):
        raise TypeError(f"`problem` must be a scimlx.pinn Problem, got {type(problem).__name__}")
    if not isinstance(model, eqx.Module) or not callable(model):
        raise TypeError(f"`model` must be an Equinox module mapping a point to a scalar, got {model!r}")
    key = check_key(key)
    if not isinstance(config, PINNConfig):
        raise TypeError(f"`config` must be a PINNConfig, got {type(config).__name__}")
    if not isinstance(run, RunOptions):
        raise TypeError(f"`run` must be a scimlx.train.RunOptions, got {type(run).__name__}")
    run = run.with_defaults(**config.run_defaults())
    if run.steps is None:
        raise ValueError("`steps` is required: set it in `run` (RunOptions(steps=...)) or in the recipe")
    n_collocation = config.n_collocation or problem.n_collocation
    chunk_size = check_int("chunk_size", chunk_size, optional=True)
    eval_chunk_size = check_int("eval_chunk_size", eval_chunk_size, optional=True)
    causal_tol, causal_chunks = config.causal_tol, config.causal_chunks
    if causal_tol is not None:
        if not problem.time:
            raise ValueError("`causal_tol` needs a time-dependent problem")
        if n_collocation % causal_chunks:
            raise ValueError(f"`causal_chunks`={causal_chunks} must divide `n_collocation`={n_collocation}")
    try:
        out = jax.eval_shape(model, jax.ShapeDtypeStruct((problem.ndim,), jax.numpy.result_type(float)))
    except Exception as e:
        raise ValueError(
            f"`model` cannot be evaluated at a point of {problem.ndim} coordinates ({problem.name}): {e}"
        ) from e
    if out.shape != ():
        raise ValueError(f"`model` must return a scalar at a point, got shape {out.shape}")
    if sampler is None:
        sampler = Uniform()
    if not isinstance(sampler, AbstractSampler):
        raise TypeError(
            "`sampler` must be a scimlx.pinn sampler (Uniform, RAR, RAD, DAS, AAS), got "
            f"{type(sampler).__name__}"
        )
    adaptive = not isinstance(sampler, Uniform)
    if adaptive and causal_tol is not None:
        raise ValueError(f"`causal_tol` is for uniform points; the {sampler.name} sampler chooses its own")
    sampler.check(problem, n_collocation, run.steps)

    pts, vals = problem.test_data()
    pts, vals = jax.device_put(pts), jax.device_put(vals)

    @eqx.filter_jit
    def test_errors(m):
        pred = map_points(m, pts, eval_chunk_size)
        return jnp.linalg.norm(pred - vals) / jnp.linalg.norm(vals), jnp.mean((pred - vals) ** 2)

    eval_seconds: list[float] = []

    def eval_fn(m, state=None):
        del state
        t0 = time.perf_counter()
        err, mse = test_errors(m.solution if adaptive else m)
        eval_seconds.append(time.perf_counter() - t0)
        return {"test_error": float(err), "test_mse": float(mse)}

    recipe = {"problem": problem.name, **config.as_config(), "n_collocation": n_collocation}
    if not adaptive:

        def data(k):
            return problem.sample(n_collocation, key=k)

        def loss_fn(m, batch, *, key):
            del key
            return problem.loss(
                m, batch, chunk_size=chunk_size, causal_tol=causal_tol, causal_chunks=causal_chunks
            )

        result = fit(
            model, loss_fn, data, config.make_optimizer(), key=key, run=run, eval_fn=eval_fn, config=recipe,
            has_aux=True, resample_every=config.resample_every,
        )  # fmt: skip
    else:
        k_flow, k_state = jax.random.split(jax.random.fold_in(key, 1))
        flow = sampler.flow_model
        if flow is not None:  # activation normalisation on uniform points (DAS-2 does it on its first batch)
            flow = flow.initialize(sample_interior(problem.box, max(n_collocation, 2), key=k_flow))
        state = sampler.init(problem, n_collocation, run.steps, key=k_state)

        def data(k):
            return {"conditions": problem.sample(1, key=k)["conditions"]}

        step = sampler.make_step(problem, n_collocation, config.make_optimizer(), chunk_size)
        # the point set's rows: a set that grows (RAR, DAS-G) is a buffer sized by the run's steps, so a
        # resumed run must keep them (the checkpoint's config says so by name)
        rows = int(state["points"].shape[0]) if state is not None else n_collocation
        recipe = {**recipe, "sampler": sampler_config(sampler), "point_set_rows": rows}
        result = fit(
            SampledModel(model, flow), step, data, key=key, run=run, state=state, eval_fn=eval_fn,
            config=recipe, resample_every=config.resample_every,
        )  # fmt: skip
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
    trained = result.model.solution if adaptive else result.model
    residual_cv = _residual_cv(problem, trained, pts, eval_chunk_size)
    return PINNResult(
        model=trained,
        final_error=final,
        best_error=float(errors[best_i, 1]),
        best_step=int(errors[best_i, 0]),
        errors=errors,
        seconds_per_step=seconds_per_step,
        fit=result,
        final_mse=float(result.history["eval"][-1][1]["test_mse"]),
        residual_cv=residual_cv,
        flow=result.model.flow if adaptive else None,
    )


def _residual_cv(problem: Problem, model, pts, chunk_size, limit: int = 20_000) -> float:
    """`std(r²) / mean(r²)` on (an even subsample of at most `limit` of) the test points."""
    if pts.shape[0] > limit:
        pts = pts[np.unique(np.linspace(0, pts.shape[0] - 1, limit).astype(int))]
    r2 = eqx.filter_jit(squared_residuals)(problem, model, pts, chunk_size)
    return float(jnp.std(r2) / jnp.mean(r2))


def sampler_config(sampler: AbstractSampler) -> dict[str, Any]:
    """A sampler's settings as a JSON-ready dict (its name and static fields; a flow by its type): stored in
    checkpoints and compared when a run resumes."""
    out: dict[str, Any] = {"name": sampler.name}
    for f in dataclasses.fields(sampler):
        value = getattr(sampler, f.name)
        out[f.name] = type(value).__name__ if isinstance(value, eqx.Module) else value
    return out
