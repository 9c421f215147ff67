"""Shim CUDA user-space libraries: real shared objects that answer the real version calls.

Each shim exports the function the libraries probe calls (``cudaRuntimeGetVersion``,
``cudnnGetVersion``, ``cublasGetProperty``, ...) and returns the spec's version in
the library's own integer encoding, so the probe's dlopen, ctypes calls and
decoding all run for real; only the GPU behind them is missing. Faults make a shim
misbehave the way broken installs do: crash or hang in its constructor (before
dlopen returns), or lack its version function.
"""

from __future__ import annotations

import platform
import re
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.simhost.cc import build_shared

#: Where each library's pip wheel puts it: site-packages/nvidia/<package>/lib.
PIP_PACKAGES = {
    "cudart": "cuda_runtime",
    "cublas": "cublas",
    "cublasLt": "cublas",  # nvidia-cublas-cu12 ships both
    "cufft": "cufft",
    "curand": "curand",
    "cusolver": "cusolver",
    "cusparse": "cusparse",
    "cudnn": "cudnn",
    "nccl": "nccl",
}
#: TensorRT's libraries TF-TRT dlopens: libnvinfer answers getInferLibVersion, libnvinfer_plugin exports the
#: initLibNvInferPlugins TF calls.
TENSORRT = ("nvinfer", "nvinfer_plugin")
LIBRARIES = ("cuda", *PIP_PACKAGES, *TENSORRT)
LOCATIONS = ("pip", "ld_library_path", "conda", "ldcache", "cuda_home", "system", "driver")
#: Where "ldcache" libraries live inside the host root: a directory only the ld cache names.
LDCACHE_DIR = "opt/nvidia/lib"
FAULTS = ("segfault", "abort", "hang", "missing_symbol")

#: cudnnGetCudartVersion when the spec does not say which CUDA a cuDNN was built for.
_CUDNN_CUDART_DEFAULT = {7: 10010, 8: 12020, 9: 12050}

_VERSION = re.compile(r"^(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:\.\d+)*(?:\+cuda(\d+)\.(\d+))?$")

_HEADER = """\
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <unistd.h>

/* gpuconform shim: %(name)s %(version)s */
const char gpuconform_shim[] = "%(name)s %(version)s";
"""

_FAULTS = {
    # raise() rather than a null store: the compiler may turn that into a trap (SIGILL).
    "segfault": "raise(SIGSEGV);",
    "abort": "abort();",
    "hang": "for (;;) sleep(1000);",
}

_CONSTRUCTOR = """
__attribute__((constructor)) static void gpuconform_fault(void) { %s }
"""

_INT_OUT = """
int %(symbol)s(int *version) { *version = %(value)d; return 0; }
"""

_SIZE_T = """
size_t %(symbol)s(void) { return %(value)d; }
"""

# libraryPropertyType: MAJOR_VERSION=0, MINOR_VERSION=1, PATCH_LEVEL=2; 7 = INVALID_VALUE in cuBLAS.
_PROPERTY = """
int %(symbol)s(int type, int *value) {
    switch (type) {
    case 0: *value = %(major)d; return 0;
    case 1: *value = %(minor)d; return 0;
    case 2: *value = %(patch)d; return 0;
    }
    return 7;
}
"""

_PLUGIN_INIT = """
int initLibNvInferPlugins(void *logger, const char *ns) { (void)logger; (void)ns; return 1; }
"""

_PROPERTY_SYMBOLS = {
    "cublas": "cublasGetProperty",
    "cufft": "cufftGetProperty",
    "curand": "curandGetProperty",
    "cusolver": "cusolverGetProperty",
    "cusparse": "cusparseGetProperty",
}


def parse_version(version: str) -> tuple[int, int, int, int | None]:
    """(major, minor, patch, built-for-CUDA) from "9.3.0", "12.5", "8.9.6+cuda11.8", "12.5.3.2"."""
    match = _VERSION.match(version.strip())
    if not match:
        raise ValueError(f"{version!r} is not a library version like '9.3.0' or '8.9.6+cuda11.8'")
    major, minor, patch, cmaj, cmin = match.groups()
    cuda = 1000 * int(cmaj) + 10 * int(cmin) if cmaj is not None else None
    return int(major), int(minor or 0), int(patch or 0), cuda


def encode_version(name: str, version: str) -> int | None:
    """The integer the library's own version function returns; None for GetProperty libraries."""
    major, minor, patch, _ = parse_version(version)
    if name in ("cuda", "cudart"):
        return 1000 * major + 10 * minor  # CUDA: 1000*major + 10*minor, patch not encoded
    if name == "cudnn":
        return (10000 if major >= 9 else 1000) * major + 100 * minor + patch
    if name == "cublasLt":
        return 10000 * major + 100 * minor + patch  # the 11.9+ encoding; every TF 2.x-era cuBLASLt
    if name == "nvinfer":
        # NV_TENSORRT_VERSION: M*1000+m*100+p up to TensorRT 8, M*10000+m*100+p from 10 (NvInferVersion.h).
        return (10000 if major >= 10 else 1000) * major + 100 * minor + patch
    if name == "nccl":
        # NCCL_VERSION(X,Y,Z): X*1000+Y*100+Z while X<=2 and Y<=8, X*10000+Y*100+Z after.
        return (1000 if major <= 2 and minor <= 8 else 10000) * major + 100 * minor + patch
    return None


