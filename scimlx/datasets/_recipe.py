"""The recipe registry and the batched, chunked generation loop shared by every generator."""

from __future__ import annotations

import dataclasses
import importlib
import io
import math
import pathlib
import time
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jaxtyping import Array, PRNGKeyArray

from scimlx._interrupt import Interrupted, stop_on_interrupt
from scimlx.core._io import atomic_write
from scimlx.core.geometry import Grid
from scimlx.core.validate import check_bool, check_choice, check_int, check_key

__all__ = ["Generated", "Recipe", "generate", "get_recipe", "recipe_names"]


@dataclasses.dataclass(frozen=True)
class Recipe:
    """A registered data recipe: parameters, a per-sample generator and the input/output pairing.

    **Arguments:**

    - `name`: the registry name (`scimlx data list`).
    - `description`: one line.
    - `params`: the default parameters (the CPU-scale defaults), always including `resolution`.
    - `presets`: named parameter overrides, e.g. `{"paper": {...}}` for the paper-scale recipe.
    - `validate`: `params -> params`, checks a complete parameter dict and returns it normalised
        (e.g. tuples instead of lists); raises `ValueError`/`TypeError` naming the parameter.
    - `build`: `(params, dtype) -> sample`, where `sample(key, index) -> dict[str, Array]` draws one
        sample (pure: `jax.jit` and `jax.vmap` go through it). `index` is the sample's position in
        the data set (an integer scalar), used e.g. to cycle through a list of PDE parameters.
    - `pairs`: `(arrays, params) -> (x, y)`, the channels-first model inputs and targets
        `(n, C, *spatial)` made from the stored arrays.
    - `grid`: `params -> Grid`, the grid of the stored fields.
    - `resolution_note`: what `resolution` counts (e.g. whether boundary nodes are included).
    - `version`: bumped whenever the recipe changes its output, so that old cached sets are not reused.
    - `sample_limit`: `params -> int | None`, the number of distinct samples the parameters allow (e.g. 1
        for a deterministic initial condition); more are refused before any work.
    """

    name: str
    description: str
    params: Mapping[str, Any]
    presets: Mapping[str, Mapping[str, Any]]
    validate: Callable[[dict], dict]
    build: Callable[[dict, Any], Callable[[PRNGKeyArray, Array], dict[str, Array]]]
    pairs: Callable[[Mapping[str, np.ndarray], dict], tuple[np.ndarray, np.ndarray]]
    grid: Callable[[dict], Grid]
    resolution_note: str = ""
    version: int = 1
    sample_limit: Callable[[dict], int | None] | None = None

    def resolve(self, preset: str | None = None, **overrides) -> dict:
        """The complete, validated parameter dict: defaults, then `preset`, then `overrides`."""
        params = dict(self.params)
        if preset is not None:
            check_choice("preset", preset, sorted(self.presets), context=f"for {self.name!r}")
            params.update(self.presets[preset])
        unknown = sorted(set(overrides) - set(params))
        if unknown:
            raise ValueError(
                f"unknown parameter(s) {unknown} for {self.name!r}; its parameters are {sorted(params)}"
            )
        params.update(overrides)
        return self.validate(params)


# name -> "module:attribute"; modules are imported lazily so `scimlx data list` stays fast.
_RECIPES: dict[str, str] = {
    "darcy": "scimlx.datasets._darcy:RECIPE",
    "navier_stokes_2d": "scimlx.datasets._navier_stokes:RECIPE",
    "burgers_1d": "scimlx.datasets._burgers:RECIPE",
    "burgers_1d_pdebench": "scimlx.datasets._finite_volume:BURGERS_RECIPE",
    "advection_1d": "scimlx.datasets._finite_volume:ADVECTION_RECIPE",
    "kuramoto_sivashinsky": "scimlx.datasets._kuramoto_sivashinsky:RECIPE",
    "poisson_systems": "scimlx.datasets._poisson_systems:RECIPE",
}


def recipe_names() -> list[str]:
    """The registered recipe names."""
    return list(_RECIPES)


def get_recipe(name: str | Recipe) -> Recipe:
    """The recipe registered under `name` (a `Recipe` passes through)."""
    if isinstance(name, Recipe):
        return name
    if not isinstance(name, str):
        raise TypeError(f"`name` must be a recipe name (str), got {type(name).__name__}")
    if name not in _RECIPES:
        raise ValueError(f"unknown data set {name!r}: `name` must be one of {list(_RECIPES)}, got {name!r}")
    module, attr = _RECIPES[name].split(":")
    return getattr(importlib.import_module(module), attr)


