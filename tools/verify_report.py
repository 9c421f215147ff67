"""docs/data-verification.md: the Markdown that tools/verify_matrices.py writes."""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

from fatbins import summary_of

if TYPE_CHECKING:
    from verify_matrices import Report
    from verify_matrices import WheelReading


def render(report: Report) -> str:
    bad_gpus = [c for c in report.gpu_checks if c.problem]
    lines = [
        "# Data verification",
        "",
        f"Written by `tools/verify_matrices.py` on {report.date} (UTC). Do not edit by hand: run the tool again",
        "(`python tools/verify_matrices.py --pci-ids FILE`; `--offline` re-judges the cached readings).",
        "",
        "## Summary",
        "",
        f"- **{len(report.readings)}** TensorFlow wheels verified, **{len(report.not_verified)}** NOT verified.",
        f"- **{len(report.differences)}** differences between the wheels and the matrices.",
    ]
    if report.gpu_checks:
        ids = len(report.gpu_checks)
        lines.append(f"- **{ids}** PCI ids of gpus.toml checked against pci.ids, **{len(bad_gpus)}** problems.")
    else:
        lines.append("- gpus.toml was NOT checked against a pci.ids (no `--pci-ids` given).")
    lines += ["", "## Sources", ""]
    lines += [f"- {s}" for s in report.sources]
    if report.pci_ids_source:
        lines.append(f"- pci.ids version {report.pci_ids_version or '?'}: {report.pci_ids_source}")
    lines.append("- matrices judged, with their `as_of`: " + ", ".join(f"{k} {v}" for k, v in report.as_of.items()))
    lines += [
        "",
        "## Not covered by this tool",
        "",
        "- `cuda_drivers.toml` (CUDA toolkit -> driver): NVIDIA publishes it only as release-note prose; its rows",
        "  name their sources and mark the third-party-sourced ones (`third_party = true`).",
        "- `gpus.toml` compute capabilities and NVML names: checked by hand against developer.nvidia.com/cuda-gpus",
        "  and the open-gpu-kernel-modules README (see the table's sources); only PCI ids and names are checked here.",
        "- `sonames.toml` and `keras_preprocessing.toml`.",
        f"- Wheels over {report.max_wheel_mib} MiB (`--max-wheel-mib`) are listed under NOT verified, never skipped.",
    ]
    lines += ["", "## Differences", ""]
    if report.differences:
        lines += ["| release | table | key | matrix says | wheel says | read from |", "|---|---|---|---|---|---|"]
        lines += [
            f"| {d.version} | {d.table} | {d.key} | {_cell(d.matrix)} | {_cell(d.wheel)} | {_cell(d.read_from)} |"
            for d in report.differences
        ]
    else:
        lines.append("None: every wheel below agrees with tensorflow.toml, kernels.toml and and_cuda.toml.")
    lines += ["", "## NOT verified", ""]
    if report.not_verified:
        lines += ["| release | package | why |", "|---|---|---|"]
        lines += [f"| {n.version} | {n.package} | {_cell(n.reason)} |" for n in report.not_verified]
    else:
        lines.append("None: every wheel the tool tried was read.")
    lines += ["", "## GPUs against pci.ids", ""]
    if report.gpu_checks:
        lines += ["| gpus.toml key | PCI id | pci.ids name | result |", "|---|---|---|---|"]
        lines += [
            f"| {c.key} | {c.pci_id} | {_cell(c.pci_name or '(absent)')} | {_cell(c.problem or 'ok')} |"
            for c in report.gpu_checks
        ]
    else:
        lines.append("Not checked.")
    lines += [
        "",
        "## Wheels verified",
        "",
        "Each wheel was downloaded from PyPI, its sha256 checked against the registry's, read and deleted.",
        "build info is `tensorflow/python/platform/build_info.py`; `cuda_config.h` and the cuDNN header are",
        "the copies under `tensorflow/include/`; pins are METADATA's `Requires-Dist` with `extra == 'and-cuda'`;",
        "fatbins are every CUDA fatbinary in the wheel's shared objects of 2 MB or more (SASS / PTX per arch:",
        "in how many fatbins).",
        "",
        "| release | wheel (uploaded) | sha256 | read on | build info | cuda_config.h | cuDNN header |"
        " fatbins | SASS | PTX | PTX-only | and-cuda pins | Requires-Python |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(r) for r in report.readings]
    lines.append("")
    return "\n".join(lines)


def _row(r: WheelReading) -> str:
    info = r.build_info
    shown = {
        k: info[k]
        for k in ("cuda_version", "cudnn_version", "cuda_version_number", "cudnn_version_number")
        if k in info
    }
    caps = info.get("cuda_compute_capabilities")
    build = ", ".join(f"{k}={v}" for k, v in shown.items()) or "no CUDA keys"
    if caps is not None:
        build += f", caps={'/'.join(caps)}"
    if "is_cuda_build" in info:
        build += f", is_cuda_build={info['is_cuda_build']}"
    config = r.cuda_config
    header = "; ".join(
        f"{k.removeprefix('TF_')}={config[k]}"
        for k in ("TF_CUDA_VERSION", "TF_CUDNN_VERSION", "TF_CUDA_COMPUTE_CAPABILITIES", "TF_CUDA_CAPABILITIES")
        if k in config
    )
    fat = r.fatbins
    pins = "none" if r.and_cuda is None else f"{len(r.and_cuda)} pins"
    if r.and_cuda and "nvidia-cudnn-cu12" in r.and_cuda:
        pins += f" (cudnn {r.and_cuda['nvidia-cudnn-cu12']})"
    cells: list[Any] = [
        r.version,
        f"`{r.filename}` ({r.upload_date or '?'})",
        f"`{r.sha256[:16]}`",
        r.read_on,
        build,
        header or "absent",
        r.cudnn_header or "absent",
        f"{fat.fatbins} in {fat.objects_with_fatbins} objects" if fat else "not scanned",
        summary_of(fat.sass) if fat else "",
        summary_of(fat.ptx) if fat else "",
        fat.ptx_only if fat else "",
        pins,
        r.requires_python or "absent",
    ]
    return "| " + " | ".join(_cell(str(c)) for c in cells) + " |"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