def library_shim_source(
    name: str, version: str, fault: str | None, *, cudart_version: int | None = None
) -> str:
    """C source for library `name` reporting `version`, misbehaving as `fault` says.

    `cudart_version` is what a cuDNN shim's ``cudnnGetCudartVersion`` returns; a
    ``+cudaX.Y`` suffix on `version` wins over it, and without either a cuDNN 9 says
    12050, 8 says 12020, 7 says 10010.
    """
    if name not in LIBRARIES:
        raise ValueError(f"no shim for library {name!r} (known: {', '.join(LIBRARIES)})")
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"unknown library fault {fault!r} (known: {', '.join(FAULTS)})")
    major, minor, patch, built_for = parse_version(version)
    parts = [_HEADER % {"name": name, "version": version}]
    if fault in _FAULTS:
        parts.append(_CONSTRUCTOR % _FAULTS[fault])
    if fault == "missing_symbol":
        return "".join(parts)  # a loadable library with no version function at all
    encoded = encode_version(name, version)
    if name == "cuda":
        parts.append(_INT_OUT % {"symbol": "cuDriverGetVersion", "value": encoded})
        parts.append("\nint cuInit(unsigned int flags) { (void)flags; return 0; }\n")
    elif name == "cudart":
        parts.append(_INT_OUT % {"symbol": "cudaRuntimeGetVersion", "value": encoded})
    elif name == "nccl":
        parts.append(_INT_OUT % {"symbol": "ncclGetVersion", "value": encoded})
    elif name == "nvinfer":
        parts.append(f"\nint getInferLibVersion(void) {{ return {encoded}; }}\n")
    elif name == "nvinfer_plugin":
        parts.append(_PLUGIN_INIT)
    elif name == "cudnn":
        cudart = built_for or cudart_version or _CUDNN_CUDART_DEFAULT.get(major, 12050)
        triple = {"major": major, "minor": minor, "patch": patch}
        parts.append(_SIZE_T % {"symbol": "cudnnGetVersion", "value": encoded})
        parts.append(_SIZE_T % {"symbol": "cudnnGetCudartVersion", "value": cudart})
        parts.append(_PROPERTY % {"symbol": "cudnnGetProperty", **triple})
    elif name == "cublasLt":
        triple = {"major": major, "minor": minor, "patch": patch}
        parts.append(_SIZE_T % {"symbol": "cublasLtGetVersion", "value": encoded})
        parts.append(_PROPERTY % {"symbol": "cublasLtGetProperty", **triple})
    else:
        triple = {"major": major, "minor": minor, "patch": patch}
        parts.append(_PROPERTY % {"symbol": _PROPERTY_SYMBOLS[name], **triple})
    return "".join(parts)


def default_soname(name: str, version: str) -> str:
    """The soname a library of this version carries (its major; cudart 11 is "11.0")."""
    major, minor, _, _ = parse_version(version)
    if name == "cuda":
        return "libcuda.so.1"
    if name == "cudart" and major <= 11:
        return f"libcudart.so.{major}.{0 if major == 11 else minor}"
    return f"lib{name}.so.{major}"


def location_dir(dest: Path, location: str, name: str) -> Path:
    """The directory under `dest` where a library in `location` goes."""
    if location == "pip":
        if name in TENSORRT:
            return dest / "site-packages" / "tensorrt"  # nvidia-tensorrt's and tensorrt <= 8.5's wheel directory
        if name not in PIP_PACKAGES:
            raise ValueError(f"library {name!r} has no pip wheel; pick another location")
        return dest / "site-packages" / "nvidia" / PIP_PACKAGES[name] / "lib"
    triplet = f"{platform.machine()}-linux-gnu"
    dirs = {
        "ld_library_path": dest / "ldpath",
        "conda": dest / "conda" / "lib",
        "ldcache": dest / "root" / LDCACHE_DIR,
        "cuda_home": dest / "root" / "usr" / "local" / "cuda" / "lib64",
        "system": dest / "root" / "usr" / "lib" / triplet,
        "driver": dest / "driverlib",
    }
    if location not in dirs:
        raise ValueError(f"unknown library location {location!r} (known: {', '.join(LOCATIONS)})")
    return dirs[location]


