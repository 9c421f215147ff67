"""The libraries probe: which CUDA user-space libraries TF would dlopen, where, in which versions.

For each soname the installed TF asks for (see `sonames.toml`), it lists every
file TF's search order could reach, then loads each distinct file in a child
process and asks the library its own version (`cudaRuntimeGetVersion`,
`cudnnGetVersion`, ...). File names and package metadata are never trusted for
versions: a renamed or mislabelled library is exactly what the suite is for.

Search order (origin in brackets), following tf-behaviors §5.1-5.2:

1. pip wheels: ``<entry>/nvidia/*/lib`` for each `sys_path` entry, which covers
   ``nvidia/cu13/lib`` too ("pip");
2. each directory of ``LD_LIBRARY_PATH`` ("LD_LIBRARY_PATH");
3. ``$CONDA_PREFIX/lib`` ("conda");
4. the ld cache, ``<root>/etc/ld.so.cache`` read with ``ldconfig -p -C`` ("ldcache");
5. the default directories ``/lib64``, ``/usr/lib64``, ``/lib/<triplet>``,
   ``/usr/lib/<triplet>`` under `root` ("system");
6. ``/usr/local/cuda/lib64``, ``/usr/local/cuda/lib`` and ``/usr/local/cuda/targets/*/lib``
   under `root`
   ("cuda_home"): dlopen itself never looks there, so a library found only
   here is one the suite can tell the user to put on the loader path.

Note that glibc searches ``LD_LIBRARY_PATH`` before the caller's DT_RUNPATH, so
when both hold a soname the loader takes the ``LD_LIBRARY_PATH`` copy; the suite
judges which copy wins from these candidates, this probe only lists them.

A directory reached twice (``/lib`` → ``/usr/lib`` on merged-/usr systems, a pip
wheel's directory also on ``LD_LIBRARY_PATH``) is searched once, under the origin
that reached it first; a candidate there records every origin that reaches it
(`LibraryCandidate.origins`, in search order), and so does a file the ld cache names
in a directory searched already. Which of those origins the installed TF's own loader
really searches is the suite's question (matrices/library_search.toml). Two markers
are added to what reached a copy: "compat" for a cuda-compat directory
(``/usr/local/cuda/compat``, ``/usr/local/cuda-X.Y/compat``, a ``cuda-compat``
package) and "wsl" for WSL's driver directory ``/usr/lib/wsl/lib``. A libcuda copy
records its driver build, the suffix of the file it resolves to
(``libcuda.so.550.54.15``; the container toolkit reads compat versions the same way).
Distinct directory entries
that resolve to one file (``libcudnn.so.9`` → ``libcudnn.so.9.3.0``, or a
symlink in ``/usr/lib`` to a pip file) all stay candidates with the same
`realpath`, and that file is loaded once.

Files of the same library under another soname (``libcudnn.so.8`` where TF wants
``.so.9``) are reported in `LibraryFacts.other_candidates` / `other_loads`: TF
never opens them, but they explain the commonest broken host and tell what a
host without TF could run.

All files load in one process, as in TF: a library whose DT_NEEDED soname is
already loaded from another directory (libcublas.so.12 needing libcublasLt.so.12)
gets that copy, so a version is the library's own but its dependencies may not be
the ones beside it.

Time bound: one child normally. A library that kills its child (SIGSEGV, SIGABRT,
exit) or hangs is recorded with that error and a fresh child loads the rest, so
one bad library never hides the others. Every child runs under `timeout`, and the
whole probe stops starting children once ``3 × timeout`` have passed since it
began (so two hanging libraries each get the full timeout and the rest still get
theirs); libraries still untried then are recorded with kind "not-tried". The
probe therefore returns within about ``3 × timeout`` seconds.
"""

from __future__ import annotations

import glob
import json
import os
import platform
import re
import shutil
import site
import subprocess
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from packaging.version import Version

