"""The libraries of a host description, as the library probe would have recorded them."""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from pathlib import Path

from packaging.version import Version

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.sonames import WINDOWS
from gpuconform.expect.tables.sonames import SonameTable
from gpuconform.expect.tables.sonames import Wanted
from gpuconform.expect.tables.sonames import load_sonames
from gpuconform.facts.base import ProbeError
from gpuconform.facts.base import not_stated
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.versions import encode_cuda_int
from gpuconform.probes.basis import library_basis
from gpuconform.probes.described.spec import NOT_STATED_VALUE
from gpuconform.probes.described.spec import ORIGINS
from gpuconform.probes.described.spec import HostDescription
from gpuconform.probes.described.spec import LibraryPart
from gpuconform.probes.described.spec import TensorflowPart
from gpuconform.probes.described.spec import typical_dir
from gpuconform.probes.libsearch import origin_markers


def is_cuda_build(tf: TensorflowPart, matrices: Matrices) -> bool:
    """What get_build_info() would say: the description's cuda_build, else the distribution's era and name."""
    if tf.cuda_build is not None:
        return tf.cuda_build
    by_era = matrices.rules.tf_platforms.is_cuda_build(tf.distribution, tf.version)
    return by_era if by_era is not None else not tf.distribution.endswith("-cpu")


def libraries_facts(d: HostDescription, matrices: Matrices) -> LibrariesFacts:
    """The libraries a probe would have recorded: each soname the described TensorFlow asks for, and every described
    copy of it (or of another soname of the same library)."""
    table = load_sonames()
    tf = d.tensorflow
    cuda = cudnn_major = trt_tf = None
    basis = "no TensorFlow installed: the sonames of the newest CUDA and cuDNN families"
    if tf is not None and is_cuda_build(tf, matrices):
        trt_tf = tf.version  # TF-TRT's TensorRT soname is the release's
        built_cuda, built_cudnn, built = library_basis(tf.distribution, tf.version, tf.cuda or None, matrices)
        if built_cuda is not None:
            cuda, cudnn_major, basis = built_cuda, built_cudnn, built
    system = d.host.system
    wanted = table.wanted(cuda or table.default_cuda, cudnn_major or table.default_cudnn_major, system) or ()
    parts = d.libraries(table) + _windows_driver(d, matrices)
    files = [(lib, _soname(lib, table, system), _path(lib, table, system)) for lib in parts]
    env = d.host.environment
    libraries = tuple(_facts(want, files, env) for want in wanted)
    tensorrt = tuple(_facts(want, files, env) for want in matrices.rules.tensorrt.wanted(trt_tf))
    search = tuple(dict.fromkeys(str(Path(path).parent) for _, _, path in files))
    return LibrariesFacts(basis=basis, libraries=libraries, search_path=search, tensorrt=tensorrt)


def _facts(want: Wanted, files: list[tuple[LibraryPart, str, str]], env: Mapping[str, str]) -> LibraryFacts:
    """The facts of one library the probe looks for: the described files of its soname, then its others."""
    mine = [(lib, path) for lib, soname, path in files if lib.name == want.name and soname == want.soname]
    others = [(lib, path) for lib, soname, path in files if lib.name == want.name and soname != want.soname]
    found = [tuple(_candidate(lib, path, env) for lib, path in group) for group in (mine, others)]
    loads = [tuple(_load(lib, path) for lib, path in group) for group in (mine, others)]
    return LibraryFacts(want.name, want.soname, want.required, found[0], loads[0], found[1], loads[1])


def _windows_driver(d: HostDescription, matrices: Matrices) -> tuple[LibraryPart, ...]:
    """On native Windows, the display driver's nvcuda.dll in System32 (always on the DLL search path), unless the
    description lists the driver library itself: every installed Windows driver ships it."""
    drv = d.driver
    if d.host.system != WINDOWS or not drv.version or not drv.loaded or any(lib.name == "cuda" for lib in d.library):
        return ()
    cuda = drv.reported_cuda(matrices)
    stated = drv.version != NOT_STATED_VALUE
    if cuda is None and stated and drv.cuda != NOT_STATED_VALUE:
        return ()
    path, build = "C:/Windows/System32/nvcuda.dll", drv.version if stated else ""
    version = str(cuda) if cuda is not None else NOT_STATED_VALUE
    return (LibraryPart("cuda", version, "windows_path", path, "nvcuda.dll", driver_build=build),)


