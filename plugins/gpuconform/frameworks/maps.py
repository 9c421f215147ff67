"""Which shared objects a process really mapped (`/proc/<pid>/maps`), and whether they are the expected copies.

The libraries layer lists every copy of each CUDA library that TensorFlow's
search order can reach and reads each copy's version. Which copy wins is up to
the dynamic loader; the only proof is the running process's map. A TF child
reads its own ``/proc/self/maps`` after GPU initialisation and hands back the
lines (`shared_object_maps`, which PyTorch's and JAX's children read too:
`gpuconform.frameworks.own_copies`); this module parses them and compares them with the
libraries facts.

The kernel names the file that is mapped, after symlinks: ``libcudnn.so.9``
shows as ``libcudnn.so.9.3.0`` and ``libcuda.so.1`` as ``libcuda.so.550.54.15``.
So a mapped file is matched to a candidate by real path, and to a library by
the ``lib<name>.so`` prefix of its base name.
"""

from __future__ import annotations

import glob
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass

from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad

#: "start-end perms offset dev inode path": the path is the sixth field and may hold spaces.
_LINE = re.compile(r"^[0-9a-f]+-[0-9a-f]+\s+\S{4}\s+[0-9a-f]+\s+[0-9a-f]+:[0-9a-f]+\s+\d+\s+(?P<path>/.*)$")
_DELETED = " (deleted)"

#: The order in which glibc's dlopen reaches the origins the libraries probe records:
#: LD_LIBRARY_PATH comes before the caller's DT_RUNPATH (which points at the pip wheels),
#: then the ld cache and the default directories. /usr/local/cuda ("cuda_home") is never
#: searched, so a copy only there cannot win; conda's lib/ is reached through RUNPATH.
LOADER_ORDER = ("LD_LIBRARY_PATH", "pip", "conda", "ldcache", "system", "cuda_home")
#: Where NVIDIA's wheels unpack their libraries, under a sys.path entry (nvidia/cudnn/lib, CUDA 13's nvidia/cu13/lib).
WHEEL_GLOB = os.path.join("nvidia", "*", "lib", "lib*.so*")


@dataclass(frozen=True)
class MappedCopy:
    """A library file mapped into the process, and what the libraries layer knew of it."""

    library: str  # "cudnn"
    path: str  # as the kernel names it
    candidate: LibraryCandidate | None  # the candidate with this real path, None: never seen
    load: LibraryLoad | None  # the libraries probe's load of that candidate


@dataclass(frozen=True)
class MapsProblem:
    """A mapped library that is not the copy the libraries layer checked."""

    kind: str  # "unseen", "other-copy" or "several-copies"
    library: LibraryFacts
    mapped: tuple[MappedCopy, ...]
    expected: LibraryCandidate | None = None
    expected_load: LibraryLoad | None = None


@dataclass(frozen=True)
class MappedLibraries:
    """What a framework child had mapped, and the pip CUDA libraries its environment holds."""

    pid: int
    maps: tuple[str, ...] = ()  # the lines of /proc/self/maps that name a .so
    wheel_libraries: tuple[str, ...] = ()  # real paths of site-packages/nvidia/*/lib/lib*.so*, sys.path order
    ld_library_path: tuple[tuple[str, str], ...] = ()  # (entry, its real path), in order
    ld_preload: str | None = None  # LD_PRELOAD as the child saw it
    cuda_initialised: bool = False  # whether the child had a GPU and ran on it before reading
    error: str | None = None  # what initialising CUDA raised (read anyway)


def read_mapped(cuda_initialised: bool, error: str | None = None) -> MappedLibraries:
    """In the child: its own maps, the pip copies on its sys.path, LD_LIBRARY_PATH as it resolves."""
    wheels: dict[str, None] = {}
    for entry in sys.path:
        for path in sorted(glob.glob(os.path.join(entry or ".", WHEEL_GLOB))):
            wheels.setdefault(os.path.realpath(path))
    entries = [e for e in os.environ.get("LD_LIBRARY_PATH", "").split(":") if e]
    return MappedLibraries(
        pid=os.getpid(),
        maps=shared_object_maps(),
        wheel_libraries=tuple(wheels),
        ld_library_path=tuple((e, os.path.realpath(e)) for e in entries),
        ld_preload=os.environ.get("LD_PRELOAD"),
        cuda_initialised=cuda_initialised,
        error=error,
    )


