"""The framework children's observations in Facts: recorded at the end of a live run, answered from on replay.

A live run keeps every batch it ran (`gpuconform.frameworks.children.Runner`) and every memory
run it measured (`gpuconform.frameworks.tensorflow.memory`); `recorded_facts` puts them into the Facts that
facts.json is written from, as `ObservedBatch` and `ObservedMemoryRun`, each child's log
capped (`cap_log`). Under pytest-xdist the worker that ran the TensorFlow layers sends its
`Recording` back to the controller (`gpuconform.plugin.xdist`).

Replaying that file (``--host-facts``), a check asks for the same child (module,
experiments, environment) and `Replay` answers with the recorded results as a
`gpuconform.frameworks.children.Batch`, so the check's fixtures, messages and outcomes are the live
ones: a recorded crash, timeout or import error is that crash again, and experiments a
crashed child left unanswered get its crash, as live. A child the file did not record
raises `NotRecorded`, and the check skips as needing the live host; so does one that
needs an experiment a cleanly exiting child's record leaves out (a hand-written file).
"""

from __future__ import annotations

import importlib.resources
import json
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import replace
from typing import Any

from gpuconform.facts import redact
from gpuconform.facts import serde
from gpuconform.facts.model import Facts
from gpuconform.facts.observed import ObservedBatch
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.facts.observed import ObservedResult
from gpuconform.facts.text import clean
from gpuconform.facts.text import clean_tree
from gpuconform.frameworks import framework
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import NotRecorded
from gpuconform.frameworks.children import Recording
from gpuconform.frameworks.children import Result
from gpuconform.frameworks.children import Runner
from gpuconform.probes.child import ChildResult
from gpuconform.verdict.check import live_only

#: A child's log is kept up to this many characters: its tail, after the earlier lines that
#: `keep` picks (the landmarks the checks read), so a verbose log cannot swell facts.json.
LOG_CAP = 64 << 10
#: The share of the cap the kept earlier lines may take; the tail gets the rest.
KEPT_SHARE = 4
LEFT_OUT = "[gpuconform: {n} characters of this log are left out here; the lines the checks read are kept]"
#: How a recorded environment writes gpuconform's own install directory (`portable`).
HOME = "<gpuconform>"


