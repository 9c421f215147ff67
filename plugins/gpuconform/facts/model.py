"""The Facts tree: everything the probes observed about a host, as frozen dataclasses.

Fields whose text the checks parse (versions, ids) carry metadata {"parse": fn}: loading a
Facts file (`serde.load`) refuses a value fn refuses, naming its key, so that "banana" as a
Python version is a usage error, never a traceback inside a check.

Facts are versioned and JSON-serialisable so that a run can be recorded
(`reports/facts.json`) and replayed (`--host-facts FILE`). Probes fill them and
never judge; suites compare them with expectations.

A probe that could not observe something records why in a `ProbeError`
instead of guessing: "could not check" must never look like "absent".
A file whose source does not state a value (a host description of a public
report that gives no driver version, a file written by hand) records that as a
`ProbeError` of kind "not_stated" (`base.NOT_STATED`) where the probe would
have recorded its failure to read it: the value is None and the error says so.
A check that needs the value is then not applicable and names the missing fact;
a live probe never records "not stated" for a value it read.

The JSON form is documented by `schemas/facts.schema.json`, generated from
these classes by `gpuconform.facts.schema` and guarded by a test.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field

from gpuconform.facts.base import ProbeError
from gpuconform.facts.base import checked
from gpuconform.facts.observed import ObservedBatch
from gpuconform.facts.observed import ObservedMemoryRun
from gpuconform.facts.versions import check_bits
from gpuconform.facts.versions import decode_cuda_int
from gpuconform.facts.versions import parse_cc
from gpuconform.facts.versions import parse_date
from gpuconform.facts.versions import parse_driver_version
from gpuconform.facts.versions import parse_release

#: Bump when a field is renamed or removed, or when what a file can say grows so that an older
#: gpuconform would misread it. Version 2 added the kernel log, the CUDA toolchain, every TensorFlow
#: distribution, a library candidate's every origin and driver build, a container runtime's
#: refusal, and the framework children's observations (their batches and the memory layer's
#: measured runs), Secure Boot and what loading the module said, a device node's open error, the WSL
#: version, the profile and options of the run that wrote the file, a container engine's configured
#: default runtime and the kubelet's config, the CUDA TensorFlow's own build files name, and values
#: recorded as not stated (a ProbeError of kind "not_stated" beside a None value); version-1 files load
#: unchanged (each addition has a default that means "not recorded").
FACTS_SCHEMA_VERSION = 2
#: The versions this gpuconform reads.
FACTS_SCHEMA_VERSIONS = (1, 2)


# ---- platform -----------------------------------------------------------------------


@dataclass(frozen=True)
class EngineRuntime:
    """A container engine's configured default runtime, read from its config file.

    The file is this machine's: a Kubernetes node's, or the node's seen from a pod through --host-root.
    """

    engine: str  # "docker", "containerd"
    config: str  # the file read: "/etc/docker/daemon.json", "/etc/containerd/config.toml"
    default_runtime: str | None = None  # what the file sets; None: it sets none (the engine's own default, runc)
    runtimes: tuple[str, ...] = ()  # the runtimes the file registers ("nvidia")
    error: ProbeError | None = None  # the file is there but could not be read or parsed


@dataclass(frozen=True)
class PlatformFacts:
    """The interpreter, operating system, C library and container around the suite."""

    python_version: str = field(metadata={"parse": parse_release})
    python_implementation: str
    system: str  # platform.system(): "Linux", ...
    kernel_release: str
    machine: str  # "x86_64", "aarch64"
    distro: str | None = None  # PRETTY_NAME from /etc/os-release
    libc: str | None = None  # "glibc", "musl"
    libc_version: str | None = checked(parse_release, None)
    container: str | None = None  # "docker", "podman", "kubernetes", "lxc", ...
    container_evidence: tuple[str, ...] = ()
    # What the container runtime said when it refused the GPUs (nvidia-container-cli's error,
    # "could not select device driver"), where known: a described host, or a launcher's log.
    container_runtime_error: str | None = None
    wsl: bool = False
    # 1 or 2 where known: WSL 2 has GPU paravirtualisation (/dev/dxg, /usr/lib/wsl/lib), WSL 1 none.
    wsl_version: int | None = None
    environment: tuple[tuple[str, str], ...] = ()  # allowlisted variables only
    cpu_model: str | None = None  # /proc/cpuinfo "model name"
    # The instruction-set extensions of /proc/cpuinfo "flags" that TensorFlow wheels are built to need
    # (avx, avx2, avx512f, fma, sse4_1, sse4_2), the ones present; None: not read (not x86, not Linux).
    cpu_flags: tuple[str, ...] | None = None
    # Each container engine config found on this machine; (): looked, none found; None: not recorded.
    engine_runtimes: tuple[EngineRuntime, ...] | None = None
    # The kubelet's config found on this machine ("/var/lib/kubelet/config.yaml"): a Kubernetes node. None: none
    # found, or not recorded.
    kubelet_config: str | None = None


@dataclass(frozen=True)
class PackageInfo:
    """One installed Python distribution, read from its metadata (never imported)."""

    name: str
    version: str = field(metadata={"parse": parse_release})
    location: str | None = None


@dataclass(frozen=True)
class FailedInstall:
    """An install of TensorFlow that did not complete, where known (a described host, a provisioning log)."""

    requested: str  # what was asked for: "tensorflow[and-cuda]==2.14.0", "tensorflow"
    installer: str = "pip"  # pip, conda, poetry, uv, ...
    log: tuple[str, ...] = ()  # what the installer said: "ERROR: No matching distribution found for ..."


@dataclass(frozen=True)
class PackagesFacts:
    """ML-relevant distributions installed in the environment under test."""

    tensorflow: PackageInfo | None = None  # tensorflow, tensorflow-cpu, tf-nightly, ...
    keras: PackageInfo | None = None
    tf_keras: PackageInfo | None = None
    keras_preprocessing: PackageInfo | None = None
    nvidia: tuple[PackageInfo, ...] = ()  # nvidia-*-cu11/cu12/cu13 wheels
    # Every TensorFlow distribution installed, the one import finds first (`tensorflow`) first:
    # two at once (tensorflow over tensorflow-gpu) share one package directory and one wins.
    tensorflow_distributions: tuple[PackageInfo, ...] = ()
    others: tuple[PackageInfo, ...] = ()  # numpy, pillow, ...
    # What the imported package's own build_info.py says (tensorflow/python/platform/, tensorflow_core/
    # before 2.1), read as text, never imported: a conda build named like a CUDA one can say False.
    # None: not read.
    tensorflow_is_cuda_build: bool | None = None
    # The CUDA the same package says it was built with, read as text as well: its include/ cuda_config.h
    # (TF_CUDA_VERSION, in every GPU wheel since 1.x) or build_info.py's cuda_version. A conda build can
    # name another CUDA than the release's PyPI wheel (tensorflow-gpu 1.11 for CUDA 9.2). None: not read.
    tensorflow_cuda_version: str | None = checked(parse_release, None)
    # The date (YYYY-MM-DD) by which that TensorFlow was installed, where known: a described host's report date
    # (a release first published later is not what it runs). None: not recorded.
    tensorflow_installed_by: str | None = checked(parse_date, None)
    failed_install: FailedInstall | None = None  # an install that did not complete, where known


# ---- driver -------------------------------------------------------------------------


@dataclass(frozen=True)
class PciDevice:
    """A display or 3D controller found under /sys/bus/pci/devices."""

    address: str  # "0000:00:04.0"
    vendor_id: int = field(metadata={"parse": check_bits(16)})  # 0x10de
    device_id: int = field(metadata={"parse": check_bits(16)})  # 0x1eb8
    class_code: int = field(metadata={"parse": check_bits(24)})  # full 24-bit class, e.g. 0x030200
    bound_driver: str | None  # "nvidia", "nouveau", "vfio-pci", None when unbound
    subsystem_vendor_id: int | None = None
    subsystem_device_id: int | None = None
    numa_node: int | None = None
    current_link_speed: str | None = None  # sysfs text, e.g. "8.0 GT/s PCIe"
    current_link_width: int | None = None
    max_link_speed: str | None = None
    max_link_width: int | None = None


@dataclass(frozen=True)
class KernelModule:
    """A loaded kernel module from /proc/modules."""

    name: str
    size: int | None = None
    refcount: int | None = None


@dataclass(frozen=True)
class DeviceNode:
    """A /dev/nvidia* node as seen from this process."""

    path: str  # the host path ("/dev/nvidia0"), even when re-rooted
    exists: bool
    is_char_device: bool = False
    readable: bool = False
    writable: bool = False
    # Why opening it failed although it exists and its mode allows it, where known: a device cgroup
    # that no longer allows it ("Operation not permitted"), as after a systemctl daemon-reload.
    open_error: str | None = None


@dataclass(frozen=True)
class GpuFacts:
    """One GPU as NVML reports it."""

    index: int
    name: str
    uuid: str | None = None
    pci_bus_id: str | None = None
    pci_device_id: int | None = None  # 16-bit device id (upper half of NVML pciDeviceId)
    minor_number: int | None = None
    compute_capability: tuple[int, int] | None = checked(parse_cc, None)
    memory_total_mib: int | None = None
    memory_used_mib: int | None = None
    persistence_mode: bool | None = None
    ecc_enabled: bool | None = None
    ecc_pending: bool | None = None
    retired_pages_pending: bool | None = None
    remapped_rows_pending: bool | None = None
    remapped_rows_failure: bool | None = None
    mig_enabled: bool | None = None
    pcie_gen_current: int | None = None
    pcie_gen_max: int | None = None
    pcie_width_current: int | None = None
    pcie_width_max: int | None = None
    errors: tuple[ProbeError, ...] = ()  # per-field query failures (not supported, ...)


@dataclass(frozen=True)
class NvmlFacts:
    """What NVML said, or why it could not be asked."""

    library_path: str | None = None  # the libnvidia-ml.so.1 that answered
    init_error: ProbeError | None = None  # set when nvmlInit failed (then nothing else is)
    driver_version: str | None = checked(parse_driver_version, None)  # "550.54.15"
    cuda_driver_version: int | None = checked(decode_cuda_int, None)  # 12040 (1000*major + 10*minor)
    nvml_version: str | None = None
    device_count: int | None = None
    gpus: tuple[GpuFacts, ...] = ()
    # System-level query failures after a good init (driver version, device count, ...), probe
    # "nvml.<function>"; a value not stated has kind "not_stated". Per-GPU failures live in GpuFacts.errors.
    errors: tuple[ProbeError, ...] = ()


@dataclass(frozen=True)
class XidEvent:
    """One Xid the driver logged: "NVRM: Xid (PCI:0000:3b:00): 79, pid=..., GPU has fallen off the bus."."""

    code: int
    pci: str | None = None  # "0000:3b:00"
    text: str = ""  # the rest of the line after the code


@dataclass(frozen=True)
class KernelLog:
    """The kernel's messages about the GPU driver: Xid events, why the nvidia module did not load.

    `source` None means not recorded (a version-1 file, or a probe that did not look); an
    unreadable log (dmesg_restrict, no /dev/kmsg in a container) has `error` set.
    """

    source: str | None = None  # "/dev/kmsg", "dmesg", "described"
    error: ProbeError | None = None
    lines: tuple[str, ...] = ()  # only nvidia/NVRM/nouveau/Xid/module-signing lines, newest last
    xids: tuple[XidEvent, ...] = ()


@dataclass(frozen=True)
class DriverFacts:
    """Everything between the PCI bus and NVML."""

    pci_devices: tuple[PciDevice, ...] = ()
    pci_error: ProbeError | None = None
    proc_version_text: str | None = None  # /proc/driver/nvidia/version, verbatim
    kernel_module_version: str | None = checked(parse_driver_version, None)  # parsed from that text
    modules: tuple[KernelModule, ...] = ()  # only nvidia*, nouveau, vfio* entries
    modules_error: ProbeError | None = None
    device_nodes: tuple[DeviceNode, ...] = ()
    nvml: NvmlFacts = field(default_factory=NvmlFacts)
    # Set when /proc/driver/nvidia/version exists but cannot be read (or names no version, or a description
    # does not state it: kind "not_stated"): a None proc_version_text alone then means "the nvidia module is not
    # loaded".
    proc_version_error: ProbeError | None = None
    kernel_log: KernelLog = field(default_factory=KernelLog)
    # UEFI Secure Boot (efivars SecureBoot-8be4df61-...): True on, False off, None unknown or not UEFI.
    secure_boot: bool | None = None
    # What loading the module said (modprobe's stderr: "Key was rejected by service"), where known.
    module_load_error: str | None = None


# ---- libraries ----------------------------------------------------------------------


@dataclass(frozen=True)
class LibraryCandidate:
    """One file that TF's search order would reach for a soname."""

    path: str
    # The first way the search reaches it: "pip", "LD_LIBRARY_PATH", "conda", "ldcache", "system",
    # "cuda_home" (not searched by dlopen), "compat" (a cuda-compat directory), "runpath" (a
    # DT_RUNPATH of TensorFlow's own libraries), "wsl" (/usr/lib/wsl/lib), "windows_path".
    origin: str
    realpath: str | None = None
    origins: tuple[str, ...] = ()  # every way it is reached, `origin` first (empty in version 1: just `origin`)
    # For libcuda: the driver release this copy belongs to (libcuda.so.<build>), e.g. "535.104.05".
    driver_build: str | None = checked(parse_driver_version, None)


