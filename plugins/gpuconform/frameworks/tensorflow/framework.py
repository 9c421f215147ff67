"""TensorFlow, as the framework seam knows it."""

from __future__ import annotations

import functools
import os
from pathlib import Path

from gpuconform.frameworks.base import Framework
from gpuconform.frameworks.tensorflow.log import busy
from gpuconform.frameworks.tensorflow.log import landmark

#: Read when the first GPU initialises (CUDA's cuInit, TF's GPU device factory), never at import;
#: the GPUCONFORM_* variables are the experiments' own, read when they run.
AFTER_IMPORT = frozenset({"CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "TF_FORCE_GPU_ALLOW_GROWTH"})


def after_import(name: str) -> bool:
    """Whether a forked child may still set variable `name` (TF's log levels and oneDNN switch it may not)."""
    return name in AFTER_IMPORT or name.startswith("GPUCONFORM_")


ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
#: The CPU features (as /proc/cpuinfo names them) on which TensorFlow turns oneDNN on by default
#: (TF_ENABLE_ONEDNN_OPTS unset; core/util/util.cc, IsMKLEnabled; experiments.child.onednn_enabled).
ONEDNN_BY_DEFAULT = frozenset({"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"})


def guess_onednn() -> dict[str, str]:
    """Whether a zygote without a pin will report oneDNN on: the TF_ENABLE_ONEDNN_OPTS it inherits from this
    environment where that is a boolean TF reads ("0", "1", "false", "true"), else the CPU's flags (a guess only:
    a release may decide otherwise, which costs a wait or an import, never a wrong child)."""
    inherited = os.environ.get(ONEDNN_VARIABLE, "").strip().lower()
    if inherited in ("0", "false", "1", "true"):
        return {ONEDNN_VARIABLE: "1" if inherited in ("1", "true") else "0"}
    flags = _cpu_flags()
    if flags is None:
        return {}
    return {ONEDNN_VARIABLE: "1" if ONEDNN_BY_DEFAULT.intersection(flags) else "0"}


@functools.cache
def _cpu_flags() -> frozenset[str] | None:
    """This machine's CPU flags (None where /proc/cpuinfo has none: not Linux, not x86)."""
    from gpuconform.probes.platform import cpu_flags  # here: every TensorFlow child imports this module

    try:
        return cpu_flags(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return None


FRAMEWORK = Framework(
    id="tensorflow",
    name="TensorFlow",
    distributions=("tensorflow", "tensorflow-cpu", "tensorflow-gpu", "tf-nightly", "tensorflow-intel"),
    experiments="gpuconform.frameworks.tensorflow.experiments",
    landmark=landmark,
    after_import=after_import,
    reported_at_import=frozenset({ONEDNN_VARIABLE}),  # experiments.child.import_switches
    guess_at_import=guess_onednn,
    busy=busy,
)
