"""The CUDA code in a wheel's shared objects: SASS and PTX architectures per fatbinary.

A CUDA fatbinary starts with the magic 0xBA55ED50 (little-endian), a 16-bit version (1),
a 16-bit header size (16) and a 64-bit size of the entries that follow. Each entry has a
16-bit kind (1 = PTX, 2 = ELF, i.e. SASS), a 32-bit header size at offset 4, a 64-bit
payload size at offset 8 and the 32-bit SM number at offset 28 (90 for sm_90 /
compute_90); the next entry starts after header and payload. A match of the magic whose
header or entries do not parse this way is not a fatbin and is skipped. The method
reproduces the counts in reference/matrices.md §4 (TF 2.21.0: 1479 fatbins, sm_90 SASS in
330, no PTX-only fatbin), which were validated against cuobjdump on TF 2.3.0.

Used by tools/verify_matrices.py and tools/verify_framework_matrices.py only.
"""

from __future__ import annotations

import contextlib
import mmap
import shutil
import struct
import tempfile
import zipfile
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

MAGIC = struct.pack("<I", 0xBA55ED50)
KIND_PTX, KIND_SASS = 1, 2
#: Shared objects smaller than this hold no TensorFlow kernels (reference §7: ">= 2 MB").
MIN_OBJECT_BYTES = 2_000_000


@dataclass
class FatbinSummary:
    """Per arch ("9.0"), how many fatbins carry its SASS and its PTX."""

    fatbins: int = 0
    with_sass: int = 0  # fatbins that carry any SASS
    ptx_only: int = 0  # fatbins with PTX and no SASS
    sass: dict[str, int] = field(default_factory=dict)
    ptx: dict[str, int] = field(default_factory=dict)
    objects_scanned: int = 0
    objects_with_fatbins: int = 0

    def sass_everywhere(self) -> list[str]:
        """Archs whose SASS is in every fatbin that has SASS (kernels.toml `sass`)."""
        return _sorted(a for a, n in self.sass.items() if n == self.with_sass)

    def sass_somewhere(self) -> list[str]:
        """Archs whose SASS is in only some of them (kernels.toml `sass_partial`)."""
        return _sorted(a for a, n in self.sass.items() if n < self.with_sass)

    def add(self, sass: set[int], ptx: set[int]) -> None:
        self.fatbins += 1
        self.with_sass += bool(sass)
        self.ptx_only += bool(ptx and not sass)
        for counts, archs in ((self.sass, sass), (self.ptx, ptx)):
            for arch in archs:
                name = f"{arch // 10}.{arch % 10}"
                counts[name] = counts.get(name, 0) + 1


def _sorted(archs: Iterable[str]) -> list[str]:
    return sorted(archs, key=lambda a: tuple(int(p) for p in a.split(".")))


def scan_buffer(data: bytes | mmap.mmap, summary: FatbinSummary) -> int:
    """Add every fatbin in `data` to `summary`; return how many were found."""
    found = 0
    pos, end_of_data = 0, len(data)
    while (start := data.find(MAGIC, pos)) >= 0:
        archs = _parse(data, start, end_of_data)
        if archs is None:
            pos = start + 4
            continue
        sass, ptx, end = archs
        summary.add(sass, ptx)
        found += 1
        pos = end
    return found


def _parse(data: bytes | mmap.mmap, start: int, limit: int) -> tuple[set[int], set[int], int] | None:
    if start + 16 > limit:
        return None
    _magic, version, header, size = struct.unpack_from("<IHHQ", data, start)
    end = start + 16 + size
    if version != 1 or header != 16 or size == 0 or end > limit:
        return None
    sass: set[int] = set()
    ptx: set[int] = set()
    entry = start + 16
    while entry + 32 <= end:
        kind, _version, entry_header, payload = struct.unpack_from("<HHIQ", data, entry)
        if kind not in (KIND_PTX, KIND_SASS) or entry_header < 32 or entry + entry_header + payload > end:
            return None
        (ptx if kind == KIND_PTX else sass).add(struct.unpack_from("<I", data, entry + 28)[0])
        entry += entry_header + payload
    return (sass, ptx, end) if sass or ptx else None


def scan_shared_objects(
    wheel: zipfile.ZipFile, scratch: Path, only: Callable[[str], bool] | None = None
) -> FatbinSummary:
    """Scan every shared object of 2 MB or more in the wheel, one at a time through `scratch`;
    `only`, when given, picks the members (by their path in the wheel) that are scanned."""
    summary = FatbinSummary()
    for info in wheel.infolist():
        base = info.filename.rsplit("/", 1)[-1]
        if ".so" not in base or info.file_size < MIN_OBJECT_BYTES:
            continue
        if only is not None and not only(info.filename):
            continue
        summary.objects_scanned += 1
        with mapped_member(wheel, info, scratch) as data:
            if scan_buffer(data, summary):
                summary.objects_with_fatbins += 1
    return summary


@contextlib.contextmanager
def mapped_member(wheel: zipfile.ZipFile, info: zipfile.ZipInfo, scratch: Path) -> Iterator[mmap.mmap]:
    """One member of the wheel, unpacked into `scratch` and mapped read-only (deleted on exit)."""
    with tempfile.TemporaryFile(dir=scratch) as tmp:
        with wheel.open(info) as member:
            shutil.copyfileobj(member, tmp, 1 << 22)
        tmp.flush()
        with mmap.mmap(tmp.fileno(), 0, access=mmap.ACCESS_READ) as data:
            yield data


def fatbin(entries: list[tuple[int, int]], payload: bytes = b"\0" * 8) -> bytes:
    """A fatbinary with these (kind, sm) entries: what the self-tests embed in fabricated wheels."""
    body = b"".join(
        struct.pack("<HHIQIII", kind, 1, 64, len(payload), 0, 0, 0) + struct.pack("<I", sm) + b"\0" * 32 + payload
        for kind, sm in entries
    )
    return MAGIC + struct.pack("<HHQ", 1, 16, len(body)) + body


def summary_of(counts: dict[str, int]) -> str:
    """'6.0 x1479, 9.0 x330': an arch count for the report."""
    return ", ".join(f"{a} x{counts[a]}" for a in _sorted(counts))
