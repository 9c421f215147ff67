"""The compatibility matrices, loaded and validated, and the questions the suites ask of them.

`load_matrices()` reads `matrices/*.toml` (the `gpuconform.matrices` data package) into a
`Matrices` object, which answers: which CUDA, cuDNN and Python a TensorFlow release needs,
which driver that implies, which GPU a name or PCI id is, whether a wheel has code for a
compute capability, and which releases a host can run. Answers are frozen dataclasses
with a human `detail`, so a failing check can quote them.
"""

from __future__ import annotations

import contextlib
import datetime
import functools
import importlib.resources
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from gpuconform.errors import DataError
from gpuconform.errors import did_you_mean
from gpuconform.errors import join_choices

# The row types are re-exported (`X as X`) for callers that import them from here.
from gpuconform.matrix_tables import CC
from gpuconform.matrix_tables import TABLE_FILES
from gpuconform.matrix_tables import AndCudaRelease as AndCudaRelease
from gpuconform.matrix_tables import DriverBranch as DriverBranch
from gpuconform.matrix_tables import GpuModel as GpuModel
from gpuconform.matrix_tables import KernelRelease as KernelRelease
from gpuconform.matrix_tables import MinorCompat as MinorCompat
from gpuconform.matrix_tables import TableMeta as TableMeta
from gpuconform.matrix_tables import TfRelease as TfRelease
from gpuconform.matrix_tables import Toolkit as Toolkit
from gpuconform.matrix_tables import load_and_cuda
from gpuconform.matrix_tables import load_cuda_drivers
from gpuconform.matrix_tables import load_gpus
from gpuconform.matrix_tables import load_kernels
from gpuconform.matrix_tables import load_tensorflow
from gpuconform.matrix_tables import normalise_gpu_name
from gpuconform.tables import RuleTables
from gpuconform.tables import load_rule_tables
from gpuconform.versions import driver_branch
from gpuconform.versions import format_cc
from gpuconform.versions import parse_cc
from gpuconform.versions import parse_driver_version
from gpuconform.versions import parse_tf_version
from gpuconform.versions import release_series

VERDICTS = (
    "runs",
    "runs-minor-compat",
    "needs-ptx-jit",
    "driver-too-old",
    "gpu-too-old",
    "gpu-too-new",  # set by gpuconform.compat: the release's CUDA predates the GPU's architecture
    "python-outside-range",
)
#: The advice attached to PTX JIT: the default JIT cache is too small for TF's kernels.
JIT_CACHE_HINT = "export CUDA_CACHE_MAXSIZE=2147483648 keeps the JIT result between runs"


class MatrixKeyError(DataError, KeyError):
    """A lookup of something the matrices do not list (a GPU key, a CUDA version).

    Both a DataError (a usage error when it comes from a profile) and a KeyError (what
    a mapping lookup raises), so callers can catch either.
    """


# --- answers -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TfLookup:
    """The matrix row that applies to an installed TensorFlow, and how sure that is."""

    requested: str
    release: TfRelease | None
    status: str  # "known", "unknown-newer", "unknown-older" or "unknown"
    warning: str | None = None


@dataclass(frozen=True)
class DriverRequirement:
    """The Linux driver a CUDA toolkit needs."""

    full: Version  # the driver packaged with the toolkit (Table 3)
    minor_compat: Version | None  # the per-major floor for minor-version compatibility
    toolkit_label: str  # "CUDA 12.5 Update 1"
    cuda: Version | None = None  # the CUDA version asked about
    third_party: bool = False  # the toolkit row comes from third-party quotes only

    def satisfied_by(self, driver: Version) -> str | None:
        """Return "full", "minor-compat" (only through minor-version compatibility), or None."""
        if driver >= self.full:
            return "full"
        if self.minor_compat is not None and driver >= self.minor_compat:
            return "minor-compat"
        return None


