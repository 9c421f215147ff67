"""matrices/cuda_drivers.toml: CUDA toolkits and the drivers they need, minor-version compatibility, driver branches."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes
from gpuconform.facts.versions import DriverVersion

TOOLKIT_RELEASES = ("ga", "update", "rc")


@dataclass(frozen=True)
class Toolkit:
    """One row of NVIDIA's "CUDA Toolkit and Corresponding Driver Versions" table."""

    label: str  # "CUDA 12.5 Update 1", as NVIDIA writes it
    version: Version  # "12.5.1"
    release: str  # "ga", "update" or "rc"
    linux_min_driver: DriverVersion
    windows_min_driver: DriverVersion | None = None
    third_party: bool = False  # read only from third-party quotes of NVIDIA's notes
    notes: tuple[str, ...] = ()
    driver_bundled: bool = True  # False from CUDA 13.4: linux_min_driver is then the major's floor

    @property
    def series(self) -> tuple[int, int]:
        """(12, 5) for 12.5.1."""
        major, minor = (list(self.version.release) + [0])[:2]
        return (major, minor)


@dataclass(frozen=True)
class MinorCompat:
    """The minimum driver for CUDA minor-version compatibility across one CUDA major."""

    major: int
    linux_min_driver: DriverVersion
    windows_min_driver: DriverVersion | None = None
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class DriverBranch:
    """A driver branch and the CUDA version its nvidia-smi reports (the newest it runs)."""

    branch: int
    cuda: Version
    third_party: bool = False
    notes: tuple[str, ...] = ()


_DRIVERS_FILE: Schema = {
    "meta": "table",
    "toolkit": "tables",
    "minor_compat": "tables",
    "branch": "tables",
}
_TOOLKIT_ROW: Schema = {
    "label": "string",
    "version": "string",
    "release": "string",
    "linux_min_driver": "string",
    "windows_min_driver?": "string",
    "third_party?": "boolean",
    "driver_bundled?": "boolean",
    "notes?": "strings",
}
_COMPAT_ROW: Schema = {
    "major": "integer",
    "linux_min_driver": "string",
    "windows_min_driver?": "string",
    "notes?": "strings",
}
_BRANCH_ROW: Schema = {
    "branch": "integer",
    "cuda": "string",
    "third_party?": "boolean",
    "notes?": "strings",
}


def load_cuda_drivers(
    path: Path,
) -> tuple[TableMeta, tuple[Toolkit, ...], tuple[MinorCompat, ...], tuple[DriverBranch, ...]]:
    """Read cuda_drivers.toml."""
    r = Reader(path)
    meta = r.meta("cuda_drivers", _DRIVERS_FILE)
    toolkits = []
    for key, row in r.rows("toolkit", _TOOLKIT_ROW):
        toolkits.append(
            Toolkit(
                label=row["label"],
                version=r.version(row["version"], f"{key}.version", "12.5.1"),
                release=r.choice(row["release"], f"{key}.release", TOOLKIT_RELEASES),
                linux_min_driver=r.driver(row["linux_min_driver"], f"{key}.linux_min_driver"),
                windows_min_driver=r.optional_driver(row, "windows_min_driver", key),
                third_party=row.get("third_party", False),
                notes=row_notes(row),
                driver_bundled=row.get("driver_bundled", True),
            )
        )
    r.unique(((f"toolkit[{i}].version", t.version) for i, t in enumerate(toolkits)), "version")
    r.unique(((f"toolkit[{i}].label", t.label) for i, t in enumerate(toolkits)), "label")
    ga = [(f"toolkit[{i}].release", t.series) for i, t in enumerate(toolkits) if t.release == "ga"]
    r.unique(ga, "GA row for CUDA series")
    with_ga = {series for _, series in ga}
    for i, t in enumerate(toolkits):
        if t.series not in with_ga:
            raise r.fail(
                f"toolkit[{i}].version",
                f'CUDA {t.series[0]}.{t.series[1]} has no row with release = "ga"',
                "one GA row per CUDA major.minor",
            )

    compat = [
        MinorCompat(
            major=r.int_range(row["major"], f"{key}.major", 1, 99),
            linux_min_driver=r.driver(row["linux_min_driver"], f"{key}.linux_min_driver"),
            windows_min_driver=r.optional_driver(row, "windows_min_driver", key),
            notes=row_notes(row),
        )
        for key, row in r.rows("minor_compat", _COMPAT_ROW)
    ]
    r.unique(((f"minor_compat[{i}].major", c.major) for i, c in enumerate(compat)), "major")

    branches = [
        DriverBranch(
            branch=r.int_range(row["branch"], f"{key}.branch", 1, 9999),
            cuda=r.version(row["cuda"], f"{key}.cuda", "12.4"),
            third_party=row.get("third_party", False),
            notes=row_notes(row),
        )
        for key, row in r.rows("branch", _BRANCH_ROW)
    ]
    r.unique(((f"branch[{i}].branch", b.branch) for i, b in enumerate(branches)), "branch")
    branches.sort(key=lambda b: b.branch)
    # A newer branch reporting an older CUDA would make "newest CUDA for this driver" wrong.
    for older, newer in zip(branches, branches[1:]):
        if newer.cuda < older.cuda:
            raise r.fail(
                "branch",
                f"branch {newer.branch} reports CUDA {newer.cuda}, older than "
                f"CUDA {older.cuda} of branch {older.branch}",
                "CUDA versions that never decrease as branches increase",
            )
    toolkits.sort(key=lambda t: t.version, reverse=True)
    compat.sort(key=lambda c: c.major)
    return meta, tuple(toolkits), tuple(compat), tuple(branches)
