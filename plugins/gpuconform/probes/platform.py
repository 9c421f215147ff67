"""Probe the interpreter, OS, C library, container (its engines' default runtime: `engines`) and installed ML packages.

Nothing here imports TensorFlow: packages are read from their metadata.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gpuconform.facts import redact
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.facts.model import PlatformFacts
from gpuconform.probes.engines import probe_engine_runtimes
from gpuconform.probes.engines import probe_kubelet

#: Environment variables worth reporting: they change how CUDA, TensorFlow and Keras behave.
#: TensorFlow's variables are named one by one: `TF_` is also Terraform's prefix
#: (TF_VAR_db_password, TF_TOKEN_app_terraform_io, TF_CLI_ARGS) and Azure Pipelines' (TF_BUILD).
#: Each name below is read by TensorFlow's own source (file in the comment) or, for
#: TF_ENABLE_AUTO_MIXED_PRECISION, by NVIDIA's NGC TensorFlow builds.
TF_NAMES = (
    "TF_CPP_MIN_LOG_LEVEL",  # tsl/platform/default/logging.cc
    "TF_CPP_MAX_VLOG_LEVEL",  # same
    "TF_CPP_VMODULE",  # same
    "TF_FORCE_GPU_ALLOW_GROWTH",  # core/common_runtime/gpu/gpu_bfc_allocator.cc
    "TF_GPU_ALLOCATOR",  # core/common_runtime/gpu/gpu_process_state.cc (cuda_malloc_async, ...)
    "TF_GPU_THREAD_MODE",  # core/common_runtime/gpu/gpu_device.cc
    "TF_GPU_THREAD_COUNT",  # same
    "TF_GPU_HOST_MEM_LIMIT_IN_MB",  # gpu_process_state.cc, TF 2.0-2.4
    "TF_CUDA_HOST_MEM_LIMIT_IN_MB",  # gpu_process_state.cc, later releases
    "TF_FORCE_UNIFIED_MEMORY",  # the GPU BFC allocator of TensorFlow and of XLA's GPU client
    "TF_ENABLE_ONEDNN_OPTS",  # core/util/util.cc (IsMKLEnabled)
    "TF_DETERMINISTIC_OPS",  # core/util/determinism.cc
    "TF_CUDNN_DETERMINISTIC",  # TensorFlow's cuDNN kernels and XLA's GPU compiler
    "TF_CUDNN_USE_AUTOTUNE",  # core/util/use_cudnn.cc
    "TF_USE_LEGACY_KERAS",  # tensorflow/__init__.py (tf.keras is Keras 2 from tf_keras)
    "TF_XLA_FLAGS",  # compiler/jit/flags.cc
    "TF_NUM_INTEROP_THREADS",  # core/common_runtime/process_util.cc
    "TF_NUM_INTRAOP_THREADS",  # same
    "TF_ENABLE_AUTO_MIXED_PRECISION",  # NVIDIA NGC TensorFlow containers
)
#: Prefixes kept whole: no other tool we know keeps secrets under them except under names
#: the redaction hides anyway (NVIDIA_API_KEY), and their values pass the redaction too.
#: PyTorch's and JAX's own switches too (TORCH_LOGS, PYTORCH_CUDA_ALLOC_CONF, JAX_PLATFORMS): a bad one fails
#: their import or their first array, and the checks name it from here.
ENV_PREFIXES = ("CUDA_", "NVIDIA_", "XLA_", "NCCL_", "CUDNN_", "KERAS_", "TORCH_", "PYTORCH_", "JAX_", "GPUCONFORM_")
ENV_NAMES = (
    "LD_LIBRARY_PATH",
    "LD_PRELOAD",
    "PATH",
    "PYTHONPATH",
    "CONDA_PREFIX",
    "CONDA_DEFAULT_ENV",
    "VIRTUAL_ENV",
    "OMP_NUM_THREADS",
    *TF_NAMES,
)

TF_DISTRIBUTIONS = (
    "tensorflow",
    "tensorflow-cpu",
    "tensorflow-gpu",
    "tf-nightly",
    "tf-nightly-cpu",
    "tensorflow-intel",
    "intel-tensorflow",
)
OTHER_DISTRIBUTIONS = ("numpy", "pillow", "werkzeug", "protobuf", "ml-dtypes", "h5py", "jax", "torch")


def probe_platform(root: Path = Path("/"), env: Mapping[str, str] | None = None) -> PlatformFacts:
    """Describe the interpreter, kernel, distribution, libc and container."""
    env = os.environ if env is None else env
    libc, libc_version = platform.libc_ver()
    container, evidence = detect_container(root, env)
    proc_version = _read(root / "proc/version") or ""
    return PlatformFacts(
        python_version=platform.python_version(),
        python_implementation=platform.python_implementation(),
        system=platform.system(),
        kernel_release=platform.release(),
        machine=platform.machine(),
        distro=_os_release(root),
        libc=libc or None,
        libc_version=libc_version or None,
        container=container,
        container_evidence=tuple(evidence),
        wsl="microsoft" in proc_version.lower(),
        wsl_version=detect_wsl(root),
        environment=reported_environment(env),
        **probe_cpu(root),
        engine_runtimes=probe_engine_runtimes(root),
        kubelet_config=probe_kubelet(root),
    )


#: The x86 instruction-set extensions TensorFlow wheels are compiled to need (tf_platforms.toml cpu_requirement).
CPU_FLAGS = ("avx", "avx2", "avx512f", "fma", "sse4_1", "sse4_2")


def probe_cpu(root: Path = Path("/")) -> dict[str, Any]:
    """The CPU's model name and which of CPU_FLAGS it has, from /proc/cpuinfo (flags: None where it has no
    x86 "flags" line, e.g. aarch64, or cannot be read)."""
    text = _read(root / "proc/cpuinfo") or ""
    model = None
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and model is None:
            model = value.strip() or None
    present = cpu_flags(text)
    flags = None if present is None else tuple(f for f in CPU_FLAGS if f in present)
    return {"cpu_model": model, "cpu_flags": flags}


def cpu_flags(cpuinfo: str) -> frozenset[str] | None:
    """Every flag of the first processor in the text of /proc/cpuinfo; None where it has no "flags" line."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return None