@dataclass(frozen=True)
class Coverage:
    """Whether a TF wheel has GPU code for a compute capability.

    kind "native": SASS for an arch of the same major and a minor at or below the GPU's
    exists in every fatbin. "ptx": at least some kernels must be JIT-compiled from PTX of
    an older or equal arch (first use is slow); `partial_sass` names the arch whose SASS
    covers the rest, when some exists. "none": no code the GPU can run.
    """

    kind: str  # "native", "ptx" or "none"
    arch: str | None  # "sm_70" for native, "compute_90" for ptx, None for none
    detail: str
    partial_sass: str | None = None  # "sm_90" when that SASS is in only some fatbins


@dataclass(frozen=True)
class DriverSupport:
    """Whether a driver branch supports a GPU; truthy when it does."""

    supported: bool
    reason: str

    def __bool__(self) -> bool:
        return self.supported


@dataclass(frozen=True)
class ReleaseVerdict:
    """Whether one TensorFlow release can run on a host, and why."""

    release: TfRelease
    verdict: str  # one of VERDICTS
    detail: str
    problems: tuple[str, ...] = ()  # every blocking problem, first one decides the verdict
    coverage: Coverage | None = None
    requirement: DriverRequirement | None = None

    @property
    def runs(self) -> bool:
        """True for "runs", "runs-minor-compat" and "needs-ptx-jit"."""
        return self.verdict in VERDICTS[:3]


