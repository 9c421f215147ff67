"""Run a TensorFlow experiment that holds its GPU memory until the parent has measured it.

The protocol (the child side is `gpuconform.frameworks.tensorflow.experiments.memory.hold_until_released`):

1. the parent starts the child with stdin a pipe and ``GPUCONFORM_HOLD_SECONDS``;
2. the child allocates, prints a marked ``ready`` result line (its own view:
   PID, ``get_memory_info``) and blocks reading stdin;
3. the parent measures from outside (NVML, in another child), then writes
   ``release`` and closes stdin;
4. the child returns its final result and exits.

Every wait is bounded: the parent waits at most `timeout` for ``ready`` and
again for the exit, then kills the child's process group; the child stops
holding after ``GPUCONFORM_HOLD_SECONDS`` or at end of file on stdin, and dies
with its parent (`gpuconform.probes.child.child_process`), so a parent that
dies never leaves a child holding a GPU; Ctrl-C or SIGTERM kills it at once.
stderr (TF's log, large at verbose levels) goes to a temporary file so a full
pipe cannot stall the child.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import selectors
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.child_main import MARK
from gpuconform.frameworks.child_main import emit
from gpuconform.frameworks.children import BASE_ENV
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import parse_results
from gpuconform.probes.child import ChildResult
from gpuconform.probes.child import child_env
from gpuconform.probes.child import child_process
from gpuconform.probes.child import kill_group

READY = "ready"
HOLD_ENV = "GPUCONFORM_HOLD_SECONDS"
RELEASE = "release\n"


@dataclass
class Held:
    """A running child that holds its allocation; `batch` is set once it has exited."""

    module: str
    name: str
    pid: int
    ready: bool = False  # it printed its ready line and is waiting
    ready_value: object = None
    batch: Batch | None = None


@contextlib.contextmanager
def hold(
    framework: Framework,
    module: str,
    name: str,
    *,
    env: Mapping[str, str | None],
    timeout: float,
    argv: Sequence[str] | None = None,
) -> Iterator[Held]:
    """Start experiment `name` of `framework`'s `module` and yield once it is ready (or gone); release it on exit.

    `env` adds variables to ours; a None value removes one. `argv` replaces the framework's
    experiments child (``python -m <experiments>.child MODULE NAME``) with another program that
    speaks the same protocol.
    """
    added = {k: v for k, v in env.items() if v is not None}
    environment = child_env({**BASE_ENV, **added, HOLD_ENV: str(int(timeout))})
    for key in (k for k, v in env.items() if v is None):
        environment.pop(key, None)
    argv = tuple(argv) if argv is not None else (sys.executable, *framework.child_argv(module, name))
    started = time.monotonic()
    with contextlib.ExitStack() as stack:
        err = stack.enter_context(tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace"))
        proc = stack.enter_context(
            child_process(argv, env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=err)
        )
        held = Held(module, name, proc.pid)
        reader = _Lines(proc)
        timed_out = False
        try:
            timed_out = not reader.until(
                lambda line: _is_result(line, READY) or _is_result(line, name), started + timeout
            )
            ready_line = next((line for line in reader.lines if _is_result(line, READY)), None)
            if ready_line is not None:
                held.ready = True
                held.ready_value = json.loads(ready_line[len(MARK) :]).get("value")
            yield held
        except KeyboardInterrupt:  # Ctrl-C or SIGTERM (gpuconform.plugin.interrupts): stop it now, wait for nothing
            kill_group(proc)
            raise
        finally:
            _release(proc)
            if not timed_out:
                timed_out = not reader.until(lambda line: False, time.monotonic() + timeout)
            if timed_out:
                kill_group(proc)
            proc.wait()
            err.seek(0)
            child = ChildResult(
                argv,
                proc.returncode,
                "".join(reader.lines),
                err.read(),
                timed_out,
                time.monotonic() - started,
                timeout,
            )
            held.batch = Batch(module, tuple(sorted(added.items())), parse_results(child, [READY, name]), child)


def hold_until_released() -> bool:
    """Child side: block until the parent writes "release", stdin closes, or the hold time runs out."""
    seconds = float(os.environ.get(HOLD_ENV) or 0)
    readable, _, _ = select.select([sys.stdin], [], [], seconds)
    return bool(readable) and sys.stdin.readline().strip() == "release"


def ready_then_hold(value: object) -> dict[str, bool]:
    """Child side: print the ready line with `value` (the child's own view), then hold until released."""
    emit(READY, {"ok": True, "value": value})
    return {"released": hold_until_released()}


def _is_result(line: str, name: str) -> bool:
    return line.startswith(MARK) and f'"name": {json.dumps(name)}' in line


def _release(proc: subprocess.Popen[bytes]) -> None:
    assert proc.stdin is not None
    with contextlib.suppress(OSError):  # BrokenPipe: the child is already gone
        proc.stdin.write(RELEASE.encode())
        proc.stdin.flush()
    with contextlib.suppress(OSError):
        proc.stdin.close()


class _Lines:
    """Reads a child's stdout line by line, never blocking past a deadline."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        self.fd = proc.stdout.fileno()
        self.lines: list[str] = []
        self.partial = b""
        self.eof = False

    def until(self, stop: Callable[[str], bool], deadline: float) -> bool:
        """Read until a line satisfies `stop` or end of file (True), or the deadline passes (False)."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.fd, selectors.EVENT_READ)
            while not self.eof:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                if not selector.select(left):
                    continue
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    self.eof = True
                    if self.partial:
                        self.lines.append(self.partial.decode("utf-8", "replace"))
                    break
                *complete, self.partial = (self.partial + chunk).split(b"\n")
                new = [line.decode("utf-8", "replace") + "\n" for line in complete]
                self.lines.extend(new)
                if any(stop(line) for line in new):
                    return True
        return True
