"""Verify the compatibility matrices against the TensorFlow wheels on PyPI and a current pci.ids.

    python tools/verify_matrices.py --pci-ids /usr/share/misc/pci.ids      # every 2.x release
    python tools/verify_matrices.py --versions 2.21.0 2.22.0rc0 --out /tmp/check.md
    python tools/verify_matrices.py --offline                # re-judge the cached readings only
    python tools/verify_matrices.py --wheel some.whl --pci-ids pci.ids  # local files, no network

A development tool: the suite never imports it. For each TensorFlow 2.x release on PyPI
(final and post releases, and pre-releases of a series with no final release yet) it
downloads one Linux x86_64 wheel, checks its sha256 against the registry, and reads:
``build_info.py``, ``cuda_config.h``, the cuDNN headers, METADATA's ``Requires-Python`` and
``Requires-Dist`` (the ``and-cuda`` extra), and every CUDA fatbinary in its shared objects
(SASS and PTX architectures per fatbin). One wheel is on disk at a time; it is deleted
after reading, and what was read is cached (``--cache``) so that a rerun, or ``--offline``,
judges the same readings against edited matrices without downloading again.

Then it diffs the readings with ``tensorflow.toml``, ``kernels.toml`` and ``and_cuda.toml``,
checks ``gpus.toml``'s PCI ids and names against a pci.ids file, and writes
``docs/data-verification.md``: what was verified, from which file, on which date, every
difference, and every wheel that could not be read (too large for ``--max-wheel-mib``, a
failed download) as NOT verified. Exit status 1 when there is a difference.
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import asdict
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tools"), str(ROOT / "plugins")]

from fatbins import FatbinSummary  # noqa: E402
from fatbins import scan_shared_objects  # noqa: E402
from verify_report import render  # noqa: E402

from gpuconform.expect.loading import load_matrices  # noqa: E402
from gpuconform.expect.matrix import Matrices  # noqa: E402
from gpuconform.expect.tables.gpus import normalise_gpu_name  # noqa: E402
from gpuconform.frameworks.tensorflow.headers import BUILD_INFO  # noqa: E402
from gpuconform.frameworks.tensorflow.headers import CUDA_CONFIG  # noqa: E402
from gpuconform.frameworks.tensorflow.headers import CUDNN_VERSION  # noqa: E402
from gpuconform.frameworks.tensorflow.headers import cuda_config_caps  # noqa: E402
from gpuconform.frameworks.tensorflow.headers import cudnn_header_version  # noqa: E402
from gpuconform.frameworks.tensorflow.headers import parse_build_info  # noqa: E402
from gpuconform.frameworks.tensorflow.headers import parse_defines  # noqa: E402

PYPI = "https://pypi.org/pypi/{name}/json"
#: Python minors in the order a wheel is picked: build info is the same for every tag of a release.
PREFERRED_PYTHONS = ("311", "310", "312", "39", "38", "37", "313", "36", "35", "314")
CACHE_FORMAT = 1
PACKAGE_DIRS = ("tensorflow", "tensorflow_core")


# --- what was read --------------------------------------------------------------------------------


@dataclass
class WheelReading:
    """Everything read from one wheel; JSON-serialisable so that it can be cached."""

    version: str
    package: str
    filename: str
    sha256: str = ""
    size: int = 0
    upload_date: str = ""
    read_on: str = ""
    requires_python: str | None = None
    build_info: dict[str, Any] = field(default_factory=dict)
    cuda_config: dict[str, str] = field(default_factory=dict)
    cudnn_header: str | None = None
    and_cuda: dict[str, str] | None = None  # None: no and-cuda extra
    fatbins: FatbinSummary | None = None
    files: dict[str, str] = field(default_factory=dict)  # what -> path inside the wheel
    python_tags: list[str] = field(default_factory=list)  # every Linux x86_64 cp tag of the release
    glibc: str | None = None  # the floor of the picked wheel's manylinux tag

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WheelReading:
        fat = data.pop("fatbins", None)
        reading = cls(**data)
        reading.fatbins = FatbinSummary(**fat) if fat else None
        return reading


@dataclass
class NotVerified:
    version: str
    package: str
    reason: str


@dataclass
class Difference:
    version: str
    table: str  # "tensorflow.toml"
    key: str  # "release 2.21.0 cuda"
    matrix: str
    wheel: str
    read_from: str


@dataclass
class GpuCheck:
    key: str
    pci_id: str
    pci_name: str | None
    problem: str | None


@dataclass
class Report:
    date: str
    readings: list[WheelReading]
    not_verified: list[NotVerified]
    differences: list[Difference]
    gpu_checks: list[GpuCheck]
    pci_ids_version: str | None
    pci_ids_source: str | None
    as_of: dict[str, str]
    sources: list[str]
    max_wheel_mib: int = 2048


# --- reading a wheel --------------------------------------------------------------------------------


def read_wheel(path: Path, version: str, package: str, scratch: Path) -> WheelReading:
    """Read one wheel file; `scratch` holds one shared object at a time while it is scanned."""
    reading = WheelReading(version=version, package=package, filename=path.name, size=path.stat().st_size)
    reading.read_on = datetime.date.today().isoformat()
    reading.glibc = glibc_floor(path.name)
    with zipfile.ZipFile(path) as wheel:
        names = wheel.namelist()
        texts, members = {}, {}
        for wanted in (BUILD_INFO, *CUDA_CONFIG, *CUDNN_VERSION):
            # TF 2.0 and 2.1 keep the package in tensorflow_core/, later releases in tensorflow/.
            member = next((f"{top}/{wanted}" for top in PACKAGE_DIRS if f"{top}/{wanted}" in names), None)
            if member is not None:
                texts[wanted], members[wanted] = wheel.read(member).decode("utf-8", "replace"), member
        if BUILD_INFO in texts:
            reading.build_info = parse_build_info(texts[BUILD_INFO])
            reading.files["build_info"] = members[BUILD_INFO]
        config = next((p for p in CUDA_CONFIG if p in texts), None)
        if config:
            reading.cuda_config = parse_defines(texts[config])
            reading.files["cuda_config"] = members[config]
        cudnn = next((p for p in CUDNN_VERSION if p in texts and "CUDNN_MAJOR" in texts[p]), None)
        if cudnn:
            reading.cudnn_header = cudnn_header_version(parse_defines(texts[cudnn]))
            reading.files["cudnn"] = members[cudnn]
        metadata = next((n for n in names if n.endswith(".dist-info/METADATA")), None)
        if metadata:
            reading.files["metadata"] = metadata
            parse_metadata(wheel.read(metadata).decode("utf-8", "replace"), reading)
        reading.fatbins = scan_shared_objects(wheel, scratch)
        reading.files["fatbins"] = f"{reading.fatbins.objects_scanned} shared objects of 2 MB or more"
    return reading


def parse_metadata(text: str, reading: WheelReading) -> None:
    """Requires-Python and the and-cuda extra's Requires-Dist."""
    pins: dict[str, str] = {}
    extra = False
    for name, value in metadata_headers(text):
        if name == "Requires-Python":
            reading.requires_python = value
        elif name == "Provides-Extra" and value == "and-cuda":
            extra = True
        elif name == "Requires-Dist" and "and-cuda" in value:
            try:
                req = Requirement(value)
            except InvalidRequirement:
                continue
            if req.marker is not None and req.marker.evaluate({"extra": "and-cuda"}):
                pins[canonicalize_name(req.name)] = str(req.specifier)
    reading.and_cuda = pins if extra or pins else None


