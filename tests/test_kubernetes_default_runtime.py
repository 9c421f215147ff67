"""A Kubernetes GPU node must run containers under the NVIDIA runtime by default (NVIDIA/k8s-device-plugin#100).

The engines probe reads docker's daemon.json and containerd's config.toml under the root (real files
here); the check `platform::kubernetes_gpu_node_runs_containers_under_the_nvidia_runtime` runs in the
real suite against a simulated T4 host in a Kubernetes pod given the node's root (--host-root), with
each engine config written into that root.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.tables.container_runtimes import load_container_runtimes
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import EngineRuntime
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.engines import probe_engine_runtimes
from gpuconform.probes.engines import probe_kubelet
from tests.simhost.cc import require_compiler
from tests.simhost.host import build_host
from tests.simhost.host import run_suite
from tests.simhost.spec import load_spec

CHECK = "platform::kubernetes_gpu_node_runs_containers_under_the_nvidia_runtime"
SPECS = Path(__file__).parent / "simhost" / "specs"
MATRIX = Path(__file__).resolve().parents[1] / "matrices" / "container_runtimes.toml"
DOCKER = "etc/docker/daemon.json"
CONTAINERD = "etc/containerd/config.toml"
NVIDIA_RUNTIME = {"nvidia": {"path": "nvidia-container-runtime", "runtimeArgs": []}}
CONTAINERD_V2 = """version = 2
[plugins."io.containerd.grpc.v1.cri".containerd]
{default}
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.nvidia]
runtime_type = "io.containerd.runc.v2"
[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
runtime_type = "io.containerd.runc.v2"
"""
CONTAINERD_V3 = CONTAINERD_V2.replace("version = 2", "version = 3").replace(".grpc.v1.cri", ".cri.v1.runtime")


def write(root: Path, files: Mapping[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


# ---- the probe ------------------------------------------------------------------------------


def test_a_machine_without_engine_configs_records_none_found(tmp_path: Path) -> None:
    assert probe_engine_runtimes(tmp_path) == ()
    assert probe_kubelet(tmp_path) is None


@pytest.mark.parametrize(
    ("daemon", "default", "runtimes"),
    [
        ({"runtimes": NVIDIA_RUNTIME}, None, ("nvidia",)),
        ({"default-runtime": "nvidia", "runtimes": NVIDIA_RUNTIME}, "nvidia", ("nvidia",)),
        ({"log-driver": "json-file"}, None, ()),
    ],
)
def test_dockers_daemon_json_gives_its_default_runtime_and_runtimes(
    tmp_path: Path, daemon: dict[str, Any], default: str | None, runtimes: tuple[str, ...]
) -> None:
    root = write(tmp_path, {DOCKER: json.dumps(daemon)})
    assert probe_engine_runtimes(root) == (EngineRuntime("docker", "/etc/docker/daemon.json", default, runtimes),)


@pytest.mark.parametrize(
    ("text", "default"),
    [
        (CONTAINERD_V2.format(default='default_runtime_name = "nvidia"'), "nvidia"),
        (CONTAINERD_V2.format(default=""), None),
        (CONTAINERD_V3.format(default='default_runtime_name = "runc"'), "runc"),
    ],
)
def test_containerds_config_gives_the_cri_default_runtime_of_version_2_and_3(
    tmp_path: Path, text: str, default: str | None
) -> None:
    (engine,) = probe_engine_runtimes(write(tmp_path, {CONTAINERD: text}))
    assert (engine.engine, engine.config) == ("containerd", "/etc/containerd/config.toml")
    assert engine.default_runtime == default
    assert engine.runtimes == ("nvidia", "runc")
    assert engine.error is None


def test_a_config_that_does_not_parse_is_recorded_as_unreadable_not_as_unset(tmp_path: Path) -> None:
    (engine,) = probe_engine_runtimes(write(tmp_path, {DOCKER: '{"default-runtime": "nvidia",'}))
    assert engine.error is not None and "not valid JSON" in engine.error.message
    assert engine.default_runtime is None


def test_a_kubelet_config_marks_a_kubernetes_node(tmp_path: Path) -> None:
    write(tmp_path, {"var/lib/kubelet/config.yaml": "kind: KubeletConfiguration\n"})
    assert probe_kubelet(tmp_path) == "/var/lib/kubelet/config.yaml"


# ---- the check, on a simulated host -----------------------------------------------------------


def judged(tmp_path: Path, files: Mapping[str, str], container: str | None = "kubernetes") -> dict[str, Any]:
    """The check's entry in result.json after the platform layer ran over a T4 host with these files in its root."""
    require_compiler()
    spec = dataclasses.replace(load_spec(SPECS / "t4_healthy.toml"), container=container)
    host = build_host(spec, tmp_path / "host")
    write(host.root, files)
    reports = tmp_path / "reports"
    args = ("--host-reports", str(reports), "--host-report-formats", "result")
    proc = run_suite(host, tmp_path, *args, layers="platform")
    result = json.loads((reports / "result.json").read_text())
    checks = {c["id"]: c for c in result["checks"]}
    assert CHECK in checks, proc.stdout[-3000:]
    return {**checks[CHECK], "verdict": result["verdict"]}


def test_docker_without_the_nvidia_default_runtime_fails_the_node_with_the_daemon_json_fix(tmp_path: Path) -> None:
    check = judged(tmp_path, {DOCKER: json.dumps({"runtimes": NVIDIA_RUNTIME})})
    assert check["outcome"] == "failed", check
    message = check["message"]
    assert message.startswith(
        "the Kubernetes node's docker runs containers under runc by default, not the NVIDIA runtime"
    )
    assert "/etc/docker/daemon.json sets no default-runtime (the engine's own default, runc)" in message
    assert "(runtimes registered: nvidia)" in message
    assert "advertises nvidia.com/gpu: 0" in message
    assert 'set "default-runtime": "nvidia" in /etc/docker/daemon.json' in check["remediation"]
    assert (check["verdict"]["status"], check["verdict"]["check_id"]) == ("FAIL", CHECK)


@pytest.mark.parametrize(
    "files",
    [
        {DOCKER: json.dumps({"default-runtime": "nvidia", "runtimes": NVIDIA_RUNTIME})},
        {CONTAINERD: CONTAINERD_V2.format(default='default_runtime_name = "nvidia"')},
        {CONTAINERD: CONTAINERD_V2.format(default="")},  # registered: a RuntimeClass can select it
    ],
    ids=["docker-default-nvidia", "containerd-default-nvidia", "containerd-nvidia-registered"],
)
def test_an_engine_that_can_run_pods_under_the_nvidia_runtime_passes(tmp_path: Path, files: dict[str, str]) -> None:
    assert judged(tmp_path, files)["outcome"] == "passed"


def test_containerd_with_only_runc_fails_with_the_containerd_fix(tmp_path: Path) -> None:
    text = '[plugins."io.containerd.grpc.v1.cri".containerd]\ndefault_runtime_name = "runc"\n'
    check = judged(tmp_path, {CONTAINERD: text})
    assert check["outcome"] == "failed", check
    assert "/etc/containerd/config.toml sets default_runtime_name 'runc' (no runtime registered)" in check["message"]
    assert 'default_runtime_name = "nvidia"' in check["remediation"]


def test_a_pod_that_cannot_see_the_nodes_engine_config_is_not_applicable_saying_why(tmp_path: Path) -> None:
    check = judged(tmp_path, {})
    assert check["outcome"] == "not-applicable", check
    assert "no docker or containerd configuration is readable here" in check["reason"]


def test_a_host_outside_kubernetes_is_not_judged(tmp_path: Path) -> None:
    check = judged(tmp_path, {DOCKER: json.dumps({"runtimes": NVIDIA_RUNTIME})}, container=None)
    assert check["outcome"] == "not-applicable", check


# ---- the data and the host description ----------------------------------------------------------


def test_each_engine_has_its_default_runtime_fix_in_the_matrix() -> None:
    runtimes = load_container_runtimes(MATRIX)
    assert [r.engine for r in runtimes.default_runtimes] == ["docker", "containerd"]
    docker = runtimes.default_runtime("docker")
    assert docker is not None and docker.key == "default-runtime" and "k8s-device-plugin#100" in docker.source


@pytest.mark.parametrize(
    ("old", "new", "problem"),
    [
        ('engine = "docker"', 'engine = "dockerd"', "'dockerd' is not an engine"),
        ('engine = "containerd"', 'engine = "docker"', "engine 'docker' is listed twice"),
    ],
)
def test_a_bad_default_runtime_row_is_a_data_error_naming_the_key(
    tmp_path: Path, old: str, new: str, problem: str
) -> None:
    path = tmp_path / "container_runtimes.toml"
    path.write_text(MATRIX.read_text().replace(old, new, 1))
    with pytest.raises(DataError) as info:
        load_container_runtimes(path)
    assert info.value.key.startswith("default_runtime[") and info.value.key.endswith("].engine")
    assert problem in str(info.value)


def test_a_described_engine_expands_to_what_the_probe_records(tmp_path: Path) -> None:
    spec = tmp_path / "host.toml"
    engines = '[[engine]]\nname = "docker"\nruntimes = ["nvidia"]\n\n'
    engines += '[[engine]]\nname = "containerd"\nreadable = false\n'
    spec.write_text(engines)
    platform = expand(load_description(spec), load_matrices()).platform
    assert platform.engine_runtimes is not None
    docker, containerd = platform.engine_runtimes
    assert docker == EngineRuntime("docker", "/etc/docker/daemon.json", None, ("nvidia",))
    assert containerd.config == "/etc/containerd/config.toml" and containerd.error is not None
    spec.write_text('[host]\nname = "h"\n')
    assert expand(load_description(spec), load_matrices()).platform.engine_runtimes is None  # not recorded
    spec.write_text('[[engine]]\nname = "cri-o"\n')
    with pytest.raises(DataError) as info:
        load_description(spec)
    assert info.value.key == "engine[0].name"
