"""scimlx: a scientific-ML solver suite on JAX, built on one shared PDE-residual core."""

import importlib.metadata

__version__ = importlib.metadata.version("scimlx")

from ._cache import enable_compilation_cache as enable_compilation_cache  # noqa: E402