def metadata_headers(text: str) -> list[tuple[str, str]]:
    """The (name, value) header lines of a METADATA file, up to the description."""
    headers = []
    for line in text.splitlines():
        if not line.strip():
            break  # the description follows the headers
        name, _, value = line.partition(":")
        headers.append((name, value.strip()))
    return headers


def glibc_floor(filename: str) -> str | None:
    """'2.17' for a manylinux2014 / manylinux_2_17 wheel; the lowest tag of a compressed tag set."""
    floors = []
    for tag in re.findall(r"manylinux(?:_(\d+)_(\d+)|(\d{4}))_x86_64", filename):
        major, minor, year = tag
        if year:
            floors.append({"2010": (2, 12), "2014": (2, 17), "1": (2, 5)}.get(year, (0, 0)))
        else:
            floors.append((int(major), int(minor)))
    return "{}.{}".format(*min(floors)) if floors else None


# --- the registry -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WheelFile:
    version: str
    package: str
    filename: str
    url: str
    sha256: str
    size: int
    upload_date: str
    python_tags: tuple[str, ...]


def registry_json(name: str) -> dict[str, Any]:
    url = PYPI.format(name=name)
    with urllib.request.urlopen(url, timeout=120) as response:
        data: dict[str, Any] = json.load(response)
    data["_url"] = url
    return data


