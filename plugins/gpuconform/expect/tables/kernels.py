"""matrices/kernels.toml: the SASS and PTX architectures each TensorFlow wheel carries."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from gpuconform.expect.tables.reader import CC
from gpuconform.expect.tables.reader import Reader
from gpuconform.expect.tables.reader import Schema
from gpuconform.expect.tables.reader import TableMeta
from gpuconform.expect.tables.reader import row_notes
from gpuconform.facts.versions import format_cc
from gpuconform.facts.versions import release_series


@dataclass(frozen=True)
class KernelRelease:
    """The CUDA code compiled into the wheels of some TensorFlow release series."""

    tf: tuple[str, ...]  # release series: ("2.17", "2.18", "2.19")
    sass: tuple[CC, ...]  # SASS in every fatbin that has SASS
    sass_partial: tuple[CC, ...]  # SASS in only some fatbins
    ptx: tuple[CC, ...]
    build_info_caps: tuple[str, ...]  # get_build_info()["cuda_compute_capabilities"], verbatim
    ptx_only_fatbins: int = 0
    notes: tuple[str, ...] = ()


_KERNELS_FILE: Schema = {"meta": "table", "release": "tables"}
_KERNEL_ROW: Schema = {
    "tf": "strings",
    "sass": "strings",
    "sass_partial": "strings",
    "ptx": "strings",
    "build_info_caps": "strings",
    "ptx_only_fatbins?": "integer",
    "notes?": "strings",
}


def load_kernels(path: Path) -> tuple[TableMeta, tuple[KernelRelease, ...]]:
    """Read kernels.toml."""
    r = Reader(path)
    meta = r.meta("kernels", _KERNELS_FILE)
    groups = []
    for key, k in r.rows("release", _KERNEL_ROW):
        r.nonempty(k["tf"], f"{key}.tf", "TensorFlow release series like '2.17'")
        for i, text in enumerate(k["tf"]):
            if release_series(r.version(text, f"{key}.tf[{i}]", "2.17")) != text:
                raise r.fail(f"{key}.tf[{i}]", f"{text!r} is not a release series", "'2.17'")
        sass = r.ccs(k["sass"], f"{key}.sass")
        partial = r.ccs(k["sass_partial"], f"{key}.sass_partial")
        ptx = r.ccs(k["ptx"], f"{key}.ptx")
        for i, cc in enumerate(partial):
            if cc in sass:
                raise r.fail(f"{key}.sass_partial[{i}]", f"{format_cc(cc)} is also in sass")
        _check_caps(r, k["build_info_caps"], f"{key}.build_info_caps", sass + partial, ptx)
        fatbins = r.int_range(k.get("ptx_only_fatbins", 0), f"{key}.ptx_only_fatbins", 0, 10**6)
        groups.append(
            KernelRelease(
                tf=tuple(k["tf"]),
                sass=sass,
                sass_partial=partial,
                ptx=ptx,
                build_info_caps=tuple(k["build_info_caps"]),
                ptx_only_fatbins=fatbins,
                notes=row_notes(k),
            )
        )
    series = [(f"release[{i}].tf[{j}]", s) for i, g in enumerate(groups) for j, s in enumerate(g.tf)]
    r.unique(series, "TensorFlow series")
    return meta, tuple(groups)


def _check_caps(r: Reader, caps: list[str], key: str, sass: tuple[CC, ...], ptx: tuple[CC, ...]) -> None:
    # build_info is a third reading of the same wheel: an sm_XY it lists must have SASS, a
    # compute_XY must have PTX. A mismatch is a typo in one of the lists.
    for i, cap in enumerate(caps):
        kind = cap.split("_")[0]
        if kind not in ("sm", "compute"):
            raise r.fail(f"{key}[{i}]", f"{cap!r} is not an arch name", "'sm_XY' or 'compute_XY'")
        listed, where = (sass, "sass or sass_partial") if kind == "sm" else (ptx, "ptx")
        if r.cc(cap, f"{key}[{i}]") not in listed:
            raise r.fail(f"{key}[{i}]", f"{cap} is not in {where}", f"archs listed in {where}")
