"""tools/verify_framework_matrices.py's judging and report: the readings against torch.toml and
jax.toml, and docs/data-verification-frameworks.md."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Any

from fatbins import summary_of
from packaging.requirements import Requirement
from packaging.version import Version
from verify_matrices import Difference
from verify_matrices import NotVerified
from verify_matrices import _same_specifier

from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.expect.framework_tables import load_framework_tables
from gpuconform.expect.tables.jax import PLUGINS

if TYPE_CHECKING:
    from verify_framework_matrices import FrameworkWheel

TORCH, JAX = "torch.toml", "jax.toml"


def compare_all(readings: list[FrameworkWheel], matrices: Path | None) -> tuple[FrameworkTables, list[Difference]]:
    tables = load_framework_tables(matrices)
    out: list[Difference] = []
    for r in readings:
        judge = compare_torch if r.package == "torch" else compare_jax if r.package == "jax" else compare_plugin
        out += judge(r, tables)
    return tables, out


def _differ(r: FrameworkWheel, out: list[Difference], table: str) -> Any:
    def diff(key: str, matrix: object, wheel: object, where: str) -> None:
        out.append(Difference(f"{r.package} {r.version}", table, key, str(matrix), str(wheel), where))

    return diff


def compare_torch(r: FrameworkWheel, tables: FrameworkTables) -> list[Difference]:
    out: list[Difference] = []
    diff = _differ(r, out, TORCH)
    info, where = r.version_py, r.files.get("version_py", "torch/version.py")
    if not info.get("cuda"):
        diff(f"release {r.version}", "a CUDA build", f"cuda = {info.get('cuda')!r}", where)
        return out
    variant = Version(info.get("__version__", r.version)).local or "cu" + "".join(info["cuda"].split(".")[:2])
    row = next((b for b in tables.torch.builds_of(r.version) if b.variant == variant), None)
    if row is None:
        diff(f"build {r.version} {variant}", "no row", f"{r.filename} on PyPI", "PyPI")
        return out
    key = f"build {r.version} {variant}"
    if Version(info["cuda"]) != row.cuda:
        diff(f"{key} cuda", row.cuda, info["cuda"], f"{where} cuda")
    cudnn = cudnn_pin(r)
    if cudnn is None or Version(cudnn) != row.cudnn:
        diff(f"{key} cudnn", row.cudnn, cudnn or "no == pin", r.files.get("metadata", "METADATA") + " Requires-Dist")
    flags = r.arch_list()
    if flags != list(row.arch_list):
        found = flags or f"{len(r.arch_flags)} arch-flags strings"
        diff(f"{key} arch_list", list(row.arch_list), found, r.files.get("arch_flags", "?"))
    fat = fatbin_arch_list(r)
    if fat is not None and fat != list(row.arch_list):
        where = f"{r.files.get('fatbins')} fatbins (the architectures in half or more of them)"
        diff(f"{key} arch_list", list(row.arch_list), fat, where)
    if not row.pypi_default:
        diff(f"{key} pypi_default", "false", "the build PyPI serves", r.filename)
    if row.verified != "wheel":
        diff(f"{key} verified", row.verified, "wheel", r.filename)
    return out


def cudnn_pin(r: FrameworkWheel) -> str | None:
    """The version of torch's == pin on nvidia-cudnn-cuNN."""
    for text in r.requires:
        req = Requirement(text)
        if req.name.startswith("nvidia-cudnn-cu"):
            pins = [s.version for s in req.specifier if s.operator == "=="]
            return pins[0] if pins else None
    return None


