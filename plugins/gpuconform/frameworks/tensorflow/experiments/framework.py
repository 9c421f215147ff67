"""Framework experiments: which TensorFlow imports, how it was built, what it sees, what it maps.

Run as one child, in this order: ``identity``, ``build_info``, ``devices``,
``gpu_init``. They share a child because only the last one initialises the
runtime (`list_physical_devices` and `get_device_details` do not, tf-behaviors
§1.2), and it sets memory growth first, so the child never reserves a whole
card. The parent runs it with ``TF_CPP_MIN_LOG_LEVEL=0`` and
``TF_CPP_MAX_VLOG_LEVEL=1`` (both read once, before import) so that the log
names every library TF failed to dlopen; `gpuconform.frameworks.tensorflow.log` reads it.

The CUDA_VISIBLE_DEVICES subset checks of the placement layer run
``devices`` and ``gpu_init`` again, one child per subset: the variable is read
once, when CUDA initialises.
"""

from __future__ import annotations

import importlib.metadata
import os
from pathlib import Path
from typing import Any

from gpuconform.facts.serde import dump
from gpuconform.frameworks.maps import shared_object_maps
from gpuconform.frameworks.tensorflow.headers import CUDA_CONFIG
from gpuconform.frameworks.tensorflow.headers import CUDNN_VERSION
from gpuconform.frameworks.tensorflow.headers import read_installed
from gpuconform.frameworks.tensorflow.observations import BuildInfo
from gpuconform.frameworks.tensorflow.observations import DeviceList
from gpuconform.frameworks.tensorflow.observations import GpuInit
from gpuconform.frameworks.tensorflow.observations import TfGpu
from gpuconform.frameworks.tensorflow.observations import TfIdentity


def identity(tf: Any) -> Any:
    """tf.__version__ and the distribution whose files were imported (a shadowing copy shows here)."""
    module_file = os.path.realpath(tf.__file__)
    owner = None
    names = importlib.metadata.packages_distributions().get("tensorflow", [])
    for name in dict.fromkeys(names):
        dist = importlib.metadata.distribution(name)
        located = os.path.realpath(str(dist.locate_file("tensorflow/__init__.py")))
        if located == module_file:
            owner = dist
            break
    return dump(
        TfIdentity(
            version=tf.__version__,
            module_file=module_file,
            distribution=owner.metadata["Name"] if owner else None,
            distribution_version=owner.version if owner else None,
            distribution_location=str(owner.locate_file("")) if owner else None,
        )
    )


def build_info(tf: Any) -> Any:
    """get_build_info(), every key read with .get(), and what the package's own headers say."""
    info = dict(tf.sysconfig.get_build_info())
    caps = info.get("cuda_compute_capabilities") or ()
    headers = read_installed(Path(os.path.realpath(tf.__file__)).parent, (*CUDA_CONFIG, *CUDNN_VERSION))
    return dump(
        BuildInfo(
            keys=tuple(sorted(str(k) for k in info)),
            is_cuda_build=_bool(info.get("is_cuda_build")),
            is_rocm_build=_bool(info.get("is_rocm_build")),
            cuda_version=_str(info.get("cuda_version")),
            cudnn_version=_str(info.get("cudnn_version")),
            cuda_compute_capabilities=tuple(str(c) for c in caps),
            header_cuda=headers.cuda,
            header_cudnn=headers.cudnn,
            header_caps=headers.compute_capabilities,
            header_files=headers.source,
        )
    )


def devices(tf: Any) -> Any:
    """The physical devices and each GPU's details, without initialising the runtime."""
    gpus = []
    for device in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(device)
        cc = details.get("compute_capability")
        gpus.append(
            TfGpu(
                name=device.name,
                device_name=_str(details.get("device_name")),
                compute_capability=(int(cc[0]), int(cc[1])) if cc else None,
            )
        )
    return dump(
        DeviceList(
            physical=tuple(d.name for d in tf.config.list_physical_devices()),
            gpus=tuple(gpus),
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
            cuda_device_order=os.environ.get("CUDA_DEVICE_ORDER"),
        )
    )


def gpu_init(tf: Any) -> Any:
    """Initialise with memory growth, run a matmul and a conv on each GPU, then read our own maps."""
    gpus = tf.config.list_physical_devices("GPU")
    enable_growth(tf)
    logical = tuple(d.name for d in tf.config.list_logical_devices())
    op_error = None
    for index in range(len(gpus)):
        try:
            with tf.device(f"/GPU:{index}"):
                x = tf.random.stateless_uniform((64, 64), seed=(1, 2))
                tf.linalg.matmul(x, x).numpy()
                tf.nn.conv2d(tf.reshape(x, (1, 64, 64, 1)), tf.ones((3, 3, 1, 4)), 1, "SAME").numpy()
        except Exception as exc:  # noqa: BLE001 - the failure is the observation
            op_error = op_error or f"/GPU:{index}: {type(exc).__name__}: {exc}"[:2000]
    return dump(
        GpuInit(
            pid=os.getpid(), logical=logical, maps=shared_object_maps(), tf32=tf32_enabled(tf), gpu_op_error=op_error
        )
    )


def enable_growth(tf: Any) -> None:
    """Turn memory growth on for every GPU, so that this child never reserves a whole card."""
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except (RuntimeError, ValueError):
            return  # already initialised, or virtual devices configured: nothing to do



def tf32_enabled(tf: Any) -> bool | None:
    getter = getattr(tf.config.experimental, "tensor_float_32_execution_enabled", None)
    return bool(getter()) if getter else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