# --- the matrices ------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class Matrices:
    """Every compatibility table, validated. Build it with `load_matrices()`."""

    meta: Mapping[str, TableMeta]
    tf_releases: tuple[TfRelease, ...]  # newest first
    toolkits: tuple[Toolkit, ...]  # newest first
    minor_compat: tuple[MinorCompat, ...]
    branches: tuple[DriverBranch, ...]  # ascending
    gpus: tuple[GpuModel, ...]  # in file order
    kernels: tuple[KernelRelease, ...]
    and_cuda: tuple[AndCudaRelease, ...]
    rules: RuleTables  # the tables the diagnosis rules read (gpuconform.tables)

    @property
    def as_of(self) -> dict[str, datetime.date]:
        """The "as of" date of each table, by table name ("tensorflow", "gpus", ...)."""
        return {name: m.as_of for name, m in self.meta.items()}

    def stale(self, table: str) -> str:
        """ "matrix as of 2026-12-01 (gpus.toml)": how a message names the data that lacks something."""
        return f"matrix as of {self.meta[table].as_of.isoformat()} ({TABLE_FILES[table]})"

    # --- what the data does not know yet ------------------------------------------------------

    def unknown_cuda(self, cuda: str | Version) -> str | None:
        """Why a CUDA version newer than every toolkit row is unknown, or None when it is not newer."""
        v = self._cuda_version(cuda)
        newest = self.toolkits[0]
        if tuple((list(v.release) + [0])[:2]) <= newest.series:
            return None
        return f"{self.stale('cuda_drivers')} does not know CUDA {v} (newest: {newest.label}, {newest.version})"

    def unknown_driver_branch(self, driver: str | Version) -> str | None:
        """Why a driver of a branch newer than every branch row is unknown, or None."""
        d = self._driver_version(driver)
        branch, newest = driver_branch(d), self.branches[-1]
        if branch <= newest.branch:
            return None
        return (
            f"{self.stale('cuda_drivers')} does not know driver branch R{branch} (driver {d}; newest branch "
            f"R{newest.branch}, CUDA {newest.cuda}): the newest CUDA it runs is taken as at least {newest.cuda}"
        )

    def unknown_gpu(self, name: str | None, pci_id: int | None) -> str | None:
        """Why a GPU that neither its NVML name nor its PCI id finds is unknown, or None when it is known."""
        if (name and self.gpu_by_name(name)) or (pci_id is not None and self.gpu_by_pci_id(pci_id)):
            return None
        what = " ".join(p for p in (repr(name) if name else "", f"(PCI device 0x{pci_id:04x})" if pci_id else "") if p)
        return (
            f"{self.stale('gpus')} does not know GPU {what or '(no name, no PCI id)'}: its compute capability, "
            "memory and driver-branch limits come from NVML alone"
        )

    # --- TensorFlow -----------------------------------------------------------------------------

    def tf_release(self, version: str | Version) -> TfLookup:
        """The row for a TF version: its series' row, or the newest row (with a warning)."""
        requested = str(version)
        try:
            v = version if isinstance(version, Version) else parse_tf_version(version)
        except ValueError as exc:
            return TfLookup(requested, None, "unknown", f"{exc}; no matrix row applies")
        series = release_series(v)
        where = f"{TABLE_FILES['tensorflow']} as of {self.meta['tensorflow'].as_of.isoformat()}"
        for release in self.tf_releases:
            if release.series != series:
                continue
            if not release.prerelease or v == release.version:
                return TfLookup(requested, release, "known")
            # The series is known only as a release candidate: a later rc or the final may differ.
            if v > release.version:
                warning = (
                    f"TensorFlow {v} is newer than the matrix: {self.stale('tensorflow')} knows TF {series} "
                    f"only as the pre-release {release.version}; expectations use that row"
                )
                return TfLookup(requested, release, "unknown-newer", warning)
            return TfLookup(
                requested, None, "unknown", f"TensorFlow {v} predates the pre-release {release.version} ({where})"
            )
        newest, oldest = self.tf_releases[0], self.tf_releases[-1]
        if v > newest.version:
            warning = (
                f"TensorFlow {v} is newer than the matrix: {self.stale('tensorflow')} does not know TF {series}; "
                f"expectations use the newest known release {newest.version}"
            )
            return TfLookup(requested, newest, "unknown-newer", warning)
        if v < oldest.version:
            warning = (
                f"TensorFlow {v} is older than the matrix ({where}, oldest {oldest.version}); "
                "no matrix row applies"
            )
            return TfLookup(requested, None, "unknown-older", warning)
        return TfLookup(
            requested, None, "unknown", f"TensorFlow {v} is not in the matrix ({where})"
        )

    def _release_for(self, tf_version: str | Version) -> TfRelease:
        lookup = self.tf_release(tf_version)
        if lookup.release is None:
            raise MatrixKeyError(
                TABLE_FILES["tensorflow"],
                "release",
                lookup.warning or f"no row for TensorFlow {tf_version}",
                f"{self.tf_releases[-1].version} to {self.tf_releases[0].version} or newer",
            )
        return lookup.release

    # --- CUDA and the driver --------------------------------------------------------------------

    def toolkit(self, cuda: str | Version) -> Toolkit:
        """The Table 3 row for a CUDA version.

        "X.Y" and "X.Y.0" (what TF and cudart report) mean the GA release of X.Y; "X.Y.Z"
        is that row, or else the newest non-RC row of X.Y below it, whose driver is then a
        lower bound (12.3.2 has no row of its own).
        """
        v = self._cuda_version(cuda)
        series = tuple((list(v.release) + [0])[:2])
        in_series = [t for t in self.toolkits if t.series == series]
        micro = v.release[2] if len(v.release) > 2 else 0
        if micro == 0:
            found = next((t for t in in_series if t.release == "ga"), None)
        else:
            found = next((t for t in in_series if t.version == v), None) or next(
                (t for t in in_series if t.release != "rc" and t.version <= v), None
            )
        if found is None:
            known = [str(t.version) for t in self.toolkits]
            raise MatrixKeyError(
                TABLE_FILES["cuda_drivers"],
                "toolkit",
                f"no row for CUDA {v}{did_you_mean(str(v), known)}",
                ", ".join(known),
            )
        return found

    def driver_requirement(self, cuda: str | Version) -> DriverRequirement:
        """The driver a CUDA toolkit needs: in full, and through minor-version compatibility."""
        v = self._cuda_version(cuda)
        toolkit = self.toolkit(v)
        compat = next((c for c in self.minor_compat if c.major == v.release[0]), None)
        label = toolkit.label
        if not toolkit.driver_bundled:
            label += ", driver not bundled: the minimum is the CUDA major's minor-version-compatibility floor"
        if toolkit.third_party:
            label += ", a row read from third-party quotes of NVIDIA's notes only"
        return DriverRequirement(
            full=toolkit.linux_min_driver,
            minor_compat=compat.linux_min_driver if compat else None,
            toolkit_label=label,
            cuda=v,
            third_party=toolkit.third_party,
        )

    def driver_requirement_for_tf(self, tf_version: str | Version) -> DriverRequirement:
        """The driver requirement of the CUDA a TF release was built with."""
        return self.driver_requirement(self._release_for(tf_version).cuda)

    def max_cuda_for_driver(self, driver: str | Version) -> Version | None:
        """The newest CUDA a driver runs ("CUDA Version" in nvidia-smi), or None if too old.

        Uses the branch's row; a branch the table lacks gets the row of the nearest older
        branch, or the newest toolkit whose packaged driver it meets, whichever is newer.
        """
        d = self._driver_version(driver)
        branch = driver_branch(d)
        candidates = [b.cuda for b in self.branches if b.branch <= branch][-1:]
        # A toolkit without a bundled driver names only its major's floor: it says nothing of this driver's CUDA.
        met = [t for t in self.toolkits if t.release != "rc" and t.driver_bundled and t.linux_min_driver <= d]
        candidates += [Version("{}.{}".format(*t.series)) for t in met[:1]]
        return max(candidates) if candidates else None

    # --- GPUs -----------------------------------------------------------------------------------

    def gpu_keys(self) -> list[str]:
        """Every GPU key, in file order."""
        return [m.key for m in self.gpus]

    def gpu(self, key: str) -> GpuModel:
        """The GPU model with this key ("t4"); MatrixKeyError listing the keys otherwise."""
        for model in self.gpus:
            if model.key == key:
                return model
        raise MatrixKeyError(
            TABLE_FILES["gpus"],
            "gpu",
            f"unknown GPU key {key!r}{did_you_mean(key, self.gpu_keys())}",
            join_choices(self.gpu_keys()),
        )

    def gpu_family(self, name: str) -> GpuModel:
        """A key ("a100-40gb"), or a family ("a100": its first model in gpus.toml)."""
        found = [m for m in self.gpus if name in (m.key, m.family)]
        if found:
            return min(found, key=lambda m: m.key != name)  # an exact key wins
        choices = self.gpu_keys() + sorted({m.family for m in self.gpus} - set(self.gpu_keys()))
        raise MatrixKeyError(
            TABLE_FILES["gpus"],
            "gpu",
            f"unknown GPU model {name!r}{did_you_mean(name, choices)}",
            join_choices(choices),
        )

    def gpu_by_name(self, name: str) -> GpuModel | None:
        """The model NVML calls `name`: exact first, then ignoring case, spacing and "NVIDIA "."""
        if not isinstance(name, str):
            return None
        for model in self.gpus:
            if name in model.names:
                return model
        wanted = normalise_gpu_name(name)
        for model in self.gpus:
            if any(normalise_gpu_name(n) == wanted for n in model.names):
                return model
        return None

    def gpu_by_pci_id(self, device_id: int | str) -> GpuModel | None:
        """The model with this PCI device id (0x2330, "0x2330", "2330").

        A 32-bit NVML pciDeviceId (device << 16 | vendor) is accepted too.
        """
        try:
            dev = int(device_id, 16) if isinstance(device_id, str) else int(device_id)
        except (TypeError, ValueError):
            return None
        if dev > 0xFFFF:
            dev >>= 16
        return next((m for m in self.gpus if dev in m.pci_device_ids), None)

    def driver_supports_gpu(self, driver: str | Version, model: GpuModel) -> DriverSupport:
        """Whether the driver's branch supports the GPU's architecture (legacy cut-offs)."""
        d = self._driver_version(driver)
        branch = driver_branch(d)
        what = f"{model.name} ({model.architecture})"
        if model.last_driver_branch is not None and branch > model.last_driver_branch:
            last = model.last_driver_branch
            return DriverSupport(
                False,
                f"driver {d} is branch R{branch}, but {what} is supported only up to "
                f"R{last}: install an R{last} driver",
            )
        if model.min_driver_branch is not None and branch < model.min_driver_branch:
            return DriverSupport(
                False,
                f"driver {d} is branch R{branch}, but {what} needs R{model.min_driver_branch} "
                "or newer",
            )
        return DriverSupport(True, f"driver {d} (R{branch}) supports {what}")

    # --- kernels --------------------------------------------------------------------------------

    def kernels_for(self, tf_version: str | Version) -> KernelRelease:
        """The kernels row of a TF release (the newest row for a TF newer than the matrix)."""
        series = self._release_for(tf_version).series
        for group in self.kernels:
            if series in group.tf:
                return group
        # load_matrices() guarantees a row per release; this is a broken Matrices object.
        raise MatrixKeyError(TABLE_FILES["kernels"], "release", f"no row for TensorFlow {series}")

    def coverage(self, tf_version: str | Version, cc: str | CC) -> Coverage:
        """Whether TF's wheel has code a GPU of compute capability `cc` can run.

        SASS for X.y runs on X.z with z >= y; PTX of any arch at or below the GPU's is
        JIT-compiled. SASS present in only some fatbins (2.8-2.15 sm_80, 2.16+ sm_90)
        leaves the rest of the kernels to PTX JIT, so that is reported as "ptx" with
        `partial_sass` set: the GPU works, but the first run compiles kernels.
        """
        gpu = parse_cc(cc)
        release = self._release_for(tf_version)
        return _coverage(self.kernels_for(release.version), gpu, f"TF {release.series}")

    # --- pip pins -------------------------------------------------------------------------------

    def and_cuda_pins(self, tf_version: str | Version) -> dict[str, str] | None:
        """The `tensorflow[and-cuda]` pins of a release, or None where it has no such extra.

        A patch release the table lacks (2.19.2) gets the pins of its series' newest
        listed release; pins differ between patch releases only in ways listed here.
        """
        try:
            v = tf_version if isinstance(tf_version, Version) else parse_tf_version(tf_version)
        except ValueError:
            return None
        for group in self.and_cuda:
            if v in group.tf:
                return dict(group.pins)
        series = release_series(v)
        older = [
            (t, g) for g in self.and_cuda for t in g.tf if release_series(t) == series and t < v
        ]
        return dict(max(older, key=lambda pair: pair[0])[1].pins) if older else None

    # --- planning -------------------------------------------------------------------------------

    def runnable_releases(
        self, driver: str | Version | None, cc: str | CC | None, python: str | Version | None
    ) -> list[ReleaseVerdict]:
        """A verdict for every TF release on a host, newest first.

        Only the facts given are judged: a CPU host (no driver, no GPU) is judged on Python
        alone. When several problems block a release, the verdict is the one from the lowest
        layer (Python, then driver, then GPU code) and `problems` lists them all.
        """
        d = self._driver_version(driver) if driver is not None else None
        gpu = parse_cc(cc) if cc is not None else None
        py = Version(python) if isinstance(python, str) else python
        return [self._verdict(r, d, gpu, py) for r in self.tf_releases]

    def _verdict(
        self, release: TfRelease, driver: Version | None, gpu: CC | None, python: Version | None
    ) -> ReleaseVerdict:
        problems: list[tuple[str, str]] = []
        good: list[str] = []
        if python is not None and release.python.contains(python, prereleases=True):
            good.append(f"Python {python} is in {release.python}")
        elif python is not None:
            outside = f"Python {python} is outside {release.python} of TF {release.version}"
            problems.append(("python-outside-range", outside))
        requirement = self.driver_requirement(release.cuda)
        coverage = _coverage(self.kernels_for(release.version), gpu, "") if gpu else None
        level = requirement.satisfied_by(driver) if driver is not None else None
        if driver is not None:
            text = _driver_text(driver, requirement, level, coverage)
            # Minor-version compatibility does not cover JIT of PTX from a newer toolkit
            # (cudaErrorUnsupportedPtxVersion), so a GPU that needs PTX needs the full driver.
            if level is None or (level == "minor-compat" and _jit(coverage)):
                problems.append(("driver-too-old", text))
            else:
                good.append(text)
        if coverage is not None:
            if coverage.kind == "none":
                problems.append(("gpu-too-old", coverage.detail))
            else:
                good.append(coverage.detail)
        if problems:
            verdict, detail = problems[0][0], "; ".join(p[1] for p in problems)
        elif coverage is not None and coverage.kind == "ptx":
            verdict, detail = "needs-ptx-jit", "; ".join(good)
        elif level == "minor-compat":
            verdict, detail = "runs-minor-compat", "; ".join(good)
        else:
            verdict = "runs"
            detail = "; ".join(good) or f"nothing known about this host rules out {release.version}"
        return ReleaseVerdict(
            release=release,
            verdict=verdict,
            detail=detail,
            problems=tuple(p[1] for p in problems),
            coverage=coverage,
            requirement=requirement,
        )

    # --- helpers --------------------------------------------------------------------------------

    @staticmethod
    def _cuda_version(cuda: str | Version) -> Version:
        try:
            return cuda if isinstance(cuda, Version) else Version(cuda)
        except ValueError:
            raise ValueError(
                f"not a CUDA version: {cuda!r} (expected '12.5.1' or '12.3')"
            ) from None

    @staticmethod
    def _driver_version(driver: str | Version) -> Version:
        return driver if isinstance(driver, Version) else parse_driver_version(driver)


