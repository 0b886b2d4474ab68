import os

import jax
import pytest

# the `scimlx` command keeps compiled programs under the user's cache directory; not during the tests
os.environ.setdefault("SCIMLX_JAX_CACHE", "0")


@pytest.fixture
def x64():
    """Run the test in float64 (for convergence orders and tolerances near round-off)."""
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX
        from jax.experimental import enable_x64
    with enable_x64(True):
        yield


@pytest.fixture
def getkey():
    """A fresh PRNG key on each call, deterministic per test."""
    state = {"key": jax.random.key(0)}

    def _getkey():
        state["key"], sub = jax.random.split(state["key"])
        return sub

    return _getkey
