"""Framework experiments: which torch imports, how it was built, what torch.cuda sees.

Run as one child, in this order: ``identity``, ``build_info``, ``devices``, ``maps``. Only
``devices`` initialises CUDA (torch.cuda.is_available() and the device queries); a CUDA build on a
driver too old for it says so as a warning there ("The NVIDIA driver on your system is too old"),
which is recorded with the answer. ``maps`` runs a matmul and a convolution on the first GPU where
there is one (so cuBLAS and cuDNN have loaded what they load lazily), then reads the child's own
/proc/self/maps for the libraries layer (`gpuconform.frameworks.own_copies`).
"""

from __future__ import annotations

import os
import warnings
from typing import Any

from gpuconform.facts.serde import dump
from gpuconform.frameworks.identity import identify
from gpuconform.frameworks.maps import read_mapped
from gpuconform.frameworks.torch.observations import TorchBuildInfo
from gpuconform.frameworks.torch.observations import TorchDevices
from gpuconform.frameworks.torch.observations import TorchGpu


def identity(torch: Any) -> Any:
    """torch.__version__ and the distribution whose files were imported."""
    return dump(identify(torch, "torch"))


def build_info(torch: Any) -> Any:
    """torch.version.cuda / hip, the cuDNN it loads, and the architectures compiled in."""
    cuda = _str(getattr(torch.version, "cuda", None))
    cudnn, cudnn_error = None, None
    if cuda is not None:
        try:
            found = torch.backends.cudnn.version()
            cudnn = None if found is None else int(found)
        except Exception as exc:  # noqa: BLE001 - a cuDNN that cannot load is the observation
            cudnn_error = f"{type(exc).__name__}: {exc}"[:2000]
    return dump(
        TorchBuildInfo(
            cuda=cuda,
            hip=_str(getattr(torch.version, "hip", None)),
            cudnn=cudnn,
            cudnn_error=cudnn_error,
            arch_list=tuple(str(a) for a in torch.cuda.get_arch_list()),
            git_version=_str(getattr(torch.version, "git_version", None)),
        )
    )


def devices(torch: Any) -> Any:
    """torch.cuda.is_available(), device_count() and each device's name and capability, with the warnings given."""
    gpus: list[TorchGpu] = []
    error = None
    available, count = False, 0
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            available = bool(torch.cuda.is_available())
            count = int(torch.cuda.device_count())
            for index in range(count):
                gpus.append(_gpu(torch, index))
        except Exception as exc:  # noqa: BLE001 - what CUDA initialisation raised is the observation
            error = f"{type(exc).__name__}: {exc}"[:2000]
    return dump(
        TorchDevices(
            is_available=available,
            device_count=count,
            gpus=tuple(gpus),
            warnings=tuple(dict.fromkeys(str(w.message)[:2000] for w in caught)),
            error=error,
            cuda_visible_devices=os.environ.get("CUDA_VISIBLE_DEVICES"),
        )
    )


def maps(torch: Any) -> Any:
    """The shared objects this child mapped after import and, where there is a GPU, after running on it."""
    ran, error = False, None
    try:
        if torch.cuda.is_available():
            x = torch.ones((1, 1, 16, 16), device="cuda:0")
            torch.nn.functional.conv2d(x, torch.ones((4, 1, 3, 3), device="cuda:0"))
            (x[0, 0] @ x[0, 0]).cpu()
            ran = True
    except Exception as exc:  # noqa: BLE001 - what running on the GPU raised is the observation
        error = f"{type(exc).__name__}: {exc}"[:2000]
    return dump(read_mapped(ran, error))


def _gpu(torch: Any, index: int) -> TorchGpu:
    try:
        major, minor = torch.cuda.get_device_capability(index)
        return TorchGpu(index, str(torch.cuda.get_device_name(index)), (int(major), int(minor)))
    except Exception as exc:  # noqa: BLE001 - one device that cannot be asked about is its observation
        return TorchGpu(index, error=f"{type(exc).__name__}: {exc}"[:2000])


def _str(value: Any) -> str | None:
    return None if value is None else str(value)
