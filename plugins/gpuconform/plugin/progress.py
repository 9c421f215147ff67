"""Say on the terminal which framework children are running, and for how long, while the checks wait.

One `Progress` per run speaks for every framework's runner: TensorFlow's directly, each other's
through `Progress.of` (PyTorch, JAX and Keras children are named as theirs).

On a terminal: one status line, drawn after the progress dots while a check waits for its child and
erased before pytest writes again. Elsewhere (CI logs, a pipe): one line when a child starts and
one when it ends, and one more when a child turns out to be busy for minutes; nothing on a timer.
Busy is what the child's own log says while it runs (TensorFlow JIT-compiling kernels from PTX:
the framework's `busy` reads each new line of the file its stderr grows in, a bounded amount at a
time); on a host with GPUs a child that has run long enough with no such line gets the note that
first GPU use may be JIT-compiling. Children run in threads; everything is written from the checks'
thread, with pytest's output capture suspended, so the lines never tear pytest's own.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

PREFIX = "gpuconform: "
#: A framework's reading of one line of a child's log: what it says the child is busy with, or None.
Reading = Callable[[str], "str | None"]
#: After this long, a child on a host with GPUs may be JIT-compiling kernels (PTX for a new GPU).
JIT_AFTER_SECONDS = 20.0
JIT_NOTE = "first GPU use may JIT-compile kernels for minutes (bounded by --host-tf-timeout)"
#: What follows what a child's log says it is busy with.
BUSY_BOUND = "this can take minutes, bounded by --host-tf-timeout"
#: The most of a child's log read per look (TF's VLOG can write megabytes; a look must stay quick).
READ_AT_MOST = 64 * 1024
#: The longest line kept whole while its end is not written yet; a longer one is cut there.
LINE_AT_MOST = 8 * 1024


class LogTail:
    """The new lines of a file another process is writing, read a bounded amount at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._offset = 0
        self._partial = b""

    def new_lines(self) -> list[str]:
        """The lines completed since the last call (at most READ_AT_MOST bytes more of the file)."""
        try:
            with open(self.path, "rb") as handle:
                handle.seek(self._offset)
                chunk = handle.read(READ_AT_MOST)
        except OSError:  # the child has ended and its file is gone: nothing more to say
            return []
        self._offset += len(chunk)
        *lines, rest = (self._partial + chunk).split(b"\n")
        self._partial = rest[-LINE_AT_MOST:]
        return [line.decode("utf-8", "replace") for line in lines]