def reported_environment(env: Mapping[str, str]) -> tuple[tuple[str, str], ...]:
    """The allowlisted variables, each value through the one redaction (gpuconform.facts.redact)."""
    return tuple((name, redact.environment_value(name, env[name])) for name in sorted(env) if reported(name))


def reported(name: str) -> bool:
    """Whether a variable of this name is worth reporting (secret or not: its value is redacted)."""
    return name in ENV_NAMES or name.startswith(ENV_PREFIXES)


#: Values of systemd's `container` variable (and /run/systemd/container) as gpuconform names the runtimes.
CONTAINER_NAMES = {"lxc-libvirt": "lxc", "oci": "podman", "apptainer": "apptainer", "singularity": "apptainer"}
#: The runtimes whose own mark outranks the engine's underneath: their GPU fix is theirs, not the engine's.
OUTER_RUNTIMES = ("kubernetes", "apptainer", "enroot")


def detect_container(root: Path, env: Mapping[str, str]) -> tuple[str | None, list[str]]:
    """Name the container runtime from the marks it leaves inside (container_runtimes.toml), with every mark seen.

    systemd's order of trust (virt.c detect_container): /run/host/container-manager, PID 1's
    `container` variable, /run/systemd/container, then /run/.containerenv (podman) and /.dockerenv
    (docker). Kubernetes (KUBERNETES_SERVICE_HOST), Apptainer/Singularity (APPTAINER_CONTAINER,
    /.singularity.d) and enroot (/etc/rc from an enroot import) run on top of an engine, or on none,
    and their own GPU fix applies, so their marks outrank the engine's.
    """
    evidence: list[str] = []
    kinds: list[str] = []

    def seen(kind: str, why: str) -> None:
        kinds.append(CONTAINER_NAMES.get(kind, kind))
        evidence.append(why)

    for mark in ("run/host/container-manager", "run/systemd/container"):
        text = (_read(root / mark) or "").strip()
        if text:
            seen(text.splitlines()[0], f"/{mark} says {text.splitlines()[0]!r}")
    if env.get("container"):
        seen(env["container"], f"container={env['container']!r} in the environment")
    pid1 = _pid1_container(root)
    if pid1 and not env.get("container"):
        seen(pid1, f"PID 1's environment has container={pid1!r}")
    for mark, name in (("run/.containerenv", "podman"), (".dockerenv", "docker")):
        if (root / mark).exists():
            seen(name, f"/{mark} exists")
    if env.get("KUBERNETES_SERVICE_HOST"):
        seen("kubernetes", "KUBERNETES_SERVICE_HOST is set")
    for variable in ("APPTAINER_CONTAINER", "SINGULARITY_CONTAINER"):
        if env.get(variable):
            seen("apptainer", f"{variable} is set")
    if (root / ".singularity.d").is_dir():
        seen("apptainer", "/.singularity.d exists")
    rc = (_read(root / "etc/rc") or "").lstrip()
    if rc.startswith("# enroot-provenance:"):
        seen("enroot", "/etc/rc is an enroot import's ('# enroot-provenance: ...')")
    cgroup = _read(root / "proc/1/cgroup") or ""
    for mark, name in (("kubepods", "kubernetes"), ("docker", "docker"), ("containerd", "containerd"), ("lxc", "lxc")):
        if mark in cgroup:
            seen(name, f"/proc/1/cgroup mentions {mark}")
            break
    outer = next((k for k in OUTER_RUNTIMES if k in kinds), None)
    return (outer or (kinds[0] if kinds else None)), evidence


