"""A watchdog that kills the process groups of our children when this process dies, however it dies.

Every child (`gpuconform.probes.child.child_process`) runs in its own session, so
that a hang is killed with everything it spawned and a terminal's Ctrl-C does not
reach it. The price: when the pytest process is killed (SIGKILL, the OOM killer,
a crash), nothing kills them. Two mechanisms close that gap:

- each child is started with ``PR_SET_PDEATHSIG = SIGKILL`` (Linux): the kernel
  kills it when the thread that started it exits. That does not reach what the
  child spawned itself (TensorFlow starting ptxas, a library's helper): the death
  signal is cleared by fork.
- this reaper: one small process per pytest process, started with the first
  child, in its own session and deaf to SIGINT, SIGTERM and SIGHUP. The parent
  writes ``+PGID`` when a child starts and ``-PGID`` once it is gone; when the
  parent dies its end of the pipe closes (or, should the pipe have leaked into
  another process, the reaper's parent PID changes), and the reaper kills every
  group still listed, grandchildren included, then exits. It exits the same way
  when the parent ends normally, with nothing listed.

The reaper side runs as ``python -m gpuconform.probes.reaper PARENT_PID`` and
imports only the standard library.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import select
import signal
import sys
import threading
from typing import IO
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import subprocess

#: How often the reaper checks that its parent is still the process that started it.
POLL_SECONDS = 1.0
#: How long the parent waits for its reaper to exit when it ends normally.
EXIT_WAIT_SECONDS = 5.0


# ---- the parent's side ------------------------------------------------------------------


class _Client:
    """This process's reaper, started on first use and again if it is found gone."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.owner = 0  # the PID that started `proc`; a forked copy of us must start its own
        self.proc: subprocess.Popen[bytes] | None = None
        self.groups: set[int] = set()

    def watch(self, pgid: int) -> None:
        with self.lock:
            self.groups.add(pgid)
            self._send(f"+{pgid}\n")

    def forget(self, pgid: int) -> None:
        with self.lock:
            self.groups.discard(pgid)
            self._send(f"-{pgid}\n", start=False)

    def close(self) -> None:
        """End the reaper (at exit): it sees end of file and exits; what it lists it kills."""
        with self.lock:
            proc, self.proc = self.proc, None
            if proc is None or self.owner != os.getpid():
                return
            with contextlib.suppress(OSError):
                _stdin(proc).close()
            with contextlib.suppress(Exception):
                proc.wait(EXIT_WAIT_SECONDS)

    @property
    def pid(self) -> int | None:
        """The reaper's PID, if one is running for this process."""
        return self.proc.pid if self.proc is not None and self.owner == os.getpid() else None

    def _send(self, line: str, *, start: bool = True) -> None:
        proc = self.proc
        if proc is not None and self.owner == os.getpid() and proc.poll() is None:
            try:
                stdin = _stdin(proc)
                stdin.write(line.encode())
                stdin.flush()
                return
            except OSError:
                self.proc = None
        if start:
            self._start()  # a reaper killed by someone is replaced, with every group listed again

    def _start(self) -> None:
        import subprocess

        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "gpuconform.probes.reaper", str(os.getpid())],
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,  # a signal to our process group must not take it down with us
            )
        except OSError:
            return  # the children still have their death signal
        self.proc, self.owner = proc, os.getpid()
        try:
            stdin = _stdin(proc)
            stdin.write("".join(f"+{g}\n" for g in sorted(self.groups)).encode())
            stdin.flush()
        except OSError:
            self.proc = None


def _stdin(proc: subprocess.Popen[bytes]) -> IO[bytes]:
    assert proc.stdin is not None
    return proc.stdin


_client = _Client()


def watch(pgid: int) -> None:
    """Have the reaper kill process group `pgid` should this process die before `forget(pgid)`."""
    _client.watch(pgid)


def forget(pgid: int) -> None:
    """Group `pgid` is gone (its leader was reaped and the group killed): stop watching it."""
    _client.forget(pgid)


def reaper_pid() -> int | None:
    """The PID of this process's reaper, if it has started one (for tests)."""
    return _client.pid


atexit.register(_client.close)


# ---- the reaper's side ------------------------------------------------------------------


def serve(parent: int, stdin_fd: int = 0) -> set[int]:
    """Track groups from `stdin_fd` until end of file or until `parent` is no longer our parent."""
    groups: set[int] = set()
    pending = b""
    while os.getppid() == parent:
        ready, _, _ = select.select([stdin_fd], [], [], POLL_SECONDS)
        if not ready:
            continue
        chunk = os.read(stdin_fd, 4096)
        if not chunk:
            break
        *lines, pending = (pending + chunk).split(b"\n")
        for line in lines:
            try:
                pgid = int(line[1:])
            except ValueError:
                continue
            if pgid <= 1:  # never a group that is not a child's (0: ours; 1: init's)
                continue
            if line.startswith(b"+"):
                groups.add(pgid)
            elif line.startswith(b"-"):
                groups.discard(pgid)
    return groups


def main(argv: list[str]) -> int:
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)  # only the parent's end decides when we act
    parent = int(argv[0])
    for pgid in serve(parent):
        with contextlib.suppress(OSError):
            os.killpg(pgid, signal.SIGKILL)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
