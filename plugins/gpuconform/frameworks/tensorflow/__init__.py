"""TensorFlow behind the framework seam: the face the suites import, and nothing else of TensorFlow.

The suites name TensorFlow once, by importing from this module. Behind it: the child-side
`experiments` (the only code that imports tensorflow, in child processes), the types its
children answer with (`observations`), what a check of a live or replayed run asks of them
(`live`), the memory runs measured from outside with NVML (`memory`), how its log, headers and
GPU-less start-up are read (`log`, `headers`, `diagnose`), where its ops ran (`placement`),
and the reference model of the determinism layer (`reference_model`). Importing this module imports no TensorFlow.
"""

from __future__ import annotations

from gpuconform.frameworks.tensorflow.answers import answer
from gpuconform.frameworks.tensorflow.answers import answer_fixture
from gpuconform.frameworks.tensorflow.diagnose import Evidence
from gpuconform.frameworks.tensorflow.diagnose import diagnose
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.frameworks.tensorflow.live import LiveTf
from gpuconform.frameworks.tensorflow.live import gpu_build
from gpuconform.frameworks.tensorflow.live import no_cuda_summary
from gpuconform.frameworks.tensorflow.live import observe
from gpuconform.frameworks.tensorflow.live import recorder
from gpuconform.frameworks.tensorflow.log import TfLog
from gpuconform.frameworks.tensorflow.log import parse_log
from gpuconform.frameworks.tensorflow.memory import DEFAULT_MIN_SHARE
from gpuconform.frameworks.tensorflow.memory import LIMIT_MB
from gpuconform.frameworks.tensorflow.memory import LIMIT_OVERHEAD_MIB
from gpuconform.frameworks.tensorflow.memory import MemoryRun
from gpuconform.frameworks.tensorflow.memory import default_expectation_mib
from gpuconform.frameworks.tensorflow.memory import growth_ceiling_mib
from gpuconform.frameworks.tensorflow.memory import run_mode
from gpuconform.frameworks.tensorflow.observations import AfterInit
from gpuconform.frameworks.tensorflow.observations import BuildInfo
from gpuconform.frameworks.tensorflow.observations import DeviceList
from gpuconform.frameworks.tensorflow.observations import GpuInit
from gpuconform.frameworks.tensorflow.observations import LogicalSplit
from gpuconform.frameworks.tensorflow.observations import OpRuns
from gpuconform.frameworks.tensorflow.observations import Placed
from gpuconform.frameworks.tensorflow.observations import Raised
from gpuconform.frameworks.tensorflow.observations import TfIdentity
from gpuconform.frameworks.tensorflow.observations import observed
from gpuconform.frameworks.tensorflow.placement import is_fully_qualified
from gpuconform.frameworks.tensorflow.placement import op_problem
from gpuconform.frameworks.tensorflow.placement import parse_device
from gpuconform.frameworks.tensorflow.placement import subset_problem
from gpuconform.frameworks.tensorflow.reference_model import BATCH
from gpuconform.frameworks.tensorflow.reference_model import CPU
from gpuconform.frameworks.tensorflow.reference_model import ENV_VAR
from gpuconform.frameworks.tensorflow.reference_model import FIRST_CHILD
from gpuconform.frameworks.tensorflow.reference_model import NAN_ROW
from gpuconform.frameworks.tensorflow.reference_model import SECOND_CHILD
from gpuconform.frameworks.tensorflow.reference_model import WRONG_SHAPES
from gpuconform.frameworks.tensorflow.reference_model import ReferenceModel
from gpuconform.frameworks.tensorflow.reference_model import gpu_tolerance
from gpuconform.frameworks.tensorflow.reference_model import load_reference
from gpuconform.frameworks.tensorflow.reference_model import max_abs_diff
from gpuconform.frameworks.tensorflow.reference_model import mismatch
from gpuconform.frameworks.tensorflow.reference_model import reference_dir

__all__ = [
    "is_fully_qualified",
    "op_problem",
    "parse_device",
    "subset_problem",
    "BATCH",
    "CPU",
    "DEFAULT_MIN_SHARE",
    "ENV_VAR",
    "FIRST_CHILD",
    "FRAMEWORK",
    "LIMIT_MB",
    "LIMIT_OVERHEAD_MIB",
    "NAN_ROW",
    "SECOND_CHILD",
    "WRONG_SHAPES",
    "AfterInit",
    "BuildInfo",
    "DeviceList",
    "Evidence",
    "GpuInit",
    "LiveTf",
    "LogicalSplit",
    "MemoryRun",
    "OpRuns",
    "Placed",
    "Raised",
    "ReferenceModel",
    "TfIdentity",
    "TfLog",
    "answer",
    "answer_fixture",
    "default_expectation_mib",
    "diagnose",
    "gpu_build",
    "gpu_tolerance",
    "growth_ceiling_mib",
    "load_reference",
    "max_abs_diff",
    "mismatch",
    "no_cuda_summary",
    "observe",
    "observed",
    "parse_log",
    "recorder",
    "reference_dir",
    "run_mode",
]
