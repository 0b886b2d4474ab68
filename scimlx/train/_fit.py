"""The training loop shared by every learned model: [`scimlx.train.fit`][].

`fit` is three units: the argument checks (`_plan`, everything refused before any work starts), the compiled
step (`_compile`, around an [`AbstractTrainStep`][scimlx.train.AbstractTrainStep]), and the host loop
(`_Loop`: batches, history, evaluation, checkpoints, progress, the non-finite guard, Ctrl-C). `_resume` loads
a checkpoint after checking that it is the same run (settings, config, key, a fingerprint of each optimiser).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import pathlib
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from scimlx._interrupt import Interrupted, stop_on_interrupt
from scimlx.core.validate import check_bool, check_int, check_key

from ._checkpoint import (
    CheckpointError,
    _read,
    _restore,
    fingerprint_differences,
    optimizer_fingerprint,
    optimizer_probe,
    probes_match,
    save_checkpoint,
)
from ._options import RunOptions
from ._sharding import data_mesh, data_size, replicate, shard_batch
from ._step import AbstractTrainStep, GameStep, GradientStep, TrainCarry

CHECKPOINT_NAME = "checkpoint.eqx"
_KIND = "scimlx.train.fit"
_SYNC_SECONDS = 0.2
_MISSING = object()


class NonFiniteLossError(FloatingPointError):
    """The training loss, or the parameters, became NaN or infinite."""

    def __init__(
        self,
        message: str,
        *,
        step: int,
        checkpoint_path: pathlib.Path | None = None,
        history: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.step = step
        self.checkpoint_path = checkpoint_path
        self.history = history


class FitResult(eqx.Module):
    """The trained model, its state, the optimiser state and the history of a `fit` run."""

    model: PyTree
    state: PyTree
    opt_state: PyTree
    step: int
    history: dict[str, Any]


# ----------------------------------------------------------------------------- the checks


@dataclasses.dataclass(frozen=True)
class _Plan:
    """Everything `fit` resolved from its arguments before any work starts."""

    data_kind: str  # "arrays", "sampler" or "none"
    n: int | None
    batch_size: int | None
    steps: int
    steps_per_epoch: int | None
    resample_every: int
    eval_every: int | None
    checkpoint_path: pathlib.Path | None
    checkpoint_every: int | None
    resume: bool
    progress: bool
    mesh: Any
    settings: dict[str, Any]
    config: dict[str, Any]


def _check_array_data(data: PyTree) -> tuple[PyTree, int]:
    leaves = jax.tree.leaves(data)
    if not leaves:
        raise ValueError("`data` holds no arrays.")
    n = None
    for leaf in leaves:
        if not isinstance(leaf, jax.Array | np.ndarray):
            raise TypeError(
                "`data` must be None, a sampler `key -> batch`, or a PyTree of arrays with a "
                f"common leading sample axis; got a leaf of type {type(leaf)}."
            )
        if not (jnp.issubdtype(leaf.dtype, jnp.number) or jnp.issubdtype(leaf.dtype, jnp.bool_)):
            raise TypeError(
                f"`data` arrays must be numeric or bool; got an array of dtype {leaf.dtype} "
                "(strings or Python objects cannot be trained on)."
            )
        if leaf.ndim == 0:
            raise ValueError("`data` arrays need a leading sample axis; got a 0-d array.")
        if n is None:
            n = leaf.shape[0]
        elif leaf.shape[0] != n:
            shapes = [x.shape for x in leaves]
            raise ValueError(f"`data` arrays have mismatched leading (sample) axes: {shapes}.")
    if n == 0:
        raise ValueError("`data` has no samples (leading axis of length 0).")
    return jax.tree.map(jnp.asarray, data), n


def _json_normalise(name: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{name}` must be JSON-serialisable: {e}") from e


def _plan(
    data: Any, run: RunOptions, state: Any, step: AbstractTrainStep, eval_fn: Any, config: Any,
    resample_every: Any,
) -> tuple[_Plan, Any]:  # fmt: skip
    if not isinstance(run, RunOptions):
        raise TypeError(f"`run` must be a scimlx.train.RunOptions, got {type(run).__name__}.")
    if (run.steps is None) == (run.epochs is None):
        raise ValueError("Exactly one of `steps` and `epochs` must be given (in `run`).")
    steps, batch_size = run.steps, run.batch_size
    if data is None:
        data_kind, n = "none", None
    elif callable(data) and not isinstance(data, jax.Array | np.ndarray):
        data_kind, n = "sampler", None
    else:
        data_kind = "arrays"
        data, n = _check_array_data(data)
    devices = run.devices
    if data_kind == "arrays":
        if batch_size is None:
            raise ValueError("`batch_size` is required for array `data`.")
        if batch_size > n:
            raise ValueError(f"`batch_size`={batch_size} exceeds the number of samples {n}.")
        devices = _auto_devices(batch_size) if devices is None and run.mesh is None else devices
    mesh = data_mesh(devices, run.mesh)
    shards = data_size(mesh)
    if data_kind == "arrays":
        if batch_size % shards:
            raise ValueError(
                f"`batch_size`={batch_size} must be a multiple of the {shards} devices it is split over "
                "(or pass `devices=` with fewer)."
            )
        steps_per_epoch = math.ceil(n / batch_size)
        if run.epochs is not None:
            steps = run.epochs * steps_per_epoch
    else:
        if batch_size is not None:
            raise ValueError("`batch_size` is only used with array `data`.")
        if run.epochs is not None:
            raise ValueError("`epochs` needs array `data`; use `steps` with a sampler or `data=None`.")
        steps_per_epoch = None
    resample_every = check_int("resample_every", resample_every)
    if resample_every != 1 and data_kind != "sampler":
        raise ValueError("`resample_every` needs a sampler `data` (a function `key -> batch`).")
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"`eval_fn` must be callable, got {type(eval_fn)}.")
    if run.eval_every is not None and eval_fn is None:
        raise ValueError("`eval_every` needs `eval_fn`.")
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"`config` must be a dict, got {type(config)}.")
    settings = {
        "data": data_kind,
        "num_samples": n,
        "batch_size": batch_size,
        "stateful": state is not None,
        "has_aux": bool(getattr(step, "has_aux", False)),
    }
    if resample_every != 1:
        settings["resample_every"] = resample_every
    if not isinstance(step, GradientStep):
        settings["step"] = type(step).__name__
    path = None if run.checkpoint_dir is None else pathlib.Path(run.checkpoint_dir) / CHECKPOINT_NAME
    plan = _Plan(
        data_kind=data_kind, n=n, batch_size=batch_size, steps=steps, steps_per_epoch=steps_per_epoch,
        resample_every=resample_every, eval_every=run.eval_every, checkpoint_path=path,
        checkpoint_every=run.checkpoint_every, resume=run.resume, progress=run.progress, mesh=mesh,
        settings=settings, config=_json_normalise("config", dict(config or {})),
    )  # fmt: skip
    if path is not None and not run.resume and path.exists() and not run.overwrite:
        raise FileExistsError(
            f"{path} already exists; pass `resume=True` to continue that run or `overwrite=True` to "
            "replace it."
        )
    return plan, data


def _auto_devices(batch_size: int) -> int | None:
    """With `devices=None` on one host: the most visible devices that divide `batch_size` (warned when fewer
    than all). Several hosts keep every device (and an indivisible batch is an error)."""
    available = len(jax.devices())
    if available == 1 or jax.process_count() > 1:
        return None
    use = max(d for d in range(1, available + 1) if batch_size % d == 0)
    if use < available:
        warnings.warn(
            f"`batch_size`={batch_size} is split over {use} of the {available} visible devices (the most "
            f"that divide it); a multiple of {available} would use them all.",
            stacklevel=3,
        )
    return use


def _as_step(loss_fn: Any, optimizer: Any, has_aux: bool, stateful: bool) -> AbstractTrainStep:
    has_aux = check_bool("has_aux", has_aux)  # before it is read as a truth value ("no" is truthy)
    if isinstance(loss_fn, AbstractTrainStep):
        if optimizer is not None:
            raise ValueError("A training step carries its own optimisers: pass `optimizer=None`.")
        if has_aux:
            raise ValueError("`has_aux` belongs to a loss function, not to a training step.")
        if isinstance(loss_fn, GameStep) and loss_fn.stateful != stateful:
            raise ValueError(
                f"The GameStep has `stateful={loss_fn.stateful}` but `state` is "
                f"{'given' if stateful else 'None'}: its losses take a state exactly when `fit` gets one."
            )
        return loss_fn
    if not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be callable or an AbstractTrainStep, got {type(loss_fn)}.")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(f"`optimizer` must be an `optax.GradientTransformation`, got {type(optimizer)}.")
    return GradientStep(loss_fn, optimizer, has_aux=has_aux, stateful=stateful)


# ----------------------------------------------------------------------- the compiled step


def _compile(plan: _Plan) -> Callable:
    """The jitted step: draw (or index) the batch, lay it out on the mesh, run the training step."""
    kind, every, mesh = plan.data_kind, plan.resample_every, plan.mesh

    # the step and the sampler are arguments (not closed over), so that arrays they hold (e.g. as Equinox
    # modules) are traced rather than baked in as constants
    @eqx.filter_jit
    def step_fn(train_step, sampler, carry, data, idx, step, base_key):
        data_key, loss_key = jax.random.split(jax.random.fold_in(base_key, step))
        if every > 1:  # the batch of the last step that is a multiple of `resample_every`
            data_key = jax.random.split(jax.random.fold_in(base_key, step - step % every))[0]
        if kind == "arrays":
            batch = jax.tree.map(lambda x: x[idx], data)
        elif kind == "sampler":
            batch = sampler(data_key)
        else:
            batch = None
        carry = TrainCarry(carry.model, carry.opt_state, carry.state, step)
        return train_step(carry, shard_batch(batch, mesh), key=loss_key)

    return step_fn


@eqx.filter_jit
def _all_finite(tree: PyTree) -> Array:
    leaves = jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


# ----------------------------------------------------------------------------- the host loop


def _to_python(value: Any) -> Any:
    array = np.asarray(jax.device_get(value))
    return array.item() if array.ndim == 0 else array.tolist()


class _History:
    """The per-step losses, times and aux scalars, and the evaluations, kept on the host."""

    def __init__(self, saved: dict[str, Any] | None = None):
        saved = saved or {"step": [], "loss": [], "time": [], "aux": {}, "eval": []}
        self.step = list(saved["step"])
        self.loss = list(saved["loss"])
        self.time = list(saved["time"])
        self.aux = {k: list(v) for k, v in saved["aux"].items()}
        self.eval = [(int(s), d) for s, d in saved["eval"]]

    def to_json(self) -> dict[str, Any]:
        return {
            "step": self.step, "loss": self.loss, "time": self.time, "aux": self.aux,
            "eval": [[s, d] for s, d in self.eval],
        }  # fmt: skip

    def result(self) -> dict[str, Any]:
        return {
            "step": np.asarray(self.step, dtype=np.int64),
            "loss": np.asarray(self.loss, dtype=np.float64),
            "time": np.asarray(self.time, dtype=np.float64),
            "aux": {k: np.asarray(v) for k, v in self.aux.items()},
            "eval": list(self.eval),
        }


class _Loop:
    """Runs the compiled step from `start` to `plan.steps` and does the host's work around it."""

    def __init__(
        self, plan, step_fn, train_step, sampler, data, carry, key, eval_fn, history, start, fingerprint
    ):
        self.plan, self.step_fn, self.train_step = plan, step_fn, train_step
        self.sampler, self.data, self.carry = sampler, data, carry
        self.key, self.eval_fn, self.history, self.start = key, eval_fn, history, start
        self.fingerprint = fingerprint
        self.k_step, self.k_perm = jax.random.split(key)
        self.pending: list[tuple[int, Array, Any, float]] = []
        self.postfix: dict[str, str] = {}
        self.shown = start
        self.last_ckpt = (plan.checkpoint_path, start) if plan.resume else None
        self.writer = jax.process_index() == 0  # one process writes checkpoints and shows progress

    # ---- the non-finite guard
    def nonfinite(self, message: str, step: int) -> NonFiniteLossError:
        if self.plan.checkpoint_path is None:
            where = ""
        elif self.last_ckpt is None:
            where = " No checkpoint of this run has been written yet."
        else:
            where = f" The last finite checkpoint is {self.last_ckpt[0]} (step {self.last_ckpt[1]})."
        return NonFiniteLossError(
            message + where,
            step=step,
            checkpoint_path=None if self.last_ckpt is None else self.last_ckpt[0],
            history=self.history.result(),
        )

    # ---- the batches of array data
    def indices(self, s: int) -> np.ndarray | None:
        if self.plan.data_kind != "arrays":
            return None
        e, pos = divmod(s, self.plan.steps_per_epoch)
        if e != self._epoch:
            self._epoch = e
            perm = jax.random.permutation(jax.random.fold_in(self.k_perm, e), self.plan.n)
            self._perm = np.asarray(perm).astype(np.int32)
        b = self.plan.batch_size
        return self._perm[pos * b : (pos + 1) * b]

    # ---- fetching losses from the device (at most every ~0.2 s)
    def flush(self) -> None:
        if not self.pending:
            return
        h = self.history
        fetched = jax.device_get([(loss, aux) for _, loss, aux, _ in self.pending])
        for (s, _, _, t), (loss, aux) in zip(self.pending, fetched):
            loss = float(loss)
            h.step.append(s)
            h.loss.append(loss)
            h.time.append(t)
            for k, v in aux.items():
                h.aux.setdefault(k, []).append(float(v))
            if not math.isfinite(loss):
                self.pending.clear()
                raise self.nonfinite(f"The loss is {loss} at step {s}.", s)
        self.bar.update(self.pending[-1][0] - self.shown)
        self.shown = self.pending[-1][0]
        self.postfix["loss"] = f"{h.loss[-1]:.4e}"
        for k, v in h.aux.items():
            self.postfix[k] = f"{v[-1]:.3e}"
        self.bar.set_postfix(self.postfix, refresh=False)
        self.pending.clear()

    def evaluate(self, done: int) -> None:
        c = self.carry
        out = self.eval_fn(c.model, c.state) if self.plan.settings["stateful"] else self.eval_fn(c.model)
        if not isinstance(out, Mapping):
            raise TypeError(f"`eval_fn` must return a dict, got {type(out)}.")
        out = {str(k): _to_python(v) for k, v in out.items()}
        self.history.eval.append((done, out))
        for k, v in out.items():
            if isinstance(v, float | int):
                self.postfix[k] = f"{v:.3e}"
        self.bar.set_postfix(self.postfix)

    def checkpoint(self, done: int) -> None:
        c, plan = self.carry, self.plan
        if not bool(_all_finite((c.model, c.state))):
            raise self.nonfinite(f"The parameters or state became non-finite at step {done}.", done)
        spe = plan.steps_per_epoch
        metadata = {
            "kind": _KIND,
            "scimlx_version": _version(),
            "step": done,
            "epoch": None if spe is None else done // spe,
            "batch_in_epoch": None if spe is None else done % spe,
            "steps_per_epoch": spe,
            "settings": plan.settings,
            "config": plan.config,
            "fingerprint": {"optimizers": self.fingerprint, "probes": _probes(self.train_step, c)},
            "history": self.history.to_json(),
        }
        if self.writer:
            tree = {"model": c.model, "opt_state": c.opt_state, "state": c.state, "key": self.key}
            save_checkpoint(plan.checkpoint_path, tree, metadata)
        self.last_ckpt = (plan.checkpoint_path, done)

    # ---- Ctrl-C: keep what there is, say so, stop
    def interrupted(self, done: int) -> Interrupted:
        self.flush()
        path, c = self.plan.checkpoint_path, self.carry
        if path is not None and (self.last_ckpt is None or self.last_ckpt[1] != done):
            self.checkpoint(done)
        if path is None:
            kept = (
                "nothing was kept on disk (no `checkpoint_dir` was set); the state at that step is this "
                "exception's `result`"
            )
        else:
            kept = (
                f"the checkpoint {path} holds step {done}; to continue, call again with the same arguments "
                "and `RunOptions(..., resume=True)`"
            )
        error = Interrupted(f"Training interrupted at step {done} of {self.plan.steps}: {kept}.")
        error.step, error.checkpoint_path = done, path
        error.result = FitResult(c.model, c.state, c.opt_state, done, self.history.result())
        return error

    def run(self) -> TrainCarry:
        from tqdm.auto import tqdm

        plan = self.plan
        self.bar = tqdm(
            total=plan.steps, initial=self.start, disable=not (plan.progress and self.writer), unit="step",
            dynamic_ncols=True,
        )  # fmt: skip
        self._epoch, self._perm = -1, None
        time_offset = self.history.time[-1] if self.history.time else 0.0
        t0 = last_sync = time.perf_counter()
        with stop_on_interrupt("training") as stop, contextlib.closing(self.bar):
            for s in range(self.start, plan.steps):
                self.carry, loss, aux = self.step_fn(
                    self.train_step, self.sampler, self.carry, self.data, self.indices(s), np.int32(s),
                    self.k_step,
                )  # fmt: skip
                done = s + 1
                now = time.perf_counter()
                self.pending.append((done, loss, aux, time_offset + now - t0))
                last = done == plan.steps
                eval_due = self.eval_fn is not None and (
                    last or (plan.eval_every is not None and done % plan.eval_every == 0)
                )
                ckpt_due = plan.checkpoint_path is not None and (
                    last or (plan.checkpoint_every is not None and done % plan.checkpoint_every == 0)
                )
                if eval_due or ckpt_due or last or now - last_sync >= _SYNC_SECONDS:
                    self.flush()
                    last_sync = time.perf_counter()
                if eval_due:
                    self.evaluate(done)
                if ckpt_due:
                    self.checkpoint(done)
                if stop.requested and not last:
                    raise self.interrupted(done)
        return self.carry


