"""A host profile captured from a known-good host, so that the rest of a fleet is checked against it.

`gpuconform profile capture [--facts FILE] > fleet.toml` writes what the good host is, in the
keys a profile file already has (expect/profiles.py): its GPU model, count, compute capability,
memory, PCIe link, persistence mode and ECC; its driver, pinned to the good host's branch; its
TensorFlow, pinned to the release, and, where PyTorch or JAX is installed beside it, a `[frameworks]`
table pinning each framework it has. `pytest --host-profile fleet.toml` on another host then fails
where that host drifted from the good one.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from gpuconform.expect.framework_needs import installed_frameworks
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import format_cc

if TYPE_CHECKING:
    from gpuconform.expect.matrix import Matrices
    from gpuconform.facts.model import Facts
    from gpuconform.facts.model import GpuFacts


def capture_profile(facts: Facts, matrices: Matrices, name: str) -> str:
    """The TOML text of a profile that `facts`' host passes and a host that differs from it fails."""
    nvml = facts.driver.nvml
    gpus = nvml.gpus
    pci = [d for d in facts.driver.pci_devices if d.vendor_id == 0x10DE]
    count = max(len(gpus), len(pci))
    models = {m.key for m in (matrices.gpu_by_name(g.name) for g in gpus) if m is not None}
    if not gpus:
        models = {m.key for m in (matrices.gpu_by_pci_id(d.device_id) for d in pci) if m is not None}
    model = next(iter(models)) if len(models) == 1 else None
    gpu_names = sorted({g.name for g in gpus}) or ([model] if model else [])
    tf = facts.packages.tensorflow
    installed = installed_frameworks(facts.packages)
    driver = nvml.driver_version or facts.driver.kernel_module_version
    summary = [f"{count} x {', '.join(gpu_names)}" if count else "no GPU"]
    summary += [f"driver {driver}"] if driver and count else []
    summary += [f"{tf.name} {tf.version}"] if tf else ["no TensorFlow"]
    summary += [f"{p.name} {p.version}" for name, p in installed.items() if name != "tensorflow"]
    lines = [
        f"# Captured by `gpuconform profile capture` from {facts.host.hostname} ({facts.host.collected_at}).",
        "# Check another host against it: pytest --host-profile THIS_FILE. Every key is documented in README.md.",
        "[profile]",
        f"name = {_string(name)}",
        f"description = {_string('like ' + facts.host.hostname + ': ' + '; '.join(summary))}",
        "",
        "[gpus]",
        f"count = {count}",
    ]
    if model is not None:
        lines.append(f"model = {_string(model)}")
    lines += _gpu_lines(gpus)
    if set(installed) - {"tensorflow"}:
        # With the table, it alone says what is required (TensorFlow's [tensorflow] required and version too).
        lines += ["", "[frameworks]", "# The good host's releases: another release of any of them is drift."]
        lines += [f"{name} = {_string('==' + p.version)}" for name, p in installed.items()]
        lines += ["", "[tensorflow]"] if tf is not None else []
    else:
        lines += ["", "[tensorflow]", f"required = {_bool(tf is not None)}"]
        lines += [f"version = {_string('==' + tf.version)}"] if tf is not None else []
    if tf is not None:
        lines.append(f"gpu_build = {_bool(count > 0 and tf.name != 'tensorflow-cpu')}")
        lines.append(
            "# The CUDA libraries are judged against this TensorFlow's build (matrices/tensorflow.toml), "
            "so pinning it pins them."
        )
    if driver and count:
        branch = driver_branch(driver)
        lines += [
            "",
            "[driver]",
            f"# The good host's driver or newer, on its branch R{branch}.",
            f"min_version = {_string(driver)}",
            f"max_version = {_string(f'{branch + 1}')}",
        ]
    return "\n".join(lines) + "\n"


def _gpu_lines(gpus: tuple[GpuFacts, ...]) -> list[str]:
    """The keys only what NVML measured can fill: the weakest GPU's value, so that the good host passes."""
    lines = []
    ccs = [g.compute_capability for g in gpus if g.compute_capability is not None]
    if ccs and len(set(ccs)) == 1:
        lines.append(f"compute_capability = {_string(format_cc(ccs[0]))}")
    for key, values in (
        ("min_memory_mib", [g.memory_total_mib for g in gpus]),
        ("min_pcie_gen", [g.pcie_gen_max for g in gpus]),
        ("min_pcie_width", [g.pcie_width_max for g in gpus]),
    ):
        known = [v for v in values if v is not None and v > 0]
        if known and len(known) == len(gpus):
            lines.append(f"{key} = {min(known)}")
    for key, states in (
        ("persistence_mode", [g.persistence_mode for g in gpus]),
        ("ecc", [g.ecc_enabled for g in gpus]),
    ):
        if gpus and all(states):  # required only where the good host has it on every GPU
            lines.append(f"{key} = true")
    return lines


def _string(text: str) -> str:
    # A JSON string is a TOML basic string (json.dumps escapes quotes, backslashes and controls).
    return json.dumps(text, ensure_ascii=False).replace("\x7f", "\\u007f")


def _bool(value: bool) -> str:
    return "true" if value else "false"
