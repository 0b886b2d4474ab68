"""scimlx: a scientific-ML solver suite on JAX, built on one shared PDE-residual core.

Importing scimlx keeps JAX's compiled programs on disk (see [`scimlx.enable_compilation_cache`][]), so a
repeated run skips compilation; set `SCIMLX_JAX_CACHE=0` before the import to turn that off.
"""

import importlib.metadata
import warnings

__version__ = importlib.metadata.version("scimlx")

from ._cache import enable_compilation_cache as enable_compilation_cache  # noqa: E402
from ._interrupt import Interrupted as Interrupted  # noqa: E402

try:
    enable_compilation_cache()
except OSError as _error:  # a read-only home: run without the cache
    warnings.warn(
        f"scimlx: JAX's compilation cache is off ({_error}); set SCIMLX_JAX_CACHE to a writable directory",
        stacklevel=2,
    )
