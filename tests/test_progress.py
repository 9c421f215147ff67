"""While TensorFlow works the terminal says so: a line per child start and end in a log, a status line on a tty.

Real runs of the memory layer (one TensorFlow child) on the cpu profile: once with its output
piped (as CI logs are), once on a pseudo-terminal, which pytest sees as a terminal.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconform.plugin.keys import suites_dir

pytestmark = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("tensorflow") is None, reason="needs TensorFlow (the cpu extra)"
)

CHILD = "memory (split_cpu, configure_after_init)"
ARGS = ["-m", "pytest", str(suites_dir()), "-m", "memory", "-p", "no:cacheprovider", "--host-profile", "cpu"]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GPUCONFORM_", "PYTEST_"))}
    env["COLUMNS"] = "200"
    return env


def test_a_log_gets_one_line_when_a_child_starts_and_one_when_it_ends(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, *ARGS, "-q"], cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    lines = proc.stdout.splitlines()
    assert lines.count(f"gpuconform: TensorFlow child started: {CHILD}") == 1, proc.stdout
    ended = [line for line in lines if line.startswith("gpuconform: TensorFlow child ended after ")]
    assert len(ended) == 1 and ended[0].endswith(f" s: {CHILD}"), proc.stdout
    assert "\b" not in proc.stdout and "running:" not in proc.stdout  # no status line, no spinner


def test_a_terminal_gets_a_status_line_naming_the_running_child_that_is_erased_before_the_outcome(
    tmp_path: Path,
) -> None:
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, *ARGS], cwd=tmp_path, env=_env(), stdin=subprocess.DEVNULL, stdout=follower, stderr=follower
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the run has ended and closed the terminal
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=600) == 0
    out = b"".join(chunks).decode("utf-8", "replace")
    status = f" [TensorFlow: 1 running: {CHILD} "
    assert status in out, out[-3000:]
    drawn = out.index(status)
    width = out.index("]", drawn) + 1 - drawn
    assert "\b" * width + " " * width + "\b" * width in out[drawn:]  # taken back down
    assert "child started:" not in out  # a terminal gets the status line, not the log lines
    assert "passed" in out
