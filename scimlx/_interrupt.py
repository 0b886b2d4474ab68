"""Ctrl-C that stops long work cleanly: the first interrupt asks the work to stop at its next safe point, a
second one stops at once.

Long loops (the training loop, data generation, benchmark suites) run inside [`stop_on_interrupt`][]; they
poll `stop.requested` at each safe point (after a step, a chunk, a case), keep what they have (a
checkpoint, the finished chunks) and then raise [`Interrupted`][] with one line saying what was kept and
how to resume.

A first SIGINT inside the block only sets the flag and prints one line to stderr, so it can never be lost in a
callback (a KeyboardInterrupt raised inside a garbage-collection callback is swallowed by Python). A second
SIGINT goes to the handler that was installed before (Python's: `KeyboardInterrupt` at once) or, after
[`exit_on_second_interrupt`][] (the `scimlx` command), ends the process at once even inside a compiled call.
Outside the main thread the block does nothing and Ctrl-C behaves as usual.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Iterator

__all__ = ["Interrupted", "StopFlag", "exit_on_second_interrupt", "stop_on_interrupt"]


class Interrupted(KeyboardInterrupt):
    """Long work stopped at a safe point after Ctrl-C; the message says what was kept and how to resume."""


class StopFlag:
    """Set when a stop was asked for (by Ctrl-C, or by calling `request()`)."""

    def __init__(self) -> None:
        self.requested = False

    def request(self) -> None:
        self.requested = True


_active: StopFlag | None = None
_hard_exit = False


def exit_on_second_interrupt(enabled: bool = True) -> None:
    """Make a second Ctrl-C inside [`stop_on_interrupt`][] end the process at once (the default signal
    action), even while a compiled call runs; for command-line programs, not for notebooks."""
    global _hard_exit
    _hard_exit = enabled


@contextlib.contextmanager
def stop_on_interrupt(what: str) -> Iterator[StopFlag]:
    """Within the block, the first Ctrl-C sets the returned flag and prints `what` will stop at its next
    safe point; the second is handled as before the block (or ends the process, see
    [`exit_on_second_interrupt`][]). Nested blocks share the outermost flag."""
    global _active
    if _active is not None:
        yield _active
        return
    flag = StopFlag()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    try:
        previous = signal.getsignal(signal.SIGINT)
    except (ValueError, OSError):  # pragma: no cover - no signals here
        yield flag
        return

    def handler(signum, frame):
        if not flag.requested:
            flag.request()
            print(
                f"\nscimlx: interrupt: {what} stops at the next safe point "
                "(press Ctrl-C again to stop at once)",
                file=sys.stderr,
                flush=True,
            )
            if _hard_exit:  # the next SIGINT is the kernel's default action: the process ends at once
                signal.signal(signal.SIGINT, signal.SIG_DFL)
            else:
                signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
            return
        # only reached when the handler was not swapped (a re-entrant call): behave as Python's default
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, handler)
    _active = flag
    try:
        yield flag
    finally:
        _active = None
        signal.signal(signal.SIGINT, previous if previous is not None else signal.default_int_handler)