# ------------------------------------------------------------------------------------- fit


def fit(
    model: eqx.Module,
    loss_fn: Callable[..., Any] | AbstractTrainStep,
    data: PyTree | Callable[[PRNGKeyArray], PyTree] | None,
    optimizer: optax.GradientTransformation | None = None,
    *,
    key: PRNGKeyArray,
    run: RunOptions,
    state: PyTree | None = None,
    eval_fn: Callable[..., Mapping[str, Any]] | None = None,
    config: Mapping[str, Any] | None = None,
    has_aux: bool = False,
    resample_every: int = 1,
) -> FitResult:
    """Train `model` by minimising `loss_fn` with an optax optimiser, or by any training step.

    Each step is one `eqx.filter_jit`-compiled function: (draw the batch,) lay it out on the devices, and
    run the training step: by default a [`GradientStep`][scimlx.train.GradientStep] (the loss and its
    gradient over the trainable arrays, [`scimlx.train.trainable`][], then one `optimizer` update; `value`,
    `grad` and `value_fn` are passed, so line-search optimisers such as [`scimlx.train.lbfgs`][] work), or the
    [`AbstractTrainStep`][scimlx.train.AbstractTrainStep] given as `loss_fn` (e.g. a
    [`GameStep`][scimlx.train.GameStep] of several parameter groups with their own optimisers).
    Arrays wrapped in [`Fixed`][scimlx.train.Fixed] and BatchNorm's running statistics never reach an
    optimiser.

    **Data parallel.** With more than one device (`run.devices`, `run.mesh`, or by default every device JAX
    sees), each batch is split along the `"data"` axis of a `jax.make_mesh` with `NamedSharding`; the
    parameters, optimiser state and model state are replicated, and the gradients, the loss and BatchNorm's
    statistics are those of the global batch, so the result matches a one-device run up to round-off. Array
    data is replicated on every device. With `run.devices=None` on one host, array data uses the most
    devices that divide `batch_size` (with a warning when that is fewer than all); devices given
    explicitly (or a mesh) must divide it, otherwise `fit` raises a `ValueError` before any work. An
    epoch's smaller last batch, and a sampler's arrays whose leading axis does not divide, are computed
    replicated: correct, not parallel. After `jax.distributed.initialize()` the same call trains on every
    host's devices; each process must pass the same `model`, `data` and `key`, and process 0 writes the
    checkpoints and shows the progress.

    **Arguments:**

    - `model`: an `eqx.Module`.
    - `loss_fn`: `loss_fn(model, batch, *, key) -> loss`, a real scalar, or `(loss, aux)` with
        `has_aux=True`, `aux` a dict of named scalars logged every step. If `state` is given:
        `loss_fn(model, state, batch, *, key) -> (loss, new_state)` (or `(loss, (new_state, aux))`).
        Or an [`AbstractTrainStep`][scimlx.train.AbstractTrainStep], with `optimizer=None`.
    - `data`: one of
        - a PyTree of arrays with a common leading sample axis, of size `n`. Each epoch visits a fresh
          random permutation in minibatches of `run.batch_size`; the last batch of an epoch may be smaller
          (`shuffle=True, drop_last=False`), so an epoch has `ceil(n / batch_size)` steps (a smaller last
          batch compiles the step a second time, once). The arrays are moved to the device(s) once.
        - a sampler `sampler(key) -> batch`, called with a fresh key at every step inside the compiled
          step (so it must be JAX-traceable), e.g. PINN collocation points.
        - `None`: `loss_fn` is called with `batch=None`.
    - `optimizer`: an `optax.GradientTransformation`. Epoch-based schedules go into it (see
        [`scimlx.train.step_decay`][], [`scimlx.train.one_cycle`][]).
    - `key`: a PRNG key. Step `i` (0-based) uses `fold_in(k_step, i)`, and epoch `e` the permutation of
        `fold_in(k_perm, e)`, with `k_step, k_perm = split(key)`, so a resumed run draws exactly the same
        batches and keys.
    - `run`: the [`RunOptions`][scimlx.train.RunOptions]: `steps` or `epochs` (exactly one), `batch_size`
        (array data only, `1 <= batch_size <= n`), `eval_every`, `checkpoint_dir` (the file
        `checkpoint.eqx`, written atomically after the last step and every `checkpoint_every` steps),
        `resume` (the `model`, `state` and optimiser given are the skeleton to load into; `key`, `config`,
        the kind of data, `n`, `batch_size`, `state`-ness and `has_aux` must match the saved run, and so must
        the optimiser(s): the checkpoint holds a fingerprint of each, see below; the result is bit-identical
        to an uninterrupted run), `overwrite`, `progress` (a tqdm bar with the step, the loss and it/s),
        `devices`/`mesh`.
    - `state`: an `eqx.nn.State` (or any PyTree: a sampler's state for a custom step), threaded through the
        steps and checkpointed.
    - `eval_fn`: `eval_fn(model) -> dict` (or `eval_fn(model, state)`), run on the host every
        `run.eval_every` steps and after the last step. Values are converted to Python floats (or lists).
    - `config`: a JSON-serialisable dict describing the run (the recipe), stored in checkpoints and
        compared on resume.
    - `has_aux`: whether `loss_fn` also returns a dict of auxiliary scalars.
    - `resample_every`: with a sampler, draw a new batch only every `resample_every` steps (the steps in
        between reuse the key, hence the batch, of the last multiple), as PINN codes resample their
        collocation points every 100 iterations. Default 1: every step.

    **Returns:**

    A [`scimlx.train.FitResult`][] with fields `model`, `state` (`None` for stateless models), `opt_state`,
    `step` (the number of steps done) and `history`, a dict with

    - `"step"`: `int` array, `1, 2, ..., step`;
    - `"loss"`: `float` array, the loss evaluated in each step (before its update);
    - `"time"`: wall-clock seconds of training when each step was dispatched (cumulative over resumed
        runs);
    - `"aux"`: dict of arrays, one per aux entry;
    - `"eval"`: list of `(step, dict)` from `eval_fn`.

    Raises [`scimlx.train.NonFiniteLossError`][] (a `FloatingPointError`) if the loss becomes NaN or
    infinite; its message names the step and the last finite checkpoint, which is never overwritten by
    non-finite parameters. The loss is checked whenever it is fetched from the device, at most ~0.2 s after
    the offending step.

    **Ctrl-C.** A first interrupt (SIGINT) stops the run after the step in progress: the history is fetched,
    a checkpoint of that step is written (with `checkpoint_dir`) and [`scimlx.train.Interrupted`][] (a
    `KeyboardInterrupt`) is raised, whose one-line message says the step, what was kept and how to resume;
    its `result` is the [`FitResult`][scimlx.train.FitResult] of that step (a notebook keeps the model),
    `step` the step and `checkpoint_path` the checkpoint (or `None`). A second interrupt stops at once.

    **The optimiser on resume.** A checkpoint records, for each optax optimiser of the step, the structure
    of the state it makes and the scalars in it (such as the hyperparameters of `optax.inject_hyperparams`),
    and what its update does to fixed pseudo-random test gradients, from its initial state and from the
    saved state (statistics compared up to round-off). Resuming with an optimiser that differs (Adam for
    AdamW, another learning rate, schedule or momentum) raises [`scimlx.train.CheckpointError`][] naming the
    difference. A custom [`AbstractTrainStep`][scimlx.train.AbstractTrainStep] without
    [`optimizers`][scimlx.train.AbstractTrainStep.optimizers] is checked by its type and `config` only, and a
    checkpoint written before fingerprints existed is resumed with a warning.
    """
    if not isinstance(model, eqx.Module):
        raise TypeError(f"`model` must be an `eqx.Module`, got {type(model)}.")
    train_step = _as_step(loss_fn, optimizer, has_aux, state is not None)
    key = check_key(key)
    plan, data = _plan(data, run, state, train_step, eval_fn, config, resample_every)

    carry = TrainCarry(model, train_step.init(model), state)
    history, start, fingerprint = _History(), 0, None
    if plan.resume:
        carry, history, start, fingerprint = _resume(plan, carry, key, train_step)
    if start >= plan.steps:
        return FitResult(carry.model, carry.state, carry.opt_state, start, history.result())
    if plan.checkpoint_path is not None and fingerprint is None:
        fingerprint = _fingerprints(train_step, carry)

    carry = replicate(carry, plan.mesh)
    sampler = data if plan.data_kind == "sampler" else None
    data = replicate(data, plan.mesh) if plan.data_kind == "arrays" else None
    loop = _Loop(
        plan, _compile(plan), train_step, sampler, data, carry, key, eval_fn, history, start, fingerprint
    )
    carry = loop.run()
    return FitResult(carry.model, carry.state, carry.opt_state, plan.steps, history.result())


