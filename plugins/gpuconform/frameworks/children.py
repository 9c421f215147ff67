"""Run TensorFlow experiments in child processes and cache their observations for the run.

The pytest process never imports TensorFlow. A batch is one child running
several experiments of one module under one environment; batches are cached by
(module, names, environment), so the checks of a layer share one child.
A child that crashes or hangs leaves its unanswered experiments with a
`crash` ProbeError naming the signal or timeout; the run goes on.

Children are forked from a zygote that imported the framework once (`gpuconform.frameworks.zygote`),
or, for a framework another one imports (Keras 3, which TensorFlow imports), from that one's
zygote as guests (`Runner.host`), falling back to their own where a guest cannot run.
A batch may be started before a check asks for it (`Runner.start`): up to `Runner.concurrency`
run at once, in threads that only wait for their child; the check then waits for its answer,
and a `Watcher` hears when each child starts and ends.

While facts are replayed (``--host-facts``) no child starts: a batch is answered
from the children the file recorded (`gpuconform.frameworks.replay`), or raises `NotRecorded`.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from gpuconform.facts.base import ProbeError
from gpuconform.facts.observed import ObservedBatch  # at run time: serde reads Recording's type hints
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.child_main import DECLINED
from gpuconform.frameworks.child_main import MARK
from gpuconform.frameworks.zygote import Zygotes
from gpuconform.probes.child import ChildResult
from gpuconform.probes.child import child_env
from gpuconform.probes.child import run_python

#: Quiet by default; experiments that parse TF's log raise the level themselves.
BASE_ENV = {"TF_CPP_MIN_LOG_LEVEL": "1", "PYTHONUNBUFFERED": "1"}


@dataclass(frozen=True)
class Result:
    """One experiment's answer: a value, the exception it raised, or the crash that stopped it."""

    name: str
    ok: bool
    value: Any = None
    error_type: str | None = None
    error: str | None = None
    crash: ProbeError | None = None
    seconds: float = 0.0

    @property
    def raised(self) -> bool:
        """Whether the experiment ran and raised (as opposed to crashing the child)."""
        return not self.ok and self.crash is None


@dataclass(frozen=True)
class Batch:
    """The results of one child process."""

    module: str
    env: tuple[tuple[str, str], ...]
    results: Mapping[str, Result]
    child: ChildResult

    def __getitem__(self, name: str) -> Result:
        return self.results[name]

    @property
    def import_error(self) -> str | None:
        """Why `import tensorflow` failed in the child, if it did."""
        r = self.results.get("__import__")
        if r is None:
            return self.crash_text or "the child printed nothing"
        if r.crash is not None:  # the child died before it could answer (SIGILL, timeout)
            return f"{r.crash.kind}: {r.crash.message}"
        return None if r.ok else f"{r.error_type}: {r.error}"

    @property
    def crash_text(self) -> str | None:
        """The signal, timeout or exit that ended the child early, if any."""
        error = self.child.error("tensorflow")
        if error is None or error.kind == "invalid-output":
            return None
        return f"{error.kind}: {error.message}"

    @property
    def log(self) -> str:
        """TensorFlow's stderr (its C++ log)."""
        return self.child.stderr


def run_batch(
    framework: Framework,
    module: str,
    names: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: float = 300.0,
    zygotes: Zygotes | None = None,
    on_log: Callable[[str], None] | None = None,
    host: Zygotes | None = None,
) -> Batch:
    """Run experiments `names` of `framework`'s experiments `module` in one child with `env` added.

    The child is fresh, or forked from one of `zygotes` (base environment BASE_ENV) after its import,
    or first tried as a guest of `host`, another framework's zygotes (`Zygotes.guest`).
    `on_log` is given the file the child's log (stderr) grows in while it runs.
    """
    guest = None if host is None else host.guest(framework, module, names, env or {}, timeout, on_log)
    if guest is not None:
        results = parse_results(guest, names, framework.id)
        if DECLINED not in results:  # else it runs as this framework's own child, below
            return Batch(module, tuple(sorted((env or {}).items())), results, guest)
    if zygotes is not None:
        child = zygotes.run(module, names, env or {}, timeout, on_log=on_log)
    else:
        extra = {**BASE_ENV, **(env or {})}
        argv = framework.child_argv(module, *names)
        child = run_python(argv, timeout=timeout, env=child_env(extra), on_stderr=on_log)
    results = parse_results(child, names, framework.id)
    return Batch(module, tuple(sorted((env or {}).items())), results, child)


