"""What a TensorFlow wheel says about its own CUDA build, read from its files without importing it.

Every GPU wheel ships ``tensorflow/python/platform/build_info.py`` (what
`tf.sysconfig.get_build_info()` returns), and most ship the headers they were compiled
against: ``cuda_config.h`` (``TF_CUDA_VERSION``, ``TF_CUDNN_VERSION``, the compute
capabilities) and cuDNN's ``cudnn_version.h``. From TF 2.22 the build info no longer has
``cuda_version``, ``cudnn_version`` or ``cuda_compute_capabilities``; the headers still
do, so the framework layer reads them from the installed distribution, and
``tools/verify_matrices.py`` reads the same files from the wheels on PyPI.

Pure functions of text: nothing here imports TensorFlow or touches the network.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: Where the files live inside the `tensorflow` package, newest layout first.
BUILD_INFO = "python/platform/build_info.py"
CUDA_CONFIG = (
    "include/third_party/gpus/cuda/cuda_config.h",
    "include/external/local_config_cuda/cuda/cuda/cuda_config.h",
)
CUDNN_VERSION = (
    "include/third_party/gpus/cudnn/include/cudnn_version.h",
    "include/external/cuda_cudnn/include/cudnn_version.h",
    "include/third_party/gpus/cudnn/cudnn_version.h",
    "include/third_party/gpus/cudnn/cudnn.h",
)

_DEFINE_RE = re.compile(r"^\s*#\s*define\s+(\w+)[ \t]+(.+?)\s*$", re.MULTILINE)
_CAP_RE = re.compile(r"(\d+)\.(\d)|\b(\d{2,3})\b")


@dataclass(frozen=True)
class WheelBuild:
    """The CUDA build of a TensorFlow installation, as its own files say.

    `cuda` and `cudnn` prefer the build info and fall back to the headers;
    `source` names each file that was read, so a message can quote it.
    """

    cuda: str | None = None  # "12.5.1"
    cudnn: str | None = None  # "9.10.0" from cudnn_version.h, else the major "9"
    compute_capabilities: tuple[str, ...] = ()  # ("6.0", "7.0", ...) from cuda_config.h
    source: tuple[str, ...] = ()

    @property
    def known(self) -> bool:
        return self.cuda is not None or self.cudnn is not None


def parse_build_info(text: str) -> dict[str, Any]:
    """The values `build_info.py` assigns: its `build_info` dict, else its module constants.

    2.0-2.2 set module attributes (``cuda_version_number = '10.1'``); 2.3 assigns a dict;
    2.4 and later ``collections.OrderedDict([...])``. Anything that is not a literal is skipped.
    """
    values: dict[str, Any] = {}
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return values
    for node in tree.body:
        if not isinstance(node, ast.Assign) or len(node.targets) != 1:
            continue
        target = node.targets[0]
        if not isinstance(target, ast.Name):
            continue
        value = node.value
        if isinstance(value, ast.Call) and len(value.args) == 1 and not value.keywords:
            value = value.args[0]  # OrderedDict([...]) / dict([...])
        try:
            literal = ast.literal_eval(value)
        except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
            continue
        if target.id == "build_info":
            try:
                return dict(literal)
            except (TypeError, ValueError):
                continue
        values[target.id] = literal
    return values


def parse_defines(text: str) -> dict[str, str]:
    """Every ``#define NAME value`` of a header, quotes stripped from string values."""
    return {name: value.strip().strip('"') for name, value in _DEFINE_RE.findall(text)}


def cuda_config_caps(defines: dict[str, str]) -> tuple[str, ...]:
    """The compute capabilities of cuda_config.h, as "X.Y" ("60, 70" and 'CudaVersion("3.5")' forms)."""
    text = defines.get("TF_CUDA_COMPUTE_CAPABILITIES") or defines.get("TF_CUDA_CAPABILITIES") or ""
    caps = []
    for dotted_major, dotted_minor, packed in _CAP_RE.findall(text):
        caps.append(f"{dotted_major}.{dotted_minor}" if dotted_major else f"{packed[:-1]}.{packed[-1]}")
    return tuple(dict.fromkeys(caps))


def cudnn_header_version(defines: dict[str, str]) -> str | None:
    """The version "9.3.0" from CUDNN_MAJOR / CUDNN_MINOR / CUDNN_PATCHLEVEL, or None."""
    parts = [defines.get(k) for k in ("CUDNN_MAJOR", "CUDNN_MINOR", "CUDNN_PATCHLEVEL")]
    if not all(p is not None and p.isdigit() for p in parts):
        return None
    return ".".join(str(int(p)) for p in parts if p is not None)


def build_from_files(read: dict[str, str]) -> WheelBuild:
    """A WheelBuild from the texts of the files above, keyed by their path in the package."""
    info = parse_build_info(read[BUILD_INFO]) if BUILD_INFO in read else {}
    config_path = next((p for p in CUDA_CONFIG if p in read), None)
    cudnn_path = next((p for p in CUDNN_VERSION if p in read and "CUDNN_MAJOR" in read[p]), None)
    config = parse_defines(read[config_path]) if config_path else {}
    header = cudnn_header_version(parse_defines(read[cudnn_path])) if cudnn_path else None
    cuda = _text(info.get("cuda_version") or info.get("cuda_version_number") or config.get("TF_CUDA_VERSION"))
    cudnn = header or _text(
        info.get("cudnn_version") or info.get("cudnn_version_number") or config.get("TF_CUDNN_VERSION")
    )
    sources = [p for p in (BUILD_INFO if info else None, config_path, cudnn_path) if p]
    return WheelBuild(cuda, cudnn, cuda_config_caps(config), tuple(sources))


def read_installed(package_dir: Path | None, names: Iterable[str] | None = None) -> WheelBuild:
    """The WheelBuild of an installed `tensorflow` package directory (site-packages/tensorflow)."""
    if package_dir is None:
        return WheelBuild()
    wanted = tuple(names) if names is not None else (BUILD_INFO, *CUDA_CONFIG, *CUDNN_VERSION)
    read = {}
    for name in wanted:
        try:
            read[name] = (package_dir / name).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
    build = build_from_files(read)
    return WheelBuild(
        build.cuda, build.cudnn, build.compute_capabilities, tuple(str(package_dir / s) for s in build.source)
    )


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