def pick_wheels(
    project: dict[str, Any],
    package: str,
    series_filter: set[str] | None = None,
    major: int = 2,
    accept: Callable[[str], bool] | None = None,
) -> list[WheelFile]:
    """One wheel per `major`.x release: finals, posts, and pre-releases of unreleased series.

    The wheel is a Linux x86_64 one (or one `accept` takes), for the first Python of
    PREFERRED_PYTHONS, of the highest build number where a release was rebuilt (what pip picks).
    """
    versions: list[Version] = []
    for text in project["releases"]:
        try:
            v = Version(text)
        except InvalidVersion:
            continue
        if v.major == major and project["releases"][text]:
            versions.append(v)
    finals = {(v.major, v.minor) for v in versions if not v.is_prerelease}
    chosen = [v for v in versions if not v.is_prerelease or (v.major, v.minor) not in finals]
    wheels = []
    for v in sorted(chosen):
        if series_filter is not None and f"{v.major}.{v.minor}" not in series_filter:
            continue
        files = [f for f in project["releases"][str(v)] if (accept or _linux_x86_64)(f["filename"])]
        tags = sorted({m for f in files for m in re.findall(r"-cp(\d+)-", f["filename"])}, key=int)
        ranked = sorted(files, key=lambda f: (_python_rank(f["filename"]), -_build_number(f["filename"])))
        if not ranked:
            continue
        f = ranked[0]
        wheels.append(
            WheelFile(
                version=str(v),
                package=package,
                filename=f["filename"],
                url=urllib.parse.urljoin(project["_url"], f["url"]),
                sha256=f["digests"]["sha256"],
                size=int(f["size"]),
                upload_date=str(f.get("upload_time", ""))[:10],
                python_tags=tuple(tags),
            )
        )
    return wheels


def _linux_x86_64(filename: str) -> bool:
    return filename.endswith(".whl") and "linux" in filename and "x86_64" in filename


def _build_number(filename: str) -> int:
    """3 for torch-2.10.0-3-cp312-...: a rebuild of a release; 0 without a build tag."""
    parts = filename.split("-")
    return int(parts[2]) if len(parts) > 5 and parts[2].isdigit() else 0


def _python_rank(filename: str) -> int:
    match = re.search(r"-cp(\d+)-", filename)
    tag = match.group(1) if match else ""
    return PREFERRED_PYTHONS.index(tag) if tag in PREFERRED_PYTHONS else len(PREFERRED_PYTHONS)


def download(wheel: WheelFile, directory: Path, attempts: int = 3) -> Path:
    """Download to `directory`, checking the registry's sha256; raise OSError after `attempts`."""
    target = directory / wheel.filename
    last: Exception | None = None
    for attempt in range(attempts):
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(wheel.url, timeout=300) as response, target.open("wb") as out:
                while chunk := response.read(1 << 22):
                    digest.update(chunk)
                    out.write(chunk)
        except (OSError, urllib.error.URLError) as exc:
            last = exc
            time.sleep(2 * (attempt + 1))
            continue
        if digest.hexdigest() == wheel.sha256:
            return target
        last = OSError(f"sha256 {digest.hexdigest()} is not the registry's {wheel.sha256}")
    target.unlink(missing_ok=True)
    raise OSError(f"{wheel.filename}: {last}")


# --- comparing with the matrices ---------------------------------------------------------------------


