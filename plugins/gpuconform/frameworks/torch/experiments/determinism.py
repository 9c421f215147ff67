"""Experiments of the determinism layer in a PyTorch child: the reference model, built from the neutral weights.

The weights are `gpuconform/data/reference_model.bin`'s, the same bytes TensorFlow and JAX
run (`gpuconform.frameworks.reference_arrays`), turned into PyTorch's layouts here: images
NHWC -> NCHW, the convolution kernel HWIO -> OIHW, dense kernels (in, out) -> (out, in), and
the first dense kernel's rows reordered from Keras's flatten order (row, column, channel) to
PyTorch's (channel, row, column). Every experiment turns on
`torch.use_deterministic_algorithms(True)` first and runs inference under `torch.inference_mode()`.
The suite gives these children CUBLAS_WORKSPACE_CONFIG=:4096:8, which cuBLAS needs for
deterministic results (read when cuBLAS first runs, not when torch imports), except the child
of `cublas_without_workspace`, which removes it to see PyTorch refuse.
"""

from __future__ import annotations

import copy
import os
from collections import OrderedDict
from typing import Any

import numpy as np

from gpuconform.frameworks.reference import reference_dir
from gpuconform.frameworks.reference_arrays import digest
from gpuconform.frameworks.reference_arrays import read_arrays
from gpuconform.frameworks.reference_arrays import rows
from gpuconform.frameworks.reference_arrays import scaled_inputs

WORKSPACE = "CUBLAS_WORKSPACE_CONFIG"
REPEATS = 5

Json = dict[str, Any]
_cache: dict[str, Any] = {}


# ---- the model ------------------------------------------------------------------------------


