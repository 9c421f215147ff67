"""A directory on LD_LIBRARY_PATH that puts CUDA libraries ahead of the ones the installed TensorFlow
distribution installs itself.

Which distributions install their own: nvidia-tensorflow (its pip requirements, matrices/nvidia_tensorflow.toml)
and tensorflow with its [and-cuda] wheels (from 2.14, and_cuda.toml; judged only where those wheels are
installed). Which copies glibc then takes from LD_LIBRARY_PATH first (matrices/library_search.toml):

- every library of the distribution's, when the release's own loader searches LD_LIBRARY_PATH before
  site-packages/nvidia/*/lib (the [[release]] `order` of TensorFlow's wheels from 2.14);
- whatever the loader does, the companions a wheel library loads through its own DT_RUNPATH ($ORIGIN), which
  glibc searches after LD_LIBRARY_PATH ([[pip_wheel]]: libcublas.so.11 takes libcublasLt.so.11 from
  LD_LIBRARY_PATH first).

A release whose label is not known (a report that says "1.15.5") is judged by what every release of that
version has in common; where the table cannot say that (releases whose dependencies were not read), or where
the directory shadows only the copies of some of them (1.15.5's releases install CUDA 11 or CUDA 12 wheels,
whose sonames differ), the directory is reported, not judged the cause.
"""

from __future__ import annotations

import posixpath
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field

from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.diagnose.reach import PIP_DIRS
from gpuconform.diagnose.reach import PIP_WHEELS
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.library_search import PipWheel
from gpuconform.expect.tables.library_search import pip_package
from gpuconform.expect.tables.sonames import load_sonames
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.verdict.check import Finding

SEARCH = "matrices/library_search.toml"
NVIDIA = "matrices/nvidia_tensorflow.toml"


@dataclass(frozen=True)
class Own:
    """The CUDA libraries an installed distribution installs itself, by soname, and what says so."""

    what: str  # "nvidia-tensorflow 1.15.5+nv22.12 (release nv22.12 (CUDA 11.8, cuDNN 8.7.0.84))"
    sonames: Mapping[str, frozenset[str]]  # library -> its wheel copies' sonames ("cublas" -> libcublas.so.11)
    basis: str  # the table rows it comes from
    loader_first: str = ""  # non-empty: the release's own loader searches LD_LIBRARY_PATH first (the row, why)
    reached: frozenset[str] = frozenset()  # the libraries whose wheel directory that loader searches at all
    unknown: str = ""  # non-empty: not every candidate release is known to install them: why
    # An unknown label whose candidate releases' wheels differ in CUDA major (cu11 and cu12): every candidate's
    # sonames, for a directory that shadows only some of them (reported, not judged the cause), and why.
    widened: Mapping[str, frozenset[str]] = field(default_factory=dict)
    widened_why: str = ""


@dataclass(frozen=True)
class Shadow:
    """One LD_LIBRARY_PATH directory and the copies in it glibc takes ahead of the distribution's own."""

    directory: str
    position: int  # its place on LD_LIBRARY_PATH, 0 first
    copies: tuple[tuple[str, str], ...]  # (soname, why glibc takes it first)


def own_libraries(
    tf: PackageInfo | None, packages: PackagesFacts, libraries: LibrariesFacts, matrices: Matrices
) -> Own | None:
    """What the installed distribution installs itself; None for one that installs no CUDA library.

    `packages.nvidia` are the nvidia-* distributions installed; a copy below site-packages/nvidia/<dir>/lib in the
    libraries facts counts as its wheel installed too (a recorded or described host lists files, not wheels).
    An nvidia-tensorflow without its label is one of the releases published by `tensorflow_installed_by`."""
    if tf is None:
        return None
    if matrices.rules.nvidia_tensorflow.is_nvidia(tf.name):
        return _nvidia_own(tf, packages.tensorflow_installed_by, matrices)
    return _and_cuda_own(tf, packages.nvidia, libraries, matrices)


def _sonames(releases: list[tuple[Version, int, frozenset[str]]]) -> dict[str, frozenset[str]]:
    """library -> the sonames its wheel copies carry, for (CUDA, cuDNN major, libraries) of each release."""
    table = load_sonames()
    out: dict[str, set[str]] = {}
    for cuda, cudnn_major, libraries in releases:
        row = table.row_for(cuda)
        names = dict(row.file_names("Linux")) if row is not None else {}
        names["cudnn"] = table.cudnn_file(cudnn_major)
        for name, soname in names.items():
            if name in libraries:
                out.setdefault(name, set()).add(soname)
    return {name: frozenset(sonames) for name, sonames in out.items()}


