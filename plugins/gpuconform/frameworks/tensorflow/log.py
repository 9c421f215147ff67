"""Read TensorFlow's C++ log (a child's stderr) into the landmarks the framework layer judges.

The formats are those of tf-behaviors.md §1.3, §2, §5.1 and §7, in their
stream_executor-era (TF <= ~2.13, `W ... dso_loader.cc:64]`) and tsl/xla-era
(`W0000 00:00:... 123 gpu_device.cc:2344]`) spellings. Every pattern searches
inside a line, so the prefix (time, thread, file:line) never matters.

Lines a child emits at `TF_CPP_MIN_LOG_LEVEL=0` and `TF_CPP_MAX_VLOG_LEVEL=1`
name each library TensorFlow failed to dlopen; the per-library lines are VLOG(1)
in tsl-era TF, so a child that parses them must set both variables before
`import tensorflow` (TF reads them once).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_COULD_NOT_LOAD = re.compile(
    r"Could not load dynamic library '(?P<file>[^']+)'; dlerror: (?P<error>.*?)(?:; LD_LIBRARY_PATH: (?P<path>.*))?$"
)
_OPENED = re.compile(r"Successfully opened dynamic library (?P<file>\S+)")
_CANNOT_DLOPEN = "Cannot dlopen some GPU libraries"
_CUINIT = re.compile(r"failed call to cuInit: (?P<error>.*)$")
_CUDA_ERROR = re.compile(r"CUDA_ERROR_[A-Z_]+|UNKNOWN ERROR \(\d+\)")
_NO_KERNEL_DRIVER = re.compile(
    r"kernel driver does not appear to be running on this host \((?P<host>[^)]*)\): (?P<why>.*)$"
)
_NO_CUDA_DRIVERS = "Could not find cuda drivers on your machine"
_IGNORING = re.compile(
    r"Ignoring visible gpu device \(device: (?P<device>\d+), name: (?P<name>.*?), pci bus id: (?P<bus>[^,]+), "
    r"compute capability: (?P<cc>\d+\.\d+)\) with (?P<why>.*?)\.?$"
)
_MIN_CC = re.compile(r"The minimum required Cuda capability is (?P<min>\d+\.\d+)")
_NOT_BUILT_FOR = re.compile(
    r"TensorFlow was not built with CUDA kernel binaries compatible with compute capability (?P<cc>\d+\.\d+)"
)
_CREATED = re.compile(
    r"Created device (?P<device>/job:\S+/device:GPU:(?P<tf_index>\d+)) with (?P<mb>\d+) MB memory:\s+-> "
    r"device: (?P<ordinal>\d+), name: (?P<name>.*?), pci bus id: (?P<bus>[^,]+), compute capability: (?P<cc>\d+\.\d+)"
)
_CUDNN = re.compile(r"Loaded cuDNN version (?P<version>\d+)")
_GROWTH_UNPARSED = re.compile(
    r"The TF_FORCE_GPU_ALLOW_GROWTH environment variable is set but could not be parsed: \"(?P<value>[^\"]*)\""
)
_GROWTH_OVERRIDE = re.compile(r"Overriding (?:orig_value|allow_growth) setting because the TF_FORCE_GPU_ALLOW_GROWTH")
_ALLOCATOR = re.compile(r"Using CUDA malloc (?P<kind>Async )?allocator for GPU")


@dataclass(frozen=True)
class MissingLibrary:
    """A library TensorFlow tried to dlopen and could not."""

    file: str  # "libcudnn.so.9"
    dlerror: str  # "libcudnn.so.9: cannot open shared object file: No such file or directory"
    ld_library_path: str | None = None  # as TF printed it, when it did


@dataclass(frozen=True)
class IgnoredGpu:
    """A GPU TensorFlow saw and refused (too old a compute capability, too few SMs)."""

    ordinal: int
    name: str
    pci_bus_id: str
    compute_capability: str
    reason: str  # the text after "with": "Cuda compute capability 5.2. The minimum required ..."
    min_compute_capability: str | None = None


@dataclass(frozen=True)
class CreatedGpu:
    """A GPU device TensorFlow created: `/device:GPU:<tf_index>` is CUDA ordinal `ordinal`."""

    tf_index: int
    memory_mb: int
    ordinal: int
    name: str
    pci_bus_id: str
    compute_capability: str


@dataclass(frozen=True)
class TfLog:
    """The landmarks of one child's log."""

    missing: tuple[MissingLibrary, ...] = ()
    opened: tuple[str, ...] = ()  # files TF logged as successfully opened
    cannot_dlopen: bool = False  # "Cannot dlopen some GPU libraries": GPU registration skipped
    cuinit_error: str | None = None  # "CUDA_ERROR_NO_DEVICE: no CUDA-capable device is detected"
    no_kernel_driver: str | None = None  # "/proc/driver/nvidia/version does not exist"
    no_cuda_drivers: bool = False  # cudart_stub: "Could not find cuda drivers on your machine"
    ignored: tuple[IgnoredGpu, ...] = ()
    jit_from_ptx: tuple[str, ...] = ()  # compute capabilities TF has no SASS for ("9.0")
    created: tuple[CreatedGpu, ...] = ()
    cudnn_version: int | None = None  # as logged: 8904, 90300
    growth_unparsed: str | None = None  # the TF_FORCE_GPU_ALLOW_GROWTH value TF could not read
    growth_overridden: bool = False  # TF_FORCE_GPU_ALLOW_GROWTH overrode the configured value
    allocator: str | None = None  # "cuda_malloc" or "cuda_malloc_async" when TF said so

    @property
    def cuinit_code(self) -> str | None:
        """The CUDA error name of a failed cuInit ("CUDA_ERROR_NO_DEVICE", "UNKNOWN ERROR (303)")."""
        if self.cuinit_error is None:
            return None
        match = _CUDA_ERROR.search(self.cuinit_error)
        return match.group(0) if match else self.cuinit_error