def compare(reading: WheelReading, m: Matrices) -> list[Difference]:
    """Every way the wheel disagrees with tensorflow.toml, kernels.toml and and_cuda.toml."""
    out: list[Difference] = []
    v = Version(reading.version)
    series = f"{v.major}.{v.minor}"

    def diff(table: str, key: str, matrix: object, wheel: object, where: str) -> None:
        out.append(Difference(reading.version, table, key, str(matrix), str(wheel), where))

    release = next((r for r in m.tf_releases if r.series == series), None)
    if release is None:
        diff("tensorflow.toml", f"release {series}", "no row", f"{reading.package} {reading.version} on PyPI", "PyPI")
        return out
    info, config = reading.build_info, reading.cuda_config
    bi, cc = reading.files.get("build_info", "build_info.py"), reading.files.get("cuda_config", "cuda_config.h")
    cuda = config.get("TF_CUDA_VERSION")
    if cuda is not None and not _same_prefix(cuda, str(release.cuda)):
        diff("tensorflow.toml", f"release {release.version} cuda", release.cuda, cuda, f"{cc} TF_CUDA_VERSION")
    built = info.get("cuda_version") or info.get("cuda_version_number")
    if built is not None and not _same_prefix(str(built), str(release.cuda)):
        diff("tensorflow.toml", f"release {release.version} cuda", release.cuda, built, f"{bi} cuda_version")
    cudnn = reading.cudnn_header
    if cudnn is not None and not _same_prefix(cudnn, str(release.cudnn)):
        where = reading.files.get("cudnn", "cudnn_version.h")
        diff("tensorflow.toml", f"release {release.version} cudnn", release.cudnn, cudnn, where)
    major = config.get("TF_CUDNN_VERSION") or info.get("cudnn_version") or info.get("cudnn_version_number")
    if major is not None and str(major).split(".")[0] != str(release.cudnn_major):
        diff("tensorflow.toml", f"release {release.version} cudnn", release.cudnn, major, f"{cc} TF_CUDNN_VERSION")
    if info and info.get("is_cuda_build") is False:
        diff("tensorflow.toml", f"release {release.version} package", release.package, "is_cuda_build False", bi)
    if Version(reading.version) == release.version:
        _compare_python(reading, release.python, diff)
        if release.glibc and reading.glibc and reading.glibc != release.glibc:
            diff("tensorflow.toml", f"release {release.version} glibc", release.glibc, reading.glibc, reading.filename)
    _compare_kernels(reading, m, series, diff)
    _compare_and_cuda(reading, m, diff)
    return out


def _compare_python(reading: WheelReading, spec: Any, diff: Any) -> None:
    wheels = {f"3.{t[1:]}" for t in reading.python_tags if t.startswith("3")}
    listed = {f"3.{n}" for n in range(0, 30) if spec.contains(f"3.{n}", prereleases=True)}
    if wheels and wheels != listed:
        shown = ", ".join(sorted(wheels, key=lambda s: int(s.split(".")[1])))
        diff(
            "tensorflow.toml", f"release {reading.version} python", spec, f"Linux wheels for {shown}", "PyPI file list"
        )


def _compare_kernels(reading: WheelReading, m: Matrices, series: str, diff: Any) -> None:
    row = next((k for k in m.kernels if series in k.tf), None)
    if row is None:
        diff("kernels.toml", f"release {series}", "no row", "a wheel", "PyPI")
        return
    key = f"release {series} ({', '.join(row.tf)})"
    caps = reading.build_info.get("cuda_compute_capabilities")
    if caps is not None and list(caps) != list(row.build_info_caps):
        bi = reading.files.get("build_info", "build_info.py")
        diff("kernels.toml", f"{key} build_info_caps", list(row.build_info_caps), list(caps), bi)
    header_caps = cuda_config_caps(reading.cuda_config)
    listed = {_cc(c) for c in row.sass + row.sass_partial} | {_cc(c) for c in row.ptx}
    if header_caps and set(header_caps) - listed:
        where = reading.files.get("cuda_config", "cuda_config.h")
        diff("kernels.toml", f"{key} sass/ptx", sorted(listed), list(header_caps), f"{where} compute capabilities")
    fat = reading.fatbins
    if fat is None or not fat.fatbins:
        return
    where = f"{fat.fatbins} fatbins in {fat.objects_with_fatbins} shared objects"
    scanned = {
        "sass": fat.sass_everywhere(),
        "sass_partial": fat.sass_somewhere(),
        "ptx": sorted(fat.ptx, key=_cc_key),
    }
    for name, found in scanned.items():
        expected = [_cc(c) for c in getattr(row, name)]
        if sorted(expected, key=_cc_key) != found:
            diff("kernels.toml", f"{key} {name}", expected, found, where)
    if fat.ptx_only != row.ptx_only_fatbins:
        diff("kernels.toml", f"{key} ptx_only_fatbins", row.ptx_only_fatbins, fat.ptx_only, where)


