"""Child process of the libraries probe: dlopen each file and ask it its version.

Run as ``python -m gpuconform.probes.libload_child`` with a JSON request on stdin::

    {"items": [{"id": 0, "kind": "cudnn", "path": "/.../libcudnn.so.9"}, ...]}

For every item, in order, it prints one JSON line per step and flushes it, so a
library that segfaults, aborts or hangs loses only its own answer::

    {"gpuconform": "start", "id": 0}
    {"gpuconform": "opened", "id": 0}
    {"gpuconform": "done", "id": 0, "loaded": true, "raw": 90300, "property": null,
     "cuda": 12050, "error": null}

The parent (`gpuconform.probes.libraries`) works out from the last "start" which
library took the process down and re-runs the rest in a fresh child.

Only the standard library is imported here: never TensorFlow, never anything
that could itself load a CUDA library.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys
from typing import Any

#: Functions `int f(int* version)` returning a status (0 is success).
_INT_OUT = {
    "cuda": "cuDriverGetVersion",
    "cudart": "cudaRuntimeGetVersion",
    "nccl": "ncclGetVersion",
}
#: Functions `size_t f(void)` returning the version itself.
_SIZE_T = {
    "cudnn": "cudnnGetVersion",
    "cublasLt": "cublasLtGetVersion",
}
#: Functions `status f(libraryPropertyType type, int* value)`; type MAJOR=0, MINOR=1, PATCH=2.
_PROPERTY = {
    "cublas": "cublasGetProperty",
    "cufft": "cufftGetProperty",
    "curand": "curandGetProperty",
    "cusolver": "cusolverGetProperty",
    "cusparse": "cusparseGetProperty",
}

#: Functions `int32_t f(void)` returning the version itself (TensorRT's NV_TENSORRT_VERSION).
_INT_VOID = {"nvinfer": "getInferLibVersion"}
#: Libraries without a version function of their own: the function TF calls in them must be there.
_LOAD_ONLY = {"nvinfer_plugin": "initLibNvInferPlugins"}

#: The symbols the parent names in messages, per library kind.
VERSION_SYMBOLS = {**_INT_OUT, **_SIZE_T, **_PROPERTY, **_INT_VOID, **_LOAD_ONLY}


def main() -> int:
    """Answer the request on stdin; return the exit status."""
    # Library constructors may print to stdout; give them stderr so our JSON lines stay clean.
    answer_fd = os.dup(1)
    os.dup2(2, 1)
    request = json.loads(sys.stdin.read() or "{}")
    for item in request.get("items", []):
        item_id = item["id"]
        _emit(answer_fd, {"gpuconform": "start", "id": item_id})
        answer = _probe(answer_fd, item_id, str(item["kind"]), str(item["path"]))
        _emit(answer_fd, {"gpuconform": "done", "id": item_id, **answer})
    return 0


def _emit(fd: int, message: dict[str, Any]) -> None:
    # One os.write per line: unbuffered, so it is on the pipe before the next dlopen runs.
    os.write(fd, (json.dumps(message) + "\n").encode())


def _probe(fd: int, item_id: int, kind: str, path: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "loaded": False,
        "raw": None,
        "property": None,
        "cuda": None,
        "error": None,
    }
    if kind not in VERSION_SYMBOLS:
        answer["error"] = {
            "kind": "unknown-library",
            "message": f"no version function known for {kind!r}",
        }
        return answer
    try:
        # RTLD_NOW like TF's loader, so an unresolved symbol fails here and not later.
        lib = ctypes.CDLL(path, mode=os.RTLD_NOW | os.RTLD_LOCAL)
    except OSError as exc:
        answer["error"] = {"kind": "dlopen", "message": str(exc)}
        return answer
    answer["loaded"] = True
    _emit(fd, {"gpuconform": "opened", "id": item_id})
    symbol = VERSION_SYMBOLS[kind]
    try:
        func = getattr(lib, symbol)
    except AttributeError:
        answer["error"] = {
            "kind": "no-version-symbol",
            "message": f"{path} does not export {symbol}",
        }
        return answer
    if kind in _INT_OUT:
        value = ctypes.c_int(0)
        func.restype = ctypes.c_int
        func.argtypes = [ctypes.POINTER(ctypes.c_int)]
        status = func(ctypes.byref(value))
        if status != 0:
            answer["error"] = _failed(symbol, status)
        else:
            answer["raw"] = value.value
    elif kind in _INT_VOID:
        func.restype = ctypes.c_int32
        func.argtypes = []
        answer["raw"] = int(func())
    elif kind in _LOAD_ONLY:
        pass  # it loads and exports what TF calls; its version is its soname's
    elif kind in _SIZE_T:
        func.restype = ctypes.c_size_t
        func.argtypes = []
        answer["raw"] = int(func())
    else:
        answer.update(_properties(func, symbol))
    if kind == "cudnn":
        answer["cuda"] = _cudnn_cudart(lib)
    return answer


def _properties(func: Any, symbol: str) -> dict[str, Any]:
    func.restype = ctypes.c_int
    func.argtypes = [ctypes.c_int, ctypes.POINTER(ctypes.c_int)]
    parts = []
    for prop in (0, 1, 2):  # MAJOR_VERSION, MINOR_VERSION, PATCH_LEVEL
        value = ctypes.c_int(0)
        status = func(prop, ctypes.byref(value))
        if status != 0:
            return {"error": _failed(f"{symbol}({prop})", status)}
        parts.append(value.value)
    return {"property": parts}


def _cudnn_cudart(lib: ctypes.CDLL) -> int | None:
    # cudnnGetCudartVersion: the CUDART_VERSION this cuDNN was built with (12050 for 12.5).
    try:
        func = lib.cudnnGetCudartVersion
    except AttributeError:
        return None
    func.restype = ctypes.c_size_t
    func.argtypes = []
    return int(func())


def _failed(call: str, status: int) -> dict[str, str]:
    return {"kind": "version-call-failed", "message": f"{call} returned status {status}"}


if __name__ == "__main__":
    sys.exit(main())
