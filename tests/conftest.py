import os
import shutil
import signal
import tempfile

import pytest

# Compilation is most of the test run's time (about 0.05-0.7 s per distinct shape of each eager operation,
# model initialisation included). Two settings share or shorten it, and neither changes what is computed:
# - Compiled programs are shared between the test workers through a JAX disk cache that lives only for this
#   run (created empty by the controlling process, inherited by the workers through the environment, removed
#   at the end): never the user's cache, so every run starts cold. `SCIMLX_JAX_CACHE` set by the caller
#   (e.g. `0`) is respected.
# - Random draws use the classic, non-partitionable threefry (`jax_threefry_partitionable=False`, JAX's
#   default before 0.5), which compiles in about half the time; it draws other (equally random) numbers
#   than a user's default, and no test depends on which (`JAX_THREEFRY_PARTITIONABLE=1 pytest` runs the tests
#   with JAX's default).
if "PYTEST_XDIST_WORKER" not in os.environ and "SCIMLX_JAX_CACHE" not in os.environ:
    _RUN_CACHE = tempfile.mkdtemp(prefix="scimlx-test-jax-")
    os.environ["SCIMLX_JAX_CACHE"] = _RUN_CACHE
else:
    _RUN_CACHE = None
os.environ.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")  # also for the subprocesses of the tests

import jax  # noqa: E402

jax.config.update(
    "jax_threefry_partitionable", os.environ["JAX_THREEFRY_PARTITIONABLE"].lower() in ("1", "true")
)


def pytest_unconfigure(config):
    if _RUN_CACHE is not None:
        shutil.rmtree(_RUN_CACHE, ignore_errors=True)


@pytest.fixture
def x64():
    """Run the test in float64 (for convergence orders and tolerances near round-off)."""
    enable_x64 = getattr(jax, "enable_x64", None)
    if enable_x64 is None:  # older JAX
        from jax.experimental import enable_x64
    with enable_x64(True):
        yield


@pytest.fixture
def default_prng():
    """Run the test with JAX's default generator (partitionable threefry) instead of the tests' classic one.

    For two short training runs whose asserted margins were set on the default generator's draws and do not
    hold on the classic one's (PIG against the MLP-PINN on Helmholtz after 150 steps: 0.62 against 1.00 with
    the classic draws, not the asserted factor 2; L-BFGS's 15 steps: 0.73 of the initial loss, not 0.7). They
    check one draw each; the benchmarks compare methods properly."""
    with jax.threefry_partitionable(True):
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