def _compare_and_cuda(reading: WheelReading, m: Matrices, diff: Any) -> None:
    v = Version(reading.version)
    listed = next((dict(g.pins) for g in m.and_cuda if v in g.tf), None)
    fallback = m.and_cuda_pins(v)
    where = reading.files.get("metadata", "METADATA") + " Requires-Dist (extra == 'and-cuda')"
    wheel = reading.and_cuda
    table = _canonical_pins(listed if listed is not None else fallback)
    if wheel is None:
        if table:
            diff("and_cuda.toml", f"release {v}", "an and-cuda extra", "none", where)
        return
    if table is None:
        diff("and_cuda.toml", f"release {v}", "no pins", _pins_text(wheel), where)
        return
    for name in sorted(set(table) | set(wheel)):
        want, got = table.get(name), wheel.get(name)
        if want is None or got is None or not _same_specifier(want, got):
            label = f"release {v} pins.{name}" + (
                "" if listed is not None else " (lookup falls back to an older patch)"
            )
            diff("and_cuda.toml", label, want or "absent", got or "absent", where)


def _canonical_pins(pins: dict[str, str] | None) -> dict[str, str] | None:
    return None if pins is None else {canonicalize_name(k): v for k, v in pins.items()}


def _pins_text(pins: dict[str, str]) -> str:
    return ", ".join(f"{k}{v}" for k, v in sorted(pins.items()))


def _same_specifier(a: str, b: str) -> bool:
    return sorted(s.strip() for s in a.split(",")) == sorted(s.strip() for s in b.split(","))


def _same_prefix(wheel: str, matrix: str) -> bool:
    """'12.5.1' vs '12.5.1'; '12.3' vs '12.3'; '8.9.6' vs a docs '8.9': equal on the components both give."""
    a = [p.lstrip("0") or "0" for p in wheel.split(".")]
    b = [p.lstrip("0") or "0" for p in matrix.split(".")]
    if len(b) == 3 and len(a) == 2:  # matrix '12.3.0' against a wheel '12.3'
        a = a + ["0"]
    return all(x == y for x, y in zip(a, b))


def _cc(cc: tuple[int, int] | str) -> str:
    return cc if isinstance(cc, str) else f"{cc[0]}.{cc[1]}"


def _cc_key(cc: str) -> tuple[int, int]:
    major, minor = cc.split(".")
    return int(major), int(minor)


# --- gpus.toml against pci.ids ------------------------------------------------------------------------


def parse_pci_ids(text: str) -> tuple[dict[int, str], str | None]:
    """NVIDIA's (vendor 10de) device ids and names, and the file's '# Version:' line."""
    version = None
    devices: dict[int, str] = {}
    in_nvidia = False
    for line in text.splitlines():
        if line.startswith("#"):
            found = re.match(r"#\s*Version:\s*(\S+)", line)
            version = version or (found.group(1) if found else None)
            continue
        if not line.strip():
            continue
        if not line.startswith("\t"):
            in_nvidia = line.lower().startswith("10de ")
            continue
        if in_nvidia and not line.startswith("\t\t"):
            dev, _, name = line.strip().partition(" ")
            try:
                devices[int(dev, 16)] = name.strip()
            except ValueError:
                continue
    return devices, version


_MOBILE = ("mobile", "laptop", "max-q")


def check_gpus(m: Matrices, devices: dict[int, str]) -> list[GpuCheck]:
    """Each PCI id of gpus.toml: listed in pci.ids, and named like the model it is filed under."""
    checks = []
    for model in m.gpus:
        for dev in model.pci_device_ids:
            pci = devices.get(dev)
            problem = "not in pci.ids" if pci is None else _name_problem(model.names, pci)
            checks.append(GpuCheck(model.key, f"0x{dev:04X}", pci, problem))
    return checks