class Progress:
    """A `gpuconform.frameworks.children.Watcher` that writes to pytest's terminal reporter."""

    def __init__(
        self,
        config: pytest.Config,
        framework: str,
        gpus: bool,
        busy: Callable[[str], str | None] = lambda line: None,
    ) -> None:
        self.reporter: Any = config.pluginmanager.get_plugin("terminalreporter")
        self.capture: Any = config.pluginmanager.get_plugin("capturemanager")
        self.tty = bool(self.reporter is not None and self.reporter.isatty())
        self.framework = framework
        self.gpus = gpus  # whether to mention JIT compilation for a slow child
        self.busy = busy  # the framework's reading of a log line (`gpuconform.frameworks.base.Framework.busy`)
        self._lock = threading.Lock()
        self._running: dict[str, float] = {}
        self._logs: dict[str, LogTail] = {}  # the running children's logs not yet found busy
        self._busy: dict[str, str] = {}  # what a running child's log says it is busy with
        self._lines: list[str] = []  # said from the threads, written from the checks' thread
        self._noted: set[str] = set()
        self._drawn = 0  # width of the status line now on the terminal
        # Keys of the dicts above: a child's label, prefixed with its framework's name where that is not
        # `framework`'s; `_whose` and `_reads` hold each running child's (framework, label) and log reading.
        self._whose: dict[str, tuple[str, str]] = {}
        self._reads: dict[str, Reading] = {}

    def of(self, framework: str, busy: Reading = lambda line: None) -> FrameworkProgress:
        """A watcher for another framework's children on this same terminal."""
        return FrameworkProgress(self, framework, busy)

    def started(self, label: str, framework: str | None = None, busy: Reading | None = None) -> None:
        """A child of `framework` (this run's first framework by default) has started; `busy` reads its log."""
        name = framework or self.framework
        key = self._key(label, name)
        with self._lock:
            self._running[key] = time.monotonic()
            self._whose[key] = (name, label)
            self._reads[key] = self.busy if busy is None else busy
            self._lines.append(f"{PREFIX}{name} child started: {label}")

    def logging(self, label: str, path: str, framework: str | None = None) -> None:
        with self._lock:
            self._logs[self._key(label, framework)] = LogTail(path)

    def ended(self, label: str, seconds: float, problem: str | None, framework: str | None = None) -> None:
        name = framework or self.framework
        key = self._key(label, name)
        with self._lock:
            for held in (self._running, self._logs, self._busy, self._whose, self._reads):
                held.pop(key, None)
            how = f"failed ({problem.splitlines()[0][:160]})" if problem else "ended"
            self._lines.append(f"{PREFIX}{name} child {how} after {seconds:.1f} s: {label}")

    def _key(self, label: str, framework: str | None) -> str:
        return label if framework in (None, self.framework) else f"{framework} {label}"

    def waiting(self) -> None:
        """A check is waiting for its child: bring the terminal up to date."""
        self.flush(status=True)

    def flush(self, status: bool = False) -> None:
        """Write what the children said (not on a terminal), then the status line if `status` (on one)."""
        if self.reporter is None:
            return
        self._read_logs()
        now = time.monotonic()
        with self._lock:
            lines, self._lines = self._lines, []
            running = dict(self._running)
            busy = dict(self._busy)
            for label, since in running.items():
                if self.gpus and now - since > JIT_AFTER_SECONDS and label not in self._noted:
                    self._noted.add(label)
                    lines.append(f"{PREFIX}{label} still running after {now - since:.0f} s: {JIT_NOTE}")
        text = self._status(running, busy, now) if status and self.tty else ""
        if not (lines and not self.tty) and not text and not self._drawn:
            return
        with self._uncaptured():
            self._erase()
            if not self.tty:
                if lines and self._line_width() > 0:
                    self.reporter.write("\n")  # off the line of dots (write_line does not, under -q)
                for line in lines:
                    self.reporter.write_line(line)
                if lines:
                    self.reporter.flush()  # a log (a pipe, a file) shows each line when it happens
            elif text:
                self.reporter.write_raw(text, flush=True)
                self._drawn = len(text)

    def _read_logs(self) -> None:
        """Look at what the running children logged since the last look: say at once what keeps one busy."""
        with self._lock:
            logs = dict(self._logs)
        for label, log in logs.items():
            with self._lock:
                reads = self._reads.get(label, self.busy)
            said = next(filter(None, map(reads, log.new_lines())), None)
            if said is None:
                continue
            with self._lock:
                if label not in self._running:
                    continue  # it ended meanwhile: no longer busy
                self._logs.pop(label, None)  # one note per child, never repeated
                self._busy[label] = said
                self._noted.add(label)  # the log said why: no guess from the time it takes
                self._lines.append(f"{PREFIX}{label}: {said}: {BUSY_BOUND}")

    def _status(self, running: dict[str, float], busy: dict[str, str], now: float) -> str:
        if not running:
            return ""
        with self._lock:
            whose = {key: self._whose.get(key, (self.framework, key)) for key in running}
        groups: dict[str, list[str]] = {}  # framework -> its running children, the longest running first
        for key, since in sorted(running.items(), key=lambda kv: kv[1]):
            name, label = whose[key]
            groups.setdefault(name, []).append(f"{label} {now - since:.0f} s")
        parts = [f"{name}: {len(children)} running: {'; '.join(children)}" for name, children in groups.items()]
        text = f" [{' | '.join(parts)}"
        said = list(dict.fromkeys(busy[label] for label in running if label in busy))
        if said:
            text += f"; {'; '.join(said)}: {BUSY_BOUND}"
        elif self.gpus and any(now - since > JIT_AFTER_SECONDS for since in running.values()):
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


class FrameworkProgress:
    """Another framework's children on the run's `Progress` (a `gpuconform.frameworks.children.Watcher`)."""

    def __init__(self, progress: Progress, framework: str, busy: Reading) -> None:
        self.progress = progress
        self.framework = framework
        self.busy = busy

    def started(self, label: str) -> None:
        self.progress.started(label, self.framework, self.busy)

    def logging(self, label: str, path: str) -> None:
        self.progress.logging(label, path, self.framework)

    def ended(self, label: str, seconds: float, problem: str | None) -> None:
        self.progress.ended(label, seconds, problem, self.framework)

    def waiting(self) -> None:
        self.progress.waiting()
