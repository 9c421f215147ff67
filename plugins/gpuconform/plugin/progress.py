"""Say on the terminal which framework children are running, and for how long, while the checks wait.

On a terminal: one status line, drawn after the progress dots while a check waits for its child and
erased before pytest writes again. Elsewhere (CI logs, a pipe): one line when a child starts and
one when it ends, and one more should it run long enough that first GPU use may be JIT-compiling;
nothing on a timer. Children run in threads; everything is written from the checks' thread, with
pytest's output capture suspended, so the lines never tear pytest's own.
"""

from __future__ import annotations

import shutil
import threading
import time
from typing import Any

import pytest

PREFIX = "gpuconform: "
#: After this long, a child on a host with GPUs may be JIT-compiling kernels (PTX for a new GPU).
JIT_AFTER_SECONDS = 20.0
JIT_NOTE = "first GPU use may JIT-compile kernels for minutes (bounded by --host-tf-timeout)"


class Progress:
    """A `gpuconform.frameworks.children.Watcher` that writes to pytest's terminal reporter."""

    def __init__(self, config: pytest.Config, framework: str, gpus: bool) -> None:
        self.reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
        self.capture: Any = config.pluginmanager.get_plugin("capturemanager")
        self.tty = bool(self.reporter is not None and self.reporter.isatty())
        self.framework = framework
        self.gpus = gpus  # whether to mention JIT compilation for a slow child
        self._lock = threading.Lock()
        self._running: dict[str, float] = {}
        self._lines: list[str] = []  # said from the threads, written from the checks' thread
        self._noted: set[str] = set()
        self._drawn = 0  # width of the status line now on the terminal

    def started(self, label: str) -> None:
        with self._lock:
            self._running[label] = time.monotonic()
            self._lines.append(f"{PREFIX}{self.framework} child started: {label}")

    def ended(self, label: str, seconds: float, problem: str | None) -> None:
        with self._lock:
            self._running.pop(label, None)
            how = f"failed ({problem.splitlines()[0][:160]})" if problem else "ended"
            self._lines.append(f"{PREFIX}{self.framework} child {how} after {seconds:.1f} s: {label}")

    def waiting(self) -> None:
        """A check is waiting for its child: bring the terminal up to date."""
        self.flush(status=True)

    def flush(self, status: bool = False) -> None:
        """Write what the children said (not on a terminal), then the status line if `status` (on one)."""
        if self.reporter is None:
            return
        now = time.monotonic()
        with self._lock:
            lines, self._lines = self._lines, []
            running = dict(self._running)
            for label, since in running.items():
                if self.gpus and now - since > JIT_AFTER_SECONDS and label not in self._noted:
                    self._noted.add(label)
                    lines.append(f"{PREFIX}{label} still running after {now - since:.0f} s: {JIT_NOTE}")
        text = self._status(running, now) if status and self.tty else ""
        if not (lines and not self.tty) and not text and not self._drawn:
            return
        with self._uncaptured():
            self._erase()
            if not self.tty:
                if lines and self._line_width() > 0:
                    self.reporter.write("\n")  # off the line of dots (write_line does not, under -q)
                for line in lines:
                    self.reporter.write_line(line)
            elif text:
                self.reporter.write_raw(text, flush=True)
                self._drawn = len(text)

    def _status(self, running: dict[str, float], now: float) -> str:
        if not running:
            return ""
        parts = [f"{label} {now - since:.0f} s" for label, since in sorted(running.items(), key=lambda kv: kv[1])]
        text = f" [{self.framework}: {len(running)} running: {'; '.join(parts)}"
        if self.gpus and any(now - since > JIT_AFTER_SECONDS for since in running.values()):
            text += f"; {JIT_NOTE}"
        text += "]"
        room = shutil.get_terminal_size().columns - self._line_width() - 1
        return text if len(text) <= room else (text[: max(0, room - 4)] + "...]" if room > 8 else "")

    def _line_width(self) -> int:
        tw = getattr(self.reporter, "_tw", None)  # pytest's TerminalWriter: how much of this line is written
        return max(0, int(tw.width_of_current_line)) if tw is not None else 0

    def _erase(self) -> None:
        """Take the status line back off the terminal, leaving the cursor where pytest left it."""
        if self._drawn:
            n, self._drawn = self._drawn, 0
            self.reporter.write_raw("\b" * n + " " * n + "\b" * n, flush=True)

    def _uncaptured(self) -> Any:
        if self.capture is None:
            import contextlib

            return contextlib.nullcontext()
        return self.capture.global_and_fixture_disabled()
