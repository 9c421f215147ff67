"""SIGTERM ends a conformance run as Ctrl-C does.

CI runners and Kubernetes send SIGTERM, then SIGKILL after a grace period. Python's
default for SIGTERM is to die on the spot: no reports, and the children (which run
in their own sessions, out of reach of signals sent to our process group) left
running. During a conformance run the plugin turns SIGTERM into `Terminated`, a
KeyboardInterrupt, raised in the main thread: pytest handles it as it handles
Ctrl-C, so every child is killed on the way out (`gpuconform.probes.child`), the
reports of what ran are written, and the exit code is 2 (interrupted). The
terminal names the signal.

Once the run is stopping, or once its checks are done and the reports are being
written, a SIGTERM is noted and not raised, so that it cannot cut a report short;
the exit code still says the run was interrupted. SIGINT is left to Python and
pytest.

Only the main thread can install a handler; a SIGTERM that is ignored (SIG_IGN) or
already handled by someone else when the run starts is left as it is.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Generator
from types import FrameType
from typing import Any

import pytest

PLUGIN_NAME = "gpuconform-interrupts"


class Terminated(KeyboardInterrupt):
    """Raised in the main thread on SIGTERM; pytest treats it as Ctrl-C."""

    def __init__(self) -> None:
        super().__init__("SIGTERM: the run was stopped as for Ctrl-C")


class SigtermHandling:
    """The SIGTERM handler of one run, and the hooks that tell it how far the run is."""

    def __init__(self, previous: Any) -> None:
        self.previous = previous  # the handler to restore when the run ends
        self.session: pytest.Session | None = None
        self.received = 0
        self.finishing = False  # the checks are over: the reports are being written

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        if self.session is not None:
            self.session.exitstatus = pytest.ExitCode.INTERRUPTED
        if self.received == 1 and not self.finishing:
            _say("gpuconform: SIGTERM: stopping as for Ctrl-C: child processes are killed, reports of what ran written")
            raise Terminated()
        _say("gpuconform: SIGTERM again: already stopping; the reports are completed first")

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self.session = session

    @pytest.hookimpl(wrapper=True)
    def pytest_runtestloop(self, session: pytest.Session) -> Generator[None, object, object]:
        try:
            return (yield)
        finally:
            self.finishing = True

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if self.received:
            times = "" if self.received == 1 else f" ({self.received} times)"
            terminalreporter.write_line(
                f"gpuconform: interrupted by SIGTERM{times}: the reports cover the checks that ran", red=True
            )

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        uninstall(config)


def install(config: pytest.Config) -> None:
    """Turn SIGTERM into Ctrl-C for this run (a no-op outside the main thread or when SIGTERM is taken)."""
    if threading.current_thread() is not threading.main_thread() or config.pluginmanager.has_plugin(PLUGIN_NAME):
        return
    previous = signal.getsignal(signal.SIGTERM)
    if previous is not signal.SIG_DFL:
        return
    handling = SigtermHandling(previous)
    signal.signal(signal.SIGTERM, handling.handle)
    config.pluginmanager.register(handling, PLUGIN_NAME)


def uninstall(config: pytest.Config) -> None:
    """Give SIGTERM back its handler from before the run."""
    handling = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if not isinstance(handling, SigtermHandling):
        return
    config.pluginmanager.unregister(handling)
    if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == handling.handle:
        signal.signal(signal.SIGTERM, handling.previous)


def _say(line: str) -> None:
    # A raw write: the handler may run in the middle of a print to the same stream.
    with contextlib.suppress(OSError):
        os.write(2, (line + "\n").encode())
