"""Test-only pytest plugin: the pytest process sends itself a signal at a chosen point of the run.

Load it with ``-p tests.faultseams.signals``. GPUCONFORM_TEST_SIGNAL_AFTER=NAME:SIG sends SIG
(``SIGTERM``, ``SIGINT``) once the check whose test is NAME has finished, so it lands between
two checks; GPUCONFORM_TEST_SIGNAL_AT_FINISH=SIG sends it while the session finishes, before
the reports are written. A real signal through the kernel, at a point no clock decides.
"""

from __future__ import annotations

import os
import signal

import pytest

AFTER = "GPUCONFORM_TEST_SIGNAL_AFTER"
AT_FINISH = "GPUCONFORM_TEST_SIGNAL_AT_FINISH"


def _send(name: str) -> None:
    os.kill(os.getpid(), signal.Signals[name])


@pytest.hookimpl(trylast=True)
def pytest_runtest_logfinish(nodeid: str, location: tuple[str, int | None, str]) -> None:
    after = os.environ.get(AFTER)
    if after:
        test, _, sig = after.partition(":")
        if nodeid.rpartition("::")[2] == test:
            _send(sig)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    sig = os.environ.get(AT_FINISH)
    if sig:
        _send(sig)
