"""matrices/nvidia_tensorflow.toml: NVIDIA's `nvidia-tensorflow` 1.15 releases (1.15.x+nvYY.MM), their CUDA stack
and the CUDA libraries `pip install nvidia-tensorflow` installs with them as nvidia-* wheels.

The question the rules ask: which release is installed (the version's local label, "+nv22.12"), and, where the
label is not known (a report that says only "1.15.5"), what every release of that TensorFlow version has in
common, and which of its releases the table cannot say that of.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion
from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.sonames import LIBRARY_NAMES

#: The distribution name NVIDIA publishes these wheels under.
DISTRIBUTION = "nvidia-tensorflow"
FILE = "matrices/nvidia_tensorflow.toml"

_ROW = {
    "label": "string",
    "tensorflow": "string",
    "python": "string",
    "cuda?": "string",
    "cudnn?": "string",
    "cublas?": "string",
    "tensorrt?": "string",
    "nccl?": "string",
    "pip_libraries?": "strings",
    "pip_wheels?": "strings",
    "pip_cuda_major?": "integer",
    "not_before?": "date",
    "source": "string",
}


@dataclass(frozen=True)
class NvidiaRelease:
    """One nvidia-tensorflow release and what it was built with, as far as a source says."""

    label: str  # "22.12"
    tensorflow: Version
    python: str
    source: str
    cuda: Version | None = None
    cudnn: Version | None = None
    cublas: Version | None = None
    tensorrt: Version | None = None
    nccl: Version | None = None
    pip_libraries: frozenset[str] | None = None  # None: not read
    pip_wheels: tuple[str, ...] = ()
    pip_cuda_major: int | None = None
    not_before: datetime.date | None = None  # not published before: its tag's commit date; None: no tag

    @property
    def name(self) -> str:
        """ "1.15.5+nv22.12"."""
        return f"{self.tensorflow}+nv{self.label}"

    def built_with(self) -> str:
        """ "NVIDIA's release nv22.12: CUDA 11.8, cuDNN 8", the basis of the sonames a probe looks for."""
        cudnn = f", cuDNN {self.cudnn.major}" if self.cudnn is not None else ""
        return f"NVIDIA's release nv{self.label}: CUDA {self.cuda}{cudnn}"

    def stack(self) -> str:
        """ "CUDA 11.8, cuDNN 8.7.0.84", or what of it is known."""
        parts = [f"{what} {v}" for what, v in (("CUDA", self.cuda), ("cuDNN", self.cudnn)) if v is not None]
        return ", ".join(parts) or "CUDA not read"


@dataclass(frozen=True)
class Candidates:
    """The releases an installed nvidia-tensorflow may be: one, when its version carries the label."""

    tensorflow: str  # the installed version, as installed
    releases: tuple[NvidiaRelease, ...]
    label_known: bool
    installed_by: datetime.date | None = None  # an unknown label: the releases published later were left out
    left_out: str = ""  # those of them within the span, "nv22.03-nv22.06"

    @property
    def span(self) -> str:
        """ "nv22.12", or "nv21.02-nv23.03" for an unknown label."""
        labels = [f"nv{r.label}" for r in self.releases]
        return labels[0] if len(labels) == 1 else f"{labels[0]}-{labels[-1]}" if labels else "no release"

    @property
    def unread(self) -> tuple[NvidiaRelease, ...]:
        """The candidates whose pip CUDA dependencies the table does not know."""
        return tuple(r for r in self.releases if r.pip_libraries is None)

    def common_pip_libraries(self) -> frozenset[str] | None:
        """The libraries every candidate installs itself; None when some candidate's are not read."""
        if not self.releases or self.unread:
            return None
        common = frozenset(LIBRARY_NAMES)
        for r in self.releases:
            common &= r.pip_libraries or frozenset()
        return common

    def cuda_majors(self) -> frozenset[int] | None:
        """The -cuXX majors of the candidates' wheels; None when one is not known."""
        majors = {r.pip_cuda_major for r in self.releases}
        return None if None in majors or not majors else frozenset(m for m in majors if m is not None)

    def describe(self) -> str:
        """What a user reads: "release nv22.12 (CUDA 11.8, cuDNN 8.7.0.84)", or the span of an unknown label."""
        if self.label_known and self.releases:
            r = self.releases[0]
            return f"release nv{r.label} ({r.stack()})"
        cudas = sorted({r.cuda.release[:2] for r in self.releases if r.cuda is not None})
        ends = dict.fromkeys(".".join(map(str, c)) for c in (cudas[0], cudas[-1])) if cudas else {}
        span = f"CUDA {' to '.join(ends)}" if ends else "CUDA not read"
        by = f"; installed by {self.installed_by}" if self.installed_by is not None else ""
        if self.left_out:
            by += f", so not {self.left_out}, published later"
        return f"one of releases {self.span} (its +nv label is not known{by}; {span} where read)"


