"""Verify matrices/torch.toml and matrices/jax.toml against the PyTorch and JAX wheels on PyPI.

    python tools/verify_framework_matrices.py                 # torch >= 2.4, jax >= 0.5 on PyPI
    python tools/verify_framework_matrices.py --versions 2.11.0 0.7.2
    python tools/verify_framework_matrices.py --offline       # re-judge the cached readings only
    python tools/verify_framework_matrices.py --wheel torch-2.11.0-cp311-....whl

A development tool beside tools/verify_matrices.py, whose registry, download, cache and
METADATA code it uses (and tools/fatbins.py for the CUDA code). For each release it downloads
one wheel (Linux x86_64, or the universal one of `jax`), checks its sha256 against the
registry, reads it and deletes it:

- torch: ``torch/version.py`` (``__version__``, ``cuda``, ``git_version``), METADATA's
  ``Requires-Dist`` (the ``nvidia-cudnn-cuNN==`` pin), the arch-flags string compiled into
  ``torch/lib/libtorch_python.so`` (what ``torch.cuda.get_arch_list()`` splits) and the
  fatbinaries of ``torch/lib/libtorch_cuda.so`` (SASS and PTX per architecture);
- jax: METADATA's ``jaxlib`` requirement and its ``cuda12`` / ``cuda13`` extras;
- jax-cuda12-plugin / jax-cuda13-plugin: METADATA's ``jax-cudaNN-pjrt`` pin and the
  ``with-cuda`` extra's ``nvidia-cuda-runtime-cuNN`` and ``nvidia-cudnn-cuNN`` requirements.

Then it diffs the readings with the matrices and writes docs/data-verification-frameworks.md.
Exit status 1 when there is a difference. PyTorch's other CUDA variants live on
download.pytorch.org, not PyPI; their rows say `verified = "docs"` and are not judged here.
"""

from __future__ import annotations

import argparse
import ast
import datetime
import hashlib
import re
import sys
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "plugins")]

from fatbins import FatbinSummary  # noqa: E402
from fatbins import mapped_member  # noqa: E402
from fatbins import scan_shared_objects  # noqa: E402
from verify_matrices import PYPI  # noqa: E402
from verify_matrices import NotVerified  # noqa: E402
from verify_matrices import WheelFile  # noqa: E402
from verify_matrices import _today  # noqa: E402
from verify_matrices import download  # noqa: E402
from verify_matrices import load_cache  # noqa: E402
from verify_matrices import metadata_headers  # noqa: E402
from verify_matrices import pick_wheels  # noqa: E402
from verify_matrices import registry_json  # noqa: E402
from verify_matrices import save_cache  # noqa: E402

#: The projects read, the oldest release of each, and the major of their version numbers.
PROJECTS = {
    "torch": (Version("2.4"), 2),
    "jax": (Version("0.5.0"), 0),
    "jax-cuda12-plugin": (Version("0.5.0"), 0),
    "jax-cuda13-plugin": (Version("0.7.2"), 0),
}
VERSION_PY = "torch/version.py"
ARCH_FLAGS_IN = "torch/lib/libtorch_python.so"
KERNELS_IN = "torch/lib/libtorch_cuda.so"
#: The arch-flags string as compiled in: "sm_50 sm_60 ... compute_90", NUL-terminated. What precedes
#: it need not be a NUL: 2.8 and 2.9 place it right after the bytes of another literal.
ARCH_FLAGS = re.compile(rb"((?:sm|compute)_\d+[af]?(?: (?:sm|compute)_\d+[af]?)+)\0")


@dataclass
class FrameworkWheel:
    """What was read from one torch, jax or jax plugin wheel; JSON-serialisable for the cache."""

    package: str
    version: str
    filename: str
    sha256: str = ""
    size: int = 0
    upload_date: str = ""
    read_on: str = ""
    requires: list[str] = field(default_factory=list)  # METADATA Requires-Dist, as written
    version_py: dict[str, Any] = field(default_factory=dict)  # torch/version.py's assignments
    arch_flags: list[str] = field(default_factory=list)  # every arch-flags string in libtorch_python.so
    fatbins: FatbinSummary | None = None  # libtorch_cuda.so
    files: dict[str, str] = field(default_factory=dict)  # what -> path inside the wheel

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> FrameworkWheel:
        fat = data.pop("fatbins", None)
        reading = cls(**data)
        reading.fatbins = FatbinSummary(**fat) if fat else None
        return reading

    def requirement(self, name: str, extra: str | None = None) -> Requirement | None:
        """The Requires-Dist for `name` (under `extra`, or outside every extra when None)."""
        for text in self.requires:
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            if canonicalize_name(req.name) != canonicalize_name(name):
                continue
            in_extra = req.marker is not None and "extra" in str(req.marker)
            if extra is None and not in_extra:
                return req
            if extra is not None and in_extra and req.marker is not None and req.marker.evaluate({"extra": extra}):
                return req
        return None

    def arch_list(self) -> list[str]:
        """What torch.cuda.get_arch_list() returns: the arch-flags string, split."""
        return self.arch_flags[0].split() if len(self.arch_flags) == 1 else []


# --- reading a wheel --------------------------------------------------------------------------------


