"""The compatibility matrices, loaded and validated, and the questions the suites ask of them.

`load_matrices()` reads `matrices/*.toml` (the `gpuconform.matrices` data package) into a
`Matrices` object, which answers: which CUDA, cuDNN and Python a TensorFlow release needs,
which driver that implies, which GPU a name or PCI id is, whether a wheel has code for a
compute capability, and which releases a host can run. Answers are frozen dataclasses
with a human `detail`, so a failing check can quote them.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import Version

from gpuconform.expect.lookups import Coverage
from gpuconform.expect.lookups import DriverRequirement
from gpuconform.expect.lookups import DriverSupport
from gpuconform.expect.lookups import ReleaseVerdict
from gpuconform.expect.lookups import TfLookup
from gpuconform.expect.lookups import driver_text
from gpuconform.expect.lookups import kernel_coverage
from gpuconform.expect.lookups import needs_jit
from gpuconform.expect.tables import RuleTables
from gpuconform.expect.tables.and_cuda import AndCudaRelease
from gpuconform.expect.tables.cuda_drivers import DriverBranch
from gpuconform.expect.tables.cuda_drivers import MinorCompat
from gpuconform.expect.tables.cuda_drivers import Toolkit
from gpuconform.expect.tables.gpus import GpuModel
from gpuconform.expect.tables.gpus import normalise_gpu_name
from gpuconform.expect.tables.kernels import KernelRelease
from gpuconform.expect.tables.reader import CC
from gpuconform.expect.tables.reader import TABLE_FILES
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.tensorflow import TF_PROJECT_DISTRIBUTIONS
from gpuconform.expect.tables.tensorflow import TfRelease
from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import parse_cc
from gpuconform.facts.versions import parse_driver_version
from gpuconform.facts.versions import parse_tf_version
from gpuconform.facts.versions import release_series


class MatrixKeyError(DataError, KeyError):
    """A lookup of something the matrices do not list (a GPU key, a CUDA version).

    Both a DataError (a usage error when it comes from a profile) and a KeyError (what
    a mapping lookup raises), so callers can catch either.
    """


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
    rules: RuleTables  # the tables the diagnosis rules read (gpuconform.expect.tables)

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
                f"TensorFlow {v} is older than the matrix ({where}, oldest {oldest.version}); no matrix row applies"
            )
            return TfLookup(requested, None, "unknown-older", warning)
        return TfLookup(requested, None, "unknown", f"TensorFlow {v} is not in the matrix ({where})")

    def tf_build(self, version: str | Version, built_cuda: str | None, distribution: str = "tensorflow") -> TfLookup:
        """The row of an installed TF, with the CUDA its own build files name where that is another series.

        A conda build can be for another CUDA than its row's PyPI wheel (tensorflow-gpu 1.11 for 9.2, not 9.0), and
        then links that CUDA's sonames and needs its driver; a CUDA the driver table lacks keeps the row. A build the
        TensorFlow project does not publish (nvidia-tensorflow) shares a version, not a build: it gets no row."""
        if canonicalize_name(distribution) not in TF_PROJECT_DISTRIBUTIONS:
            why = f"{distribution} {version} is not a TensorFlow project build: {TABLE_FILES['tensorflow']} has no row"
            why = self.rules.nvidia_tensorflow.identify(distribution, str(version)) or why
            return TfLookup(str(version), None, "other-build", why)
        lookup = self.tf_release(version)
        row, cuda = lookup.release, self._cuda_version(built_cuda) if built_cuda else None
        if row is None or cuda is None or cuda.release[:2] == row.cuda.release[:2]:
            return lookup
        if not any(t.series == cuda.release[:2] for t in self.toolkits):
            return lookup
        said = f"its own build files name CUDA {cuda}; the matrix row of {row.version} (its PyPI wheel) says {row.cuda}"
        return dataclasses.replace(lookup, release=dataclasses.replace(row, cuda=cuda, notes=(*row.notes, said)))

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
                f"driver {d} is branch R{branch}, but {what} needs R{model.min_driver_branch} or newer",
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
        return kernel_coverage(self.kernels_for(release.version), gpu, f"TF {release.series}")

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
        older = [(t, g) for g in self.and_cuda for t in g.tf if release_series(t) == series and t < v]
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
        coverage = kernel_coverage(self.kernels_for(release.version), gpu, "") if gpu else None
        level = requirement.satisfied_by(driver) if driver is not None else None
        if driver is not None:
            text = driver_text(driver, requirement, level, coverage)
            # Minor-version compatibility does not cover JIT of PTX from a newer toolkit
            # (cudaErrorUnsupportedPtxVersion), so a GPU that needs PTX needs the full driver.
            if level is None or (level == "minor-compat" and needs_jit(coverage)):
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
            raise ValueError(f"not a CUDA version: {cuda!r} (expected '12.5.1' or '12.3')") from None

    @staticmethod
    def _driver_version(driver: str | Version) -> Version:
        return driver if isinstance(driver, Version) else parse_driver_version(driver)