def fatbin_arch_list(r: FrameworkWheel) -> list[str] | None:
    """get_arch_list() as the fatbins of libtorch_cuda.so give it: sm_XY for SASS that half or more
    of the fatbins with SASS carry, compute_XY for PTX that half or more of all fatbins carry.

    Not "every fatbin": some kernels are built for a few architectures only (2.15.0: 29 of 505
    fatbins with SASS hold sm_90 and sm_100 alone; sm_103 is in 59 from 2.11 on).
    """
    fat = r.fatbins
    if fat is None or not fat.fatbins:
        return None

    def number(arch: str) -> int:
        major, minor = arch.split(".")
        return int(major) * 10 + int(minor)

    sass = sorted((a for a, n in fat.sass.items() if 2 * n >= fat.with_sass), key=number)
    ptx = sorted((a for a, n in fat.ptx.items() if 2 * n >= fat.fatbins), key=number)
    return [f"sm_{number(a)}" for a in sass] + [f"compute_{number(a)}" for a in ptx]


def compare_jax(r: FrameworkWheel, tables: FrameworkTables) -> list[Difference]:
    out: list[Difference] = []
    diff = _differ(r, out, JAX)
    row = tables.jax.release(r.version)
    where = r.files.get("metadata", "METADATA") + " Requires-Dist"
    if row is None:
        diff(f"jax {r.version}", "no row", f"{r.filename} on PyPI", "PyPI")
        return out
    jaxlib = r.requirement("jaxlib")
    if jaxlib is None or not _same_specifier(str(jaxlib.specifier), str(row.jaxlib)):
        diff(f"jax {r.version} jaxlib", row.jaxlib, jaxlib.specifier if jaxlib else "absent", where)
    for extra, listed in (("cuda12", row.cuda12_plugin), ("cuda13", row.cuda13_plugin)):
        req = r.requirement(f"jax-{extra}-plugin", extra)
        wheel = str(req.specifier) if req else None
        if (wheel is None) != (listed is None) or (wheel and listed and not _same_specifier(wheel, str(listed))):
            at = f"{where} (extra == '{extra}')"
            diff(f"jax {r.version} {extra}_plugin", listed or "absent", wheel or "absent", at)
    return out


def compare_plugin(r: FrameworkWheel, tables: FrameworkTables) -> list[Difference]:
    out: list[Difference] = []
    diff = _differ(r, out, JAX)
    row = tables.jax.plugin(r.package, r.version)
    where = r.files.get("metadata", "METADATA") + " Requires-Dist"
    if row is None:
        diff(f"plugin {r.package} {r.version}", "no row", f"{r.filename} on PyPI", "PyPI")
        return out
    major = PLUGINS[r.package]
    wanted = {
        "pjrt": (r.requirement(f"jax-cuda{major}-pjrt"), row.pjrt, where),
        "cuda_runtime": (
            _with_cuda(r, f"nvidia-cuda-runtime-cu{major}", "nvidia-cuda-runtime"),
            row.cuda_runtime,
            where,
        ),
        "cudnn": (_with_cuda(r, f"nvidia-cudnn-cu{major}"), row.cudnn, where),
    }
    for name, (req, listed, at) in wanted.items():
        if req is None or not _same_specifier(str(req.specifier), str(listed)):
            diff(f"plugin {r.package} {r.version} {name}", listed, req.specifier if req else "absent", at)
    return out


def _with_cuda(r: FrameworkWheel, *names: str) -> Requirement | None:
    return next((req for n in names if (req := r.requirement(n, "with-cuda")) is not None), None)


# --- the report ----------------------------------------------------------------------------------------