@dataclass(frozen=True)
class LibraryLoad:
    """The result of loading one candidate in a child process and asking its version."""

    path: str
    loaded: bool
    version: str | None = checked(parse_release, None)  # decoded, e.g. "12.5", "9.3.0"
    raw_version: int | None = None  # as returned by the library
    error: ProbeError | None = None  # dlerror text, signal, timeout; loaded, version not stated: "not_stated"
    # The CUDA major the library says it was built for (cuDNN: cudnnGetCudartVersion() // 1000),
    # so the suite can catch a cuDNN for CUDA 11 beside a cudart 12.
    cuda_major: int | None = None


@dataclass(frozen=True)
class LibraryFacts:
    """One CUDA user-space library TF would dlopen."""

    name: str  # "cudart", "cublas", "cudnn", ...
    soname: str  # "libcudart.so.12"
    required: bool  # TF skips GPU registration without it
    candidates: tuple[LibraryCandidate, ...] = ()
    loads: tuple[LibraryLoad, ...] = ()
    # Files of the same library under another soname (libcudnn.so.8 where TF wants .so.9),
    # found in the same search path and loaded the same way. TF never opens them; they explain
    # "cuDNN 8 is installed but TF needs 9" and what a host without TF could run.
    other_candidates: tuple[LibraryCandidate, ...] = ()
    other_loads: tuple[LibraryLoad, ...] = ()