def _nvidia_own(tf: PackageInfo, installed_by: str | None, matrices: Matrices) -> Own | None:
    found = matrices.rules.nvidia_tensorflow.candidates(tf.version, installed_by)
    if not found.releases:
        return None
    # A read row without a cuDNN version (nv22.01-nv22.05) is a cuDNN 8 build: its README's TF_CUDNN_VERSION=8.
    read = [
        (r.cuda, r.cudnn.major if r.cudnn is not None else 8, r.pip_libraries)
        for r in found.releases
        if r.pip_libraries is not None and r.cuda is not None
    ]
    what = f"{tf.name} {tf.version}, {found.describe()}"
    common = found.common_pip_libraries()
    labels = ", ".join(f"nv{r.label}" for r in found.releases if r.pip_libraries)
    basis = f"{NVIDIA} pip_libraries of {labels or 'no release'}"
    if common is None:
        unread = ", ".join(f"nv{r.label}" for r in found.unread)
        label = "" if found.label_known else "its +nv label is not known, and "
        why = f"{label}{NVIDIA} does not say which CUDA wheels {unread} install"
        return Own(what, _sonames(read), basis, unknown=why)
    # Where the candidates' wheels differ (cu11 and cu12 releases), only the sonames they share are in common.
    per = [_sonames([one]) for one in read]
    shared = {n: frozenset.intersection(*(p.get(n, frozenset()) for p in per)) for n in common} if per else {}
    sonames = {n: s for n, s in shared.items() if s}
    union = {n: frozenset().union(*(p.get(n, frozenset()) for p in per)) for n in common}
    if found.label_known or len(per) < 2 or union == sonames:
        return Own(what, sonames, basis)
    gone = ", ".join(sorted(n for n in union if union[n] != sonames.get(n)))
    basis += f" (the releases' wheels differ in CUDA major: {gone} have no soname in common)"
    majors: dict[int, list[str]] = {}
    for r in found.releases:
        if r.pip_libraries is not None and r.cuda is not None:
            majors.setdefault(r.cuda.major, []).append(f"nv{r.label}")
    groups = "; ".join(f"{m} for {_span(labels)}" for m, labels in sorted(majors.items()))
    why = (
        "its +nv label is not known, and its releases install wheels of different CUDA majors "
        f"(CUDA where read: {groups}): the copies of {gone} it installs have other sonames in each"
    )
    return Own(what, sonames, basis, widened={n: s for n, s in union.items() if s}, widened_why=why)


def _span(labels: list[str]) -> str:
    """ "nv21.05-nv22.12", or the one label."""
    return labels[0] if len(labels) == 1 else f"{labels[0]}-{labels[-1]}"


def _and_cuda_own(
    tf: PackageInfo, nvidia_wheels: tuple[PackageInfo, ...], facts: LibrariesFacts, matrices: Matrices
) -> Own | None:
    """tensorflow[and-cuda]: the pinned nvidia-* wheels of the release, where they are installed."""
    pins = matrices.and_cuda_pins(tf.version) or {}
    installed = {w.name.lower().replace("_", "-") for w in nvidia_wheels}
    pip_copies = [c for lib in facts.libraries for c in lib.candidates + lib.other_candidates if _from_pip(c)]
    stems = {f"nvidia-{d.replace('_', '-')}-cu" for c in pip_copies if (d := pip_package(c.path))}
    wheels = [name for name in pins if name.lower() in installed or any(name.startswith(s) for s in stems)]
    runtime = next((spec for name, spec in pins.items() if name.startswith("nvidia-cuda-runtime-cu")), "")
    cuda = _version(runtime)
    if not wheels or cuda is None:
        return None
    libraries = frozenset(
        lib for lib, stem in PIP_WHEELS.items() if any(w.startswith(f"nvidia-{stem}-cu") for w in wheels)
    )
    cudnn = _version(next((spec for name, spec in pins.items() if name.startswith("nvidia-cudnn-cu")), ""))
    row = matrices.rules.library_search.ld_library_path_first(tf.version)
    first = f"{SEARCH} {row.key}, read from the wheel: its loader searches {' > '.join(row.order)}" if row else ""
    # A wheel directory the loader does not search at all (2.16.1's cublas) is not shadowed: it is not found.
    reached = frozenset(lib for lib in libraries if row is not None and row.reaches_pip(PIP_DIRS.get(lib, lib)))
    what = f"{tf.name} {tf.version} with its [and-cuda] wheels"
    sonames = _sonames([(cuda, cudnn.major if cudnn is not None else 8, libraries)])
    return Own(what, sonames, "and_cuda.toml pins of the release, installed", loader_first=first, reached=reached)


