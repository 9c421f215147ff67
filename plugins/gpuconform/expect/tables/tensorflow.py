"""matrices/tensorflow.toml: TensorFlow's tested build configurations, one row per release series."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes
from gpuconform.facts.versions import release_series

TF_PACKAGES = ("tensorflow", "tensorflow-gpu")
#: The distributions the TensorFlow project publishes, whose versions the rows describe (a release's CUDA is its
#: PyPI wheel's); another build of the `tensorflow` package (nvidia-tensorflow: NVIDIA's 1.15 with CUDA 11 and
#: later) shares a version number, not a build configuration.
TF_PROJECT_DISTRIBUTIONS = (
    "tensorflow", "tensorflow-gpu", "tensorflow-cpu", "tf-nightly", "tf-nightly-gpu", "tf-nightly-cpu",
    "tensorflow-intel",
)


@dataclass(frozen=True)
class TfRelease:
    """One TensorFlow release and the configuration it was built and tested with."""

    version: Version
    python: SpecifierSet
    cuda: Version  # as the wheel's cuda_config.h says: "12.5.1", "12.3", "11.2"
    cudnn: Version
    package: str  # "tensorflow", or "tensorflow-gpu" for 2.0.0
    keras_major: int
    glibc: str | None = None  # the floor of the Linux wheel's manylinux tag, "2.17"
    notes: tuple[str, ...] = ()
    prerelease: bool = False  # a release candidate ("2.22.0rc0"): flagged in the file, shown where it is used

    @property
    def cudnn_major(self) -> int:
        """The cuDNN major the wheel links against (the soname's number)."""
        return self.cudnn.release[0]

    @property
    def series(self) -> str:
        """The release series, "2.19" for 2.19.0."""
        return release_series(self.version)


_TF_FILE: Schema = {"meta": "table", "release": "tables"}
_TF_ROW: Schema = {
    "version": "string",
    "python": "string",
    "cuda": "string",
    "cudnn": "string",
    "package": "string",
    "keras_major": "integer",
    "glibc?": "string",
    "prerelease?": "boolean",
    "notes?": "strings",
}


def load_tensorflow(path: Path) -> tuple[TableMeta, tuple[TfRelease, ...]]:
    """Read tensorflow.toml; the releases in file order."""
    r = Reader(path)
    meta = r.meta("tensorflow", _TF_FILE)
    releases = []
    for key, row in r.rows("release", _TF_ROW):
        if "glibc" in row:
            r.version(row["glibc"], f"{key}.glibc", "2.17")
        version = r.version(row["version"], f"{key}.version", "2.21.0")
        # A release candidate must say so, so that no one reads its row as a final release's.
        flagged = row.get("prerelease", False)
        if version.is_prerelease != flagged:
            problem = f"{version} is {'a pre-release' if version.is_prerelease else 'a final release'}"
            raise r.fail(f"{key}.prerelease", problem, f"prerelease = {str(version.is_prerelease).lower()}")
        releases.append(
            TfRelease(
                version=version,
                python=r.specifier(row["python"], f"{key}.python"),
                cuda=r.version(row["cuda"], f"{key}.cuda", "12.5.1"),
                cudnn=r.version(row["cudnn"], f"{key}.cudnn", "9.3.0"),
                package=r.choice(row["package"], f"{key}.package", TF_PACKAGES),
                keras_major=r.int_range(row["keras_major"], f"{key}.keras_major", 2, 3),
                glibc=row.get("glibc"),
                notes=row_notes(row),
                prerelease=flagged,
            )
        )
    r.nonempty(releases, "release", "one [[release]] per TensorFlow release")
    r.unique(((f"release[{i}].version", t.series) for i, t in enumerate(releases)), "series")
    return meta, tuple(releases)