@dataclass(frozen=True)
class LibrariesFacts:
    """The CUDA libraries the installed TF (or the newest matrix row) would load."""

    basis: str  # "tensorflow 2.21.0", or "no TensorFlow: sonames of CUDA 12 / cuDNN 9"
    libraries: tuple[LibraryFacts, ...] = ()
    search_path: tuple[str, ...] = ()  # directories, in TF's order
    error: ProbeError | None = None
    # TensorRT's libnvinfer and libnvinfer_plugin under the sonames TF-TRT of the installed TF dlopens
    # (matrices/tensorrt.toml; the newest major when it has no TF-TRT), found and loaded the same way;
    # other majors are their other_candidates. Empty: not looked for (facts recorded before it was).
    tensorrt: tuple[LibraryFacts, ...] = ()


# ---- the CUDA toolchain XLA compiles with -------------------------------------------------


@dataclass(frozen=True)
class ToolVersion:
    """A CUDA tool (ptxas, nvcc) as XLA would find it."""

    path: str | None = None
    version: str | None = checked(parse_release, None)  # "12.5.82"
    error: ProbeError | None = None


@dataclass(frozen=True)
class ToolchainFacts:
    """ptxas, nvcc and libdevice: what XLA's GPU compiler needs beside the libraries."""

    ptxas: ToolVersion = field(default_factory=ToolVersion)
    nvcc: ToolVersion = field(default_factory=ToolVersion)
    libdevice: str | None = None  # the libdevice.10.bc XLA would find
    searched: tuple[str, ...] = ()  # the directories looked in, in XLA's order
    # Set when libdevice was looked for and not found (then `libdevice` is None); both None: not recorded.
    libdevice_error: ProbeError | None = None


