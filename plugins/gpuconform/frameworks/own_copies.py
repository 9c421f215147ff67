"""Whether a PyTorch or JAX child mapped its own pip copies of the CUDA libraries (`/proc/<pid>/maps`).

A CUDA build of either framework is installed with NVIDIA's wheels (nvidia-cudnn-cu12,
nvidia-cublas, ... or CUDA 13's nvidia/cu13), which unpack into ``site-packages/nvidia/*/lib``,
and finds them there itself:

* PyTorch: libtorch_cuda.so and libtorch_global_deps.so carry a DT_RUNPATH of
  ``$ORIGIN/../../nvidia/cudnn/lib:$ORIGIN/../../nvidia/cublas/lib:...`` (how torch finds the
  wheels without LD_LIBRARY_PATH: pytorch/pytorch#96595); where that fails, torch/__init__.py's
  ``_load_global_deps`` falls back to ``_preload_cuda_deps``, which ctypes-loads each library from
  the first ``nvidia/<lib>/lib`` on sys.path.
* JAX: the CUDA plugin's ``initialize`` (jax_plugins/cuda/__init__.py, installed as
  jax_plugins/xla_cuda12 or xla_cuda13) calls ``_load_nvidia_libraries``, which ctypes-loads
  libcudart, libnvrtc, libcublas(Lt), libnccl, libcupti, libcusparse, libcusolver, libcufft,
  libnvshmem_host and libcudnn.so.9 by absolute path from ``nvidia.<module>.__path__[0]/lib``, "so
  that later lookups find these copies"; what those load in turn (cuDNN's engine libraries)
  goes through their RUNPATH, after LD_LIBRARY_PATH.

glibc's loader searches LD_LIBRARY_PATH *before* a DT_RUNPATH (ld.so(8)), so a directory there
holding another copy (a system CUDA's /usr/local/cuda-12.4/lib64) wins over the wheel the
framework was built against: PyTorch 2.2 with a local cuDNN failing "undefined symbol" from
/usr/local/cuda-12.3/lib64/libcudnn_cnn_train.so.8 until `unset LD_LIBRARY_PATH`
(https://github.com/pytorch/pytorch/issues/119989), torch.nn.Conv1d segfaulting until
`export LD_LIBRARY_PATH=""` (https://github.com/pytorch/pytorch/issues/121222).

The child reads its maps after import and after CUDA initialisation and lists the pip copies
of its environment (`gpuconform.frameworks.maps.read_mapped`, which also parses the lines and
does TensorFlow's comparison); `judge`, in the parent, compares the two.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from gpuconform.expect.tables.sonames import LIBRARY_NAMES
from gpuconform.frameworks.maps import MappedLibraries
from gpuconform.frameworks.maps import is_copy_of
from gpuconform.frameworks.maps import mapped_files
from gpuconform.verdict.check import Finding

#: The CUDA libraries judged for two copies at once even where no wheel has them (a conda or
#: system CUDA build): the libraries layer's, without the driver's libcuda, and those the frameworks add.
CUDA_LIBRARIES = tuple(n for n in LIBRARY_NAMES if n != "cuda") + ("nvrtc", "nvJitLink", "cupti", "cusparseLt")
ISSUES = "pytorch/pytorch#119989, pytorch/pytorch#121222"


@dataclass(frozen=True)
class Words:
    """How one framework's messages name it and the way it reaches its wheels."""

    installed: str  # "torch 2.13.0+cu130"
    name: str  # "PyTorch"
    reaches: str  # how it finds its pip copies, for `expected`
    source: str  # the child: 'a PyTorch child process (gpuconform.frameworks.torch.experiments.framework)'


def library_of(path: str, names: Sequence[str]) -> str | None:
    """The library a file is a copy of ("cudnn" for libcudnn.so.9.10.2), the longest matching name."""
    matching = [n for n in names if is_copy_of(path, n)]
    return max(matching, key=len) if matching else None


def judge(words: Words, mapped: MappedLibraries) -> Finding | None:
    """A CUDA library mapped from another copy than the installed pip one, or two copies of one; else None."""
    files = mapped_files("\n".join(mapped.maps))
    wheels = mapped.wheel_libraries
    wheel_names = {n for n in (_name(p) for p in wheels) if n}
    names = sorted(set(CUDA_LIBRARIES) | wheel_names)
    by_library: dict[str, list[str]] = {}
    for path in files:
        library = library_of(path, names)
        if library is not None:
            by_library.setdefault(library, []).append(path)
    for library, paths in by_library.items():
        own = [p for p in wheels if is_copy_of(p, library)]
        if len(paths) > 1:
            return _several(words, mapped, library, paths, own)
        (path,) = paths
        if own and path not in wheels:
            return _shadowed(words, mapped, library, path, own)
    return None