from gpuconform.facts import LibrariesFacts
from gpuconform.facts import LibraryCandidate
from gpuconform.facts import LibraryFacts
from gpuconform.facts import LibraryLoad
from gpuconform.facts import ProbeError
from gpuconform.probes.child import ChildResult
from gpuconform.probes.child import child_env
from gpuconform.probes.child import run_python
from gpuconform.probes.libload_child import VERSION_SYMBOLS
from gpuconform.probes.sonames import SonameTable
from gpuconform.probes.sonames import Wanted
from gpuconform.probes.sonames import load_sonames
from gpuconform.versions import decode_cuda_int
from gpuconform.versions import decode_cudnn_int
from gpuconform.versions import decode_nccl_int

PROBE = "libraries"

#: The whole probe returns within this many timeouts (see the module docstring).
BUDGET_TIMEOUTS = 3

#: ldconfig only reads a cache file; it gets this long at most.
_LDCONFIG_TIMEOUT = 5.0

_CHILD = ("-m", "gpuconform.probes.libload_child")
_MULTIARCH = {
    "x86_64": "x86_64-linux-gnu",
    "aarch64": "aarch64-linux-gnu",
    "ppc64le": "powerpc64le-linux-gnu",
}
#: The ld.so.cache flag of this machine's 64-bit ABI; entries without it are for another ABI.
_ABI_FLAG = {"x86_64": "x86-64", "aarch64": "AArch64", "ppc64le": "64bit"}
_LDCONFIG_LINE = re.compile(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*?)\s*$")


def probe_libraries(
    cuda: Version | None,
    cudnn_major: int | None,
    basis: str,
    *,
    root: Path = Path("/"),
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
    sys_path: Sequence[str] | None = None,
) -> LibrariesFacts:
    """Find and load the libraries TF would dlopen for `cuda` and `cudnn_major`.

    `cuda` and `cudnn_major` come from the installed TF's matrix row; None (no TF)
    means the newest family in the table (CUDA 12, cuDNN 9). `env` is the
    environment of the process under test (default: ours) and supplies
    ``LD_LIBRARY_PATH``, ``CONDA_PREFIX`` and ``PYTHONPATH``; `sys_path` defaults to
    that ``PYTHONPATH`` plus this interpreter's site-packages. `root` re-roots the
    ld cache, the system directories and /usr/local/cuda, not the pip or
    environment paths, which belong to the live process.

    Observations never raise: what could not be observed is a ProbeError in the
    facts. Only an unusable shipped ``sonames.toml`` raises (DataError).
    """
    deadline = time.monotonic() + BUDGET_TIMEOUTS * timeout
    table = load_sonames()
    wanted = table.wanted(cuda or table.default_cuda, cudnn_major or table.default_cudnn_major)
    if wanted is None:
        return LibrariesFacts(
            basis=basis,
            error=ProbeError(
                PROBE,
                "unknown-cuda",
                f"no soname row for CUDA {cuda} in {table.source} (as of {table.as_of})",
            ),
        )
    environ = dict(env) if env is not None else dict(os.environ)
    search = _SearchPath.build(root, environ, sys_path, min(_LDCONFIG_TIMEOUT, timeout))
    found = [_find(table, want, search) for want in wanted]

    loader = _Loader()
    for want, (candidates, others) in zip(wanted, found):
        loader.add(want.name, candidates)
        loader.add(want.name, others)
    loader.run(timeout, deadline, child_env(environ))

    libraries = tuple(
        LibraryFacts(
            name=want.name,
            soname=want.soname,
            required=want.required,
            candidates=tuple(candidates),
            loads=loader.loads(want.name, candidates),
            other_candidates=tuple(others),
            other_loads=loader.loads(want.name, others),
        )
        for want, (candidates, others) in zip(wanted, found)
    )
    return LibrariesFacts(
        basis=basis,
        libraries=libraries,
        search_path=search.described(),
        error=search.error or loader.error,
    )


# ---- where to look ------------------------------------------------------------------


