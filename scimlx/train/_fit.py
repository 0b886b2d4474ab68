"""The training loop shared by every learned model."""

import json
import math
import os
import pathlib
import time
from collections.abc import Callable, Mapping
from typing import Any

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jaxtyping import Array, PRNGKeyArray, PyTree

from scimlx.core.validate import check_int, check_key

from ._checkpoint import CheckpointError, _read, _restore, save_checkpoint

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


# --------------------------------------------------------------------------- validation


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


def _to_python(value: Any) -> Any:
    array = np.asarray(jax.device_get(value))
    return array.item() if array.ndim == 0 else array.tolist()


def _json_normalise(name: str, value: Any) -> Any:
    try:
        return json.loads(json.dumps(value))
    except (TypeError, ValueError) as e:
        raise TypeError(f"`{name}` must be JSON-serialisable: {e}") from e


# ------------------------------------------------------------------------- the step


def _unpack_loss(out: Any, stateful: bool, has_aux: bool) -> tuple[Array, Any, Any]:
    if stateful:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError(
                "With `state`, `loss_fn(model, state, batch, *, key)` must return "
                "`(loss, new_state)` (or `(loss, (new_state, aux))` with `has_aux=True`)."
            )
        loss, rest = out
        if has_aux:
            if not (isinstance(rest, tuple) and len(rest) == 2):
                raise TypeError(
                    "With `state` and `has_aux=True`, `loss_fn` must return "
                    "`(loss, (new_state, aux))`."
                )
            new_state, aux = rest
        else:
            new_state, aux = rest, {}
    elif has_aux:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise TypeError("With `has_aux=True`, `loss_fn` must return `(loss, aux)`.")
        loss, aux = out
        new_state = None
    else:
        if isinstance(out, tuple):
            raise TypeError(
                "`loss_fn` returned a tuple; return a scalar loss, or pass `has_aux=True` to "
                "return `(loss, aux)`."
            )
        loss, aux, new_state = out, {}, None
    loss = jnp.asarray(loss)
    if loss.shape != () or not jnp.issubdtype(loss.dtype, jnp.floating):
        hint = "" if has_aux else " (if it returns `(loss, aux)`, pass `has_aux=True`)"
        raise TypeError(
            f"`loss_fn` must return a real scalar loss, got shape {loss.shape} and dtype "
            f"{loss.dtype}{hint}."
        )
    if not isinstance(aux, Mapping) or not all(isinstance(k, str) for k in aux):
        raise TypeError(
            f"With `has_aux=True`, the aux output of `loss_fn` must be a dict of named "
            f"scalars, got {type(aux)}."
        )
    aux = {k: jnp.asarray(v) for k, v in aux.items()}
    for k, v in aux.items():
        if v.shape != ():
            raise TypeError(f"`loss_fn` aux entry {k!r} must be a scalar, got shape {v.shape}.")
    return loss, new_state, aux


def _make_step(optimizer, data_kind, stateful, has_aux, resample_every=1):
    optimizer = optax.with_extra_args_support(optimizer)

    # `loss_fn` and the sampler are arguments (not closed over), so that arrays they
    # hold (e.g. as Equinox modules) are traced rather than baked in as constants.
    @eqx.filter_jit
    def step_fn(loss_fn, sampler, model, opt_state, state, data, idx, step, base_key):
        data_key, loss_key = jax.random.split(jax.random.fold_in(base_key, step))
        if resample_every > 1:  # the batch of the last step that is a multiple of `resample_every`
            data_key = jax.random.split(jax.random.fold_in(base_key, step - step % resample_every))[0]
        if data_kind == "arrays":
            batch = jax.tree.map(lambda x: x[idx], data)
        elif data_kind == "sampler":
            batch = sampler(data_key)
        else:
            batch = None
        params, static = eqx.partition(model, eqx.is_inexact_array)

        def objective(p):
            m = eqx.combine(p, static)
            if stateful:
                out = loss_fn(m, state, batch, key=loss_key)
            else:
                out = loss_fn(m, batch, key=loss_key)
            loss, new_state, aux = _unpack_loss(out, stateful, has_aux)
            return loss, (new_state, aux)

        (loss, (new_state, aux)), grads = eqx.filter_value_and_grad(objective, has_aux=True)(params)

        def value_fn(p):
            return objective(p)[0]

        updates, opt_state = optimizer.update(
            grads, opt_state, params, value=loss, grad=grads, value_fn=value_fn
        )
        model = eqx.apply_updates(model, updates)
        return model, opt_state, new_state, loss, aux

    return step_fn