def cap_log(text: str, keep: Callable[[str], bool], cap: int = LOG_CAP) -> str:
    """`text`, or when longer than `cap`: the lines `keep` picks from its head, a marker, and its tail."""
    if len(text) <= cap:
        return text
    tail_start = len(text) - (cap - cap // KEPT_SHARE - len(LEFT_OUT) - 20)  # room for the marker and its number
    newline = text.find("\n", tail_start - 1)
    tail_start = len(text) if newline < 0 else newline + 1
    kept: list[str] = []
    budget = cap // KEPT_SHARE
    for line in text[:tail_start].splitlines(keepends=True):
        if keep(line) and len(line) <= budget:
            kept.append(line)
            budget -= len(line)
    left_out = tail_start - sum(len(line) for line in kept)
    return "".join(kept) + LEFT_OUT.format(n=left_out) + "\n" + text[tail_start:]


def report_log(text: str, framework_id: str) -> str:
    """A child's log as reports may carry it: capped (keeping the lines its framework's checks
    read), cleaned, and through the one redaction (TensorFlow's load lines print
    LD_LIBRARY_PATH, which can hold a URL with credentials)."""
    return redact.text(clean(cap_log(text, framework(framework_id).landmark)))


# ---- recording ------------------------------------------------------------------------


def observed_batch(batch: Batch, framework: str) -> ObservedBatch:
    """A batch as facts.json records it: every answer, the exit, the capped log; text cleaned for reports."""
    results = tuple(
        ObservedResult(
            name=clean(r.name),
            ok=r.ok,
            value=clean_tree(r.value),
            error_type=None if r.error_type is None else clean(r.error_type),
            error=None if r.error is None else clean(r.error),
            crash=None if r.crash is None else serde.map_strings(r.crash, clean),
        )
        for r in batch.results.values()
    )
    env = portable((clean(k), redact.environment_value(k, clean(v))) for k, v in batch.env)
    child = batch.child
    return ObservedBatch(
        framework, batch.module, env, results, report_log(batch.log, framework), child.returncode, child.timed_out
    )


def recording(runners: Sequence[Runner]) -> Recording:
    """Every batch these runners (one per framework) ran and every memory run they measured, merged with
    what their xdist workers sent; each batch keyed by its framework's id."""
    batches = [observed_batch(b, runner.framework.id) for runner in runners for b in runner.cache.values()]
    runs = [run for runner in runners for run in runner.memory_runs]
    for worker in (w for runner in runners for w in runner.from_workers):
        batches += worker.observations
        runs += worker.memory_runs
    return Recording(tuple(_unique(batches, _batch_key)), tuple(_unique(runs, lambda r: serde.dump(r))))


def recorded_facts(facts: Facts, runners: Sequence[Runner]) -> Facts:
    """`facts` with the children's observations of this live run (a replay keeps the file's own)."""
    if not any(runner.live for runner in runners):
        return facts
    recorded = recording(runners)
    return replace(facts, observations=recorded.observations, memory_runs=recorded.memory_runs)


def recording_json(runners: Sequence[Runner]) -> str:
    """The Recording of this process as JSON (what an xdist worker hands the controller)."""
    return json.dumps(serde.dump(recording(runners)))


def load_recording(text: str, source: str) -> Recording:
    """A Recording from `recording_json` (raises DataError or ValueError on anything else)."""
    return serde.load(Recording, json.loads(text), source)


def _batch_key(b: ObservedBatch) -> tuple[Any, ...]:
    return (b.framework, b.module, _names(b), b.env)


def _unique(items: Iterable[Any], key: Callable[[Any], Any]) -> list[Any]:
    """`items` without repeats of a key (two xdist workers that ran the same child), first kept."""
    seen: list[Any] = []
    unique = []
    for item in items:
        k = key(item)
        if k not in seen:
            seen.append(k)
            unique.append(item)
    return unique


# ---- replaying --------------------------------------------------------------------------


def _names(b: ObservedBatch) -> tuple[str, ...]:
    return tuple(r.name for r in b.results if r.name != "__import__")


def portable(env: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """An environment as it is recorded and compared: gpuconform's own install directory written as HOME.

    The determinism children are shown the packaged reference model by its path; a file recorded
    where gpuconform is installed in one place replays where it is installed in another.
    """
    home = str(importlib.resources.files("gpuconform"))
    return tuple(sorted((k, v.replace(home, HOME)) for k, v in env))


def describe_child(module: str, names: Sequence[str], env: Mapping[str, str], framework_id: str) -> str:
    """'<experiments>.framework: identity, devices (TF_CPP_MIN_LOG_LEVEL=0)' for messages."""
    added = ", ".join(f"{k}={v}" for k, v in sorted(env.items()))
    return f"{framework(framework_id).describe(module)}: {', '.join(names)}" + (f" ({added})" if added else "")


@dataclass(frozen=True)
class Replay:
    """The children a replayed Facts file recorded, answering as the live children did."""

    source: str  # the facts file, for messages
    framework_id: str  # whose children these are
    observations: tuple[ObservedBatch, ...] = ()
    memory_runs: tuple[ObservedMemoryRun, ...] = ()

    @classmethod
    def of(cls, facts: Facts, source: str, framework_id: str) -> Replay:
        """What the file recorded of this framework's children."""
        return cls(
            source,
            framework_id,
            tuple(b for b in facts.observations if b.framework == framework_id),
            tuple(r for r in facts.memory_runs if r.framework == framework_id),
        )

    def find(self, module: str, names: Sequence[str], env: Mapping[str, str]) -> ObservedBatch | None:
        """The recorded child for these experiments under this environment, if the file has one.

        The same module and environment are required; among those, one that ran exactly
        these experiments is preferred, then the one that answered most of them. A child that
        answered none of them counts only when it never got that far (its import failed).
        """
        wanted = set(names)
        env_key = portable(env.items())
        best: tuple[tuple[bool, int], ObservedBatch] | None = None
        for b in self.observations:
            if b.module != module or portable(b.env) != env_key:
                continue
            answered = set(_names(b))
            score = (answered == wanted, len(answered & wanted))
            if score[1] == 0 and _imported(b):
                continue
            if best is None or score > best[0]:
                best = (score, b)
        return None if best is None else best[1]

    def batch(self, module: str, names: Sequence[str], env: Mapping[str, str]) -> Batch:
        """The recorded child as a Batch; NotRecorded when the file has none for these experiments."""
        recorded = self.find(module, names, env)
        if recorded is None:
            raise NotRecorded(
                f"this child ({describe_child(module, names, env, self.framework_id)}) is not recorded in {self.source}"
            )
        return replayed_batch(recorded, module, names, env, self.source)

    def memory_run(
        self, module: str, mode: str, gpu: int, env: Mapping[str, str], copies: int, limit_mb: int | None
    ) -> ObservedMemoryRun:
        """The recorded memory run of this mode on this GPU; NotRecorded when the file has none."""
        env_key = portable(env.items())
        wanted = (module, mode, gpu, copies, limit_mb, env_key)
        for run in self.memory_runs:
            if (run.module, run.mode, run.gpu, len(run.children), run.limit_mb, portable(run.env)) == wanted:
                return run
        what = (
            f"{copies} {framework(self.framework_id).describe(module)} child(ren) in mode {mode!r} on GPU {gpu}"
            + (f" with a {limit_mb} MB limit" if limit_mb else "")
        )
        raise NotRecorded(f"this memory run ({what}) is not recorded in {self.source}")


def _imported(b: ObservedBatch) -> bool:
    first = next((r for r in b.results if r.name == "__import__"), None)
    return first is not None and first.ok


@dataclass(frozen=True)
class ReplayedBatch(Batch):
    """A recorded child's Batch: an experiment it does not mention skips the check that asks for it."""

    source: str = ""
    framework_name: str = ""  # "TensorFlow", for the message

    def __getitem__(self, name: str) -> Result:
        if name not in self.results:
            live_only(
                f"{self.framework_name} runs in child processes of the live host; experiment {name!r} of this child "
                f"({self.module}) is not recorded in {self.source}"
            )
        return self.results[name]


def replayed_batch(
    recorded: ObservedBatch, module: str, names: Sequence[str], env: Mapping[str, str], source: str
) -> Batch:
    """A Batch with the recorded answers, as the live child gave them.

    A live recording lists every experiment it asked for, an unanswered one with the crash that
    stopped it. A hand-written one may leave some out: if the child was recorded crashing, hanging
    or exiting with an error, they get that crash, as a live child's unanswered experiments do;
    if it exited cleanly, they are not recorded, and a check that needs one skips as needing the
    live host (`ReplayedBatch`).
    """
    child = ChildResult(("replay", source), recorded.returncode, "", recorded.log, recorded.timed_out)
    results = {r.name: Result(r.name, r.ok, r.value, r.error_type, r.error, r.crash) for r in recorded.results}
    error = child.error(recorded.framework)
    if error is not None and error.kind != "invalid-output":  # invalid-output: the replayed child has no stdout
        for name in ("__import__", *names):
            results.setdefault(name, Result(name, ok=False, crash=error))
    else:
        results.setdefault("__import__", Result("__import__", ok=True))  # it exited cleanly, so it imported
    return ReplayedBatch(module, tuple(sorted(env.items())), results, child, source, framework(recorded.framework).name)