@dataclass
class _Source:
    """One place in the search order: a directory, or the ld cache."""

    origin: str
    directory: str | None = None  # None for the ld cache
    cache: dict[str, list[str]] = field(default_factory=dict)  # ld cache: soname -> paths
    also: tuple[str, ...] = ()  # later origins that reached the same directory
    cache_file: str | None = None
    _names: set[str] | None = None

    def names(self) -> set[str]:
        """The file names in this source (listed once: a probe asks for ~20 sonames)."""
        if self._names is None:
            if self.directory is None:
                self._names = set(self.cache)
            else:
                try:
                    self._names = set(os.listdir(self.directory))
                except OSError:
                    self._names = set()
        return self._names

    def paths(self, name: str) -> list[str]:
        """The paths of `name` here that exist (a dangling link makes dlopen look further)."""
        if self.directory is None:
            return [p for p in self.cache.get(name, []) if os.path.exists(p)]
        path = os.path.join(self.directory, name)
        return [path] if name in self.names() and os.path.exists(path) else []


@dataclass
class _SearchPath:
    sources: list[_Source]
    error: ProbeError | None = None

    @classmethod
    def build(
        cls,
        root: Path,
        environ: Mapping[str, str],
        sys_path: Sequence[str] | None,
        ldconfig_timeout: float,
    ) -> _SearchPath:
        rooted = str(root)
        entries = list(sys_path) if sys_path is not None else _default_sys_path(environ)
        dirs: list[tuple[str, str]] = []
        for entry in entries:
            dirs += [
                ("pip", d) for d in sorted(glob.glob(os.path.join(entry, "nvidia", "*", "lib")))
            ]
        ld_library_path = environ.get("LD_LIBRARY_PATH", "")
        # Empty entries mean "the current directory" to glibc; nobody means that for CUDA.
        dirs += [
            ("LD_LIBRARY_PATH", os.path.abspath(d)) for d in ld_library_path.split(os.pathsep) if d
        ]
        if environ.get("CONDA_PREFIX"):
            dirs.append(("conda", os.path.join(environ["CONDA_PREFIX"], "lib")))
        before = _dedupe_dirs(dirs)
        cache, error = _read_ldcache(root, ldconfig_timeout)
        cache_file = _under(rooted, "/etc/ld.so.cache")
        cached = [_Source("ldcache", None, cache, cache_file=cache_file)] if cache is not None else []

        triplet = _MULTIARCH.get(platform.machine(), "x86_64-linux-gnu")
        system = ["/lib64", "/usr/lib64", f"/lib/{triplet}", f"/usr/lib/{triplet}"]
        after: list[tuple[str, str]] = [("system", _under(rooted, d)) for d in system]
        after.append(("cuda_home", _under(rooted, "/usr/local/cuda/lib64")))
        after.append(("cuda_home", _under(rooted, "/usr/local/cuda/lib")))  # some 13.x layouts
        targets = sorted(glob.glob(_under(rooted, "/usr/local/cuda/targets/*/lib")))
        after += [("cuda_home", d) for d in targets]
        # One source per directory, in the order of its first origin; the ld cache keeps its place between.
        merged = _dedupe_dirs(dirs + after)
        first = {key for key, _ in before}
        sources = [src for key, src in merged if key in first] + cached
        sources += [src for key, src in merged if key not in first]
        return cls(sources, error)

    def described(self) -> tuple[str, ...]:
        """The directories in order, with the ld cache file at its place."""
        return tuple(s.directory or s.cache_file or "ld.so.cache" for s in self.sources)


