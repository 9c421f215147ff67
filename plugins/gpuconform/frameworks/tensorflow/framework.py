"""TensorFlow, as the framework seam knows it."""

from __future__ import annotations

import functools

from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.tensorflow.log import busy
from gpuconform.frameworks.tensorflow.log import landmark

#: Read when the first GPU initialises (CUDA's cuInit, TF's GPU device factory), never at import;
#: the GPUCONFORM_* variables are the experiments' own, read when they run.
AFTER_IMPORT = frozenset({"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_FORCE_GPU_ALLOW_GROWTH"})


def after_import(name: str) -> bool:
    """Whether a forked child may still set variable `name` (TF's log levels and oneDNN switch it may not)."""
    return name in AFTER_IMPORT or name.startswith("GPUCONFORM_")


#: The CPU features (as /proc/cpuinfo names them) on which TensorFlow turns oneDNN on by default
#: (TF_ENABLE_ONEDNN_OPTS unset; core/util/util.cc, IsMKLEnabled; experiments.child.onednn_enabled).
ONEDNN_BY_DEFAULT = frozenset({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"})


@functools.cache
def guess_onednn() -> dict[str, str]:
    """Whether a zygote without TF_ENABLE_ONEDNN_OPTS will report oneDNN on, from this CPU's flags (a guess only:
    a release may decide otherwise, which costs a wait or an import, never a wrong child)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            flags = next((line.partition(":")[2].split() for line in handle if line.startswith("flags")), None)
    except OSError:
        return {}
    if flags is None:
        return {}
    return {"TF_ENABLE_ONEDNN_OPTS": "1" if ONEDNN_BY_DEFAULT.intersection(flags) else "0"}


FRAMEWORK = Framework(
    id="tensorflow",
    name="TensorFlow",
    distributions=("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"),
    experiments="gpuconform.frameworks.tensorflow.experiments",
    landmark=landmark,
    after_import=after_import,
    reported_at_import=frozenset({"TF_ENABLE_ONEDNN_OPTS"}),  # experiments.child.import_switches
    guess_at_import=guess_onednn,
    busy=busy,
)
