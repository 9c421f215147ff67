"""While TensorFlow works the terminal says so: a line per child start and end in a log, a status line on a tty.

Real runs of the memory layer (one TensorFlow child) on the cpu profile: once with its output
piped (as CI logs are), once on a pseudo-terminal, which pytest sees as a terminal, and once with
a child that logs TensorFlow's JIT-from-PTX line (tests/faultseams) and waits until the note is out.
"""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpuconform.plugin.keys import suites_dir

pytestmark = pytest.mark.skipif(
    __import__("importlib.util").util.find_spec("tensorflow") is None, reason="needs TensorFlow (the cpu extra)"
)

SEAMS = Path(__file__).parent / "faultseams"
REPO = Path(__file__).resolve().parents[1]
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


JIT_NOTE = (
    f"gpuconform: {CHILD}: TensorFlow is JIT-compiling kernels for compute capability 9.0 from PTX "
    "(no sm_90 kernels in this build): this can take minutes, bounded by --host-tf-timeout"
)


def test_a_log_says_at_once_and_once_that_a_running_child_is_jit_compiling_kernels(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The child logs TensorFlow's line, then waits for `release`, which this test writes only once
    # the note is in the run's output: the note is said while the child is still at it.
    release = pytester.path / "release"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(SEAMS), str(REPO), os.environ.get("PYTHONPATH", "")]))
    monkeypatch.setenv("GPUCONFORM_TEST_TF_FAULT", "jit-from-ptx")
    monkeypatch.setenv("GPUCONFORM_TEST_TF_RELEASE", str(release))
    output = pytester.path / "output.txt"
    with output.open("wb") as out:
        proc = pytester.popen([sys.executable, *ARGS, "-q"], stdout=out, stderr=subprocess.STDOUT)
        try:
            for _ in range(3000):  # a bound, not a timing: polling the file the run writes its log to
                if JIT_NOTE in output.read_text(errors="replace") or proc.poll() is not None:
                    break
                time.sleep(0.1)
            seen = output.read_text(errors="replace")
            release.touch()
            assert proc.wait(timeout=600) == 0, output.read_text()[-3000:]
        finally:
            release.touch()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert JIT_NOTE in seen, seen[-3000:]
    lines = output.read_text().splitlines()
    assert lines.count(JIT_NOTE) == 1, lines  # one line when it is noticed, never repeated
    assert lines.index(f"gpuconform: TensorFlow child started: {CHILD}") < lines.index(JIT_NOTE)
    ended = next(i for i, line in enumerate(lines) if line.startswith("gpuconform: TensorFlow child ended after "))
    assert lines.index(JIT_NOTE) < ended


KERAS_CHILD = "preprocessing (backend, load_img_inputs, interpolations, truncated_images, layers) KERAS_BACKEND={}"


@pytest.mark.skipif(__import__("importlib.util").util.find_spec("keras") is None, reason="needs Keras 3")
def test_a_log_names_each_other_frameworks_children_as_theirs(tmp_path: Path) -> None:
    # Keras 3's children (one per backend installed: TensorFlow's here; PyTorch's and JAX's where they are)
    # are said as Keras's, each with the backend that tells them apart; and TensorFlow's as before.
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-m", "preprocessing", "-k", "keras_runs", "-q"]
    proc = subprocess.run(
        [*argv, "-p", "no:cacheprovider", "--host-profile", "cpu"],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    lines = proc.stdout.splitlines()
    installed = [b for b in ("tensorflow", "torch", "jax") if __import__("importlib.util").util.find_spec(b)]
    for backend in {"tensorflow", "torch", "jax"} - set(installed):  # no child for a backend not installed
        assert f"KERAS_BACKEND={backend}" not in proc.stdout, proc.stdout
    for backend in installed:
        child = KERAS_CHILD.format(backend)
        assert lines.count(f"gpuconform: Keras child started: {child}") == 1, proc.stdout
        ended = [line for line in lines if line.startswith("gpuconform: Keras child ended after ")]
        assert sum(line.endswith(f" s: {child}") for line in ended) == 1, proc.stdout