@eqx.filter_jit
def _all_finite(tree: PyTree) -> Array:
    leaves = jax.tree.leaves(eqx.filter(tree, eqx.is_inexact_array))
    if not leaves:
        return jnp.array(True)
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(x)) for x in leaves]))


# -------------------------------------------------------------------------- fit


def fit(
    model: eqx.Module,
    loss_fn: Callable[..., Any],
    data: PyTree | Callable[[PRNGKeyArray], PyTree] | None,
    optimizer: optax.GradientTransformation,
    *,
    key: PRNGKeyArray,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    state: PyTree | None = None,
    eval_fn: Callable[..., Mapping[str, Any]] | None = None,
    eval_every: int | None = None,
    checkpoint_dir: str | os.PathLike | None = None,
    checkpoint_every: int | None = None,
    resume: bool = False,
    overwrite: bool = False,
    config: Mapping[str, Any] | None = None,
    progress: bool = True,
    has_aux: bool = False,
    resample_every: int = 1,
) -> FitResult:
    """Train `model` by minimising `loss_fn` with an optax optimiser.

    The trainable parameters are `eqx.filter(model, eqx.is_inexact_array)`. Each step is
    one `eqx.filter_jit`-compiled function: (draw the batch,) evaluate the loss and its
    gradient with `eqx.filter_value_and_grad`, update with `optimizer` (wrapped with
    `optax.with_extra_args_support`; `value`, `grad` and `value_fn` are passed, so that
    line-search optimisers such as [`scimlx.train.lbfgs`][] work; `value_fn` evaluates the
    loss on the step's batch, key and input `state`), and apply the update.

    **Arguments:**

    - `model`: an `eqx.Module`.
    - `loss_fn`: `loss_fn(model, batch, *, key) -> loss`, a real scalar, or `(loss, aux)`
        with `has_aux=True`, `aux` a dict of named scalars logged every step. If `state`
        is given: `loss_fn(model, state, batch, *, key) -> (loss, new_state)` (or
        `(loss, (new_state, aux))`).
    - `data`: one of
        - a PyTree of arrays with a common leading sample axis, of size `n`. Each epoch
          visits a fresh random permutation in minibatches of `batch_size`; the last
          batch of an epoch may be smaller (`shuffle=True, drop_last=False`), so an epoch
          has `ceil(n / batch_size)` steps (a smaller last batch compiles the step a second
          time, once). The arrays are moved to the device once.
        - a sampler `sampler(key) -> batch`, called with a fresh key at every step inside
          the compiled step (so it must be JAX-traceable), e.g. PINN collocation points.
        - `None`: `loss_fn` is called with `batch=None`.
    - `optimizer`: an `optax.GradientTransformation`. Epoch-based schedules go into it
        (see [`scimlx.train.step_decay`][], [`scimlx.train.one_cycle`][]).
    - `key`: a PRNG key. Step `i` (0-based) uses `fold_in(k_step, i)`, and epoch `e`
        uses the permutation of `fold_in(k_perm, e)`, with `k_step, k_perm = split(key)`,
        so a resumed run draws exactly the same batches and keys.
    - `steps`: the total number of optimiser steps (counted from the start of the run,
        also when resuming).
    - `epochs`: alternatively, the number of epochs (array data only).
        Exactly one of `steps` and `epochs` must be given.
    - `batch_size`: the minibatch size, `1 <= batch_size <= n` (array data only).
    - `state`: an `eqx.nn.State` (or any PyTree) for stateful models, e.g. with
        `eqx.nn.BatchNorm`; threaded through the steps and checkpointed.
    - `eval_fn`: `eval_fn(model) -> dict` (or `eval_fn(model, state)`), run on the host
        every `eval_every` steps and after the last step. Values are converted to Python
        floats (or lists).
    - `eval_every`: the evaluation period in steps (needs `eval_fn`; without it `eval_fn`
        runs only at the end).
    - `checkpoint_dir`: a directory for the checkpoint file `checkpoint.eqx`, written
        atomically after the last step and every `checkpoint_every` steps.
    - `checkpoint_every`: the checkpoint period in steps (needs `checkpoint_dir`).
    - `resume`: continue from the checkpoint in `checkpoint_dir`. The `model`, `state`
        and `optimizer` given serve as the skeleton to load into; `key`, `config`, the
        kind of data, `n`, `batch_size`, `state`-ness and `has_aux` must match the saved
        run. The result is bit-identical to an uninterrupted run.
    - `overwrite`: allow replacing an existing checkpoint of another run in
        `checkpoint_dir`. Without `resume` or `overwrite`, an existing checkpoint is an
        error.
    - `config`: a JSON-serialisable dict describing the run (hyperparameters, ...),
        stored in checkpoints and compared on resume.
    - `progress`: show a tqdm progress bar with the step, the loss and it/s (refreshed
        at most every ~0.2 s).
    - `has_aux`: whether `loss_fn` also returns a dict of auxiliary scalars.
    - `resample_every`: with a sampler, draw a new batch only every `resample_every` steps
        (the steps in between reuse the key, hence the batch, of the last multiple), as PINN
        codes resample their collocation points every 100 iterations. Default 1: every step.

    **Returns:**

    A [`scimlx.train.FitResult`][] with fields `model`, `state` (`None` for stateless
    models), `opt_state`, `step` (the number of steps done) and `history`, a dict with

    - `"step"`: `int` array, `1, 2, ..., step`;
    - `"loss"`: `float` array, the loss evaluated in each step (before its update);
    - `"time"`: wall-clock seconds of training when each step was dispatched
        (cumulative over resumed runs);
    - `"aux"`: dict of arrays, one per aux entry;
    - `"eval"`: list of `(step, dict)` from `eval_fn`.

    Raises [`scimlx.train.NonFiniteLossError`][] (a `FloatingPointError`) if the loss
    becomes NaN or infinite; its message names the step and the last finite checkpoint,
    which is never overwritten by non-finite parameters. The loss is checked whenever it
    is fetched from the device, at most ~0.2 s after the offending step.
    """
    # ------------------------------------------------------------ validation
    if not isinstance(model, eqx.Module):
        raise TypeError(f"`model` must be an `eqx.Module`, got {type(model)}.")
    if not callable(loss_fn):
        raise TypeError(f"`loss_fn` must be callable, got {type(loss_fn)}.")
    if not isinstance(optimizer, optax.GradientTransformation):
        raise TypeError(
            f"`optimizer` must be an `optax.GradientTransformation`, got {type(optimizer)}."
        )
    key = check_key(key)
    steps = check_int("steps", steps, optional=True)
    epochs = check_int("epochs", epochs, optional=True)
    if (steps is None) == (epochs is None):
        raise ValueError("Exactly one of `steps` and `epochs` must be given.")

    if data is None:
        data_kind, n = "none", None
    elif callable(data) and not isinstance(data, jax.Array | np.ndarray):
        data_kind, n = "sampler", None
    else:
        data_kind = "arrays"
        data, n = _check_array_data(data)
    if data_kind == "arrays":
        if batch_size is None:
            raise ValueError("`batch_size` is required for array `data`.")
        batch_size = check_int("batch_size", batch_size, optional=True)
        if batch_size > n:
            raise ValueError(f"`batch_size`={batch_size} exceeds the number of samples {n}.")
        steps_per_epoch = math.ceil(n / batch_size)
        if epochs is not None:
            steps = epochs * steps_per_epoch
    else:
        if batch_size is not None:
            raise ValueError("`batch_size` is only used with array `data`.")
        if epochs is not None:
            raise ValueError(
                "`epochs` needs array `data`; use `steps` with a sampler or `data=None`."
            )
        steps_per_epoch = None

    resample_every = check_int("resample_every", resample_every)
    if resample_every != 1 and data_kind != "sampler":
        raise ValueError("`resample_every` needs a sampler `data` (a function `key -> batch`).")
    stateful = state is not None
    if eval_fn is not None and not callable(eval_fn):
        raise TypeError(f"`eval_fn` must be callable, got {type(eval_fn)}.")
    eval_every = check_int("eval_every", eval_every, optional=True)
    if eval_every is not None and eval_fn is None:
        raise ValueError("`eval_every` needs `eval_fn`.")
    checkpoint_every = check_int("checkpoint_every", checkpoint_every, optional=True)
    if checkpoint_dir is None:
        if checkpoint_every is not None:
            raise ValueError("`checkpoint_every` needs `checkpoint_dir`.")
        if resume:
            raise ValueError("`resume=True` needs `checkpoint_dir`.")
    if resume and overwrite:
        raise ValueError("`resume` and `overwrite` are mutually exclusive.")
    if config is not None and not isinstance(config, Mapping):
        raise TypeError(f"`config` must be a dict, got {type(config)}.")
    config = _json_normalise("config", dict(config or {}))

    settings = {
        "data": data_kind,
        "num_samples": n,
        "batch_size": batch_size,
        "stateful": stateful,
        "has_aux": bool(has_aux),
    }
    if resample_every != 1:
        settings["resample_every"] = resample_every
    k_step, k_perm = jax.random.split(key)
    params = eqx.filter(model, eqx.is_inexact_array)
    opt_state = optimizer.init(params)

    history: dict[str, Any] = {"step": [], "loss": [], "time": [], "aux": {}, "eval": []}
    start = 0
    ckpt_path = None
    last_ckpt: tuple[pathlib.Path, int] | None = None
    if checkpoint_dir is not None:
        ckpt_path = pathlib.Path(checkpoint_dir) / CHECKPOINT_NAME
        if resume:
            if not ckpt_path.is_file():
                raise FileNotFoundError(f"`resume=True` but there is no checkpoint at {ckpt_path}.")
            header, payload = _read(ckpt_path)
            meta = header["metadata"]
            start = _check_resume(meta, ckpt_path, settings, config, steps)
            like = {"model": model, "opt_state": opt_state, "state": state, "key": key}
            tree = _restore(ckpt_path, header, payload, like)
            if not bool(
                jnp.array_equal(jax.random.key_data(tree["key"]), jax.random.key_data(key))
            ):
                raise ValueError(
                    f"`key` differs from the key of the run saved in {ckpt_path}; resume "
                    "with the original key."
                )
            model, opt_state, state = tree["model"], tree["opt_state"], tree["state"]
            saved = meta["history"]
            history = {
                "step": list(saved["step"]),
                "loss": list(saved["loss"]),
                "time": list(saved["time"]),
                "aux": {k: list(v) for k, v in saved["aux"].items()},
                "eval": [(int(s), d) for s, d in saved["eval"]],
            }
            last_ckpt = (ckpt_path, start)
        elif ckpt_path.exists() and not overwrite:
            raise FileExistsError(
                f"{ckpt_path} already exists; pass `resume=True` to continue that run or "
                "`overwrite=True` to replace it."
            )

    # ------------------------------------------------------------ the loop
    step_fn = _make_step(optimizer, data_kind, stateful, bool(has_aux), resample_every)
    sampler = data if data_kind == "sampler" else None
    step_data = data if data_kind == "arrays" else None
    time_offset = history["time"][-1] if history["time"] else 0.0
    pending: list[tuple[int, Array, Any, float]] = []

    def make_result() -> dict[str, Any]:
        return {
            "step": np.asarray(history["step"], dtype=np.int64),
            "loss": np.asarray(history["loss"], dtype=np.float64),
            "time": np.asarray(history["time"], dtype=np.float64),
            "aux": {k: np.asarray(v) for k, v in history["aux"].items()},
            "eval": list(history["eval"]),
        }

    def nonfinite(message: str, step: int) -> NonFiniteLossError:
        if ckpt_path is None:
            where = ""
        elif last_ckpt is None:
            where = " No checkpoint of this run has been written yet."
        else:
            where = f" The last finite checkpoint is {last_ckpt[0]} (step {last_ckpt[1]})."
        return NonFiniteLossError(
            message + where,
            step=step,
            checkpoint_path=None if last_ckpt is None else last_ckpt[0],
            history=make_result(),
        )

    if start >= steps:
        return FitResult(model, state, opt_state, start, make_result())

    from tqdm.auto import tqdm

    bar = tqdm(total=steps, initial=start, disable=not progress, unit="step", dynamic_ncols=True)
    postfix: dict[str, str] = {}
    shown = [start]

    def flush() -> None:
        if not pending:
            return
        fetched = jax.device_get([(loss, aux) for _, loss, aux, _ in pending])
        for (s, _, _, t), (loss, aux) in zip(pending, fetched):
            loss = float(loss)
            history["step"].append(s)
            history["loss"].append(loss)
            history["time"].append(t)
            for k, v in aux.items():
                history["aux"].setdefault(k, []).append(float(v))
            if not math.isfinite(loss):
                pending.clear()
                raise nonfinite(f"The loss is {loss} at step {s}.", s)
        bar.update(pending[-1][0] - shown[0])
        shown[0] = pending[-1][0]
        postfix["loss"] = f"{history['loss'][-1]:.4e}"
        for k, v in history["aux"].items():
            postfix[k] = f"{v[-1]:.3e}"
        bar.set_postfix(postfix, refresh=False)
        pending.clear()

    def evaluate(done: int) -> None:
        out = eval_fn(model, state) if stateful else eval_fn(model)
        if not isinstance(out, Mapping):
            raise TypeError(f"`eval_fn` must return a dict, got {type(out)}.")
        out = {str(k): _to_python(v) for k, v in out.items()}
        history["eval"].append((done, out))
        for k, v in out.items():
            if isinstance(v, float | int):
                postfix[k] = f"{v:.3e}"
        bar.set_postfix(postfix)

    def checkpoint(done: int) -> None:
        nonlocal last_ckpt
        finite = _all_finite((model, state))
        if not bool(finite):
            raise nonfinite(f"The parameters or state became non-finite at step {done}.", done)
        metadata = {
            "kind": _KIND,
            "scimlx_version": _version(),
            "step": done,
            "epoch": None if steps_per_epoch is None else done // steps_per_epoch,
            "batch_in_epoch": None if steps_per_epoch is None else done % steps_per_epoch,
            "steps_per_epoch": steps_per_epoch,
            "settings": settings,
            "config": config,
            "history": {
                "step": history["step"],
                "loss": history["loss"],
                "time": history["time"],
                "aux": history["aux"],
                "eval": [[s, d] for s, d in history["eval"]],
            },
        }
        tree = {"model": model, "opt_state": opt_state, "state": state, "key": key}
        save_checkpoint(ckpt_path, tree, metadata)
        last_ckpt = (ckpt_path, done)

    t0 = time.perf_counter()
    last_sync = t0
    epoch, perm = -1, None
    try:
        for s in range(start, steps):
            if data_kind == "arrays":
                e, pos = divmod(s, steps_per_epoch)
                if e != epoch:
                    epoch = e
                    perm = np.asarray(
                        jax.random.permutation(jax.random.fold_in(k_perm, e), n)
                    ).astype(np.int32)
                idx = perm[pos * batch_size : (pos + 1) * batch_size]
            else:
                idx = None
            model, opt_state, state, loss, aux = step_fn(
                loss_fn, sampler, model, opt_state, state, step_data, idx, np.int32(s), k_step
            )
            done = s + 1
            now = time.perf_counter()
            pending.append((done, loss, aux, time_offset + now - t0))

            last = done == steps
            eval_due = eval_fn is not None and (
                last or (eval_every is not None and done % eval_every == 0)
            )
            ckpt_due = ckpt_path is not None and (
                last or (checkpoint_every is not None and done % checkpoint_every == 0)
            )
            if eval_due or ckpt_due or last or now - last_sync >= _SYNC_SECONDS:
                flush()
                last_sync = time.perf_counter()
            if eval_due:
                evaluate(done)
            if ckpt_due:
                checkpoint(done)
    finally:
        bar.close()

    return FitResult(model, state, opt_state, steps, make_result())