def _jit(coverage: Coverage | None) -> bool:
    return coverage is not None and coverage.kind == "ptx"


def _branches(driver: Version, needed: Version) -> str:
    have, want = driver_branch(driver), driver_branch(needed)
    if have == want:
        return f"same branch R{have}, needs {needed} or newer"
    return f"branch R{have}, needs R{want} or newer"


def _driver_text(
    driver: Version, req: DriverRequirement, level: str | None, coverage: Coverage | None
) -> str:
    cuda = req.cuda
    if level == "full":
        return f"driver {driver} meets {req.full} required by CUDA {cuda} ({req.toolkit_label})"
    if level == "minor-compat":
        assert req.minor_compat is not None and cuda is not None
        if _jit(coverage):
            assert coverage is not None
            return (
                f"driver {driver} is older than {req.full} required by CUDA {cuda} "
                f"({req.toolkit_label}): minor-version compatibility (floor {req.minor_compat}) "
                f"does not cover JIT of PTX built by a newer toolkit, and this GPU needs "
                f"{coverage.arch} PTX JIT: {_branches(driver, req.full)}"
            )
        return (
            f"driver {driver} is older than {req.full} required by CUDA {cuda} "
            f"({req.toolkit_label}) but meets {req.minor_compat}, the minor-version "
            f"compatibility floor for {cuda.release[0]}.x"
        )
    if req.minor_compat is not None and cuda is not None:
        return (
            f"driver {driver} is older than {req.minor_compat} required by CUDA {cuda} "
            f"(minor-version compatibility floor for {cuda.release[0]}.x): "
            f"{_branches(driver, req.minor_compat)}"
        )
    return (
        f"driver {driver} is older than {req.full} required by CUDA {cuda} "
        f"({req.toolkit_label}; CUDA {cuda.release[0] if cuda else '?'}.x has no minor-version "
        f"compatibility): {_branches(driver, req.full)}"
    )


