"""What the TensorFlow experiments observe, as frozen dataclasses shared by the child and the parent.

A child experiment (`gpuconform.frameworks.tensorflow.experiments.*`) returns ``serde.dump(obs)``;
the parent reads it back with `observed`, which refuses a wrong shape with a
DataError naming the experiment, so a child that answers garbage is "could not
check", never a judgement on garbage. Importing this module never imports TF.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from typing import TypeVar

from gpuconform.facts.serde import load
from gpuconform.frameworks.children import Result

T = TypeVar("T")


# ---- framework ----------------------------------------------------------------------


@dataclass(frozen=True)
class TfIdentity:
    """Which TensorFlow `import tensorflow` loaded, and which distribution owns its files."""

    version: str  # tf.__version__
    module_file: str  # tf.__file__
    distribution: str | None = None  # the distribution whose RECORD lists that file
    distribution_version: str | None = None
    distribution_location: str | None = None  # its site directory


@dataclass(frozen=True)
class BuildInfo:
    """`tf.sysconfig.get_build_info()`, read with .get(): keys vary by release and platform."""

    keys: tuple[str, ...]
    is_cuda_build: bool | None = None
    is_rocm_build: bool | None = None
    cuda_version: str | None = None  # "12.5.1", "11.2", Windows "64_112"
    cudnn_version: str | None = None  # the major only: "9"
    cuda_compute_capabilities: tuple[str, ...] = ()  # ("sm_60", ..., "compute_90")
    # What the installed package's own headers say (gpuconform.frameworks.tensorflow.headers): TF 2.22 dropped the three
    # keys above from get_build_info(), but its cuda_config.h and cudnn_version.h still carry them.
    header_cuda: str | None = None  # cuda_config.h TF_CUDA_VERSION
    header_cudnn: str | None = None  # cudnn_version.h "9.10.0", else TF_CUDNN_VERSION "9"
    header_caps: tuple[str, ...] = ()  # cuda_config.h compute capabilities, "6.0", "9.0"
    header_files: tuple[str, ...] = ()  # the files those came from

    @property
    def has_cuda_keys(self) -> bool:
        """Whether get_build_info() itself says which CUDA, cuDNN and archs the build used."""
        return self.cuda_version is not None or self.cudnn_version is not None or bool(self.cuda_compute_capabilities)


@dataclass(frozen=True)
class TfGpu:
    """A GPU in `list_physical_devices('GPU')` with its `get_device_details`."""

    name: str  # "/physical_device:GPU:0"
    device_name: str | None = None  # "NVIDIA H100 80GB HBM3"
    compute_capability: tuple[int, int] | None = None


@dataclass(frozen=True)
class DeviceList:
    """The physical devices TensorFlow enumerates (this does not initialise the runtime)."""

    physical: tuple[str, ...]
    gpus: tuple[TfGpu, ...] = ()
    cuda_visible_devices: str | None = None  # as the child saw it; None: unset
    cuda_device_order: str | None = None


@dataclass(frozen=True)
class GpuInit:
    """The process after TF initialised its devices (memory growth on) and ran an op on each GPU."""

    pid: int
    logical: tuple[str, ...]
    maps: tuple[str, ...] = ()  # the /proc/self/maps lines that name a shared object
    tf32: bool | None = None  # tensor_float_32_execution_enabled(); None: no such API
    gpu_op_error: str | None = None  # the first GPU op's failure, if it failed


# ---- placement ----------------------------------------------------------------------


@dataclass(frozen=True)
class OpRun:
    """One op run on one device, and how far its result is from the reference."""

    op: str  # "matmul", "conv2d"
    dtype: str  # "float32", "float16"
    requested: str  # "/CPU:0", "/GPU:1"
    reference: str  # "numpy float64" or "/CPU:0"
    result_device: str | None = None
    max_abs_error: float | None = None
    reference_scale: float | None = None  # max |reference|, the scale tolerances are relative to
    error: str | None = None  # "InternalError: ..." when the op raised
    tf32: bool | None = None  # TF32 state when it ran (float32 matmul/conv on Ampere+ use it)


@dataclass(frozen=True)
class OpRuns:
    runs: tuple[OpRun, ...] = ()


@dataclass(frozen=True)
class Placed:
    """Where an op requested on a device ran, under a soft-placement setting."""

    requested: str
    op: str
    soft_placement: bool
    result_device: str | None = None
    error_type: str | None = None
    error: str | None = None


# ---- memory -------------------------------------------------------------------------


@dataclass(frozen=True)
class Raised:
    """What a call raised: the exception type and message, or nothing."""

    call: str  # the call, as a person would write it
    error_type: str | None = None
    error: str | None = None


@dataclass(frozen=True)
class LogicalSplit:
    """The CPU split into logical devices before initialisation, and an op placed on the second."""

    logical_cpus: tuple[str, ...]
    op_device: str | None = None


@dataclass(frozen=True)
class AfterInit:
    """Device configuration attempted after the runtime was initialised."""

    cpu: Raised
    gpu: Raised | None = None  # None: no GPU to try it on


@dataclass(frozen=True)
class HoldReport:
    """A memory child's own view while it holds its allocation (its ``ready`` line)."""

    pid: int
    mode: str  # "default", "growth", "limit"
    gpus: tuple[str, ...]  # physical GPUs it saw
    current_bytes: int | None = None  # get_memory_info('GPU:0')
    peak_bytes: int | None = None
    limit_mb: int | None = None  # the logical device memory_limit it configured
    over_limit: str | None = None  # the allocation above the limit: "refused: ...", "succeeded"
    error: str | None = None  # the model could not run


def observed(cls: type[T], result: Result, what: str) -> T:
    """The observation an experiment returned; DataError when it returned something else."""
    value: Any = result.value
    return load(cls, value, f"TensorFlow child ({what})")