def _version() -> str:
    import scimlx

    return scimlx.__version__


def _check_resume(
    meta: dict[str, Any],
    path: pathlib.Path,
    settings: dict[str, Any],
    config: dict[str, Any],
    steps: int,
) -> int:
    if meta.get("kind") != _KIND:
        raise CheckpointError(f"{path} was not written by `scimlx.train.fit`.")
    saved = meta["settings"]
    diff = sorted(k for k in set(saved) | set(settings) if saved.get(k) != settings.get(k))
    if diff:
        details = ", ".join(f"{k}: {saved.get(k)!r} -> {settings.get(k)!r}" for k in diff)
        raise ValueError(f"Cannot resume from {path}: the run differs in {details}.")
    old = meta["config"]
    diff = sorted(
        k for k in set(old) | set(config) if old.get(k, _MISSING) != config.get(k, _MISSING)
    )
    if diff:
        details = ", ".join(
            f"{k}: {old.get(k, '<missing>')!r} -> {config.get(k, '<missing>')!r}" for k in diff
        )
        raise ValueError(f"`config` differs from the checkpoint {path} in keys {diff} ({details}).")
    start = int(meta["step"])
    if start > steps:
        raise ValueError(
            f"The checkpoint {path} is at step {start}, beyond the requested `steps`={steps}."
        )
    return start
