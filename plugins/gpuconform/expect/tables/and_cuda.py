"""matrices/and_cuda.toml: the pins of tensorflow[and-cuda] per release."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes

WHEEL_SUFFIXES = ("cu11", "cu12", "cu13")
# PEP 508 distribution names (the "NAME" production), e.g. "nvidia-cudnn-cu12".
_DIST_NAME_RE = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?")


@dataclass(frozen=True)
class AndCudaRelease:
    """The pins of `tensorflow[and-cuda]` shared by some TensorFlow releases."""

    tf: tuple[Version, ...]
    suffix: str  # "cu11", "cu12"
    pins: tuple[tuple[str, str], ...]  # (distribution, specifier), in file order
    notes: tuple[str, ...] = ()


_AND_CUDA_FILE: Schema = {"meta": "table", "release": "tables"}
_AND_CUDA_ROW: Schema = {"tf": "strings", "suffix": "string", "pins": "table", "notes?": "strings"}


def load_and_cuda(path: Path) -> tuple[TableMeta, tuple[AndCudaRelease, ...]]:
    """Read and_cuda.toml."""
    r = Reader(path)
    meta = r.meta("and_cuda", _AND_CUDA_FILE)
    groups = []
    for key, a in r.rows("release", _AND_CUDA_ROW):
        r.nonempty(a["tf"], f"{key}.tf", "TensorFlow versions like '2.18.0'")
        r.nonempty(list(a["pins"]), f"{key}.pins", "distribution = specifier")
        for name, spec in a["pins"].items():
            pin = f"{key}.pins.{name}"
            if not _DIST_NAME_RE.fullmatch(name):
                raise r.fail(pin, f"{name!r} is not a distribution name", "'nvidia-cudnn-cu12'")
            r.check(spec, "string", pin)
            r.specifier(spec, pin)
        groups.append(
            AndCudaRelease(
                tf=tuple(r.version(t, f"{key}.tf[{i}]", "2.18.0") for i, t in enumerate(a["tf"])),
                suffix=r.choice(a["suffix"], f"{key}.suffix", WHEEL_SUFFIXES),
                pins=tuple(a["pins"].items()),
                notes=row_notes(a),
            )
        )
    versions = [(f"release[{i}].tf[{j}]", v) for i, g in enumerate(groups) for j, v in enumerate(g.tf)]
    r.unique(versions, "TensorFlow version")
    return meta, tuple(groups)