def parse_results(child: ChildResult, names: Sequence[str], probe: str = "tensorflow") -> dict[str, Result]:
    """Read the marked result lines; experiments with no line get the child's crash (named for framework `probe`)."""
    results: dict[str, Result] = {}
    for line in child.stdout.splitlines():
        if not line.startswith(MARK):
            continue
        try:
            data = json.loads(line[len(MARK) :])
            results[str(data["name"])] = Result(
                name=str(data["name"]),
                ok=bool(data["ok"]),
                value=data.get("value"),
                error_type=data.get("error_type"),
                error=data.get("error"),
                seconds=float(data.get("seconds", 0.0)),
            )
        except (ValueError, KeyError, TypeError):
            continue  # a garbled line is as good as no line: the crash below explains it
    crash = child.error(probe) or ProbeError(probe, "no-answer", "the child exited without answering")
    for name in ("__import__", *names):
        if name not in results:
            results[name] = Result(name, ok=False, crash=crash)
    return results


class NotRecorded(LookupError):
    """Replaying facts, a child was asked for that the file did not record (its text says which)."""


@dataclass(frozen=True)
class Recording:
    """What one process's children observed: its batches and its memory runs (an xdist worker sends one)."""

    observations: tuple[ObservedBatch, ...] = ()
    memory_runs: tuple[ObservedMemoryRun, ...] = ()


class RecordedChildren(Protocol):
    """The children a replayed Facts file recorded (`gpuconform.frameworks.replay.Replay`)."""

    def batch(self, module: str, names: Sequence[str], env: Mapping[str, str]) -> Batch: ...

    def memory_run(
        self, module: str, mode: str, gpu: int, env: Mapping[str, str], copies: int, limit_mb: int | None
    ) -> ObservedMemoryRun: ...


@dataclass(frozen=True)
class Planned:
    """A batch a suite module declares at its top, so that the plugin can start it before its checks ask.

    `env` is the environment it adds, or a function giving it (called when it starts); `gpus_env` is added
    to it where the profile expects GPUs (`args(gpus=True)`).
    """

    module: str
    names: tuple[str, ...]
    env: Mapping[str, str] | Callable[[], Mapping[str, str]] = field(default_factory=dict)
    framework: str = "tensorflow"  # whose experiments these are (a key of gpuconform.frameworks.FRAMEWORKS)
    #: Only checks that apply where the profile expects GPUs ask for it: not started early on a profile without.
    gpus_only: bool = False
    #: The framework that must be installed for any of its checks to ask for it (Keras's torch backend: torch).
    needs: str | None = None
    #: What only checks that apply where GPUs are expected read (TensorFlow's verbose log): not set elsewhere,
    #: where it would cost the child a zygote of its own for nothing any check reads.
    gpus_env: Mapping[str, str] = field(default_factory=dict)

    def args(self, gpus: bool = False) -> tuple[str, tuple[str, ...], Mapping[str, str]]:
        """(module, names, env), as `Runner.batch` and `LiveTf.batch` take them; `gpus`: the profile expects GPUs."""
        env = self.env() if callable(self.env) else self.env
        return self.module, self.names, {**env, **self.gpus_env} if gpus else env


class Watcher(Protocol):
    """Hears when a child starts and ends (from the thread that waits for it), and waits with the checks."""

    def started(self, label: str) -> None: ...

    def logging(self, label: str, path: str) -> None:
        """The child `label` writes its log (stderr) to file `path` while it runs (called once it exists)."""

    def ended(self, label: str, seconds: float, problem: str | None) -> None: ...

    def waiting(self) -> None:
        """Called every `WAIT_TICK` seconds, in the checks' thread, while a check waits for a child."""


#: How often a check waiting for its child lets the watcher speak (its status line).
WAIT_TICK = 0.25

Key = tuple[str, tuple[str, ...], tuple[tuple[str, str], ...]]


