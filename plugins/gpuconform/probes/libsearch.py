"""Where the libraries probe looks: TensorFlow's search order as directories and the ld cache.

And the candidates found there; the order itself is described in `gpuconform.probes.libraries`.
"""

from __future__ import annotations

import glob
import os
import platform
import re
import shutil
import site
import subprocess
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

from gpuconform.expect.tables.sonames import SonameTable
from gpuconform.expect.tables.sonames import Wanted
from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import LibraryCandidate

#: ldconfig only reads a cache file; it gets this long at most.
LDCONFIG_TIMEOUT = 5.0

_MULTIARCH = {
    "x86_64": "x86_64-linux-gnu",
    "aarch64": "aarch64-linux-gnu",
    "ppc64le": "powerpc64le-linux-gnu",
}
#: The ld.so.cache flag of this machine's 64-bit ABI; entries without it are for another ABI.
_ABI_FLAG = {"x86_64": "x86-64", "aarch64": "AArch64", "ppc64le": "64bit"}
_LDCONFIG_LINE = re.compile(r"^\s*(\S+)\s+\(([^)]*)\)\s+=>\s+(\S.*?)\s*$")


#: The probe name in ProbeErrors of the libraries probe.
PROBE = "libraries"

# ---- where to look ------------------------------------------------------------------


@dataclass
class Source:
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
class SearchPath:
    sources: list[Source]
    error: ProbeError | None = None

    @classmethod
    def build(
        cls,
        root: Path,
        environ: Mapping[str, str],
        sys_path: Sequence[str] | None,
        ldconfig_timeout: float,
    ) -> SearchPath:
        rooted = str(root)
        entries = list(sys_path) if sys_path is not None else _default_sys_path(environ)
        dirs: list[tuple[str, str]] = []
        for entry in entries:
            dirs += [("pip", d) for d in sorted(glob.glob(os.path.join(entry, "nvidia", "*", "lib")))]
            # TensorRT's wheels: nvidia-tensorrt / tensorrt <= 8.5 put libnvinfer in tensorrt/, tensorrt-libs in
            # tensorrt_libs/ (only tensorrt/ is on TF's RUNPATH: library_search.toml pip_dirs).
            trt = (os.path.join(entry, name) for name in ("tensorrt", "tensorrt_libs"))
            dirs += [("pip", d) for d in trt if os.path.isdir(d)]
        ld_library_path = environ.get("LD_LIBRARY_PATH", "")
        # Empty entries mean "the current directory" to glibc; nobody means that for CUDA.
        dirs += [("LD_LIBRARY_PATH", os.path.abspath(d)) for d in ld_library_path.split(os.pathsep) if d]
        if environ.get("CONDA_PREFIX"):
            dirs.append(("conda", os.path.join(environ["CONDA_PREFIX"], "lib")))
        before = _dedupe_dirs(dirs)
        cache, error = _read_ldcache(root, ldconfig_timeout)
        cache_file = _under(rooted, "/etc/ld.so.cache")
        cached = [Source("ldcache", None, cache, cache_file=cache_file)] if cache is not None else []

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


def _dedupe_dirs(dirs: list[tuple[str, str]]) -> list[tuple[str, Source]]:
    """(realpath, source) per distinct directory, under its first origin, with the later ones as `also`."""
    kept: dict[str, Source] = {}
    for origin, directory in dirs:
        key = _dir_key(directory)
        if key not in kept:
            kept[key] = Source(origin, directory)
        elif origin != kept[key].origin and origin not in kept[key].also:
            kept[key].also += (origin,)
    return list(kept.items())


def _read_ldcache(root: Path, timeout: float) -> tuple[dict[str, list[str]] | None, ProbeError | None]:
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
        return None, ProbeError(f"{PROBE}.ldcache", "timeout", f"ldconfig -p gave no answer within {timeout:.1f} s")
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


def find_candidates(
    table: SonameTable, want: Wanted, search: SearchPath
) -> tuple[list[LibraryCandidate], list[LibraryCandidate]]:
    """The candidates for `want.soname`, and the files of the same library under other sonames."""
    found: dict[str, tuple[bool, str, list[str]]] = {}  # entry -> (wanted soname?, path, origins)
    for source in search.sources:
        hits = [(True, p) for p in source.paths(want.soname)]
        other_names = sorted(n for n in source.names() if table.is_other_soname(want.name, want.soname, n))
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
        build = driver_build_of(realpath) if want.name == table.driver.name else None
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
    """ "compat" and "wsl" for a copy in a cuda-compat or WSL driver directory (by its path or its target)."""
    dirs = [os.path.dirname(path) + "/", os.path.dirname(realpath) + "/"]
    marks = ["compat"] if any(_COMPAT_DIR.search(d) for d in dirs) else []
    return marks + (["wsl"] if any(_WSL_DIR.search(d) for d in dirs) else [])


def driver_build_of(realpath: str) -> str | None:
    match = _LIBCUDA_BUILD.match(os.path.basename(realpath))
    return match.group(1) if match else None
