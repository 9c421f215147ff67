"""matrices/container_runtimes.toml (see its [meta] for sources): container runtimes and their GPU plumbing.

The questions the rules ask: which runtime is this container (by the name the facts give it), what
does a refusal of the GPUs mean and which layer's problem is it, what is this runtime's fix for a
missing /dev/nvidia-uvm or for device nodes its cgroup denies, and how an engine is made to run a
Kubernetes node's containers under the NVIDIA runtime by default.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.rows import read_rows
from gpuconform.facts.errors import DataError

LAYERS = ("platform", "driver")
ENGINES = ("docker", "containerd")
NODE_PROBLEMS = ("uvm_missing", "denied")
ANY = "*"
_RUNTIME = {
    "name": "string",
    "names": "strings",
    "detect": "strings",
    "gpu_request": "string",
    "fix": "string",
    "source": "string",
    "host_needs?": "string",
    "notes?": "strings",
}
_REFUSAL = {
    "message": "string",
    "match": "string",
    "layer": "string",
    "cause": "string",
    "fix": "string",
    "source": "string",
    "captures?": "string",
    "notes?": "strings",
}
_DEFAULT_RUNTIME = {"engine": "string", "key": "string", "fix": "string", "source": "string", "notes?": "strings"}
_NODES = {
    "problem": "string",
    "runtimes": "strings",
    "cause": "string",
    "fix": "string",
    "source": "string",
    "notes?": "strings",
}


@dataclass(frozen=True)
class Runtime:
    """One container runtime: how GPUs are asked of it, and its fix when they were not."""

    name: str  # "docker", "lxc_lxd", ...
    names: tuple[str, ...]  # the values of platform.container it stands for
    gpu_request: str
    fix: str
    source: str


@dataclass(frozen=True)
class Refusal:
    """A known message of a runtime refusing the GPUs."""

    message: str
    pattern: re.Pattern[str]
    layer: str  # "platform": the runtime itself; "driver": the host driver (the driver layer judges it)
    cause: str
    fix: str
    source: str
    captures_cuda: bool  # the pattern's first group is the CUDA version required

    def required_cuda(self, text: str) -> Version | None:
        """The CUDA version the refusal says the container requires ("cuda >= 9.2"), if it says one."""
        match = self.pattern.search(text) if self.captures_cuda else None
        return Version(match.group(1)) if match else None


@dataclass(frozen=True)
class NodeFix:
    """What a device-node problem inside a container means, and the fix, for some runtimes."""

    problem: str  # "uvm_missing" or "denied"
    runtimes: tuple[str, ...]  # runtime row names, or "*"
    cause: str
    fix: str
    source: str


@dataclass(frozen=True)
class DefaultRuntimeFix:
    """How to make the NVIDIA runtime an engine's default (a Kubernetes GPU node's device plugin runs under it)."""

    engine: str  # one of ENGINES
    key: str  # the setting: "default-runtime", "default_runtime_name"
    fix: str
    source: str


@dataclass(frozen=True)
class ContainerRuntimes:
    """The rows of container_runtimes.toml."""

    meta: TableMeta
    runtimes: tuple[Runtime, ...]
    refusals: tuple[Refusal, ...]
    node_fixes: tuple[NodeFix, ...]
    default_runtimes: tuple[DefaultRuntimeFix, ...] = ()

    def default_runtime(self, engine: str) -> DefaultRuntimeFix | None:
        """The row saying how to make the NVIDIA runtime `engine`'s default."""
        return next((r for r in self.default_runtimes if r.engine == engine), None)

    def runtime(self, container: str | None) -> Runtime | None:
        """The runtime a container name (PlatformFacts.container) stands for."""
        if not container:
            return None
        return next((r for r in self.runtimes if container in r.names), None)

    def refusal(self, text: str | None) -> Refusal | None:
        """The first known refusal that `text` (what the runtime said) matches."""
        if not text:
            return None
        return next((r for r in self.refusals if r.pattern.search(text)), None)

    def node_fix(self, problem: str, container: str | None) -> NodeFix | None:
        """The row for a device-node problem in this container: its runtime's own, else the one for any."""
        runtime = self.runtime(container)
        name = runtime.name if runtime is not None else None
        own = next((f for f in self.node_fixes if f.problem == problem and name in f.runtimes), None)
        return own or next((f for f in self.node_fixes if f.problem == problem and ANY in f.runtimes), None)