@dataclass
class Runner:
    """Runs and caches batches for one pytest run (a session-scoped fixture holds it).

    Live, it also keeps what the memory layer measured (`memory_runs`), and what the
    xdist workers sent back (`from_workers`), for facts.json (`gpuconform.frameworks.replay.recorded_facts`).
    `cache` holds the batches checks asked for (what facts.json records); `pending`, those started.
    """

    framework: Framework
    timeout: float = 300.0
    live: bool = True  # False while replaying recorded facts
    cache: dict[tuple[Any, ...], Batch] = field(default_factory=dict)
    replay: RecordedChildren | None = None  # the recorded children, while replaying
    memory_runs: list[ObservedMemoryRun] = field(default_factory=list)
    from_workers: list[Recording] = field(default_factory=list)  # what each xdist worker's children observed
    concurrency: int = 1  # children that may run at once (1: in the order the checks ask)
    fork: bool = True  # fork children from a zygote (False: a fresh interpreter each)
    #: Nice levels below pytest's for the zygotes and their children (`gpuconform.plugin.early` lowers the
    #: frameworks whose children are off the run's longest chain); fresh interpreters run at ours.
    nice: int = 0
    #: Another framework's runner whose plain zygote forks this one's children as guests where it can
    #: (`gpuconform.frameworks.base.Framework.hosts`: set where that framework is installed).
    host: Runner | None = None
    watcher: Watcher | None = None
    pending: dict[Key, Future[Batch]] = field(default_factory=dict)
    _pool: ThreadPoolExecutor | None = None
    _zygotes: Zygotes | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _closed: bool = False

    def start(self, module: str, names: Sequence[str], env: Mapping[str, str] | None = None) -> None:
        """Start this batch now, if it is live and not started yet, so that its check need not wait for all of it."""
        key = _key(module, names, env)
        if not self.live or key in self.cache:
            return
        with self._lock:
            if key in self.pending:
                return
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max(1, self.concurrency), thread_name_prefix="gpuconform-child")
            self._zygotes_locked()
            self.pending[key] = self._pool.submit(self._run, module, tuple(names), dict(env or {}))

    def batch(self, module: str, names: Sequence[str], env: Mapping[str, str] | None = None) -> Batch:
        """The batch for these experiments and environment, run once per pytest run (or replayed)."""
        key = _key(module, names, env)
        if key not in self.cache:
            if self.live:
                self.start(module, names, env)
                self.cache[key] = self._await(self.pending[key])
            elif self.replay is None:
                raise NotRecorded(f"no children are recorded ({module}: {', '.join(names)})")
            else:
                self.cache[key] = self.replay.batch(module, names, env or {})
        return self.cache[key]

    def close(self) -> None:
        """Stop: batches not started are dropped, children still running are killed (nobody waits for them)."""
        with self._lock:
            pool, zygotes, self._pool, self._zygotes = self._pool, self._zygotes, None, None
            self._closed = True
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
        if zygotes is not None:
            zygotes.close()
        if pool is not None:
            pool.shutdown(wait=True)

    def zygotes(self) -> Zygotes | None:
        """The zygotes of this run's children (each started on first use); None where none fork, or once closed."""
        with self._lock:
            return self._zygotes_locked()

    def _zygotes_locked(self) -> Zygotes | None:
        if self.fork and self.live and not self._closed and self._zygotes is None:
            self._zygotes = Zygotes(self.framework, BASE_ENV, self.nice)
        return self._zygotes

    def _await(self, future: Future[Batch]) -> Batch:
        while True:
            try:
                return future.result(timeout=WAIT_TICK)
            except TimeoutError:
                if self.watcher is not None:
                    self.watcher.waiting()

    def _run(self, module: str, names: tuple[str, ...], env: dict[str, str]) -> Batch:
        pins = " ".join(f"{k}={v}" for k, v in sorted(env.items()) if k in self.framework.reported_at_import)
        label = f"{module} ({', '.join(names)})" + (f" {pins}" if pins else "")  # Keras's: one child per backend
        if self.watcher is not None:
            self.watcher.started(label)
        started = time.monotonic()
        watcher = self.watcher
        on_log = None if watcher is None else (lambda path: watcher.logging(label, path))
        host = None if self.host is None or not self.fork else self.host.zygotes()
        batch = run_batch(
            self.framework,
            module,
            names,
            env=env,
            timeout=self.timeout,
            zygotes=self._zygotes,
            on_log=on_log,
            host=host,
        )
        if self.watcher is not None:
            problem = batch.crash_text or batch.import_error
            self.watcher.ended(label, time.monotonic() - started, problem)
        return batch


def _key(module: str, names: Sequence[str], env: Mapping[str, str] | None) -> Key:
    return (module, tuple(names), tuple(sorted((env or {}).items())))