def _version() -> str:
    import scimlx

    return scimlx.__version__


def _fingerprints(train_step: AbstractTrainStep, carry: TrainCarry) -> dict[str, Any]:
    """What identifies each optimiser of the step (from the shapes of the model, not its values)."""
    parts = train_step.optimizers(carry.model, carry.opt_state)
    return {name: optimizer_fingerprint(opt, params) for name, (opt, params, _) in parts.items()}


def _probes(train_step: AbstractTrainStep, carry: TrainCarry) -> dict[str, list[float]]:
    """What each optimiser of the step does from the carry's state: saved, and compared on resume."""
    parts = train_step.optimizers(carry.model, carry.opt_state)
    return {name: optimizer_probe(opt, params, state) for name, (opt, params, state) in parts.items()}


def _resume(
    plan: _Plan, carry: TrainCarry, key: PRNGKeyArray, train_step: AbstractTrainStep
) -> tuple[TrainCarry, _History, int, dict[str, Any]]:
    """The carry, history and step saved in the run's checkpoint, after checking it is the same run, and the
    fingerprint of the step's optimisers."""
    path = plan.checkpoint_path
    if not path.is_file():
        raise FileNotFoundError(f"`resume=True` but there is no checkpoint at {path}.")
    header, payload = _read(path)
    meta = header["metadata"]
    start = _check_resume(meta, path, plan.settings, plan.config, plan.steps)
    like = {"model": carry.model, "opt_state": carry.opt_state, "state": carry.state, "key": key}
    tree = _restore(path, header, payload, like)
    if not bool(jnp.array_equal(jax.random.key_data(tree["key"]), jax.random.key_data(key))):
        raise ValueError(f"`key` differs from the key of the run saved in {path}; resume with the original.")
    carry = TrainCarry(tree["model"], tree["opt_state"], tree["state"])
    fingerprint = _fingerprints(train_step, carry)
    saved = meta.get("fingerprint")
    if saved is None:
        warnings.warn(
            f"The checkpoint {path} records no fingerprint of its optimiser (an older scimlx wrote it): "
            "resuming without checking that the optimiser is the same.",
            stacklevel=3,
        )
    else:
        _check_optimizers(path, saved, fingerprint, _probes(train_step, carry), train_step, start)
    return carry, _History(meta["history"]), start, fingerprint