def _pid1_container(root: Path) -> str | None:
    """PID 1's `container` variable, where /proc/1/environ can be read (root, or the same user)."""
    from gpuconform.facts.reading import Unreadable
    from gpuconform.facts.reading import read_bytes

    try:
        data = read_bytes(root / "proc/1/environ", 1 << 20)
    except (Unreadable, OSError):
        return None
    for item in data.split(b"\0"):
        name, _, value = item.partition(b"=")
        if name == b"container" and value:
            return value.decode("utf-8", "replace")
    return None


def detect_wsl(root: Path) -> int | None:
    """2 or 1 under WSL, None elsewhere.

    The kernel release says WSL ("Microsoft" in WSL 1's, "microsoft-standard-WSL2" in WSL 2's, as
    systemd's virt.c reads it); /dev/dxg, the GPU paravirtualisation device, exists only in WSL 2.
    """
    release = (_read(root / "proc/sys/kernel/osrelease") or _read(root / "proc/version") or "").strip()
    if "microsoft" not in release.lower() and "wsl" not in release.lower():
        return None
    if (root / "dev/dxg").exists() or "wsl2" in release.lower() or "microsoft-standard" in release.lower():
        return 2
    return 1


def probe_packages(path: list[str] | None = None) -> PackagesFacts:
    """Read the installed TensorFlow, Keras and NVIDIA wheel distributions from metadata.

    Every TensorFlow distribution is recorded, the one `import tensorflow` loads first: the first
    directory on sys.path wins, as it does for import; within one directory (tensorflow and
    tensorflow-gpu both written into the same site-packages/tensorflow/) the files on disk are the
    last install's, so the distribution whose RECORD hash matches tensorflow/__init__.py wins.
    """
    found: dict[str, PackageInfo] = {}
    nvidia: list[PackageInfo] = []
    tf_dists: list[tuple[PackageInfo, importlib.metadata.Distribution]] = []
    for dist in importlib.metadata.distributions(path=path if path is not None else sys.path):
        try:
            name = _canonical(dist.metadata["Name"] or "")
        except KeyError:  # a dist-info without a Name is not a distribution we can report
            continue
        if not name or name in found:
            continue  # the first on sys.path wins, as it does for import
        info = PackageInfo(name=name, version=dist.version, location=str(dist.locate_file("")))
        if name.startswith("nvidia-"):
            nvidia.append(info)
        if name in TF_DISTRIBUTIONS:
            tf_dists.append((info, dist))
        found[name] = info
    ordered = _import_order(tf_dists)
    return PackagesFacts(
        tensorflow=ordered[0][0] if ordered else None,
        keras=found.get("keras"),
        tf_keras=found.get("tf-keras"),
        keras_preprocessing=found.get("keras-preprocessing"),
        nvidia=tuple(sorted(nvidia, key=lambda p: p.name)),
        tensorflow_distributions=tuple(info for info, _ in ordered),
        others=tuple(found[n] for n in OTHER_DISTRIBUTIONS if n in found),
        tensorflow_is_cuda_build=_cuda_build(ordered[0][1]) if ordered else None,
        tensorflow_cuda_version=_build_cuda(ordered[0][1]) if ordered else None,
    )


