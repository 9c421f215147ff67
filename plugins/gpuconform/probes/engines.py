"""Probe the container engines' configured default runtime, and whether this machine is a Kubernetes node.

On a Kubernetes GPU node the NVIDIA device plugin, and every pod without a RuntimeClass, runs under
the engine's default runtime: unless that is the NVIDIA one, they see no GPU. The engine's own config
file says which it is (docker's daemon.json "default-runtime", containerd's default_runtime_name),
where it can be read: on the node, or in a pod given the node's root (--host-root). Nothing is asked
of a running engine: no socket, no network. Only the default runtime and the runtimes' names are
kept: the same files hold registry mirrors and credentials.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gpuconform.facts.base import ProbeError
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import EngineRuntime
from gpuconform.facts.tomlio import read_json
from gpuconform.facts.tomlio import read_toml

#: Each engine's config file, relative to the root. containerd's CRI section is named by its config
#: version: "io.containerd.grpc.v1.cri" (version 2) and "io.containerd.cri.v1.runtime" (version 3).
ENGINE_CONFIGS = {"docker": "etc/docker/daemon.json", "containerd": "etc/containerd/config.toml"}
CONTAINERD_CRI = ("io.containerd.grpc.v1.cri", "io.containerd.cri.v1.runtime")
#: Where a kubelet keeps its config (kubeadm's, and the kubelet's default kubeconfig).
KUBELET_CONFIGS = ("var/lib/kubelet/config.yaml", "etc/kubernetes/kubelet.conf")


def probe_engine_runtimes(root: Path = Path("/")) -> tuple[EngineRuntime, ...]:
    """The default runtime of each engine whose config file is here; an unreadable file is recorded as such."""
    out = []
    for engine, relative in ENGINE_CONFIGS.items():
        path, shown = root / relative, f"/{relative}"
        if not _exists(path):
            continue
        try:
            data = read_json(path) if engine == "docker" else read_toml(path)
        except DataError as exc:
            out.append(EngineRuntime(engine, shown, error=ProbeError("engines", "unreadable", str(exc))))
            continue
        default, runtimes = _docker(data) if engine == "docker" else _containerd(data)
        out.append(EngineRuntime(engine, shown, default, runtimes))
    return tuple(out)


def probe_kubelet(root: Path = Path("/")) -> str | None:
    """The kubelet config found here (this machine is a Kubernetes node), or None."""
    return next((f"/{relative}" for relative in KUBELET_CONFIGS if _exists(root / relative)), None)


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except OSError:  # a directory on the way that cannot be searched
        return False


def _docker(data: Any) -> tuple[str | None, tuple[str, ...]]:
    """daemon.json: "default-runtime" and the names under "runtimes" (dockerd's own default is runc)."""
    if not isinstance(data, dict):
        return None, ()
    default = data.get("default-runtime")
    runtimes = data.get("runtimes")
    names = tuple(sorted(runtimes)) if isinstance(runtimes, dict) else ()
    return (default if isinstance(default, str) and default else None), names


def _containerd(data: dict[str, Any]) -> tuple[str | None, tuple[str, ...]]:
    """config.toml: the CRI plugin's containerd.default_runtime_name and its runtimes (containerd's default: runc)."""
    plugins = data.get("plugins")
    for name in CONTAINERD_CRI:
        section = plugins.get(name) if isinstance(plugins, dict) else None
        containerd = section.get("containerd") if isinstance(section, dict) else None
        if isinstance(containerd, dict):
            default = containerd.get("default_runtime_name")
            runtimes = containerd.get("runtimes")
            names = tuple(sorted(runtimes)) if isinstance(runtimes, dict) else ()
            return (default if isinstance(default, str) and default else None), names
    return None, ()
