import os
import signal

import jax
import pytest

# scimlx keeps compiled programs under the user's cache directory; not during the tests
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


@pytest.fixture(autouse=True)
def _ctrl_c_handler_restored():
    """Every test runs under Python's own Ctrl-C handler, as in a terminal, and leaves it installed (a leaked
    one can kill the test run). A test run started in the background by a shell inherits an ignored SIGINT,
    under which the second-Ctrl-C tests could not pass; Python's handler is installed for each test then."""
    inherited = signal.getsignal(signal.SIGINT)
    if inherited is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    before = signal.getsignal(signal.SIGINT)
    yield
    leaked = signal.getsignal(signal.SIGINT) is not before
    signal.signal(signal.SIGINT, inherited)
    if leaked:
        pytest.fail("the test left another Ctrl-C (SIGINT) handler installed")