def shared_object_maps() -> tuple[str, ...]:
    """The lines of this process's own ``/proc/self/maps`` that name a shared object (run in a child)."""
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            return tuple(line.rstrip("\n") for line in maps if ".so" in line)
    except OSError:
        return ()


def mapped_files(text: str) -> tuple[str, ...]:
    """The distinct file paths in a maps text, in first-mapped order (anonymous maps dropped)."""
    seen: dict[str, None] = {}
    for line in text.splitlines():
        match = _LINE.match(line.rstrip("\n"))
        if not match:
            continue
        path = match["path"]
        if path.endswith(_DELETED):
            path = path[: -len(_DELETED)]
        seen.setdefault(path)
    return tuple(seen)


def is_copy_of(path: str, name: str) -> bool:
    """Whether `path` is a file of library `name` ("cublas" matches libcublas.so.12.5.3.2, not libcublasLt)."""
    base = os.path.basename(path)
    stem = f"lib{name}.so"
    return base == stem or base.startswith(stem + ".")


def expected_copy(lib: LibraryFacts) -> tuple[LibraryCandidate | None, LibraryLoad | None]:
    """The candidate the loader should take: the first, in loader order, that loaded."""
    loads = {ld.path: ld for ld in lib.loads}
    ranked = sorted(
        (c for c in lib.candidates if c.origin in LOADER_ORDER[:-1]),
        key=lambda c: LOADER_ORDER.index(c.origin),
    )
    for candidate in ranked:
        load = loads.get(candidate.path)
        if load is not None and load.loaded:
            return candidate, load
    return None, None


def check_mapped_libraries(libraries: LibrariesFacts, paths: Iterable[str]) -> list[MapsProblem]:
    """Compare the files a process mapped with the copies the libraries layer found.

    A problem is a mapped copy the probe never found (its version was never
    checked), two copies of one library mapped at once, or a copy other than the
    loader's expected one that differs from it in version or CUDA major. Libraries
    that are not mapped at all are not judged here: TF's load log names those.
    """
    paths = tuple(paths)
    problems: list[MapsProblem] = []
    for lib in libraries.libraries:
        copies = _copies(lib, paths)
        if not copies:
            continue
        if len(copies) > 1:
            problems.append(MapsProblem("several-copies", lib, copies))
            continue
        copy = copies[0]
        if copy.candidate is None:
            problems.append(MapsProblem("unseen", lib, copies))
            continue
        expected, load = expected_copy(lib)
        if expected is None or _real(expected) == _real(copy.candidate):
            continue
        if copy.load is None or load is None or _identity(copy.load) != _identity(load):
            problems.append(MapsProblem("other-copy", lib, copies, expected, load))
    return problems


def _copies(lib: LibraryFacts, paths: tuple[str, ...]) -> tuple[MappedCopy, ...]:
    candidates = lib.candidates + lib.other_candidates
    loads = {ld.path: ld for ld in lib.loads + lib.other_loads}
    by_real = {_real(c): c for c in reversed(candidates)}  # the first candidate wins a tie
    copies = []
    for path in paths:
        candidate = by_real.get(path) or by_real.get(os.path.realpath(path))
        if candidate is None and not is_copy_of(path, lib.name):
            continue
        copies.append(MappedCopy(lib.name, path, candidate, loads.get(candidate.path) if candidate else None))
    return tuple(copies)


def _real(candidate: LibraryCandidate) -> str:
    return candidate.realpath or candidate.path


def _identity(load: LibraryLoad) -> tuple[str | None, int | None]:
    return load.version, load.cuda_major