def _sm(cc: CC, prefix: str = "sm") -> str:
    return f"{prefix}_{cc[0]}{cc[1]}"


def _coverage(kernels: KernelRelease, gpu: CC, where: str) -> Coverage:
    on = f"compute capability {format_cc(gpu)}"
    in_tf = f" in {where}" if where else ""
    full = [a for a in kernels.sass if a[0] == gpu[0] and a[1] <= gpu[1]]
    partial = [a for a in kernels.sass_partial if a[0] == gpu[0] and a[1] <= gpu[1]]
    ptx = [a for a in kernels.ptx if a <= gpu]
    newest_ptx = max(kernels.ptx) if kernels.ptx else None
    if full:
        arch = _sm(max(full))
        detail = f"{arch} SASS{in_tf} runs natively on {on}"
        if kernels.ptx_only_fatbins and newest_ptx is not None and gpu < newest_ptx:
            detail += (
                f" ({kernels.ptx_only_fatbins} fatbins hold only {_sm(newest_ptx, 'compute')} "
                f"PTX, which cannot load on {on})"
            )
        return Coverage("native", arch, detail)
    if ptx:
        arch = _sm(max(ptx), "compute")
        if partial:
            sass = _sm(max(partial))
            detail = (
                f"{sass} SASS{in_tf} is in only some fatbins; the other kernels are "
                f"JIT-compiled from {arch} PTX on first use ({JIT_CACHE_HINT})"
            )
            return Coverage("ptx", arch, f"{on}: {detail}", partial_sass=sass)
        return Coverage(
            "ptx",
            arch,
            f"no SASS{in_tf} runs on {on}; kernels are JIT-compiled from {arch} PTX on "
            f"first use, which can take many minutes ({JIT_CACHE_HINT})",
        )
    # Partial SASS without usable PTX leaves some kernels with no code at all: "none" too.
    archs = [_sm(a) for a in kernels.sass + kernels.sass_partial]
    archs += [_sm(a, "compute") for a in kernels.ptx]
    return Coverage(
        "none",
        None,
        f"no code{in_tf} runs on {on} (it has {', '.join(archs)}; SASS needs the same major, "
        "PTX an arch at or below the GPU's)",
    )


