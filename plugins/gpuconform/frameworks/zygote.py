"""Pay a framework's import once per environment: a zygote child imports it and forks a child per batch.

A TensorFlow child spends most of its life importing TensorFlow (about 2 s of CPU on a small
machine) and a fraction of it on its experiments. A zygote (``python -m <experiments>.child
--zygote``, `gpuconform.frameworks.forkserver`) imports it once, before any device initialises,
and forks one child per batch, which then runs as a fresh child would: one-shot device
configuration is still open to it (tests/test_zygote.py proves it against a fresh interpreter).

Variables a framework reads while it imports (TF's log levels, its oneDNN switch) cannot be
changed in a forked child, so there is one zygote per set of them; variables read only when a
device initialises (`Framework.after_import`: CUDA_VISIBLE_DEVICES, ...) are set in the forked
child. A zygote says, once imported, what its switches came out as (`Framework.reported_at_import`:
TF decides oneDNN from the CPU when TF_ENABLE_ONEDNN_OPTS is unset); a batch that pins a switch to
the value the zygote without the pin already has is forked from that zygote, with the pin set in
its environment: the framework runs as it would have under its own import, one import fewer.

A zygote also forks another framework's children, as *guests* (`Zygotes.guest`): Keras 3's under
TensorFlow's plain zygote, whose import imported keras already; the child imports the guest
itself (`gpuconform.frameworks.child_main`), and one that cannot run there as a fresh child
would declines, for its own zygote to run.

Every wait is bounded by the batch's timeout, counted from the request: a child that hangs
is killed with its session and errors only its own batch; a zygote that crashes or hangs while
importing answers each of its batches with its own crash, as a fresh child would have crashed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from typing import IO
from typing import Any

from gpuconform.frameworks.base import Framework
from gpuconform.probes import reaper
from gpuconform.probes.child import ChildResult
from gpuconform.probes.child import child_env
from gpuconform.probes.child import child_process

#: How long to wait for the exit notice of a child just killed (the kill itself is immediate).
KILLED_WAIT_SECONDS = 10.0


class Zygote:
    """One zygote process under one import-time environment, and the children it forked for us."""

    def __init__(self, framework: Framework, env: Mapping[str, str], nice: int = 0) -> None:
        lower = ("--nice", str(nice)) if nice > 0 else ()
        self.argv = (sys.executable, "-m", framework.child_module, "--zygote", *lower)
        self.dir = tempfile.mkdtemp(prefix="gpuconform-zygote-")
        self._stack = contextlib.ExitStack()
        self._err: IO[str] = self._stack.enter_context(open(os.path.join(self.dir, "zygote.err"), "w+"))  # noqa: SIM115
        pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "stderr": self._err}
        self.proc: subprocess.Popen[bytes] = self._stack.enter_context(
            child_process(self.argv, env=child_env(env), **pipes)
        )
        self._cond = threading.Condition()
        self._noise: list[str] = []  # what the zygote printed that is not a notice (its import answer)
        self._ready: dict[str, str] | None = None  # its import-time switches, once it has imported
        self._pids: dict[int, int] = {}  # request -> the child forked for it
        self._exits: dict[int, int] = {}  # child -> its exit status (negative: the signal)
        self._eof = False
        self._hung = False  # it did not import within a batch's timeout, and was killed
        self._next = 0
        threading.Thread(target=self._read, name="gpuconform-zygote", daemon=True).start()

    def run(
        self,
        module: str,
        names: Sequence[str],
        env: Mapping[str, str],
        timeout: float,
        started: float | None = None,
        on_log: Callable[[str], None] | None = None,
        guest: str | None = None,
    ) -> ChildResult:
        """Fork a child that runs experiments `names` of `module` with `env` set; its result once it has exited.

        The batch's `timeout` counts from `started` (a monotonic time; now by default). `on_log` is given
        the file the child's stderr grows in, before the child is asked for. `guest`: `module` is of that
        experiments package (another framework's), which the child imports after this zygote's framework.
        """
        started = time.monotonic() if started is None else started
        deadline = started + timeout
        with self._cond:
            rid, self._next = self._next, self._next + 1
        out, err = (os.path.join(self.dir, f"{rid}.{ext}") for ext in ("out", "err"))
        for path in (out, err):
            open(path, "w").close()
        if on_log is not None:
            on_log(err)
        request = {
            "id": rid,
            "module": module,
            "names": list(names),
            "env": dict(env),
            "stdout": out,
            "stderr": err,
            "guest": guest,
        }
        with self._cond, contextlib.suppress(OSError, ValueError):  # a dead zygote: answered below
            assert self.proc.stdin is not None
            self.proc.stdin.write((json.dumps(request) + "\n").encode())
            self.proc.stdin.flush()
        with self._cond:
            self._cond.wait_for(lambda: self._answered(rid) or self._hung, max(0.0, deadline - time.monotonic()))
            pid = self._pids.get(rid)
            timed_out = pid is None and not self._eof or pid is not None and pid not in self._exits and not self._eof
        if pid is None:  # the zygote never forked: it crashed or hung importing
            if timed_out:
                self._kill_hung()
            return self._own_result(timed_out or self._hung, time.monotonic() - started, timeout)
        if timed_out:
            _kill_session(pid)
            with self._cond:
                self._cond.wait_for(lambda: pid in self._exits or self._eof, KILLED_WAIT_SECONDS)
        reaper.forget(pid)
        with self._cond:
            code = self._exits.get(pid, -signal.SIGKILL)  # the zygote died first: its death signal killed the child
        argv = (*self.argv, module, *names)
        log = self._zygote_log() + _read(err)  # the import's log, then the child's: as one fresh child's stderr
        return ChildResult(argv, code, _read(out), log, timed_out, time.monotonic() - started, timeout)

    def switches(self, deadline: float) -> dict[str, str] | None:
        """Its import-time switches once it has imported; None if it crashed, hung or is not done by `deadline`."""
        with self._cond:
            self._cond.wait_for(
                lambda: self._ready is not None or self._eof or self._hung, max(0.0, deadline - time.monotonic())
            )
            return self._ready

    def close(self) -> None:
        """Kill every child still running and the zygote; remove its files."""
        with self._cond:
            running = [pid for pid in self._pids.values() if pid not in self._exits]
        for pid in running:
            _kill_session(pid)
            reaper.forget(pid)
        with contextlib.suppress(OSError, ValueError):
            assert self.proc.stdin is not None
            self.proc.stdin.close()
        self._stack.close()  # kills the zygote's group and waits for it
        shutil.rmtree(self.dir, ignore_errors=True)

    def _answered(self, rid: int) -> bool:
        pid = self._pids.get(rid)
        return self._eof or (pid is not None and pid in self._exits)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for raw in self.proc.stdout:
            line = raw.decode("utf-8", "replace")
            notice = _notice(line)
            with self._cond:
                if notice is None:
                    self._noise.append(line)
                elif "ready" in notice:
                    self._ready = {str(k): str(v) for k, v in dict(notice["ready"]).items()}
                elif "id" in notice:
                    self._pids[int(notice["id"])] = int(notice["pid"])
                    reaper.watch(int(notice["pid"]))
                else:
                    self._exits[int(notice["pid"])] = int(notice["returncode"])
                self._cond.notify_all()
        with self._cond:
            self._eof = True
            self._cond.notify_all()

    def _kill_hung(self) -> None:
        with self._cond:
            self._hung = True
            self._cond.notify_all()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    def _own_result(self, timed_out: bool, seconds: float, timeout: float) -> ChildResult:
        """The zygote's crash or hang, as the result of a batch it could not fork."""
        code = None if timed_out else self.proc.wait()
        with self._cond:
            noise = "".join(self._noise)
        return ChildResult(self.argv, code, noise, self._zygote_log(), timed_out, seconds, timeout)

    def _zygote_log(self) -> str:
        return _read(self._err.name)


def _notice(line: str) -> dict[str, Any] | None:
    if not line.startswith('{"'):
        return None
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    if "pid" in data and ("id" in data or "returncode" in data) or isinstance(data.get("ready"), dict):
        return data
    return None


def _kill_session(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


class Closed(Exception):
    """The run is stopping: no zygote starts any more."""


class Zygotes:
    """The zygotes of one run, one per import-time environment, each started on first use."""

    def __init__(self, framework: Framework, base: Mapping[str, str], nice: int = 0) -> None:
        self.framework = framework
        self.base = dict(base)
        self.nice = nice  # nice levels below ours, for each zygote and its children (`gpuconform.probes.priority`)
        self._lock = threading.Lock()
        self._by_env: dict[tuple[tuple[str, str], ...], Zygote] = {}
        self._closed = False

    def run(
        self,
        module: str,
        names: Sequence[str],
        env: Mapping[str, str],
        timeout: float,
        on_log: Callable[[str], None] | None = None,
    ) -> ChildResult:
        """Run a batch in a child forked from the zygote of `env`'s import-time part (`on_log`: see `Zygote.run`)."""
        started = time.monotonic()
        at_import = {k: v for k, v in env.items() if not self.framework.after_import(k)}
        later = {k: v for k, v in env.items() if self.framework.after_import(k)}
        pinned = {k: v for k, v in at_import.items() if k in self.framework.reported_at_import}
        try:
            if pinned:
                rest = {k: v for k, v in at_import.items() if k not in pinned}
                switches = self.zygote(rest).switches(started + timeout)
                if switches is not None and all(switches.get(k) == v for k, v in pinned.items()):
                    at_import, later = rest, {**later, **pinned}  # in effect there: set, as the child would see it
            return self.zygote(at_import).run(module, names, later, timeout, started, on_log)
        except Closed:  # killed with the run, as a child of a zygote closed under it is
            return self._killed(module, names, started, timeout)

    def guest(
        self,
        guest: Framework,
        module: str,
        names: Sequence[str],
        env: Mapping[str, str],
        timeout: float,
        on_log: Callable[[str], None] | None = None,
    ) -> ChildResult | None:
        """Run a batch of `guest`'s experiments in a child forked from the plain zygote, `env` set in the child.

        None where it could not run there as in a fresh child of its own: every variable of `env` must be
        one this framework reads after its import, or one `guest` reads while it imports (the child
        imports it); the zygote must have imported (else it crashed or hung, which is not the guest's
        answer). A child that cannot run as a fresh one would says so in its answers instead
        (`gpuconform.frameworks.child_main.DECLINED`, which the caller reads). Once the run has closed
        these zygotes, the batch is answered as killed, as a child of its own would be.
        """
        started = time.monotonic()
        if not all(self.framework.after_import(k) or k in guest.reported_at_import for k in env):
            return None
        try:
            zygote = self.zygote({})
        except Closed:
            return self._killed(module, names, started, timeout)
        if zygote.switches(started + timeout) is None:
            return None
        return zygote.run(module, names, env, timeout, started, on_log, guest.experiments)

    def _killed(self, module: str, names: Sequence[str], started: float, timeout: float) -> ChildResult:
        argv = (sys.executable, "-m", self.framework.child_module, "--zygote", module, *names)
        return ChildResult(argv, -signal.SIGKILL, "", "", False, time.monotonic() - started, timeout)

    def zygote(self, at_import: Mapping[str, str]) -> Zygote:
        key = tuple(sorted(at_import.items()))
        with self._lock:
            if self._closed:
                raise Closed()
            if key not in self._by_env:
                self._by_env[key] = Zygote(self.framework, {**self.base, **at_import}, self.nice)
            return self._by_env[key]

    def close(self) -> None:
        """Close every zygote; a batch asking for one afterwards is answered as killed."""
        with self._lock:
            zygotes, self._by_env, self._closed = list(self._by_env.values()), {}, True
        for zygote in zygotes:
            zygote.close()