def _soname(lib: LibraryPart, table: SonameTable, system: str = "Linux") -> str:
    if lib.soname:
        return lib.soname
    if lib.name == table.driver.name:
        return table.driver_for(system).soname
    version = Version(lib.version)  # a version not stated comes with its soname (spec._check)
    if lib.name == table.cudnn_name:
        return table.cudnn_file(version.major, system)
    row = table.row_for(Version(lib.cuda) if lib.cuda else version)
    named = dict(row.file_names(system)).get(lib.name) if row is not None else None
    if named is not None:
        return named
    return f"{lib.name}64_{version.major}.dll" if system == WINDOWS else f"lib{lib.name}.so.{version.major}"


def _path(lib: LibraryPart, table: SonameTable, system: str = "Linux") -> str:
    if lib.path:
        return lib.path
    version = lib.version if lib.version != NOT_STATED_VALUE else ""
    return f"{typical_dir(lib.origin, lib.name, version)}/{_soname(lib, table, system)}"


#: The probe's search order of the origins it records (gpuconform.probes.libraries), markers after.
_SEARCH_ORDER = ("pip", "LD_LIBRARY_PATH", "conda", "ldcache", "system", "cuda_home")
#: Directories the probe labels cuda_home (/usr/local/cuda/lib64, /usr/local/cuda/lib, targets/*/lib).
_CUDA_HOME = re.compile(r"^/usr/local/cuda/(lib64|lib|targets/[^/]+/lib)$")


def _candidate(lib: LibraryPart, path: str, env: Mapping[str, str]) -> LibraryCandidate:
    """The candidate the probe would record: every origin that reaches its directory, as the probe orders them
    (a described origin, LD_LIBRARY_PATH and CONDA_PREFIX/lib of the environment, /usr/local/cuda), then the
    compat / wsl markers of its directory."""
    build = lib.driver_build or None
    real = f"{path.rsplit('.so.', 1)[0]}.so.{build}" if build and lib.name == "cuda" and ".so." in path else path
    directory = posixpath.normpath(posixpath.dirname(path))
    reached = {lib.origin}
    ld_path = [posixpath.normpath(p) for p in env.get("LD_LIBRARY_PATH", "").split(":") if p]
    if directory in ld_path:
        reached.add("LD_LIBRARY_PATH")
    if env.get("CONDA_PREFIX") and directory == posixpath.normpath(posixpath.join(env["CONDA_PREFIX"], "lib")):
        reached.add("conda")
    if _CUDA_HOME.match(directory):
        reached.add("cuda_home")
    origins = [o for o in _SEARCH_ORDER if o in reached]
    origins += [o for o in ORIGINS if o in reached and o not in _SEARCH_ORDER]
    origins += [m for m in origin_markers(path, real) if m not in origins]
    return LibraryCandidate(path=path, origin=origins[0], realpath=real, origins=tuple(origins), driver_build=build)


def _load(lib: LibraryPart, path: str) -> LibraryLoad:
    if not lib.loads:
        reason = lib.load_error or f"{Path(path).name}: cannot open shared object file"
        return LibraryLoad(path=path, loaded=False, error=ProbeError("libraries", "dlopen", reason))
    if lib.version == NOT_STATED_VALUE:  # it loads (the description lists it as loading); its version is unknown
        return LibraryLoad(path=path, loaded=True, error=not_stated("libraries"))
    version = Version(lib.version)
    raw = encode_cuda_int(version) if lib.name in ("cuda", "cudart") else None
    cuda_major = Version(lib.cuda).major if lib.cuda else None
    return LibraryLoad(path=path, loaded=True, version=lib.version, raw_version=raw, cuda_major=cuda_major)
