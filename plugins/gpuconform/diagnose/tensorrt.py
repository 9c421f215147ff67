"""Whether the TensorRT TF-TRT of the installed release dlopens is installed where its loader looks.

The rules (matrices/tensorrt.toml): a release's TF-TRT dlopens libnvinfer.so.<major> and libnvinfer_plugin.so.<major>
of the one TensorRT major it was built with, and nothing else; releases from 2.18 have no TF-TRT. TensorRT is
optional, so a host without any libnvinfer is not judged (TF's "Could not load dynamic library 'libnvinfer.so.7'"
warning is harmless there). A host that installed TensorRT means to run TF-TRT: it is judged whatever the profile,
with or without a GPU, because which sonames are installed is a question of files. The fixes are the two the
table makes real for the release: the TensorRT major it was built against, or a TensorFlow release that dlopens
the installed major.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import Version

from gpuconform.diagnose.reach import Copy
from gpuconform.diagnose.reach import Host
from gpuconform.diagnose.reach import copies
from gpuconform.diagnose.reach import described
from gpuconform.diagnose.reach import unreached_fix
from gpuconform.expect.tables.tensorrt import TrtRelease
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.model import PackageInfo
from gpuconform.verdict.check import Finding

TABLE = "matrices/tensorrt.toml"


@dataclass(frozen=True)
class Judged:
    """The answer: a reason the rule does not apply, or a finding (None for both: it holds)."""

    not_applicable: str | None = None
    finding: Finding | None = None


def installed(lib: LibraryFacts, host: Host) -> tuple[Copy, ...]:
    """Every libnvinfer copy found, of any major, reached or not."""
    return copies(lib, host) + copies(lib, host, other=True)


def judge_tensorrt(libs: tuple[LibraryFacts, ...], tf: PackageInfo | None, host: Host) -> Judged:
    """Judge the TensorRT libraries the probe found against what the installed release's TF-TRT dlopens.

    `tf` is the installed TensorFlow when it is a CUDA build (None otherwise); `host` is the libraries layer's.
    """
    nvinfer = next((lib for lib in libs if lib.name == "nvinfer"), None)
    if nvinfer is None:
        return Judged("TensorRT was not looked for (facts recorded before the libraries probe looked for it)")
    found = installed(nvinfer, host)
    if not found:
        return Judged(
            "TensorRT is not installed (no libnvinfer.so.N where TensorFlow looks): TF-TRT is optional, and TF's "
            f"'Could not load dynamic library {nvinfer.soname}' warning is harmless without it"
        )
    if tf is None:
        return Judged("no CUDA build of TensorFlow is installed: nothing dlopens TensorRT")
    row = host.matrices.rules.tensorrt.release(tf.version)
    if row is None:
        return Judged(f"{tf.name} {tf.version} is not in {TABLE}")
    if row.suffix is None:
        return Judged(f"{tf.name} {tf.version} has no TF-TRT ({TABLE} {row.key}): it never loads TensorRT")
    reached = [c for c in copies(nvinfer, host) if c.reached]
    if not reached:
        mine = copies(nvinfer, host)
        if mine:
            return Judged(finding=_unreached(nvinfer, mine[0], tf, host))
        return Judged(finding=_other_major(nvinfer, found, tf, row, host))
    plugin = next((lib for lib in libs if lib.name == "nvinfer_plugin"), None)
    if plugin is not None and not any(c.reached for c in copies(plugin, host)):
        return Judged(finding=_no_plugin(plugin, reached[0], tf, row))
    return Judged()


def _source(row: TrtRelease) -> str:
    return f"{TABLE} {row.key}, read from the {', '.join(row.wheels)} wheel{'s' if len(row.wheels) > 1 else ''}"


def _built(row: TrtRelease) -> str:
    if row.full_version is not None:
        return f"TensorRT {row.full_version} (exactly: it dlopens that version's file name)"
    if row.built_with is None:
        return f"TensorRT {row.suffix}"
    return f"TensorRT {row.built_with.major}.{row.built_with.minor} (it was built against {row.built_with})"


def _version(load: LibraryLoad | None, copy: Copy) -> str:
    if load is not None and load.version:
        return f"TensorRT {load.version}"
    return f"TensorRT {copy.candidate.path.rpartition('.so.')[2]}"


def _other_major(lib: LibraryFacts, found: tuple[Copy, ...], tf: PackageInfo, row: TrtRelease, host: Host) -> Finding:
    loads = {ld.path: ld for ld in lib.other_loads}
    copy = next((c for c in found if c.reached), found[0])
    suffix = copy.candidate.path.rpartition(".so.")[2]
    load = loads.get(copy.candidate.path)
    version = Version(load.version) if load is not None and load.version else None
    listed = "; ".join(f"{_version(loads.get(c.candidate.path), c)} at {described(c)}" for c in found)
    soname = lib.soname
    wants = f"TensorRT {row.suffix}" + (", by its full version" if row.full_version is not None else "")
    return Finding(
        summary=f"{_version(load, copy)} is installed (libnvinfer.so.{suffix}), but {tf.name} {tf.version} dlopens "
        f"{soname} ({wants})",
        expected=f"{soname} and libnvinfer_plugin.so.{row.suffix} of {_built(row)}",
        found=f"only other TensorRT sonames: {listed}",
        source=_source(row),
        why=f"TF-TRT dlopens exactly {soname}: libnvinfer.so.{suffix} is never opened, so TF logs \"Could not load "
        f"dynamic library '{soname}'\" and every TF-TRT conversion fails (the rest of TensorFlow runs)",
        fix=_fix(tf, row, copy, int(suffix.split(".")[0]), version, host),
    )


def _fix(tf: PackageInfo, row: TrtRelease, copy: Copy, major: int, version: Version | None, host: Host) -> str:
    """Install what the release was built against, or move to the releases that load the installed TensorRT."""
    full = row.full_version
    if full is not None and version == full:
        # The right TensorRT, but only under its soname: the file name TF opens is missing.
        directory = copy.candidate.path.rpartition("/")[0]
        links = " && ".join(
            f"ln -s lib{name}.so.{major} {directory}/lib{name}.so.{full}" for name in ("nvinfer", "nvinfer_plugin")
        )
        return (
            f"the installed TensorRT {version} is the one {tf.name} {tf.version} wants, under its soname only: give "
            f"it the file name TF asks for: cd {directory} && {links}"
        )
    install = (
        f"install {_built(row)} for libnvinfer.so.{row.suffix} and libnvinfer_plugin.so.{row.suffix} (NVIDIA's "
        f"TensorRT {row.major} tar, deb or rpm packages) where TensorFlow's loader finds them (the ld cache or "
        "LD_LIBRARY_PATH)"
    )
    rows = host.matrices.rules.tensorrt.loading(major, version)
    if not rows:
        which = f"TensorRT {version}" if version is not None else f"libnvinfer.so.{major}"
        return f"{install}; no TensorFlow release loads {which} ({TABLE})"
    first = rows[0].first()
    last = max((v for v in (r.last() for r in rows) if v is not None), default=None)
    span = f"{first.major}.{first.minor}" + (f" to {last.major}.{last.minor}" if last is not None else "")
    name = tf.name if tf.name in ("tensorflow", "tensorflow-gpu") else "tensorflow"
    installed = f"TensorRT {version}" if version is not None else f"libnvinfer.so.{major}"
    return (
        f"{install}, or move TensorFlow to a release whose TF-TRT loads {installed} ({span}, {TABLE}): "
        f"pip install '{name}=={first.major}.{first.minor}.*'"
    )


def _unreached(lib: LibraryFacts, copy: Copy, tf: PackageInfo, host: Host) -> Finding:
    directory = copy.candidate.path.rpartition("/")[0]
    return Finding(
        summary=f"{lib.soname} is installed, but {tf.name} {tf.version}'s loader does not search {directory} "
        f"({', '.join(copy.origins)})",
        expected=f"{lib.soname} where {tf.name} {tf.version} looks for it",
        found=f"only copies it does not reach: {described(copy)}: {copy.why}",
        source="matrices/library_search.toml (the search order of each TensorFlow release's own loader)",
        why=f"TF-TRT dlopens {lib.soname} by name: a copy outside the loader's search path is never opened",
        fix=unreached_fix(lib, copy, host),
    )


def _no_plugin(plugin: LibraryFacts, nvinfer: Copy, tf: PackageInfo, row: TrtRelease) -> Finding:
    directory = nvinfer.candidate.path.rpartition("/")[0]
    return Finding(
        summary=f"{plugin.soname} is missing beside {nvinfer.candidate.path}: {tf.name} {tf.version}'s TF-TRT "
        "cannot load TensorRT's plugins",
        expected=f"{plugin.soname} of {_built(row)}",
        found=f"no {plugin.soname} where TensorFlow looks",
        source=_source(row),
        why="TF-TRT dlopens libnvinfer_plugin with libnvinfer and registers its plugins at start-up",
        fix=f"install the plugin library of the same TensorRT (NVIDIA's TensorRT {row.suffix} packages ship "
        f"{plugin.soname} beside libnvinfer) into {directory}",
    )
