"""Where scimlx keeps what it can rebuild: generated data and compiled XLA programs."""

from __future__ import annotations

import os
import pathlib
import sys


def user_cache_root() -> pathlib.Path:
    """The platform's user cache directory + `/scimlx` (XDG on Linux, `~/Library/Caches` on macOS)."""
    if sys.platform == "win32":
        base = pathlib.Path(os.environ.get("LOCALAPPDATA", pathlib.Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = pathlib.Path.home() / "Library" / "Caches"
    else:
        base = pathlib.Path(os.environ.get("XDG_CACHE_HOME", pathlib.Path.home() / ".cache"))
    return base / "scimlx"


def enable_compilation_cache(path: str | os.PathLike | None = None) -> pathlib.Path | None:
    """Keep JAX's compiled programs on disk, so that a second run skips compilation.

    On a CPU, building a model compiles one random draw per weight shape (about 10-20 s for an LSM) and
    every jitted step compiles once per run; with the cache a repeated run starts in about a second.
    Importing scimlx enables it (unless `SCIMLX_JAX_CACHE=0`), with the default directory or
    `$SCIMLX_JAX_CACHE`; call this for another directory. Caching every program, however fast it compiled, is
    what helps here. The cache is not pruned: delete the directory to reclaim its space.

    **Arguments:**

    - `path`: the directory (default: `$SCIMLX_JAX_CACHE`, else the user cache directory + `/scimlx/jax`).

    Before JAX is imported the settings go into the environment (`JAX_COMPILATION_CACHE_DIR`, ...), which
    JAX reads at its import, so importing scimlx stays light; afterwards into `jax.config`.

    **Returns:** the directory, or `None` when JAX's cache was already configured elsewhere (it is left
    alone) or `SCIMLX_JAX_CACHE` is set to an empty string or `0` (disabled).
    """
    env = os.environ.get("SCIMLX_JAX_CACHE")
    if path is None and env is not None and env.strip() in ("", "0"):
        return None
    jax = sys.modules.get("jax")
    configured = os.environ.get("JAX_COMPILATION_CACHE_DIR") or (
        jax is not None and jax.config.jax_compilation_cache_dir
    )
    if path is None and configured:
        return None
    target = pathlib.Path(path or env or user_cache_root() / "jax").expanduser()
    target.mkdir(parents=True, exist_ok=True)
    settings = {
        "jax_compilation_cache_dir": str(target),
        "jax_persistent_cache_min_compile_time_secs": 0.0,
        "jax_persistent_cache_min_entry_size_bytes": 0,
    }
    if jax is None:  # not imported yet: JAX reads these at its import (importing it here takes seconds)
        os.environ.update({name.upper(): str(value) for name, value in settings.items()})
    else:
        for name, value in settings.items():
            jax.config.update(name, value)
    return target
