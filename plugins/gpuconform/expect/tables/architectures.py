"""matrices/architectures.toml (see its [meta] for sources): the CUDA toolkits each compute capability needs.

The rules ask two questions of it: whether a TensorFlow build's CUDA predates a GPU's architecture
(no SASS of its major in the wheel, no cuBLAS/cuDNN kernels for it: PTX JIT cannot save it), and
whether the CUDA has already dropped an old architecture (no build of that CUDA can target it).

SASS of X.y runs on X.z for z >= y, so a GPU is "known" to a CUDA from the first toolkit that
targets any architecture of its major at or below it: CUDA 11.0 (sm_80) runs an 8.6 GPU through
sm_80 SASS although sm_86 itself came with 11.1 (the table's own note).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from gpuconform.expect.tables.reader import CC
from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.facts.versions import format_cc

_ARCH = {
    "cc": "string",
    "name": "string",
    "min_cuda": "string",
    "last_cuda?": "string",
    "last_driver_branch?": "string",
    "cudnn_min_major?": "integer",
    "products?": "strings",
    "source": "string",
    "notes?": "strings",
}


@dataclass(frozen=True)
class ArchRow:
    """One compute capability: its architecture and the toolkits that target it."""

    cc: CC
    name: str  # "Ampere"
    min_cuda: Version  # the first toolkit whose ptxas accepts sm_XY
    last_cuda: Version | None  # the last toolkit that still does; None: still supported
    last_driver_branch: int | None  # 470 for "R470"
    cudnn_min_major: int | None
    products: tuple[str, ...]
    source: str

    @property
    def sm(self) -> str:
        return f"sm_{self.cc[0]}{self.cc[1]}"


@dataclass(frozen=True)
class Architectures:
    """The rows of architectures.toml, by compute capability, and the questions the rules ask."""

    meta: TableMeta
    rows: tuple[ArchRow, ...]  # ascending compute capability

    def row(self, cc: CC) -> ArchRow | None:
        """The row of exactly this compute capability, or None when the table does not know it."""
        return next((r for r in self.rows if r.cc == tuple(cc)), None)

    def known(self, cc: CC) -> bool:
        return self.row(cc) is not None or any(r.cc[0] == cc[0] for r in self.rows)

    def first_cuda_for(self, cc: CC) -> Version | None:
        """The first CUDA whose code runs natively on a GPU of `cc`: the oldest toolkit that targets an
        architecture of the same major at or below it (SASS is binary-compatible within a major).
        None when the table has no row of that major at or below `cc`."""
        family = [r.min_cuda for r in self.rows if r.cc[0] == cc[0] and r.cc[1] <= cc[1]]
        return min(family) if family else None

    def cuda_predates(self, cuda: Version, cc: CC) -> ArchRow | None:
        """The row that says `cuda` is older than every toolkit targeting `cc`'s family, or None when
        `cuda` knows the GPU (or the table does not know the GPU: then nothing is claimed)."""
        first = self.first_cuda_for(cc)
        if first is None or _release(cuda) >= first:
            return None
        return next(r for r in self.rows if r.cc[0] == cc[0] and r.cc[1] <= cc[1] and r.min_cuda == first)

    def cuda_dropped(self, cuda: Version, cc: CC) -> ArchRow | None:
        """The row of `cc` when `cuda` is newer than the last toolkit that targets it (no build of that
        CUDA can carry code for this GPU), else None."""
        row = self.row(cc)
        if row is None or row.last_cuda is None or _release(cuda) <= row.last_cuda:
            return None
        return row


def _release(version: Version) -> Version:
    """12.5.1 compares as 12.5 against toolkit rows written as major.minor."""
    return Version(".".join(str(p) for p in version.release[:2]))


def load_architectures(path: Path) -> Architectures:
    """Read and check architectures.toml: every compute capability once, versions and branches well-formed."""
    reader = Reader(path)
    meta = reader.meta("architectures", {"meta": "table", "arch": "tables"})
    rows: list[ArchRow] = []
    for key, row in reader.rows("arch", _ARCH):
        cc = reader.cc(row["cc"], f"{key}.cc")
        min_cuda = reader.version(row["min_cuda"], f"{key}.min_cuda", "11.1")
        last = reader.version(row["last_cuda"], f"{key}.last_cuda", "12.9") if "last_cuda" in row else None
        if last is not None and last < min_cuda:
            raise reader.fail(f"{key}.last_cuda", f"{last} is older than min_cuda {min_cuda}")
        branch = None
        if "last_driver_branch" in row:
            text = row["last_driver_branch"]
            if not (text.startswith("R") and text[1:].isdigit()):
                raise reader.fail(f"{key}.last_driver_branch", f"{text!r} is not a driver branch", "e.g. 'R470'")
            branch = int(text[1:])
        cudnn = row.get("cudnn_min_major")
        if cudnn is not None:
            reader.int_range(cudnn, f"{key}.cudnn_min_major", 1, 99)
        rows.append(
            ArchRow(cc, row["name"], min_cuda, last, branch, cudnn, tuple(row.get("products", ())), row["source"])
        )
    reader.unique(((f"arch[{i}].cc", r.cc) for i, r in enumerate(rows)), "compute capability")
    ordered = tuple(sorted(rows, key=lambda r: r.cc))
    return Architectures(meta, ordered)


def describe_family(table: Architectures, cc: CC) -> str:
    """'compute capability 8.6 (Ampere)' for messages."""
    row = table.row(cc)
    return f"compute capability {format_cc(cc)}" + (f" ({row.name})" if row else "")
