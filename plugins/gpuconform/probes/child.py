"""Run probe code in a child Python process with a timeout.

Anything that loads NVML, CUDA libraries or TensorFlow runs here, so that a
segfault, abort or hang becomes a `ProbeError` naming the signal or timeout,
and the pytest process goes on to write its reports. Children get argument
lists, never a shell.

Every child the plugin starts goes through `child_process`, which makes sure it
never outlives us: it runs in its own session (a hang is killed with all it
spawned), its process group is killed when it ends, when the caller is
interrupted (Ctrl-C, SIGTERM) or fails, and, should this process die without a
chance to clean up, by the kernel (``PR_SET_PDEATHSIG``) and by the reaper
(`gpuconform.probes.reaper`). It also gets a private, temporary ``KERAS_HOME``,
so that no run writes ``~/.keras``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from typing import Any

from gpuconform.facts.base import ProbeError
from gpuconform.probes import reaper

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
    duration: float = 0.0  # measured: for the record, never for messages (it grows with the machine's load)
    timeout: float | None = None  # the bound the child was given

    @property
    def signal_name(self) -> str | None:
        """The signal that killed the child (``SIGSEGV``), if one did."""
        if self.returncode is not None and self.returncode < 0:
            try:
                return signal.Signals(-self.returncode).name
            except ValueError:
                return f"signal {-self.returncode}"
        return None

    @property
    def bound(self) -> str:
        """The time the child was given, as messages say it ("20.0 s")."""
        return f"{self.timeout:.1f} s" if self.timeout is not None else "its time bound"

    def error(self, probe: str) -> ProbeError | None:
        """Describe a crash, hang or unusable answer as a ProbeError; None when it went well."""
        tail = _tail(self.stderr)
        if self.timed_out:
            return ProbeError(probe, "timeout", f"no answer within {self.bound}{tail}")
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
    on_stderr: Callable[[str], None] | None = None,
) -> ChildResult:
    """Run ``python <args>`` with `env` and kill its whole process group after `timeout`.

    With `on_stderr`, the child's stderr goes to a temporary file, whose path `on_stderr` is given
    before the child starts (to read it while it grows), and is read back once the child has ended.
    """
    import time

    argv = (sys.executable, *args)
    started = time.monotonic()
    timed_out = False
    with contextlib.ExitStack() as stack:
        log: IO[str] | None = None
        if on_stderr is not None:
            log = stack.enter_context(
                tempfile.NamedTemporaryFile("w+", prefix="gpuconform-stderr-", encoding="utf-8", errors="replace")
            )
            on_stderr(log.name)
        with child_process(
            argv,
            env=env,
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE if log is None else log,
            text=True,
            errors="replace",
        ) as proc:
            try:
                out, err = proc.communicate(stdin, timeout=timeout)
            except subprocess.TimeoutExpired:
                kill_group(proc)
                out, err = proc.communicate()
                timed_out = True
        if log is not None:
            log.seek(0)
            err = log.read()
    return ChildResult(argv, proc.returncode, out, err, timed_out, time.monotonic() - started, timeout)


@contextlib.contextmanager
def child_process(
    argv: Sequence[str], *, env: Mapping[str, str] | None = None, **popen: Any
) -> Iterator[subprocess.Popen[Any]]:
    """Start `argv` (``subprocess.Popen`` keywords in `popen`) as a child that cannot outlive us.

    On leaving the block, however it is left, the child's process group is killed
    (whatever it left running, or all of it when the caller was interrupted) and
    the child is waited for; its temporary KERAS_HOME is removed after that.
    """
    with private_keras_home(env) as environment:
        proc = subprocess.Popen(
            argv,
            env=environment,
            start_new_session=True,  # so a hang is killed with everything it spawned
            preexec_fn=_die_with(os.getpid()),
            **popen,
        )
        reaper.watch(proc.pid)
        try:
            yield proc
        finally:
            # Ctrl-C or SIGTERM in the parent: the child runs in its own session, so the
            # signal never reached it; do not leave it running. After a normal end this
            # kills only what the child left behind (usually nothing).
            kill_group(proc)
            proc.wait()
            reaper.forget(proc.pid)


@contextlib.contextmanager
def private_keras_home(env: Mapping[str, str] | None = None) -> Iterator[dict[str, str]]:
    """`env` (default: ours) with KERAS_HOME a temporary directory, removed on leaving the block.

    Keras writes ``keras.json`` into its home on first import; a conformance run must
    write nothing outside its reports and temporary directories. The user's own
    ``keras.json`` (backend, image data format) is copied in, so the child sees the
    configuration the user's code sees.
    """
    environment = dict(os.environ if env is None else env)
    home = tempfile.mkdtemp(prefix="gpuconform-keras-home-")
    try:
        _copy_keras_config(environment, Path(home))
        environment["KERAS_HOME"] = home
        yield environment
    finally:
        shutil.rmtree(home, ignore_errors=True)


#: keras.json is a few hundred bytes; anything larger is not a Keras configuration.
KERAS_CONFIG_MAX_BYTES = 64 << 10


def _copy_keras_config(environment: Mapping[str, str], home: Path) -> None:
    """Copy the user's keras.json (where Keras would read it) into `home`, if it is a small regular file."""
    user_home = environment.get("HOME") or os.path.expanduser("~")
    source = Path(environment.get("KERAS_HOME") or os.path.join(user_home, ".keras")) / "keras.json"
    try:
        fd = os.open(source, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO planted there must not block us
    except OSError:
        return
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size > KERAS_CONFIG_MAX_BYTES:
            return
        data = os.read(fd, KERAS_CONFIG_MAX_BYTES + 1)
    except OSError:
        return
    finally:
        os.close(fd)
    if len(data) <= KERAS_CONFIG_MAX_BYTES:
        with contextlib.suppress(OSError):
            (home / "keras.json").write_bytes(data)


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a probe child: ours, quiet, plus `extra`."""
    env = dict(os.environ)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    # Children start with `python -m`, which puts the current directory first on sys.path: a
    # stray select.py in the user's repo would shadow the standard module (ignored before 3.11).
    env["PYTHONSAFEPATH"] = "1"
    env.update(extra or {})
    return env


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the child's process group (its session: everything it spawned), or the child alone."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(OSError):
            proc.kill()


#: prctl(2) option: the signal the kernel sends a process when its parent thread exits.
PR_SET_PDEATHSIG = 1


def _die_with(parent: int) -> Callable[[], None]:
    """A preexec_fn that has the kernel SIGKILL the child when the thread starting it exits.

    It runs in the forked child before exec, so it only makes a system call: the
    prctl function is looked up here, in the parent. Where there is no prctl (not
    Linux), the reaper alone stands guard. The death signal is cleared across a
    set-uid exec; our children are plain Python.
    """
    prctl = _prctl()

    def arm() -> None:
        if prctl is not None:
            prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the death signal was armed
            os.kill(os.getpid(), signal.SIGKILL)

    return arm


_PRCTL: list[Callable[..., int] | None] = []


def _prctl() -> Callable[..., int] | None:
    if not _PRCTL:
        found: Callable[..., int] | None = None
        if sys.platform.startswith("linux"):
            import ctypes

            try:
                function = ctypes.CDLL(None, use_errno=True).prctl
                function.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
                function.restype = ctypes.c_int
                found = function
            except (OSError, AttributeError):
                found = None
        _PRCTL.append(found)
    return _PRCTL[0]


def _tail(stderr: str, lines: int = 3) -> str:
    kept = [line for line in stderr.strip().splitlines() if line.strip()][-lines:]
    return (": " + " | ".join(kept)) if kept else ""