#: Where a TensorFlow package says whether it is a CUDA build (tensorflow_core/ in 1.15-2.0), read as text.
BUILD_INFO_FILES = ("tensorflow/python/platform/build_info.py", "tensorflow_core/python/platform/build_info.py")
_CUDA_BUILD = re.compile(r"is_cuda_build['\"]?\s*[=:,]\s*(True|False)")
_IMPORT_FILE = "tensorflow/__init__.py"


def _import_order(
    dists: list[tuple[PackageInfo, importlib.metadata.Distribution]],
) -> list[tuple[PackageInfo, importlib.metadata.Distribution]]:
    """The TF distributions in the order import finds them (see probe_packages); a tie keeps the name order."""
    rank = {name: i for i, name in enumerate(TF_DISTRIBUTIONS)}
    directories = list(dict.fromkeys(info.location for info, _ in dists))

    def key(item: tuple[PackageInfo, importlib.metadata.Distribution]) -> tuple[int, int, int]:
        info, dist = item
        return (directories.index(info.location), 0 if _owns_import_file(dist) else 1, rank[info.name])

    return sorted(dists, key=key)


def _owns_import_file(dist: importlib.metadata.Distribution) -> bool:
    """Whether tensorflow/__init__.py on disk is the one this distribution's RECORD lists (same hash)."""
    import base64
    import hashlib

    from gpuconform.facts.reading import Unreadable
    from gpuconform.facts.reading import read_bytes

    record = next((f for f in dist.files or () if str(f) == _IMPORT_FILE), None)
    if record is None or record.hash is None or record.hash.mode != "sha256":
        return False
    try:
        data = read_bytes(Path(str(dist.locate_file(_IMPORT_FILE))), 4 << 20)
    except Unreadable:
        return False
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return digest.rstrip(b"=").decode() == record.hash.value


def _cuda_build(dist: importlib.metadata.Distribution) -> bool | None:
    """What the package's own build_info.py says of is_cuda_build; None when it cannot be read."""
    for name in BUILD_INFO_FILES:
        text = _read(Path(str(dist.locate_file(name))))
        match = _CUDA_BUILD.search(text or "")
        if match:
            return match.group(1) == "True"
    return None


#: Where a TensorFlow package names the CUDA it was built with, first first: the cuda_config.h of its headers
#: (TF_CUDA_VERSION "9.0"; "" in a CPU build), then build_info.py ('cuda_version': '11.2', from 2.3).
CUDA_CONFIG_FILES = tuple(
    f"{package}/include/{where}/cuda_config.h"
    for package in ("tensorflow", "tensorflow_core")
    for where in ("external/local_config_cuda/cuda/cuda", "third_party/gpus/cuda")
)
_TF_CUDA_VERSION = re.compile(r'#define TF_CUDA_VERSION "(\d+(?:\.\d+)*)"')
_BUILD_INFO_CUDA = re.compile(r"\bcuda_version['\"]?\s*[=:,]\s*['\"](\d+(?:\.\d+)*)['\"]")


def _build_cuda(dist: importlib.metadata.Distribution) -> str | None:
    """The CUDA version the package's own build files name; None when none names one (a CPU build, unread)."""
    for names, pattern in ((CUDA_CONFIG_FILES, _TF_CUDA_VERSION), (BUILD_INFO_FILES, _BUILD_INFO_CUDA)):
        for name in names:
            match = pattern.search(_read(Path(str(dist.locate_file(name)))) or "")
            if match:
                return match.group(1)
    return None


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _os_release(root: Path) -> str | None:
    for candidate in ("etc/os-release", "usr/lib/os-release"):
        text = _read(root / candidate)
        if text:
            for line in text.splitlines():
                if line.startswith("PRETTY_NAME="):
                    return line.partition("=")[2].strip().strip('"') or None
    return None


def _read(path: Path) -> str | None:
    # The one bounded reader: `etc/os-release -> /dev/zero` or a FIFO is no answer, not a hang.
    from gpuconform.facts.reading import Unreadable
    from gpuconform.facts.reading import read_host_text

    try:
        return read_host_text(path)
    except Unreadable:
        return None