def _default_sys_path(environ: Mapping[str, str]) -> list[str]:
    # The child interpreter's sys.path as far as wheels go: PYTHONPATH first, then the
    # site-packages of this interpreter (the child is sys.executable too).
    entries = [p for p in environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    entries += site.getsitepackages()
    user = site.getusersitepackages()
    if site.ENABLE_USER_SITE and user:
        entries.append(user)
    return entries


def _under(root: str, path: str) -> str:
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


def _dir_key(directory: str) -> str:
    return os.path.realpath(directory)


def _dedupe_dirs(dirs: list[tuple[str, str]]) -> list[tuple[str, _Source]]:
    """(realpath, source) per distinct directory, under its first origin, with the later ones as `also`."""
    kept: dict[str, _Source] = {}
    for origin, directory in dirs:
        key = _dir_key(directory)
        if key not in kept:
            kept[key] = _Source(origin, directory)
        elif origin != kept[key].origin and origin not in kept[key].also:
            kept[key].also += (origin,)
    return list(kept.items())


def _read_ldcache(
    root: Path, timeout: float
) -> tuple[dict[str, list[str]] | None, ProbeError | None]:
    """Soname -> paths from ``ldconfig -p``, for this machine's ABI; None when there is no cache."""
    rooted = str(root)
    cache_file = _under(rooted, "/etc/ld.so.cache")
    if not os.path.isfile(cache_file):
        return None, None  # musl systems and bare roots have none: nothing to search, nothing wrong
    ldconfig = shutil.which("ldconfig") or next(
        (p for p in ("/sbin/ldconfig", "/usr/sbin/ldconfig") if os.access(p, os.X_OK)), None
    )
    if ldconfig is None:
        return None, ProbeError(f"{PROBE}.ldcache", "missing", f"no ldconfig to read {cache_file}")
    try:
        # Not a probe child (run_python): ldconfig only reads a file, it loads nothing.
        proc = subprocess.run(
            [ldconfig, "-p", "-C", cache_file],
            capture_output=True,
            text=True,
            timeout=timeout,
            errors="replace",
        )
    except subprocess.TimeoutExpired:
        return None, ProbeError(
            f"{PROBE}.ldcache", "timeout", f"ldconfig -p gave no answer within {timeout:.1f} s"
        )
    except OSError as exc:
        return None, ProbeError(f"{PROBE}.ldcache", "unreadable", f"cannot run {ldconfig}: {exc}")
    if proc.returncode != 0:
        tail = proc.stderr.strip().splitlines()[-1:] or [""]
        return None, ProbeError(
            f"{PROBE}.ldcache",
            "unreadable",
            f"ldconfig -p -C {cache_file} exited {proc.returncode}: {tail[0]}",
        )
    flag = _ABI_FLAG.get(platform.machine())
    cache: dict[str, list[str]] = {}
    for line in proc.stdout.splitlines():
        match = _LDCONFIG_LINE.match(line)
        if not match:
            continue
        soname, flags, path = match.groups()
        if flag is not None and flag not in [f.strip() for f in flags.split(",")]:
            continue  # a 32-bit or foreign-ABI copy: dlopen from a 64-bit process skips it
        cache.setdefault(soname, []).append(_under(rooted, path))
    return cache, None


def _find(
    table: SonameTable, want: Wanted, search: _SearchPath
) -> tuple[list[LibraryCandidate], list[LibraryCandidate]]:
    """The candidates for `want.soname`, and the files of the same library under other sonames."""
    found: dict[str, tuple[bool, str, list[str]]] = {}  # entry -> (wanted soname?, path, origins)
    for source in search.sources:
        hits = [(True, p) for p in source.paths(want.soname)]
        other_names = sorted(
            n for n in source.names() if table.is_other_soname(want.name, want.soname, n)
        )
        hits += [(False, p) for name in other_names for p in source.paths(name)]
        for mine, path in hits:
            # The same directory entry reached through a linked directory, another origin or the ld
            # cache is one candidate, with every origin that reaches it.
            entry = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
            if entry not in found:
                found[entry] = (mine, path, [])
            origins = found[entry][2]
            origins += [o for o in (source.origin, *source.also) if o not in origins]
    candidates: list[LibraryCandidate] = []
    others: list[LibraryCandidate] = []
    for mine, path, origins in found.values():
        realpath = os.path.realpath(path)
        origins += [m for m in origin_markers(path, realpath) if m not in origins]
        build = _driver_build(realpath) if want.name == table.driver.name else None
        (candidates if mine else others).append(
            LibraryCandidate(
                path=path, origin=origins[0], realpath=realpath, origins=tuple(origins), driver_build=build
            )
        )
    return candidates, others


#: A cuda-compat directory: NVIDIA images' /usr/local/cuda/compat, the cuda-compat-X-Y package's
#: /usr/local/cuda-X.Y/compat, or a directory of a package named cuda-compat (conda's).
_COMPAT_DIR = re.compile(r"/cuda(-[0-9.]+)?/compat(/|$)|/cuda-compat(/|$)|/cuda-compat-[0-9-]+/")
_WSL_DIR = re.compile(r"/usr/lib/wsl/")
#: libcuda.so.<driver build>: the file behind libcuda.so.1 (libcuda.so.1.1 of Jetson names no build).
_LIBCUDA_BUILD = re.compile(r"^libcuda\.so\.([0-9]{3,}\.[0-9]+(\.[0-9]+)?)$")


def origin_markers(path: str, realpath: str) -> list[str]:
    """"compat" and "wsl" for a copy in a cuda-compat or WSL driver directory (by its path or its target)."""
    dirs = [os.path.dirname(path) + "/", os.path.dirname(realpath) + "/"]
    marks = ["compat"] if any(_COMPAT_DIR.search(d) for d in dirs) else []
    return marks + (["wsl"] if any(_WSL_DIR.search(d) for d in dirs) else [])


def _driver_build(realpath: str) -> str | None:
    match = _LIBCUDA_BUILD.match(os.path.basename(realpath))
    return match.group(1) if match else None


# ---- loading ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    id: int
    kind: str
    path: str  # the first candidate path that reaches the file


class _Loader:
    """Loads each distinct (library, file) once, in as few children as crashes allow."""

    def __init__(self) -> None:
        self.items: list[_Item] = []
        self._by_file: dict[tuple[str, str], int] = {}
        self.results: dict[int, LibraryLoad] = {}
        self.error: ProbeError | None = None

    def add(self, kind: str, candidates: Sequence[LibraryCandidate]) -> None:
        for cand in candidates:
            key = (kind, cand.realpath or cand.path)
            if key not in self._by_file:
                self._by_file[key] = len(self.items)
                self.items.append(_Item(len(self.items), kind, cand.path))

    def loads(self, kind: str, candidates: Sequence[LibraryCandidate]) -> tuple[LibraryLoad, ...]:
        """One load per distinct file among `candidates`, in candidate order."""
        ids = dict.fromkeys(self._by_file[(kind, c.realpath or c.path)] for c in candidates)
        return tuple(self.results[i] for i in ids)

    def run(self, timeout: float, deadline: float, env: Mapping[str, str]) -> None:
        pending = list(self.items)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self._not_tried(pending, timeout)
                return
            request = {"items": [{"id": i.id, "kind": i.kind, "path": i.path} for i in pending]}
            # The full bound each time (the budget only stops new children), so that what a
            # message says of a hang does not depend on how long the others took.
            result = run_python(_CHILD, timeout=timeout, env=env, stdin=json.dumps(request))
            started, opened, done = _parse(result.stdout)
            for item in pending:
                if item.id in done:
                    self.results[item.id] = _load(item, done[item.id])
            pending = [i for i in pending if i.id not in done]
            if not pending:
                return
            failure = result.error(PROBE)
            culprit = next((i for i in pending if i.id == started), None)
            if failure is None or culprit is None:
                # The child ended cleanly without answering, or died before its first library:
                # a fresh child would do the same, so say so for everything left.
                why = failure or ProbeError(
                    PROBE, "invalid-output", "the load child ended without answering"
                )
                self.error = ProbeError(
                    PROBE, why.kind, f"library load child failed: {why.message}"
                )
                for item in pending:
                    self.results[item.id] = LibraryLoad(path=item.path, loaded=False, error=why)
                return
            self.results[culprit.id] = _crashed(culprit, failure, culprit.id in opened, result)
            pending = [i for i in pending if i.id != culprit.id]

    def _not_tried(self, pending: Sequence[_Item], timeout: float) -> None:
        budget = BUDGET_TIMEOUTS * timeout
        message = f"not loaded: the probe's {budget:.0f} s budget went to libraries that hung"
        for item in pending:
            self.results[item.id] = LibraryLoad(
                path=item.path, loaded=False, error=ProbeError(PROBE, "not-tried", message)
            )


def _parse(stdout: str) -> tuple[int | None, set[int], dict[int, dict[str, Any]]]:
    """The last started id, the opened ids and the finished answers in a child's output."""
    started: int | None = None
    opened: set[int] = set()
    done: dict[int, dict[str, Any]] = {}
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # a half-written last line from a killed child
        if not isinstance(message, dict) or not isinstance(message.get("id"), int):
            continue
        event = message.get("gpuconform")
        if event == "start":
            started = message["id"]
        elif event == "opened":
            opened.add(message["id"])
        elif event == "done":
            done[message["id"]] = message
    return started, opened, done


def _crashed(item: _Item, failure: ProbeError, opened: bool, result: ChildResult) -> LibraryLoad:
    symbol = VERSION_SYMBOLS.get(item.kind, "its version function")
    phase = f"while calling {symbol}" if opened else "during dlopen"
    if result.timed_out:
        what = f"no answer {phase} within {result.bound}"
    elif result.signal_name:
        what = f"killed by {result.signal_name} {phase}"
    else:
        what = f"the process exited with status {result.returncode} {phase}"
    said = [line for line in result.stderr.strip().splitlines() if line.strip()][-3:]
    tail = (": " + " | ".join(said)) if said else ""
    return LibraryLoad(
        path=item.path,
        loaded=opened,
        error=ProbeError(PROBE, failure.kind, f"{item.path}: {what}{tail}"),
    )


def _load(item: _Item, answer: Mapping[str, Any]) -> LibraryLoad:
    raw = answer.get("raw") if isinstance(answer.get("raw"), int) else None
    prop = answer.get("property")
    error = answer.get("error")
    problem = (
        ProbeError(PROBE, str(error["kind"]), str(error["message"]))
        if isinstance(error, dict)
        else None
    )
    version: str | None = None
    if isinstance(prop, list) and len(prop) == 3:
        version = ".".join(str(p) for p in prop)
    elif raw is not None:
        try:
            version = _decode(item.kind, raw)
        except ValueError as exc:
            # A library answering 0 or junk is loaded but unversioned; say why, keep the raw value.
            problem = ProbeError(PROBE, "undecodable-version", f"{item.path}: {exc}")
    return LibraryLoad(
        path=item.path,
        loaded=bool(answer.get("loaded")),
        version=version,
        raw_version=raw,
        error=problem,
        cuda_major=_cuda_major(answer.get("cuda")),
    )


def _cuda_major(cudart: Any) -> int | None:
    # cudnnGetCudartVersion(): the CUDART_VERSION the library was built with (12050).
    if not isinstance(cudart, int):
        return None
    try:
        return decode_cuda_int(cudart).major
    except ValueError:
        return None


def _decode(kind: str, raw: int) -> str | None:
    """The dotted version of a version integer; ValueError when it is not one."""
    if kind in ("cuda", "cudart"):
        return str(decode_cuda_int(raw))  # 1000*major + 10*minor; no patch
    if kind == "cudnn":
        return str(decode_cudnn_int(raw))  # 8906 -> 8.9.6, 90300 -> 9.3.0
    if kind == "nccl":
        return str(decode_nccl_int(raw))  # 2804 -> 2.8.4, 22105 -> 2.21.5
    if kind == "cublasLt":
        # Like CUBLAS_VERSION: M*1000+m*100+p up to 11.6, M*10000+m*100+p from 11.9 on.
        if raw <= 0:
            raise ValueError(f"cuBLASLt version integer {raw} is not positive")
        unit = 10000 if raw >= 100000 else 1000
        return f"{raw // unit}.{raw % unit // 100}.{raw % 100}"
    return None
