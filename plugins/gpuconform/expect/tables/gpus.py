"""matrices/gpus.toml: GPU models, how NVML and the PCI bus name them, and what they can run."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from packaging.version import Version

from gpuconform.expect.tables.reader import CC
from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes
from gpuconform.facts.versions import format_cc


@dataclass(frozen=True)
class GpuModel:
    """One GPU model: how NVML and the PCI bus name it, and what it can run."""

    key: str  # "t4", "a100-40gb"
    names: tuple[str, ...]  # exact NVML product names, current form first
    pci_device_ids: tuple[int, ...]
    compute_capability: CC
    architecture: str
    memory_mib: tuple[int, ...] = ()  # totals NVML reported in observed outputs
    memory_gb: int | None = None  # the marketed size
    last_driver_branch: int | None = None  # None: still supported by new branches
    min_driver_branch: int | None = None  # None: no constraint recorded
    notes: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        """The current NVML product name."""
        return self.names[0]

    @property
    def family(self) -> str:
        """What a profile may name instead of the key: "a100" for "a100-40gb"."""
        return self.key.split("-")[0]

    def answers_to(self, profile_model: str) -> bool:
        """Whether a profile's `gpus.model` ("a100", or the exact "a100-40gb") means this model."""
        return profile_model in (self.key, self.family)

    @property
    def compute_capability_text(self) -> str:
        """The compute capability as text, "7.5"."""
        return format_cc(self.compute_capability)

    @property
    def min_driver(self) -> Version | None:
        """The first driver of `min_driver_branch` (Version("570") sorts below every 570.x)."""
        return None if self.min_driver_branch is None else Version(str(self.min_driver_branch))


_GPUS_FILE: Schema = {"meta": "table", "gpu": "tables"}
_GPU_ROW: Schema = {
    "key": "string",
    "names": "strings",
    "pci_device_ids": "integers",
    "compute_capability": "string",
    "architecture": "string",
    "memory_mib?": "integers",
    "memory_gb?": "integer",
    "last_driver_branch?": "integer",
    "min_driver_branch?": "integer",
    "notes?": "strings",
}


def load_gpus(path: Path) -> tuple[TableMeta, tuple[GpuModel, ...]]:
    """Read gpus.toml."""
    r = Reader(path)
    meta = r.meta("gpus", _GPUS_FILE)
    models = []
    for key, g in r.rows("gpu", _GPU_ROW):
        if not re.fullmatch(r"[a-z0-9]+(?:-[a-z0-9]+)*", g["key"]):
            raise r.fail(f"{key}.key", f"{g['key']!r} is not a key", "lower-case words joined by '-'")
        r.nonempty(g["names"], f"{key}.names", "at least one NVML product name")
        r.nonempty(g["pci_device_ids"], f"{key}.pci_device_ids", "at least one PCI device id")
        for i, dev in enumerate(g["pci_device_ids"]):
            r.int_range(dev, f"{key}.pci_device_ids[{i}]", 0, 0xFFFF)
        for i, mib in enumerate(g.get("memory_mib", ())):
            r.int_range(mib, f"{key}.memory_mib[{i}]", 1, 10**7)
        for name, high in (("memory_gb", 10**4), ("last_driver_branch", 9999)):
            if name in g:
                r.int_range(g[name], f"{key}.{name}", 1, high)
        if "min_driver_branch" in g:
            r.int_range(g["min_driver_branch"], f"{key}.min_driver_branch", 1, 9999)
        models.append(
            GpuModel(
                key=g["key"],
                names=tuple(g["names"]),
                pci_device_ids=tuple(g["pci_device_ids"]),
                compute_capability=r.cc(g["compute_capability"], f"{key}.compute_capability"),
                architecture=g["architecture"],
                memory_mib=tuple(g.get("memory_mib", ())),
                memory_gb=g.get("memory_gb"),
                last_driver_branch=g.get("last_driver_branch"),
                min_driver_branch=g.get("min_driver_branch"),
                notes=row_notes(g),
            )
        )
    r.unique(((f"gpu[{i}].key", m.key) for i, m in enumerate(models)), "key")
    # One model may list a name with and without "NVIDIA "; two models may not share one.
    names = {(i, normalise_gpu_name(n)): j for i, m in enumerate(models) for j, n in enumerate(m.names)}
    r.unique(((f"gpu[{i}].names[{j}]", n) for (i, n), j in names.items()), "GPU name")
    ids = [(i, j, d) for i, m in enumerate(models) for j, d in enumerate(m.pci_device_ids)]
    r.unique(((f"gpu[{i}].pci_device_ids[{j}]", f"0x{d:04x}") for i, j, d in ids), "PCI id")
    return meta, tuple(models)


def normalise_gpu_name(name: str) -> str:
    """The form GPU names are compared in: case-folded, spaces collapsed, no "NVIDIA " prefix.

    Older drivers print "GeForce RTX 2080 Ti" where newer ones print "NVIDIA GeForce RTX 2080 Ti".
    """
    folded = " ".join(name.split()).casefold()
    return folded[len("nvidia ") :] if folded.startswith("nvidia ") else folded