def load_container_runtimes(path: Path) -> ContainerRuntimes:
    """Read and check container_runtimes.toml: unique names, regular expressions, known layers and problems."""
    source = str(path)
    arrays = {"runtime": _RUNTIME, "refusal": _REFUSAL, "device_nodes": _NODES, "default_runtime": _DEFAULT_RUNTIME}
    table = read_rows(path, "container_runtimes", arrays)
    runtimes: list[Runtime] = []
    seen: set[str] = set()
    for i, raw in enumerate(table.rows["runtime"]):
        key = f"runtime[{i}]"
        if any(r.name == raw["name"] for r in runtimes):
            raise DataError(source, f"{key}.name", f"runtime {raw['name']!r} is listed twice")
        for name in raw["names"]:
            if name in seen:
                raise DataError(source, f"{key}.names", f"{name!r} names two runtimes")
            seen.add(name)
        if not raw["names"]:
            raise DataError(source, f"{key}.names", "is empty", "the values of platform.container it stands for")
        runtimes.append(Runtime(raw["name"], tuple(raw["names"]), raw["gpu_request"], raw["fix"], raw["source"]))
    refusals = [_refusal(raw, source, f"refusal[{i}]") for i, raw in enumerate(table.rows["refusal"])]
    known = {r.name for r in runtimes} | {ANY}
    fixes = []
    for i, raw in enumerate(table.rows["device_nodes"]):
        key = f"device_nodes[{i}]"
        if raw["problem"] not in NODE_PROBLEMS:
            problem = f"{raw['problem']!r} is not a problem"
            raise DataError(source, f"{key}.problem", problem, " or ".join(NODE_PROBLEMS))
        for name in raw["runtimes"]:
            if name not in known:
                raise DataError(source, f"{key}.runtimes", f"{name!r} is not a runtime row", ", ".join(sorted(known)))
        fixes.append(NodeFix(raw["problem"], tuple(raw["runtimes"]), raw["cause"], raw["fix"], raw["source"]))
    defaults: list[DefaultRuntimeFix] = []
    for i, raw in enumerate(table.rows["default_runtime"]):
        key = f"default_runtime[{i}]"
        if raw["engine"] not in ENGINES:
            raise DataError(source, f"{key}.engine", f"{raw['engine']!r} is not an engine", " or ".join(ENGINES))
        if any(d.engine == raw["engine"] for d in defaults):
            raise DataError(source, f"{key}.engine", f"engine {raw['engine']!r} is listed twice")
        defaults.append(DefaultRuntimeFix(raw["engine"], raw["key"], raw["fix"], raw["source"]))
    return ContainerRuntimes(table.meta, tuple(runtimes), tuple(refusals), tuple(fixes), tuple(defaults))


def _refusal(raw: Mapping[str, Any], source: str, key: str) -> Refusal:
    layer, match, captures = str(raw["layer"]), str(raw["match"]), raw.get("captures")
    if layer not in LAYERS:
        raise DataError(source, f"{key}.layer", f"{layer!r} is not a layer", " or ".join(LAYERS))
    try:
        pattern = re.compile(match)
    except re.error as exc:
        raise DataError(source, f"{key}.match", f"not a regular expression: {exc}") from None
    if captures not in (None, "cuda"):
        raise DataError(source, f"{key}.captures", f"{captures!r} is not what a refusal captures", "'cuda'")
    if captures and pattern.groups < 1:
        raise DataError(source, f"{key}.match", "captures a CUDA version but has no group")
    message = str(raw["message"])
    return Refusal(message, pattern, layer, str(raw["cause"]), str(raw["fix"]), str(raw["source"]), bool(captures))