# --- loading -----------------------------------------------------------------------------------


def load_matrices(directory: Path | None = None) -> Matrices:
    """Load and validate every matrix; the packaged ones (cached) when `directory` is None."""
    if directory is None:
        return _load_packaged()
    return _load_paths({name: Path(directory) / f for name, f in TABLE_FILES.items()})


@functools.cache
def _load_packaged() -> Matrices:
    # files() is a plain Path for an editable or unpacked install; as_file also copes with
    # a zipped one, one file at a time (directories need Python 3.12).
    root = importlib.resources.files("gpuconform.matrices")
    with contextlib.ExitStack() as stack:
        paths = {
            name: stack.enter_context(importlib.resources.as_file(root.joinpath(f)))
            for name, f in TABLE_FILES.items()
        }
        return _load_paths(paths)


def _load_paths(paths: Mapping[str, Path]) -> Matrices:
    tf_meta, releases = load_tensorflow(paths["tensorflow"])
    drivers_meta, toolkits, compat, branches = load_cuda_drivers(paths["cuda_drivers"])
    gpus_meta, gpus = load_gpus(paths["gpus"])
    kernels_meta, kernels = load_kernels(paths["kernels"])
    and_cuda_meta, and_cuda = load_and_cuda(paths["and_cuda"])
    rules = load_rule_tables(paths)
    meta = {m.name: m for m in (tf_meta, drivers_meta, gpus_meta, kernels_meta, and_cuda_meta, *rules.metas)}
    newest = tuple(sorted(releases, key=lambda r: r.version, reverse=True))
    matrices = Matrices(meta, newest, toolkits, compat, branches, gpus, kernels, and_cuda, rules)
    _check_links(matrices, releases, paths)
    return matrices