def parse_log(text: str) -> TfLog:
    """Find every landmark in a TensorFlow log; unknown lines are ignored."""
    missing: dict[str, MissingLibrary] = {}
    opened: dict[str, None] = {}
    ignored: list[IgnoredGpu] = []
    jit: dict[str, None] = {}
    created: dict[int, CreatedGpu] = {}
    fields: dict[str, object] = {}
    for raw in text.splitlines():
        line = raw.rstrip()
        if "dynamic library" in line:
            m = _COULD_NOT_LOAD.search(line)
            if m:
                missing.setdefault(m["file"], MissingLibrary(m["file"], m["error"].strip(), m["path"]))
                continue
            m = _OPENED.search(line)
            if m:
                opened.setdefault(m["file"])
                continue
        if _CANNOT_DLOPEN in line:
            fields["cannot_dlopen"] = True
        elif m := _CUINIT.search(line):
            fields.setdefault("cuinit_error", m["error"].strip())
        elif m := _NO_KERNEL_DRIVER.search(line):
            fields.setdefault("no_kernel_driver", m["why"].strip())
        elif _NO_CUDA_DRIVERS in line:
            fields["no_cuda_drivers"] = True
        elif m := _IGNORING.search(line):
            minimum = _MIN_CC.search(m["why"])
            ignored.append(
                IgnoredGpu(
                    int(m["device"]),
                    m["name"],
                    m["bus"].strip(),
                    m["cc"],
                    m["why"],
                    minimum["min"] if minimum else None,
                )
            )
        elif m := _NOT_BUILT_FOR.search(line):
            jit.setdefault(m["cc"])
        elif m := _CREATED.search(line):
            index = int(m["tf_index"])
            created.setdefault(
                index, CreatedGpu(index, int(m["mb"]), int(m["ordinal"]), m["name"], m["bus"].strip(), m["cc"])
            )
        elif m := _CUDNN.search(line):
            fields.setdefault("cudnn_version", int(m["version"]))
        elif m := _GROWTH_UNPARSED.search(line):
            fields.setdefault("growth_unparsed", m["value"])
        elif _GROWTH_OVERRIDE.search(line):
            fields["growth_overridden"] = True
        elif m := _ALLOCATOR.search(line):
            fields.setdefault("allocator", "cuda_malloc_async" if m["kind"] else "cuda_malloc")
    return TfLog(
        missing=tuple(missing.values()),
        opened=tuple(opened),
        ignored=tuple(ignored),
        jit_from_ptx=tuple(jit),
        created=tuple(created[i] for i in sorted(created)),
        **fields,  # type: ignore[arg-type]
    )


_NOTHING = TfLog()


def landmark(line: str) -> bool:
    """Whether the framework layer reads anything in this line of a TensorFlow log."""
    return parse_log(line) != _NOTHING


def busy(line: str) -> str | None:
    """What a line of a running child's log says TensorFlow is busy with for minutes: JIT-compiling the
    kernels of a GPU whose architecture the build has no kernel binaries (SASS) for, from PTX."""
    jit = parse_log(line).jit_from_ptx
    if not jit:
        return None
    cc = jit[0]
    return (
        f"TensorFlow is JIT-compiling kernels for compute capability {cc} from PTX "
        f"(no sm_{cc.replace('.', '')} kernels in this build)"
    )