def _check_optimizers(
    path: pathlib.Path, saved: dict[str, Any], fingerprint: dict[str, Any], probes: dict[str, list[float]],
    train_step: AbstractTrainStep, start: int,
) -> None:  # fmt: skip
    old = saved.get("optimizers", {})
    if sorted(old) != sorted(fingerprint):
        raise CheckpointError(
            f"Cannot resume from {path}: the checkpoint's optimisers are {sorted(old)} and the training "
            f"step's are {sorted(fingerprint)}; start a new run (`overwrite=True`) or resume with the same "
            "step."
        )
    for name, current in fingerprint.items():
        diff = fingerprint_differences(old[name], current)
        if not diff and not probes_match(saved.get("probes", {}).get(name, []), probes[name]):
            diff = [
                f"its update from the checkpoint's state (step {start}) differs (another schedule, momentum "
                "or learning rate)"
            ]
        if diff:
            if isinstance(train_step, GradientStep):
                what = "the optimiser"
            elif isinstance(train_step, GameStep):
                what = f"the optimiser of player {name!r}"
            else:
                what = f"the optimiser {name!r}"
            raise CheckpointError(
                f"Cannot resume from {path}: {what} differs from the checkpoint's: {'; '.join(diff)}; start "
                "a new run (`overwrite=True`) or resume with the same optimiser."
            )


def _check_resume(
    meta: dict[str, Any], path: pathlib.Path, settings: dict[str, Any], config: dict[str, Any], steps: int
) -> int:
    if meta.get("kind") != _KIND:
        raise CheckpointError(f"{path} was not written by `scimlx.train.fit`.")
    saved = meta["settings"]
    diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {settings.get(k)!r}" for k in diff)
        raise ValueError(f"Cannot resume from {path}: the run differs in {details}.")
    old = meta["config"]
    diff = sorted(k for k in set(old) | set(config) if old.get(k, _MISSING) != config.get(k, _MISSING))
    if diff:
        details = ", ".join(
            f"{k}: {old.get(k, '<missing>')!r} -> {config.get(k, '<missing>')!r}" for k in diff
        )
        raise ValueError(f"`config` differs from the checkpoint {path} in keys {diff} ({details}).")
    start = int(meta["step"])
    if start > steps:
        raise ValueError(f"The checkpoint {path} is at step {start}, beyond the requested `steps`={steps}.")
    return start


