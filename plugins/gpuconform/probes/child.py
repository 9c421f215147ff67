"""Run probe code in a child Python process with a timeout.

Anything that loads NVML, CUDA libraries or TensorFlow runs here, so that a
segfault, abort or hang becomes a `ProbeError` naming the signal or timeout,
and the pytest process goes on to write its reports. Children get argument
lists, never a shell.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from gpuconform.facts import ProbeError

#: Default seconds a probe child may run (option --host-probe-timeout overrides it).
DEFAULT_TIMEOUT = 20.0


@dataclass(frozen=True)
class ChildResult:
    """What a child process did: its exit, its output and its JSON answer if any."""

    argv: tuple[str, ...]
    returncode: int | None
    stdout: str
    stderr: str
    timed_out: bool = False
    duration: float = 0.0

    @property
    def signal_name(self) -> str | None:
        """The signal that killed the child (``SIGSEGV``), if one did."""
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    def error(self, probe: str) -> ProbeError | None:
        """Describe a crash, hang or unusable answer as a ProbeError; None when it went well."""
        tail = _tail(self.stderr)
        if self.timed_out:
            return ProbeError(probe, "timeout", f"no answer within {self.duration:.1f} s{tail}")
        if self.signal_name:
            return ProbeError(probe, "signal", f"killed by {self.signal_name}{tail}")
        if self.returncode != 0:
            return ProbeError(probe, "exit", f"exited with status {self.returncode}{tail}")
        try:
            self.json()
        except ValueError as exc:
            return ProbeError(probe, "invalid-output", f"printed no valid JSON ({exc}){tail}")
        return None

    def json(self) -> Any:
        """Parse the last non-empty stdout line as JSON (earlier lines may be library noise)."""
        lines = [line for line in self.stdout.splitlines() if line.strip()]
        if not lines:
            raise ValueError("empty output")
        return json.loads(lines[-1])


def run_python(
    args: Sequence[str],
    *,
    timeout: float = DEFAULT_TIMEOUT,
    env: Mapping[str, str] | None = None,
    stdin: str | None = None,
) -> ChildResult:
    """Run ``python <args>`` with `env` and kill its whole process group after `timeout`."""
    import time

    argv = (sys.executable, *args)
    started = time.monotonic()
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=dict(env) if env is not None else None,
        text=True,
        errors="replace",
        start_new_session=True,  # so a hang is killed with everything it spawned
    )
    try:
        out, err = proc.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        out, err = proc.communicate()
        return ChildResult(argv, proc.returncode, out, err, True, time.monotonic() - started)
    except BaseException:
        # Ctrl-C (or any error) in the parent: the child runs in its own session, so
        # the terminal's SIGINT never reached it; do not leave it running.
        _kill_group(proc)
        proc.wait()
        raise
    return ChildResult(argv, proc.returncode, out, err, False, time.monotonic() - started)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a probe child: ours, quiet, plus `extra`."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    env.update(extra or {})
    return env


def _kill_group(proc: subprocess.Popen[str]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        proc.kill()


def _tail(stderr: str, lines: int = 3) -> str:
    kept = [line for line in stderr.strip().splitlines() if line.strip()][-lines:]
    return (": " + " | ".join(kept)) if kept else ""