def materialise_libraries(
    libs: Sequence[Any], dest: Path, cuda_driver_version: int | None
) -> dict[str, str]:
    """Build each library (objects with name/soname/version/location/fault) under `dest`.

    Also builds ``dest/driverlib/libcuda.so.1`` when `cuda_driver_version` (12040) is
    given, and ``dest/root/etc/ld.so.cache`` naming the "ldcache" libraries root-relative
    (as ``ldconfig -r`` would) when there are any. A missing or empty soname is derived
    from the version (`default_soname`). A cuDNN says it was built for the CUDA of its
    ``+cudaX.Y`` version suffix, else of an optional ``cuda`` attribute ("11.8"), else of
    the cudart in `libs`, so a plain spec is consistent.

    Returns only the environment this adds, for the caller to merge: ``LD_LIBRARY_PATH``
    (driverlib, then ldpath, then the directory of each library with ``ld_library_path``
    true), ``PYTHONPATH`` (site-packages) and ``CONDA_PREFIX``, each
    present only when something lives there. The host root for ``--host-root`` is
    ``dest/root``.
    """
    cudart = next((lib for lib in libs if lib.name == "cudart"), None)
    host_cudart = _cuda_int(cudart.version) if cudart is not None else None
    todo = [
        (
            lib.name,
            getattr(lib, "soname", None) or default_soname(lib.name, lib.version),
            lib.version,
            lib.location,
            getattr(lib, "fault", None),
            _cuda_int(getattr(lib, "cuda", None) or "") or host_cudart,
        )
        for lib in libs
    ]
    if cuda_driver_version is not None:
        driver = f"{cuda_driver_version // 1000}.{cuda_driver_version % 1000 // 10}"
        todo.append(("cuda", "libcuda.so.1", driver, "driver", None, None))

    built: dict[Path, str] = {}
    cached: list[tuple[str, str]] = []
    for name, soname, version, location, fault, built_for in todo:
        out = location_dir(dest, location, name) / soname
        if out in built:
            raise ValueError(f"two libraries would be built as {out} ({built[out]} and {name})")
        source = library_shim_source(name, version, fault, cudart_version=built_for)
        build_shared(source, out, soname=soname)
        built[out] = location
        if location == "ldcache":
            cached.append((soname, f"/{LDCACHE_DIR}/{soname}"))
    if cached:
        write_ld_cache(dest / "root" / "etc" / "ld.so.cache", cached)

    used = set(built.values())
    env: dict[str, str] = {}
    ld_path = [str(dest / "driverlib")] if "driver" in used else []
    ld_path += [str(dest / "ldpath")] if "ld_library_path" in used else []
    # A library whose own directory is exported too (a pip wheel's, as TF 2.21's cusolver needs).
    exported = [location_dir(dest, lib.location, lib.name) for lib in libs if getattr(lib, "ld_library_path", False)]
    ld_path += [str(d) for d in dict.fromkeys(exported) if str(d) not in ld_path]
    if ld_path:
        env["LD_LIBRARY_PATH"] = ":".join(ld_path)
    if "pip" in used:
        env["PYTHONPATH"] = str(dest / "site-packages")
    if "conda" in used:
        env["CONDA_PREFIX"] = str(dest / "conda")
    return env


def _cuda_int(version: str) -> int | None:
    if not version:
        return None
    major, minor, _, _ = parse_version(version)
    return 1000 * major + 10 * minor


#: ld.so.cache entry flags: FLAG_ELF_LIBC6 plus the 64-bit ABI flag ("libc6,x86-64").
_CACHE_FLAGS = {"x86_64": 0x0303, "aarch64": 0x0A03, "ppc64le": 0x0503}


def write_ld_cache(path: Path, entries: Sequence[tuple[str, str]]) -> Path:
    """Write a glibc "ld.so.cache1.1" file mapping sonames to paths.

    Written here rather than with ``ldconfig -r ROOT``, which chroots and so needs root.
    Only the fields ``ldconfig -p`` reads are filled; the layout is glibc's
    ``cache_file_new`` header (48 bytes), then 24-byte ``file_entry_new`` records whose
    string offsets count from the start of the file, then the strings.
    """
    flags = _CACHE_FLAGS.get(platform.machine(), 0x0303)
    ordered = sorted(entries, reverse=True)  # ldconfig writes sonames in descending order
    base = 48 + 24 * len(ordered)
    strings = bytearray()
    records = bytearray()
    for soname, target in ordered:
        key = base + len(strings)
        strings += soname.encode() + b"\0"
        value = base + len(strings)
        strings += target.encode() + b"\0"
        records += struct.pack("<iIIIQ", flags, key, value, 0, 0)
    # nlibs, len_strings, flags (2: little-endian), padding, extension_offset, unused[3]
    header = b"glibc-ld.so.cache1.1" + struct.pack(
        "<IIB3xI3I", len(ordered), len(strings), 2, 0, 0, 0, 0
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(header + records + strings)
    return path