def _name_problem(names: Sequence[str], pci: str) -> str | None:
    bracket = re.search(r"\[(.*)\]", pci)
    text = (bracket.group(1) if bracket else pci).casefold().replace("-", " ")
    ours = " ".join(normalise_gpu_name(n).replace("-", " ") for n in names)
    if any(w in text for w in _MOBILE) and not any(w in ours for w in _MOBILE):
        return f"pci.ids names a mobile part ({pci}); the model's names are not mobile ones"
    models = {t for n in names for t in _model_tokens(n)}
    if models and not any(t in text for t in models):
        return f"none of {', '.join(sorted(models))} appears in the pci.ids name"
    sizes = {t for n in names for t in re.findall(r"(\d+)\s*gb", normalise_gpu_name(n))}
    listed = set(re.findall(r"(\d+)\s*gb", text))
    if sizes and listed and not sizes & listed:
        return f"memory {'/'.join(sorted(listed))} GB in pci.ids, {'/'.join(sorted(sizes))} GB in the names"
    return None


def _model_tokens(name: str) -> list[str]:
    """The model number of an NVML name: 'a100' of 'NVIDIA A100-SXM4-40GB', '2080' of '... RTX 2080 Ti'."""
    words = normalise_gpu_name(name).replace("-", " ").split()
    return [w for w in words if re.search(r"\d", w) and not re.fullmatch(r"\d+gb|sxm\d|pcie", w)][:1]


# --- the run -----------------------------------------------------------------------------------------


def load_cache(path: Path | None, kind: Any = WheelReading) -> tuple[dict[str, Any], dict[str, NotVerified]]:
    """The cached readings (of `kind`, a dataclass with from_json) and the wheels a run could
    not read, by 'package==version'."""
    if path is None or not path.exists():
        return {}, {}
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("format") != CACHE_FORMAT:
        return {}, {}
    readings = {key: kind.from_json(dict(value)) for key, value in data["readings"].items()}
    failed = {key: NotVerified(**value) for key, value in data.get("not_verified", {}).items()}
    return readings, failed


def save_cache(path: Path | None, readings: dict[str, Any], failed: dict[str, NotVerified]) -> None:
    if path is None:
        return
    payload = {
        "format": CACHE_FORMAT,
        "readings": {k: asdict(r) for k, r in readings.items()},
        "not_verified": {k: asdict(n) for k, n in failed.items()},
    }
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    tmp.replace(path)


def wheels_to_read(m: Matrices, versions: Sequence[str] | None) -> list[WheelFile]:
    """The wheels of every release series in tensorflow.toml's package (tensorflow-gpu for 2.0)."""
    by_package: dict[str, set[str]] = {}
    for release in m.tf_releases:
        by_package.setdefault(release.package, set()).add(release.series)
    wheels: list[WheelFile] = []
    for package, series in sorted(by_package.items()):
        project = registry_json(package)
        if package == "tensorflow":  # series on PyPI that the matrix lacks are read too
            series = None  # type: ignore[assignment]
            exclude = {r.series for r in m.tf_releases if r.package != "tensorflow"}
            picked = [w for w in pick_wheels(project, package) if _series(w.version) not in exclude]
        else:
            picked = pick_wheels(project, package, series)
        wheels += picked
    if versions:
        wheels = [w for w in wheels if w.version in versions]
    return sorted(wheels, key=lambda w: Version(w.version))


def _series(version: str) -> str:
    v = Version(version)
    return f"{v.major}.{v.minor}"