def read_wheel(path: Path, package: str, version: str, scratch: Path) -> FrameworkWheel:
    reading = FrameworkWheel(package=package, version=version, filename=path.name, size=path.stat().st_size)
    reading.read_on = datetime.date.today().isoformat()
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        metadata = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        if metadata:
            reading.files["metadata"] = metadata
            text = wheel.read(metadata).decode("utf-8", "replace")
            reading.requires = [value for name, value in metadata_headers(text) if name == "Requires-Dist"]
        if VERSION_PY in names:
            reading.files["version_py"] = VERSION_PY
            reading.version_py = parse_version_py(wheel.read(VERSION_PY).decode("utf-8", "replace"))
        if ARCH_FLAGS_IN in names:
            reading.files["arch_flags"] = ARCH_FLAGS_IN
            with mapped_member(wheel, wheel.getinfo(ARCH_FLAGS_IN), scratch) as data:
                found = {m.group(1).decode("ascii") for m in ARCH_FLAGS.finditer(data)}
            reading.arch_flags = sorted(found)
        if KERNELS_IN in names:
            reading.files["fatbins"] = KERNELS_IN
            reading.fatbins = scan_shared_objects(wheel, scratch, only=lambda name: name == KERNELS_IN)
    return reading


def parse_version_py(text: str) -> dict[str, Any]:
    """The constant assignments of torch/version.py (`cuda: Optional[str] = '12.8'` included)."""
    values: dict[str, Any] = {}
    for node in ast.parse(text).body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else None
        if isinstance(node, ast.AnnAssign):
            target = node.target
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and isinstance(value, ast.Constant):
            values[target.id] = value.value
    return values


def wheels_to_read(versions: Sequence[str] | None) -> list[WheelFile]:
    wheels: list[WheelFile] = []
    for package, (oldest, major) in PROJECTS.items():
        accept = _universal if package == "jax" else None
        picked = pick_wheels(registry_json(package), package, major=major, accept=accept)
        wheels += [w for w in picked if Version(w.version) >= oldest]
    return [w for w in wheels if not versions or w.version in versions]


def _universal(filename: str) -> bool:
    return filename.endswith("-py3-none-any.whl")


# --- the run -----------------------------------------------------------------------------------------


def read_all(args: argparse.Namespace) -> tuple[dict[str, FrameworkWheel], dict[str, NotVerified], list[str]]:
    cache, failed = load_cache(args.cache, FrameworkWheel)
    sources: list[str] = []
    if args.wheel:
        for path in args.wheel:
            name, version = path.name.split("-")[:2]
            package = canonicalize_name(name)
            with tempfile.TemporaryDirectory() as scratch:
                reading = read_wheel(path, package, version, Path(scratch))
            reading.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            cache[f"{package}=={version}"] = reading
        save_cache(args.cache, cache, failed)
        sources.append("local wheel files: " + ", ".join(p.name for p in args.wheel))
        return cache, failed, sources
    if args.offline:
        days = ", ".join(sorted({r.read_on for r in cache.values() if r.read_on})) or "?"
        sources.append(f"wheels downloaded from PyPI and read on {days}; re-judged from the tool's cache (--offline)")
        return cache, failed, sources
    names = ", ".join(PYPI.format(name=p) for p in PROJECTS)
    sources.append(f"PyPI JSON API ({names}), read {_today()}")
    args.workdir.mkdir(parents=True, exist_ok=True)
    for wheel in wheels_to_read(args.versions):
        key = f"{wheel.package}=={wheel.version}"
        if key in cache and cache[key].sha256 == wheel.sha256 and not args.refresh:
            continue
        print(f"reading {wheel.filename} ({wheel.size / 2**20:.0f} MiB)", flush=True)
        try:
            path = download(wheel, args.workdir)
        except OSError as exc:
            failed[key] = NotVerified(wheel.version, wheel.package, f"download failed: {exc}")
            save_cache(args.cache, cache, failed)
            continue
        try:
            with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
                reading = read_wheel(path, wheel.package, wheel.version, Path(scratch))
        except (OSError, zipfile.BadZipFile, SyntaxError) as exc:
            failed[key] = NotVerified(wheel.version, wheel.package, f"unreadable: {exc}")
            save_cache(args.cache, cache, failed)
            continue
        finally:
            path.unlink(missing_ok=True)
        reading.sha256, reading.upload_date = wheel.sha256, wheel.upload_date
        cache[key] = reading
        failed.pop(key, None)
        save_cache(args.cache, cache, failed)
    return cache, failed, sources


def run(args: argparse.Namespace) -> int:
    from verify_framework_report import compare_all
    from verify_framework_report import render

    cache, failed, sources = read_all(args)
    readings = sorted(cache.values(), key=lambda r: (r.package, Version(r.version)))
    not_verified = sorted(failed.values(), key=lambda n: (n.package, Version(n.version)))
    if args.versions:
        readings = [r for r in readings if r.version in args.versions]
        not_verified = [n for n in not_verified if n.version in args.versions]
    sources.append(f"matrices judged: {args.matrices or 'the shipped matrices/'}")
    tables, differences = compare_all(readings, args.matrices)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(_today(), readings, not_verified, differences, sources, tables), encoding="utf-8")
    counts = f"{len(readings)} wheels verified, {len(not_verified)} not verified, {len(differences)} differences"
    print(f"{counts}: {args.out}")
    return 1 if differences else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="*", help="only these releases (of any of the projects)")
    parser.add_argument("--wheel", nargs="*", type=Path, help="read these local wheel files instead of PyPI")
    parser.add_argument("--matrices", type=Path, default=None, help="matrices directory (default: the shipped)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "data-verification-frameworks.md")
    tmp = Path(tempfile.gettempdir())
    parser.add_argument("--workdir", type=Path, default=tmp / "verify-framework-matrices")
    parser.add_argument("--cache", type=Path, default=tmp / "verify-framework-matrices.json")
    parser.add_argument("--offline", action="store_true", help="judge the cached readings only")
    parser.add_argument("--refresh", action="store_true", help="read wheels again even when cached")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
