"""The `gpuconform` command never shows a traceback: usage errors exit 4, anything else 3 with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from gpuconform import cli


def test_an_unexpected_error_in_a_command_is_one_line_and_exit_3(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("the probe table is upside down")

    monkeypatch.setattr(cli, "_checks", broken)
    assert cli.main(["checks"]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err == "gpuconform: internal error: RuntimeError: the probe table is upside down (please report it)\n"


def test_a_reader_that_stops_early_is_not_an_error() -> None:
    child = subprocess.Popen(
        [sys.executable, "-m", "gpuconform", "checks"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert child.stdout is not None and child.stderr is not None
    child.stdout.close()  # the reader is gone before the first line: every write meets EPIPE
    err = child.stderr.read().decode()
    assert child.wait(timeout=120) == 0
    assert "Traceback" not in err and "BrokenPipe" not in err, err