def _version(spec: str) -> Version | None:
    try:
        return Version(spec.lstrip("=<>~! ").split(",")[0].rstrip(".*"))
    except InvalidVersion:
        return None


def shadows(libraries: LibrariesFacts, env: Mapping[str, str], own: Own, matrices: Matrices) -> tuple[Shadow, ...]:
    """The LD_LIBRARY_PATH directories holding other copies of the distribution's libraries that glibc takes first,
    in LD_LIBRARY_PATH order."""
    dirs = [posixpath.normpath(d) for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    wheels = [w for w in matrices.rules.library_search.pip_wheels if w.soname in own.sonames.get(w.library, ())]
    found: dict[str, list[tuple[str, str]]] = {}
    for lib in libraries.libraries:
        for cand in lib.candidates + lib.other_candidates:
            directory, soname = posixpath.split(cand.path)
            if not _on_ld_library_path(cand) or pip_package(cand.path) is not None:
                continue  # a wheel's own copy, or one the loader reaches some other way
            why = _why_first(lib.name, soname, own, wheels)
            if why:
                found.setdefault(posixpath.normpath(directory), []).append((soname, why))
    out = [Shadow(d, dirs.index(d) if d in dirs else len(dirs), tuple(dict.fromkeys(c))) for d, c in found.items()]
    return tuple(sorted(out, key=lambda s: s.position))


def _from_pip(cand: LibraryCandidate) -> bool:
    return "pip" in (cand.origins or (cand.origin,))


def _on_ld_library_path(cand: LibraryCandidate) -> bool:
    return "LD_LIBRARY_PATH" in (cand.origins or (cand.origin,))


def _why_first(name: str, soname: str, own: Own, wheels: list[PipWheel]) -> str:
    """Why glibc takes this copy ahead of the distribution's own, or "" when it does not (or is not known to)."""
    if soname in own.sonames.get(name, ()) and own.loader_first and name in own.reached:
        return f"the release's loader searches LD_LIBRARY_PATH before site-packages/nvidia/*/lib ({own.loader_first})"
    for w in wheels:
        if name in w.loads and soname in w.load_sonames and w.companions_searched_after_ld_library_path:
            return (
                f"the {w.wheel} wheel's {w.soname} (DT_RUNPATH {':'.join(w.runpath)}) loads {soname} through "
                f"LD_LIBRARY_PATH first, however TensorFlow found it ({SEARCH} {w.key}, read from {w.wheel} "
                f"{w.version_read})"
            )
    return ""


def finding(shadow: Shadow, own: Own, env: Mapping[str, str], conda: str | None) -> Finding:
    """The four parts a user reads for a shadowing directory."""
    dirs = [d for d in env.get("LD_LIBRARY_PATH", "").split(":") if d]
    rest = [d for d in dirs if posixpath.normpath(d) != shadow.directory]
    command = f"export LD_LIBRARY_PATH={':'.join(rest)}" if rest else "unset LD_LIBRARY_PATH"
    where = (
        "for this conda environment only, in $CONDA_PREFIX/etc/conda/activate.d/env_vars.sh"
        if conda
        else "for this environment only (where it is set: ~/.bashrc, /etc/profile.d, the image's ENV)"
    )
    names = ", ".join(s for s, _ in shadow.copies)
    mine = ", ".join(sorted(s for group in own.sonames.values() for s in group))
    return Finding(
        summary=f"{shadow.directory} on LD_LIBRARY_PATH puts {names} ahead of the copies {own.what} installs itself",
        expected=f"the CUDA libraries the distribution installs ({mine}) loaded with their own companions, none "
        "shadowed by another copy on LD_LIBRARY_PATH",
        found="; ".join(f"{shadow.directory}/{s}: {why}" for s, why in shadow.copies),
        source=f"{own.basis}; {SEARCH}",
        why="the distribution's libraries then load another CUDA's copies in place of their own: one fails to load "
        "(cuBLAS: 'undefined symbol: ..., version libcublasLt.so.11') or runs at another version than its wheel's, "
        "and TensorFlow drops the GPU",
        fix=f"remove {shadow.directory} from LD_LIBRARY_PATH {where}: {command}; the system CUDA stays installed for "
        "other software (set LD_LIBRARY_PATH only where that runs)",
    )