def torch_layouts(arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The neutral (Keras-layout) arrays as PyTorch's state_dict of `build_model` holds them."""
    conv = arrays["conv/kernel"]  # (3, 3, in, out)
    hidden = arrays["hidden/kernel"]  # (side * side * channels, 12), features in (row, column, channel) order
    channels = conv.shape[3]
    side = int(round((hidden.shape[0] // channels) ** 0.5))
    chw = hidden.reshape(side, side, channels, -1).transpose(2, 0, 1, 3).reshape(hidden.shape[0], -1)
    weights = {
        "conv.weight": conv.transpose(3, 2, 0, 1),
        "conv.bias": arrays["conv/bias"],
        "hidden.weight": chw.T,
        "hidden.bias": arrays["hidden/bias"],
        "logits.weight": arrays["logits/kernel"].T,
        "logits.bias": arrays["logits/bias"],
    }
    return {name: np.ascontiguousarray(a, dtype=np.float32) for name, a in weights.items()}


def build_model(torch: Any, arrays: dict[str, np.ndarray]) -> Any:
    """Conv2d(3->6, 3x3) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(150->12) -> ReLU -> Linear(12->4) -> Softmax."""
    nn = torch.nn
    conv = arrays["conv/kernel"]
    hidden, logits = arrays["hidden/kernel"], arrays["logits/kernel"]
    model = nn.Sequential(
        OrderedDict(
            conv=nn.Conv2d(conv.shape[2], conv.shape[3], conv.shape[0]),
            conv_relu=nn.ReLU(),
            pool=nn.MaxPool2d(2),
            flatten=nn.Flatten(),
            hidden=nn.Linear(hidden.shape[0], hidden.shape[1]),
            hidden_relu=nn.ReLU(),
            logits=nn.Linear(logits.shape[0], logits.shape[1]),
            probabilities=nn.Softmax(dim=1),
        )
    )
    state = {name: torch.from_numpy(a) for name, a in torch_layouts(arrays).items()}
    model.load_state_dict(state, strict=True)
    return model.eval()


def reference(torch: Any) -> tuple[Any, np.ndarray]:
    """The model on the CPU and the input batch in NCHW (cached)."""
    if "model" not in _cache:
        _, arrays, sha256 = read_arrays(reference_dir())
        nchw = np.ascontiguousarray(scaled_inputs(arrays).transpose(0, 3, 1, 2))
        _cache.update(model=build_model(torch, arrays), inputs=nchw, sha256=sha256)
    return _cache["model"], _cache["inputs"]


def on(torch: Any, device: str) -> Any:
    """The model on `device` (a copy per device, cached)."""
    key = f"model@{device}"
    if key not in _cache:
        model, _ = reference(torch)
        _cache[key] = model if device == "cpu" else copy.deepcopy(model).to(device)
    return _cache[key]


def predict(torch: Any, device: str) -> np.ndarray:
    """One inference of the batch on `device`, the way every experiment runs it."""
    enable_determinism(torch)
    _, x = reference(torch)
    with torch.inference_mode():
        out = on(torch, device)(torch.from_numpy(x).to(device))
    return np.asarray(out.cpu().numpy())


def enable_determinism(torch: Any) -> None:
    torch.use_deterministic_algorithms(True)


def gpu_devices(torch: Any) -> list[Json]:
    if not torch.cuda.is_available():
        return []
    found = []
    for i in range(torch.cuda.device_count()):
        major, minor = torch.cuda.get_device_capability(i)
        found.append({"device": f"cuda:{i}", "name": torch.cuda.get_device_name(i), "capability": [major, minor]})
    return found


def _tf32(torch: Any) -> Json:
    matmul, cudnn = bool(torch.backends.cuda.matmul.allow_tf32), bool(torch.backends.cudnn.allow_tf32)
    switches = f"torch.backends.cuda.matmul.allow_tf32={matmul}, torch.backends.cudnn.allow_tf32={cudnn}"
    return {"tf32": matmul or cudnn, "switches": switches}


def _error(exc: BaseException) -> Json:
    return {"error_type": type(exc).__name__, "error": str(exc)[:1500]}


# ---- experiments ----------------------------------------------------------------------------


def environment(torch: Any) -> Json:
    """What the other answers depend on: the version, the determinism switches, the GPUs, the data file read."""
    reference(torch)
    enable_determinism(torch)
    settings = [
        ["torch.are_deterministic_algorithms_enabled()", str(torch.are_deterministic_algorithms_enabled())],
        [WORKSPACE, str(os.environ.get(WORKSPACE))],
        ["torch.get_num_threads()", str(torch.get_num_threads())],
    ]
    return {"framework": f"torch {torch.__version__}", "settings": settings, "bin_sha256": _cache["sha256"]}


def repeat(torch: Any) -> Json:
    """Five inferences of the same batch on the CPU and on each GPU, in this one process."""
    devices = ["cpu", *(g["device"] for g in gpu_devices(torch))]
    return {"devices": [{"device": d, "digests": [digest(predict(torch, d)) for _ in range(REPEATS)]} for d in devices]}


def golden_cpu(torch: Any) -> Json:
    """The outputs on the CPU, to compare with the goldens, another process and the other frameworks."""
    out = predict(torch, "cpu")
    return {"outputs": rows(out), "digest": digest(out)}


def gpu_golden(torch: Any) -> list[Json]:
    """The outputs on each GPU, with the TF32 switches they ran under."""
    found = []
    for gpu in gpu_devices(torch):
        out = predict(torch, gpu["device"])
        found.append({**gpu, **_tf32(torch), "outputs": rows(out), "digest": digest(out)})
    return found


def cublas_without_workspace(torch: Any) -> Json:
    """On each GPU, a cuBLAS matrix multiply under determinism with CUBLAS_WORKSPACE_CONFIG removed first."""
    inherited = os.environ.pop(WORKSPACE, None)  # this child's own environment; PyTorch reads it at its first check
    enable_determinism(torch)
    answers = []
    for gpu in gpu_devices(torch):
        a = torch.ones((16, 16), device=gpu["device"])
        try:
            torch.mm(a, a)
            torch.cuda.synchronize(gpu["device"])
        except Exception as exc:  # noqa: BLE001 - the refusal is the answer
            answers.append({"device": gpu["device"], "raised": True, **_error(exc)})
        else:
            answers.append({"device": gpu["device"], "raised": False})
    return {"inherited": inherited, "gpus": answers}