@dataclasses.dataclass(frozen=True)
class Generated:
    """Freshly generated arrays with the recipe and parameters that made them."""

    recipe: Recipe
    params: dict
    arrays: dict[str, np.ndarray]
    seed: int | None
    dtype: str
    seconds: float


def _dtype_name(dtype) -> str:
    """The name of `dtype`, which must be float32 or float64 (a name, a NumPy dtype or a scalar type)."""
    if dtype is None:  # NumPy would read None as float64
        raise TypeError("`dtype` must be 'float32' or 'float64' (or such a NumPy dtype), got None")
    try:
        name = jnp.dtype(dtype).name
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"`dtype` must be 'float32' or 'float64' (or such a NumPy dtype), got {_short(dtype)}"
        ) from e
    if name not in ("float32", "float64"):
        raise ValueError(f"`dtype` must be float32 or float64, got {name}")
    return name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else type(value).__name__


MAX_SEED = 2**32 - 1


def check_seed(seed: Any) -> int:
    """A seed in `[0, 2^32 - 1]` (larger seeds would alias: JAX keys hold 32 bits without 64-bit mode)."""
    seed = check_int("seed", seed, low=0)
    if seed > MAX_SEED:
        raise ValueError(f"`seed` must be at most 2^32 - 1 = {MAX_SEED}, got {seed}")
    return seed


def seed_key(seed: int, stream: int = 0) -> PRNGKeyArray:
    """The key of a data stream of `seed`: stream 0 holds the training samples, stream 1 the test samples."""
    return jax.random.fold_in(jax.random.key(seed), stream)


def check_sample_count(recipe: Recipe, params: dict, n: int, what: str = "`n`") -> None:
    """Refuse more samples than the recipe can draw distinctly with these parameters (e.g. a fixed IC);
    `what` names the count in the message (e.g. "`n_train` + `n_test`")."""
    if recipe.sample_limit is None:
        return
    limit = recipe.sample_limit(params)
    if limit is not None and n > limit:
        raise ValueError(
            f"{recipe.name!r} with these parameters gives {limit} distinct sample(s) (a deterministic "
            f"initial condition); ask for at most {limit} ({what} = {n})"
        )


def generate(
    name: str | Recipe,
    n: int,
    *,
    seed: int | None = None,
    key: PRNGKeyArray | None = None,
    preset: str | None = None,
    dtype: Any = "float32",
    chunk_size: int | None = None,
    progress: bool = False,
    **params,
) -> Generated:
    """Generate `n` samples of the recipe `name`.

    Sample `i` is drawn with the key `fold_in(key, i)`; with a `seed`, `key` is
    `fold_in(jax.random.key(seed), 0)`, the training stream of [`scimlx.datasets.load`][], so
    `generate(name, n, seed=s)` gives the training samples of `load(name, n_train=n, seed=s)`. The first
    `m` samples do not depend on `n` or on `chunk_size` (up to floating-point round-off: XLA may vectorise
    a batch of 1 differently from a larger one). Chunks of `chunk_size` samples are generated by one
    jit-compiled, vmapped function (the last chunk is padded, so it compiles once).

    **Arguments:**

    - `name`: a recipe name (see [`scimlx.datasets.recipe_names`][]) or a `Recipe`.
    - `n`: the number of samples.
    - `seed` / `key`: the randomness: an integer seed in `[0, 2^32)` or a PRNG key (exactly one).
    - `preset`: a named parameter preset of the recipe (e.g. `"paper"`).
    - `dtype`: `"float32"` (default) or `"float64"` (then computed with JAX's 64-bit mode on).
    - `chunk_size`: samples per compiled call (default: the recipe's `chunk_size` parameter or 16).
    - `progress`: show a progress bar with an ETA.
    - `**params`: parameter overrides (see the recipe's `params`).
    """
    recipe = get_recipe(name)
    n = check_int("n", n)
    if (seed is None) == (key is None):
        raise ValueError("pass exactly one of `seed` (an integer) or `key` (a PRNG key)")
    if seed is not None:
        seed = check_seed(seed)
        key = seed_key(seed, 0)
    key = check_key(key)
    dtype = _dtype_name(dtype)
    progress = check_bool("progress", progress)
    resolved = recipe.resolve(preset, **params)
    check_sample_count(recipe, resolved, n)
    chunk_size = check_int("chunk_size", chunk_size, optional=True)
    t0 = time.perf_counter()
    (arrays,) = _generate_parts(recipe, resolved, dtype, [(key, n)], chunk_size, progress)
    return Generated(recipe, resolved, arrays, seed, dtype, time.perf_counter() - t0)