# ---- the whole tree -----------------------------------------------------------------


@dataclass(frozen=True)
class HostIdentity:
    """Which host and which run the facts describe."""

    hostname: str
    collected_at: str  # ISO 8601, UTC
    source: str = "probe"  # "probe", or "replay:<path>"
    host_root: str | None = None  # set when probes were re-rooted with --host-root
    run_id: str | None = None  # the run that wrote these facts (every report of a run carries it)
    gpuconform_version: str | None = None  # the gpuconform that collected these facts (null or absent: not recorded)


@dataclass(frozen=True)
class RunOptions:
    """What the run that wrote these facts was asked to check, so that replaying the file without
    --host-profile checks the host against the same profile."""

    profile: str  # --host-profile as the run resolved it: a built-in name, auto, or the profile file's path
    profile_name: str  # the profile it checked against (for auto: the built-in auto picked)
    profile_source: str  # where the value came from: "option --host-profile", "the default of --host-profile", ...
    strict: bool = False  # --host-strict
    compat: bool = False  # --host-compat
    probe_timeout: float | None = None  # --host-probe-timeout, seconds
    tf_timeout: float | None = None  # --host-tf-timeout, seconds
    report_formats: tuple[str, ...] = ()  # --host-report-formats


@dataclass(frozen=True)
class Facts:
    """The root of the Facts tree."""

    host: HostIdentity
    platform: PlatformFacts
    packages: PackagesFacts = field(default_factory=PackagesFacts)
    driver: DriverFacts = field(default_factory=DriverFacts)
    libraries: LibrariesFacts | None = None
    toolchain: ToolchainFacts | None = None
    observations: tuple[ObservedBatch, ...] = ()
    memory_runs: tuple[ObservedMemoryRun, ...] = ()
    run: RunOptions | None = None  # null or absent: not recorded (an older file, or one written by hand)
    schema_version: int = FACTS_SCHEMA_VERSION
