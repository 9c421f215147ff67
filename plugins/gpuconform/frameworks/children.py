"""Run TensorFlow experiments in child processes and cache their observations for the run.

The pytest process never imports TensorFlow. A batch is one child running
several experiments of one module under one environment; batches are cached by
(module, names, environment), so the checks of a layer share one child.
A child that crashes or hangs leaves its unanswered experiments with a
`crash` ProbeError naming the signal or timeout; the run goes on.

While facts are replayed (``--host-facts``) no child starts: a batch is answered
from the children the file recorded (`gpuconform.frameworks.replay`), or raises `NotRecorded`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import Protocol

from gpuconform.facts.base import ProbeError
from gpuconform.facts.observed import ObservedBatch  # at run time: serde reads Recording's type hints
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.frameworks.base import Framework
from gpuconform.probes.child import ChildResult
from gpuconform.probes.child import child_env
from gpuconform.probes.child import run_python

MARK = "gpuconform-result:"
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
) -> Batch:
    """Run experiments `names` of `framework`'s experiments `module` in one fresh child with `env` added."""
    extra = {**BASE_ENV, **(env or {})}
    child = run_python(framework.child_argv(module, *names), timeout=timeout, env=child_env(extra))
    results = parse_results(child, names)
    return Batch(module, tuple(sorted((env or {}).items())), results, child)


def parse_results(child: ChildResult, names: Sequence[str]) -> dict[str, Result]:
    """Read the marked result lines; experiments with no line get the child's crash."""
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
    crash = child.error("tensorflow") or ProbeError("tensorflow", "no-answer", "the child exited without answering")
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


@dataclass
class Runner:
    """Runs and caches batches for one pytest run (a session-scoped fixture holds it).

    Live, it also keeps what the memory layer measured (`memory_runs`), and what the
    xdist workers sent back (`from_workers`), for facts.json (`gpuconform.frameworks.replay.recorded_facts`).
    """

    framework: Framework
    timeout: float = 300.0
    live: bool = True  # False while replaying recorded facts
    cache: dict[tuple[Any, ...], Batch] = field(default_factory=dict)
    replay: RecordedChildren | None = None  # the recorded children, while replaying
    memory_runs: list[ObservedMemoryRun] = field(default_factory=list)
    from_workers: list[Recording] = field(default_factory=list)  # what each xdist worker's children observed

    def batch(self, module: str, names: Sequence[str], env: Mapping[str, str] | None = None) -> Batch:
        """The batch for these experiments and environment, run once per pytest run (or replayed)."""
        key = (module, tuple(names), tuple(sorted((env or {}).items())))
        if key not in self.cache:
            if self.live:
                self.cache[key] = run_batch(self.framework, module, names, env=env, timeout=self.timeout)
            elif self.replay is None:
                raise NotRecorded(f"no children are recorded ({module}: {', '.join(names)})")
            else:
                self.cache[key] = self.replay.batch(module, names, env or {})
        return self.cache[key]