def _check_links(m: Matrices, releases: tuple[TfRelease, ...], paths: Mapping[str, Path]) -> None:
    """Refuse tables that disagree about which releases and toolkits exist."""
    series = {r.series for r in releases}
    for i, release in enumerate(releases):  # file order, so that release[i] names the row
        try:
            m.toolkit(release.cuda)
        except MatrixKeyError:
            raise DataError(
                str(paths["tensorflow"]),
                f"release[{i}].cuda",
                f"CUDA {release.cuda} has no row in {TABLE_FILES['cuda_drivers']}",
                join_choices(str(t.version) for t in m.toolkits),
            ) from None
        if not any(release.series in k.tf for k in m.kernels):
            raise DataError(
                str(paths["kernels"]),
                "release",
                f"no row covers TensorFlow {release.series}, which tensorflow.toml lists",
                "a tf list naming every release series",
            )
    listed = [
        ("kernels", f"release[{i}].tf[{j}]", s)
        for i, k in enumerate(m.kernels)
        for j, s in enumerate(k.tf)
    ]
    listed += [
        ("and_cuda", f"release[{i}].tf[{j}]", release_series(v))
        for i, a in enumerate(m.and_cuda)
        for j, v in enumerate(a.tf)
    ]
    for table, key, s in listed:
        if s not in series:
            problem = f"TensorFlow {s} is not in tensorflow.toml"
            raise DataError(str(paths[table]), key, problem, join_choices(series))
