"""Does the container (or WSL) hand this host's GPUs to the process? Judged from matrices/container_runtimes.toml.

A runtime that refused the GPUs is its own root cause when the refusal is the runtime's (no NVIDIA
container toolkit, WSL 1); a refusal whose cause is the host's driver (not loaded, too old) is the
driver layer's to judge, whenever that layer judges anything (the profile expects GPUs). A refusal
counts even on a profile without GPUs: the GPUs were asked for. On a Kubernetes GPU node, the engine
must run containers under the NVIDIA runtime by default (`judge_default_runtime`).
"""

from __future__ import annotations

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.container_runtimes import DefaultRuntimeFix
from gpuconform.facts.model import EngineRuntime
from gpuconform.facts.model import Facts
from gpuconform.probes.engines import ENGINE_CONFIGS
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import fail
from gpuconform.verdict.check import not_applicable

ENGINE_FILES = tuple(f"/{path}" for path in ENGINE_CONFIGS.values())

TABLE = "matrices/container_runtimes.toml"


def judge_container(expect: Expectations, facts: Facts, matrices: Matrices) -> None:
    """Fail when the container runtime (or WSL) keeps the GPUs from this process; pass or not-applicable otherwise."""
    p = facts.platform
    runtimes = matrices.rules.container_runtimes
    said = p.container_runtime_error
    if p.container is None and not said and p.wsl_version != 1:
        not_applicable("not running in a container or under WSL 1")
    name = p.container or ("WSL 1" if p.wsl_version == 1 else "container")
    evidence = "; ".join(p.container_evidence) or ("WSL 1" if p.wsl_version == 1 else "no container mark recorded")
    if said:
        refusal = runtimes.refusal(said)
        if refusal is not None and refusal.layer == "driver" and expect.profile.expects_gpu:
            return  # the host's driver is the cause: the driver layer names it, with the refusal in its message
        fail(
            f"the {name} runtime refused the GPUs: {refusal.cause if refusal else said}",
            expected="the container runtime hands the GPUs in (the GPUs were asked for)",
            found=f"the runtime said {said!r}",
            source=f"the container runtime's output; {TABLE}" + (f" ({refusal.message!r})" if refusal else ""),
            why=refusal.cause if refusal else "the container started without the GPUs, or did not start at all",
            fix=refusal.fix
            if refusal
            else "check the host first (nvidia-smi there must work), then the toolkit: nvidia-container-cli -k -d "
            "/dev/tty info shows what it refuses",
        )
    if not expect.profile.expects_gpu:
        not_applicable(f"profile {expect.profile.name!r} expects no GPU")
    if p.wsl_version == 1:
        wsl1 = runtimes.runtime("wsl1")
        fail(
            "WSL 1 has no GPU support",
            expected="WSL 2 (GPU paravirtualisation through /dev/dxg and /usr/lib/wsl/lib)",
            found="the kernel release says WSL 1 (no /dev/dxg)",
            source=f"/proc/sys/kernel/osrelease, /dev; {TABLE}",
            why="the Windows NVIDIA driver exposes GPUs to WSL 2 distributions only",
            fix=wsl1.fix if wsl1 else "convert the distribution to WSL 2: wsl --set-version <distro> 2",
        )
    env = dict(p.environment)
    visible = env.get("NVIDIA_VISIBLE_DEVICES")
    if visible is not None and visible.strip().lower() in ("", "void", "none"):
        runtime = runtimes.runtime(p.container)
        fix = "docker run --gpus all ... (or set NVIDIA_VISIBLE_DEVICES=all with the nvidia runtime)"
        if runtime is not None and runtime.name != "docker":
            fix = f"set NVIDIA_VISIBLE_DEVICES=all and request the GPUs the {runtime.name} way: {runtime.gpu_request}"
        fail(
            f"the {name} container hides every GPU (NVIDIA_VISIBLE_DEVICES={visible!r})",
            expected="NVIDIA_VISIBLE_DEVICES=all or a list of GPU indices/UUIDs",
            found=f"NVIDIA_VISIBLE_DEVICES={visible!r}",
            source=f"the environment; container detected by {evidence}",
            why="the NVIDIA container toolkit injects no device nodes or driver libraries for 'void'/'none'",
            fix=fix,
        )


def judge_default_runtime(expect: Expectations, facts: Facts, matrices: Matrices) -> None:
    """On a Kubernetes GPU node, fail when no engine runs containers under the NVIDIA runtime by default.

    The NVIDIA device plugin, and every pod without a RuntimeClass, runs under the engine's default
    runtime; under runc it sees no GPU, so the node advertises nvidia.com/gpu: 0 and GPU pods stay
    Pending. A containerd that registers an nvidia runtime without making it the default passes: a
    RuntimeClass with that handler selects it, and the Kubernetes API that would say so is not read.
    """
    p = facts.platform
    if p.container != "kubernetes" and p.kubelet_config is None:
        not_applicable("not a Kubernetes node or pod")
    if not expect.profile.expects_gpu:
        not_applicable(f"profile {expect.profile.name!r} expects no GPU")
    if p.engine_runtimes is None:
        not_applicable("the container engines' configuration is not recorded")
    if not p.engine_runtimes:
        not_applicable(
            f"no {' or '.join(ENGINE_CONFIGS)} configuration is readable here ({', '.join(ENGINE_FILES)}): run on "
            "the node, or give a pod the node's root and pass --host-root"
        )
    read = [e for e in p.engine_runtimes if e.error is None]
    if any(_is_nvidia(e.default_runtime) for e in read):
        return
    if any(e.engine == "containerd" and any(_is_nvidia(r) for r in e.runtimes) for e in read):
        return  # registered: a RuntimeClass can select it
    if not read:
        unreadable = "; ".join(f"{e.config}: {e.error.message}" for e in p.engine_runtimes if e.error is not None)
        could_not_check("the container engine's default runtime", unreadable, source="the engines' config files")
    runtimes = matrices.rules.container_runtimes
    fixes = [runtimes.default_runtime(e.engine) for e in read]
    found = "; ".join(
        f"{e.config} sets {_setting(e, runtimes.default_runtime(e.engine))}"
        + (f" (runtimes registered: {', '.join(e.runtimes)})" if e.runtimes else " (no runtime registered)")
        for e in read
    )
    engines = " and ".join(e.engine for e in read)
    fail(
        f"the Kubernetes node's {engines} runs containers under runc by default, not the NVIDIA runtime",
        expected="the nvidia runtime as the engine's default runtime (docker \"default-runtime\": \"nvidia\", "
        "containerd default_runtime_name = \"nvidia\"), or registered for a RuntimeClass",
        found=found,
        source=f"{', '.join(e.config for e in read)}; {TABLE}",
        why="the NVIDIA device plugin runs under the default runtime: under runc it sees no GPU, so the node "
        "advertises nvidia.com/gpu: 0 and pods that request GPUs stay Pending",
        fix=" ".join(f.fix for f in fixes if f is not None)
        or "make nvidia-container-runtime the engine's default runtime (sudo nvidia-ctk runtime configure "
        "--set-as-default), restart the engine and the NVIDIA device plugin",
    )


def _is_nvidia(runtime: str | None) -> bool:
    return bool(runtime) and str(runtime).startswith("nvidia")


def _setting(engine: EngineRuntime, row: DefaultRuntimeFix | None) -> str:
    key = row.key if row is not None else "a default runtime"
    if engine.default_runtime is None:
        return f"no {key} (the engine's own default, runc)"
    return f"{key} {engine.default_runtime!r}"