@dataclass(frozen=True)
class NvidiaTensorflow:
    meta: TableMeta
    releases: tuple[NvidiaRelease, ...]

    def is_nvidia(self, distribution: str) -> bool:
        return canonicalize_name(distribution) == DISTRIBUTION

    def candidates(self, version: str, installed_by: str | None = None) -> Candidates:
        """The release(s) an installed version is: "1.15.5+nv22.12" is that row; "1.15.5" every 1.15.5 row, less
        those not published before `installed_by` (a date, "2022-03-14": when it was installed, where known)."""
        base, _, local = version.partition("+")
        try:
            v = Version(base)
        except InvalidVersion:
            return Candidates(version, (), False)
        # The label as written ("nv23.01"): PEP 440 would normalise the local part to "nv23.1".
        label = local.lower().removeprefix("nv")
        same = tuple(r for r in self.releases if r.tensorflow == v)
        if label:
            return Candidates(version, tuple(r for r in same if r.label == label), True)
        if installed_by is None:
            return Candidates(version, same, False)
        by = datetime.date.fromisoformat(installed_by)
        out = tuple(r for r in same if r.not_before is None or r.not_before <= by)
        inside = same[same.index(out[0]) : same.index(out[-1]) + 1] if out else ()
        return Candidates(version, out, False, by, _runs(inside, {r.label for r in inside} - {r.label for r in out}))


    def identify(self, distribution: str, version: str) -> str | None:
        """What an installed nvidia-tensorflow is, in words, with its release(s); None for another distribution."""
        found = self.candidates(version) if self.is_nvidia(distribution) else None
        if found is None or not found.releases:
            return None
        return (
            f"{distribution} {version} is NVIDIA's GPU build of TensorFlow {found.releases[0].tensorflow}, "
            f"{found.describe()} in {FILE.rpartition('/')[2]}; not a TensorFlow project build, so tensorflow.toml "
            "has no row"
        )

    def build(self, distribution: str, version: str) -> NvidiaRelease | None:
        """The release an installed nvidia-tensorflow is, where its +nv label names a row that says its CUDA and
        cuDNN (the sonames it loads); None otherwise (another distribution, an unknown or unlabelled release)."""
        found = self.candidates(version) if self.is_nvidia(distribution) else None
        if found is None or not found.label_known or len(found.releases) != 1:
            return None
        release = found.releases[0]
        return release if release.cuda is not None and release.cudnn is not None else None


def _runs(releases: tuple[NvidiaRelease, ...], chosen: set[str]) -> str:
    """The chosen labels as runs of consecutive releases: "nv22.03-nv22.06"."""
    runs: list[list[str]] = []
    for i, r in enumerate(releases):
        if r.label not in chosen:
            continue
        if runs and i > 0 and releases[i - 1].label == runs[-1][-1]:
            runs[-1].append(r.label)
        else:
            runs.append([r.label])
    return ", ".join(f"nv{run[0]}" if len(run) == 1 else f"nv{run[0]}-nv{run[-1]}" for run in runs)


def load_nvidia_tensorflow(path: Path) -> NvidiaTensorflow:
    """Read nvidia_tensorflow.toml; the releases in file order (oldest first), labels unique."""
    r = Reader(path)
    meta = r.meta("nvidia_tensorflow", {"meta": "table", "release": "tables"})
    releases: list[NvidiaRelease] = []
    for key, row in r.rows("release", _ROW):
        if any(x.label == row["label"] for x in releases):
            raise r.fail(f"{key}.label", f"{row['label']!r} is listed twice", "one row per release")
        listed = row.get("pip_libraries")
        libraries = (
            None
            if listed is None
            else frozenset(r.choice(n, f"{key}.pip_libraries[{i}]", LIBRARY_NAMES) for i, n in enumerate(listed))
        )
        versions = {
            name: r.version(row[name], f"{key}.{name}", "11.8") if name in row else None
            for name in ("cuda", "cudnn", "cublas", "tensorrt", "nccl")
        }
        releases.append(
            NvidiaRelease(
                label=row["label"],
                tensorflow=r.version(row["tensorflow"], f"{key}.tensorflow", "1.15.5"),
                python=row["python"],
                source=row["source"],
                pip_libraries=libraries,
                pip_wheels=tuple(row.get("pip_wheels", ())),
                pip_cuda_major=row.get("pip_cuda_major"),
                not_before=row.get("not_before"),
                **versions,
            )
        )
    return NvidiaTensorflow(meta, tuple(releases))