def render(
    date: str,
    readings: list[FrameworkWheel],
    not_verified: list[NotVerified],
    differences: list[Difference],
    sources: list[str],
    tables: FrameworkTables,
) -> str:
    torch = [r for r in readings if r.package == "torch"]
    jax = [r for r in readings if r.package == "jax"]
    plugins = [r for r in readings if r.package in PLUGINS]
    docs_rows = [b for b in tables.torch.builds if b.verified == "docs"]
    lines = [
        "# Data verification: PyTorch and JAX",
        "",
        f"Written by `tools/verify_framework_matrices.py` on {date} (UTC). Do not edit by hand: run the tool",
        "again (`--offline` re-judges the cached readings). The TensorFlow tables are in",
        "[data-verification.md](data-verification.md).",
        "",
        "## Summary",
        "",
        f"- **{len(torch)}** torch, **{len(jax)}** jax and **{len(plugins)}** JAX CUDA plugin wheels verified, "
        f"**{len(not_verified)}** NOT verified.",
        f"- **{len(differences)}** differences between the wheels and torch.toml / jax.toml.",
        f"- **{len(docs_rows)}** torch.toml rows are `verified = \"docs\"` (variants not on PyPI): not judged here.",
        "",
        "## Sources",
        "",
        *[f"- {s}" for s in sources],
        "- matrices judged, with their `as_of`: "
        f"torch {tables.torch.meta.as_of.isoformat()}, jax {tables.jax.meta.as_of.isoformat()}",
        "",
        "## Not covered by this tool",
        "",
        "- torch CUDA variants other than the one PyPI serves (download.pytorch.org/whl/<variant>/): rows for them",
        "  say `verified = \"docs\"` and name their page.",
        "- jaxlib and jax-cudaNN-pjrt wheels: the exact-match rule is read from the jax and plugin METADATA.",
        "- The minimum driver: neither table stores one; it is cuda_drivers.toml's, which NVIDIA publishes as",
        "  release-note prose (see data-verification.md).",
        "",
        "## Differences",
        "",
    ]
    if differences:
        lines += ["| wheel | table | key | matrix | wheel says | read from |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {d.version} | {d.table} | {d.key} | {d.matrix} | {d.wheel} | `{d.read_from}` |" for d in differences
        ]
    else:
        lines.append("None: every wheel below agrees with torch.toml and jax.toml.")
    lines += ["", "## NOT verified", ""]
    if not_verified:
        lines += [f"- {n.package} {n.version}: {n.reason}" for n in not_verified]
    else:
        lines.append("None: every wheel the tool tried was read.")
    lines += [
        "",
        "## torch wheels",
        "",
        "`torch/version.py` gives `__version__`, `cuda` and `git_version`; the cuDNN pin is METADATA's",
        "`Requires-Dist: nvidia-cudnn-cuNN==`; arch flags is the string compiled into",
        "`torch/lib/libtorch_python.so` that `torch.cuda.get_arch_list()` splits; fatbins are those of",
        "`torch/lib/libtorch_cuda.so` (SASS / PTX per arch: in how many fatbins).",
        "",
        "| release | wheel (uploaded) | sha256 | read on | version.py | cuDNN pin | arch flags | fatbins | SASS | PTX"
        " |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in torch:
        info, fat = r.version_py, r.fatbins
        v = f"{info.get('__version__')}, cuda {info.get('cuda')}, git {str(info.get('git_version'))[:12]}"
        counts = (fat.fatbins, summary_of(fat.sass), summary_of(fat.ptx) or "none") if fat else ("absent", "", "")
        flags = "; ".join(f"`{f}`" for f in r.arch_flags) or "absent"
        lines.append(
            f"| {r.version} | `{r.filename}` ({r.upload_date}) | `{r.sha256[:16]}` | {r.read_on} | {v} "
            f"| {cudnn_pin(r)} | {flags} | {counts[0]} | {counts[1]} | {counts[2]} |"
        )
    lines += ["", "## jax and JAX CUDA plugin wheels", ""]
    lines += ["Each row: METADATA's `Requires-Dist` lines that the tables hold.", ""]
    lines += ["| wheel (uploaded) | sha256 | read on | requirements read |", "|---|---|---|---|"]
    for r in jax + plugins:
        wanted = [t for t in r.requires if t.startswith(("jaxlib", "jax-cuda", "nvidia-cuda-runtime", "nvidia-cudnn"))]
        shown = "; ".join(f"`{t}`" for t in wanted if "local" not in t and '"cuda"' not in t)
        lines.append(f"| `{r.filename}` ({r.upload_date}) | `{r.sha256[:16]}` | {r.read_on} | {shown} |")
    if docs_rows:
        lines += ["", "## torch.toml rows from the docs (not judged here)", ""]
        lines += [f"- {b.torch} {b.variant}: {b.source}" for b in docs_rows]
    return "\n".join(lines) + "\n"