def run(args: argparse.Namespace) -> int:
    m = load_matrices(args.matrices)
    cache, failed = load_cache(args.cache)
    sources = []
    if args.wheel:
        for path in args.wheel:
            version = re.match(r"[^-]+-([^-]+)-", path.name)
            name = path.name.split("-")[0].replace("_", "-")
            with tempfile.TemporaryDirectory() as scratch:
                reading = read_wheel(path, version.group(1) if version else "0", name, Path(scratch))
            reading.sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
            cache[f"{name}=={reading.version}"] = reading
        sources.append("local wheel files: " + ", ".join(p.name for p in args.wheel))
    elif not args.offline:
        wheels = wheels_to_read(m, args.versions)
        sources.append(f"PyPI JSON API ({PYPI.format(name='tensorflow')}, tensorflow-gpu for 2.0), read {_today()}")
        args.workdir.mkdir(parents=True, exist_ok=True)
        for wheel in wheels:
            key = f"{wheel.package}=={wheel.version}"
            if key in cache and cache[key].sha256 == wheel.sha256 and not args.refresh:
                continue
            size = f"{wheel.size / 2**20:.0f} MiB"
            if wheel.size > args.max_wheel_mib * 2**20:
                why = f"{wheel.filename} is {size}, over --max-wheel-mib {args.max_wheel_mib}"
                failed[key] = NotVerified(wheel.version, wheel.package, why)
                save_cache(args.cache, cache, failed)
                continue
            print(f"reading {wheel.filename} ({size})", flush=True)
            try:
                path = download(wheel, args.workdir)
            except OSError as exc:
                failed[key] = NotVerified(wheel.version, wheel.package, f"download failed: {exc}")
                save_cache(args.cache, cache, failed)
                continue
            try:
                with tempfile.TemporaryDirectory(dir=args.workdir) as scratch:
                    reading = read_wheel(path, wheel.version, wheel.package, Path(scratch))
            except (OSError, zipfile.BadZipFile) as exc:
                failed[key] = NotVerified(wheel.version, wheel.package, f"unreadable: {exc}")
                save_cache(args.cache, cache, failed)
                continue
            finally:
                path.unlink(missing_ok=True)
            reading.sha256, reading.upload_date = wheel.sha256, wheel.upload_date
            reading.python_tags = list(wheel.python_tags)
            cache[key] = reading
            failed.pop(key, None)
            save_cache(args.cache, cache, failed)
    readings = sorted(cache.values(), key=lambda r: Version(r.version))
    if args.offline:
        days = ", ".join(sorted({r.read_on for r in readings if r.read_on})) or "?"
        sources.append(
            f"wheels downloaded from PyPI ({PYPI.format(name='tensorflow')}, tensorflow-gpu for 2.0) and read on "
            f"{days}; re-judged from the tool's cache (--offline)"
        )
    sources.append(f"matrices judged: {args.matrices or 'the shipped matrices/'}")
    not_verified = sorted(failed.values(), key=lambda n: Version(n.version))
    if args.versions:
        readings = [r for r in readings if r.version in args.versions]
        not_verified = [n for n in not_verified if n.version in args.versions]
    differences = [d for r in readings for d in compare(r, m)]
    gpu_checks: list[GpuCheck] = []
    pci_version = None
    if args.pci_ids:
        devices, pci_version = parse_pci_ids(args.pci_ids.read_text(encoding="utf-8", errors="replace"))
        gpu_checks = check_gpus(m, devices)
    report = Report(
        date=_today(),
        readings=readings,
        not_verified=not_verified,
        differences=differences,
        gpu_checks=gpu_checks,
        pci_ids_version=pci_version,
        pci_ids_source=args.pci_ids_source or (str(args.pci_ids) if args.pci_ids else None),
        as_of={name: d.isoformat() for name, d in m.as_of.items()},
        sources=sources,
        max_wheel_mib=args.max_wheel_mib,
    )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(render(report), encoding="utf-8")
    bad = len(differences) + sum(1 for c in gpu_checks if c.problem)
    print(f"{len(readings)} wheels verified, {len(not_verified)} not verified, {bad} differences: {args.out}")
    return 1 if bad else 0


def _today() -> str:
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--versions", nargs="*", help="only these releases (default: every 2.x)")
    parser.add_argument("--wheel", nargs="*", type=Path, help="read these local wheel files instead of PyPI")
    parser.add_argument("--pci-ids", type=Path, help="a pci.ids file to check gpus.toml against")
    parser.add_argument("--pci-ids-source", help="where that pci.ids came from, for the report")
    parser.add_argument("--matrices", type=Path, default=None, help="matrices directory (default: the shipped)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "data-verification.md")
    parser.add_argument("--workdir", type=Path, default=Path(tempfile.gettempdir()) / "verify-matrices")
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "verify-matrices.json")
    parser.add_argument("--max-wheel-mib", type=int, default=2048, help="wheels larger are listed as not verified")
    parser.add_argument("--offline", action="store_true", help="judge the cached readings only")
    parser.add_argument("--refresh", action="store_true", help="read wheels again even when cached")
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