def _generate_parts(
    recipe: Recipe,
    params: dict,
    dtype: str,
    parts: list[tuple[PRNGKeyArray, int]],
    chunk_size: int | None,
    progress: bool,
    resume_dir: pathlib.Path | None = None,
) -> list[dict[str, np.ndarray]]:
    """Generate several sets (one `(key, n)` each) with one compiled function; `n` may be 0.

    With `resume_dir`, every finished chunk is saved there (atomically) and chunks already there are
    read back instead of being generated again, so an interrupted run resumes where it stopped.

    A first Ctrl-C stops the work after the running chunk (the chunk is finished and saved first) with
    [`scimlx.Interrupted`][], whose message says how many samples and chunks were kept,
    and where; a second one is handled as before the call (see `scimlx._interrupt.stop_on_interrupt`).
    """
    total = sum(n for _, n in parts)
    chunk = chunk_size or int(params.get("chunk_size", 16))
    chunk = max(1, min(chunk, max(n for _, n in parts)))
    results = []
    done = saved_chunks = 0  # samples finished in this call; chunks of them on disk in `resume_dir`
    with _precision(dtype), stop_on_interrupt(f"{recipe.name} data generation") as stop:
        sample = recipe.build(params, jnp.dtype(dtype))
        batched = jax.jit(jax.vmap(sample))
        fold = jax.jit(jax.vmap(jax.random.fold_in, in_axes=(None, 0)))
        bar = _progress_bar(total, recipe.name, progress)
        try:
            for j, (key, n) in enumerate(parts):
                if n == 0:
                    shapes = jax.eval_shape(sample, key, jnp.int32(0))
                    results.append({k: np.zeros((0, *v.shape), v.dtype) for k, v in shapes.items()})
                    continue
                n_chunks = math.ceil(n / chunk)
                collected: dict[str, list[np.ndarray]] = {}
                for c in range(n_chunks):
                    take = min(chunk, n - c * chunk)
                    saved = None if resume_dir is None else resume_dir / f"chunk{chunk}-part{j}-{c:06d}.npz"
                    out = _read_chunk(saved)
                    if out is None:
                        index = jnp.minimum(jnp.arange(c * chunk, (c + 1) * chunk, dtype=jnp.int32), n - 1)
                        out = {
                            k: np.asarray(v)[:take]
                            for k, v in jax.device_get(batched(fold(key, index), index)).items()
                        }
                        if saved is not None:
                            buf = io.BytesIO()
                            np.savez(buf, **out)
                            atomic_write(saved, buf.getvalue())
                    for k, v in out.items():
                        collected.setdefault(k, []).append(v)
                    done += take
                    saved_chunks += saved is not None
                    if bar is not None:
                        bar.update(take)
                    if stop.requested and done < total:  # a safe point: every finished chunk is on disk
                        message = _stopped_message(recipe.name, done, total, saved_chunks, resume_dir)
                        raise Interrupted(message)
                results.append({k: np.concatenate(v) for k, v in collected.items()})
        finally:
            if bar is not None:
                bar.close()
    for arrays in results:
        if "converged" in arrays and not np.all(arrays["converged"]):
            bad, count = int(np.sum(~arrays["converged"].astype(bool))), len(arrays["converged"])
            warnings.warn(
                f"{recipe.name}: the solver did not reach its tolerance for {bad} of {count} "
                "samples (see the stored `converged` flags); raise `maxiter`",
                RuntimeWarning,
                stacklevel=3,
            )
    return results


def _stopped_message(name: str, done: int, total: int, chunks: int, resume_dir: pathlib.Path | None) -> str:
    head = f"{name} data generation stopped after {done} of {total} samples"
    if resume_dir is None or chunks == 0:
        return (
            f"{head}; nothing was kept (only generation into the cache, by `load` or by "
            "`scimlx data generate` without `--out`, keeps finished chunks to resume from)"
        )
    return (
        f"{head}; the {chunks} finished chunk(s) are kept in {resume_dir}; the same call (or command) "
        "again resumes from them"
    )


def _read_chunk(path: pathlib.Path | None) -> dict[str, np.ndarray] | None:
    if path is None or not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except Exception:  # a damaged partial chunk is simply generated again
        return None


class _precision:
    def __init__(self, dtype: str):
        self.cm = None
        if dtype == "float64":
            enable_x64 = getattr(jax, "enable_x64", None)
            if enable_x64 is None:  # older JAX
                from jax.experimental import enable_x64
            self.cm = enable_x64(True)

    def __enter__(self):
        if self.cm is not None:
            self.cm.__enter__()

    def __exit__(self, *exc):
        if self.cm is not None:
            return self.cm.__exit__(*exc)
        return False


def _progress_bar(total: int, desc: str, enabled: bool):
    if not enabled:
        return None
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="sample")