def _name(path: str) -> str | None:
    base = os.path.basename(path)
    stem = base.split(".so", 1)[0]
    return stem[3:] if stem.startswith("lib") and stem != "lib" else None


def _shadowed(words: Words, mapped: MappedLibraries, library: str, path: str, own: list[str]) -> Finding:
    pip = _same_soname(path, own)
    entry = _entry(mapped, path)
    if entry is not None:
        found = f"{path}, in {entry} on LD_LIBRARY_PATH ({_ld_path(mapped)})"
        why = (
            "glibc's loader searches LD_LIBRARY_PATH before the RUNPATH and the preloads that point at the pip "
            f"wheels, so this directory's copy wins over the one {words.installed} was built and tested with; "
            f"another build of the same soname crashes or fails with undefined symbols ({ISSUES})"
        )
        fix = (
            f"remove {entry} from LD_LIBRARY_PATH in this environment (or unset LD_LIBRARY_PATH), "
            f"so that {words.name} loads its own {pip}"
        )
    else:
        found = f"{path}, which is neither a pip copy nor on LD_LIBRARY_PATH" + (
            f" (LD_PRELOAD={mapped.ld_preload})" if mapped.ld_preload else ""
        )
        why = (
            f"a copy from outside the wheels (LD_PRELOAD, /etc/ld.so.preload, or a library that loads it by path) "
            f"won over the one {words.installed} was built and tested with ({ISSUES})"
        )
        fix = (
            f"find what loads {path} (LD_DEBUG=libs python -c 'import {words.installed.split()[0]}' names it) and "
            f"remove it, so that {words.name} loads its own {pip}"
        )
    return Finding(
        f"{words.installed} mapped {os.path.basename(pip)} from {path}, not its own pip copy {pip}",
        expected=f"{pip} ({words.reaches})",
        found=found,
        source=_source(words, mapped),
        why=why,
        fix=fix,
    )


def _several(words: Words, mapped: MappedLibraries, library: str, paths: list[str], own: list[str]) -> Finding:
    strays = [p for p in paths if p not in own]
    entries = [e for e in (_entry(mapped, p) for p in strays) if e is not None]
    if entries:
        fix = (
            f"remove {', '.join(dict.fromkeys(entries))} from LD_LIBRARY_PATH in this environment (or unset "
            "LD_LIBRARY_PATH)"
        )
    elif strays:
        fix = "remove what loads the copies outside the pip wheels (LD_PRELOAD, /etc/ld.so.preload)"
    else:  # two pip copies: wheels in two sys.path entries (a user site beside the environment's)
        fix = "uninstall the nvidia-* wheel of the sys.path entry that is not this environment's (pip list -v)"
    keep = f"its own pip copy {_same_soname(paths[0], own)}" if own else "one copy"
    return Finding(
        f"{words.installed} has {len(paths)} copies of lib{library} mapped at once: {', '.join(paths)}",
        expected=f"{keep} ({words.reaches})" if own else f"one copy of lib{library}",
        found=", ".join(f"{p} ({_where(mapped, p)})" for p in paths),
        source=_source(words, mapped),
        why="two copies of one CUDA library in one process: each caller binds to either, and their state "
        f"(handles, streams, caches) is split ({ISSUES})",
        fix=f"{fix}, so that {words.name} loads {keep}",
    )


def _source(words: Words, mapped: MappedLibraries) -> str:
    when = "after import and a matmul and a convolution on the first GPU" if mapped.cuda_initialised else "after import"
    return f"/proc/{mapped.pid}/maps of {words.source}, {when}"


def _same_soname(path: str, own: list[str]) -> str:
    """The pip copy of the soname `path` stands for (libcudnn.so.9 for libcudnn.so.9.1.0), else the first."""
    base = os.path.basename(path)
    return next((p for p in own if base.startswith(os.path.basename(p))), own[0] if own else "?")


def _entry(mapped: MappedLibraries, path: str) -> str | None:
    """The first LD_LIBRARY_PATH entry whose directory holds `path` (as written, or as it resolves)."""
    where = os.path.dirname(path)
    for entry, real in mapped.ld_library_path:
        if where in (os.path.normpath(entry), os.path.normpath(real)):
            return entry
    return None


def _where(mapped: MappedLibraries, path: str) -> str:
    if path in mapped.wheel_libraries:
        return "pip"
    entry = _entry(mapped, path)
    return f"{entry} on LD_LIBRARY_PATH" if entry else "outside the pip wheels and LD_LIBRARY_PATH"


def _ld_path(mapped: MappedLibraries) -> str:
    return "LD_LIBRARY_PATH=" + ":".join(e for e, _ in mapped.ld_library_path)
