"""The wheels tools/gpu_truth.sh carries to a host without network: build the folder here, pick from it there.

    python tools/carried_wheels.py build gpu-truth-wheels              # here: gpuconform and what it needs
    python tools/carried_wheels.py build DIR --python 3.12 --python 3.11
    python tools/carried_wheels.py missing gpu-truth-wheels            # there: the wheels to install

`build` makes gpuconform's wheel from this checkout (`pip wheel --no-deps`) and downloads, for
each `--python` (default: 3.12 and the running interpreter's), every wheel its base dependencies
need (`pip download --only-binary=:all:` of that wheel, so pip resolves the closure), for x86-64
Linux; it refuses a folder over 64 MiB. `missing` runs on the target host with the interpreter
that holds the frameworks: it prints, one a line, gpuconform's wheel and each carried wheel of a
requirement that environment does not already meet (its Requires-Dist, followed through the
wheels it picks), so the host's own packages are used where they will do. A requirement nothing
meets is named on stderr and the exit status is 1.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from email.parser import Parser
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LIMIT = 64 * 1024 * 1024
#: The manylinux tags pip may take for x86-64 (it matches each exactly).
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64", "manylinux1_x86_64")


def build(dest: Path, pythons: Sequence[str]) -> int:
    dest.mkdir(parents=True, exist_ok=True)
    pip = [sys.executable, "-m", "pip"]
    subprocess.run([*pip, "wheel", "--quiet", "--no-deps", "-w", str(dest), str(ROOT)], check=True)
    (wheel,) = sorted(dest.glob("gpuconform-*.whl"))[-1:]
    for python in pythons:
        platforms = [arg for p in PLATFORMS for arg in ("--platform", p)]
        command = [*pip, "download", "--quiet", "--only-binary=:all:", "--python-version", python]
        command += ["--implementation", "cp", *platforms, "-d", str(dest), str(wheel)]
        subprocess.run(command, check=True)
    files = sorted(dest.glob("*.whl"))
    size = sum(f.stat().st_size for f in files)
    for f in files:
        print(f"{f.stat().st_size:>10}  {f.name}")
    print(f"{size:>10}  in all ({len(files)} wheels, {size / 2**20:.1f} MiB) in {dest}")
    if size > LIMIT:
        print(f"over the {LIMIT // 2**20} MiB a carried folder may hold", file=sys.stderr)
        return 1
    return 0


def _packaging(dest: Path) -> list[str]:
    """Make `packaging` importable: the environment's, or the carried pure wheel (a zip on sys.path).

    Returns sys.path as it was: where the environment's own distributions are looked up.
    """
    environment = list(sys.path)
    try:
        import packaging  # noqa: F401
    except ImportError:
        sys.path[:0] = [str(p) for p in sorted(dest.glob("packaging-*.whl"))[-1:]]
    return environment


def installed_version(name: str, path: list[str]) -> str | None:
    """The version of distribution `name` installed on `path`; None when none is."""
    found = next(iter(importlib.metadata.distributions(name=name, path=path)), None)
    return None if found is None else str(found.version)


def requirements_of(wheel: Path) -> list[str]:
    """The Requires-Dist lines of a wheel's METADATA."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA") and n.count("/") == 1)
        metadata = Parser().parsestr(archive.read(name).decode("utf-8"))
    return metadata.get_all("Requires-Dist") or []


def missing(dest: Path) -> int:
    environment = _packaging(dest)
    from packaging.requirements import Requirement
    from packaging.tags import sys_tags
    from packaging.utils import canonicalize_name
    from packaging.utils import parse_wheel_filename
    from packaging.version import Version

    supported = set(sys_tags())
    carried: dict[str, list[tuple[Version, Path]]] = {}
    for path in dest.glob("*.whl"):
        name, version, _, tags = parse_wheel_filename(path.name)
        if tags & supported:
            carried.setdefault(canonicalize_name(name), []).append((version, path))
    if "gpuconform" not in carried:
        print(f"no gpuconform wheel for this Python in {dest}", file=sys.stderr)
        return 1
    chosen = [max(carried["gpuconform"])[1]]
    status = 0
    queue = list(chosen)
    while queue:
        for line in requirements_of(queue.pop()):
            requirement = Requirement(line)
            if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
                continue
            name = canonicalize_name(requirement.name)
            installed = installed_version(requirement.name, environment)
            if installed is not None and requirement.specifier.contains(installed, prereleases=True):
                continue
            if any(canonicalize_name(parse_wheel_filename(p.name)[0]) == name for p in chosen):
                continue
            fits = [(v, p) for v, p in carried.get(name, []) if requirement.specifier.contains(v, prereleases=True)]
            if not fits:
                have = f"installed {installed}" if installed else "not installed"
                print(f"{requirement} is needed ({have}) and no carried wheel meets it", file=sys.stderr)
                status = 1
                continue
            picked = max(fits)[1]
            chosen.append(picked)
            queue.append(picked)
    for path in chosen:
        print(path)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build_parser = commands.add_parser("build", help="make the folder here (registry access needed)")
    build_parser.add_argument("dest", type=Path)
    build_parser.add_argument("--python", action="append", help="a target Python version, e.g. 3.12 (repeatable)")
    missing_parser = commands.add_parser("missing", help="print the carried wheels this environment needs")
    missing_parser.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    if args.command == "build":
        here = f"{sys.version_info.major}.{sys.version_info.minor}"
        return build(args.dest, args.python or list(dict.fromkeys(["3.12", here])))
    return missing(args.dest)


if __name__ == "__main__":
    raise SystemExit(main())
