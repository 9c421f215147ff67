"""Why a JAX install cannot use this host's GPUs, and the fix: the framework layer's judgements for jax.

Each function takes what the child answered (`observations`), the host's facts and the
matrices (jax.toml through `gpuconform.expect.framework_tables`, a plugin's minimum driver
through cuda_drivers.toml) and returns the Finding a check fails (or warns) with, or None.
"""

from __future__ import annotations

from packaging.version import Version

from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.expect.matrix import MatrixKeyError
from gpuconform.expect.tables.jax import PLUGINS
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.frameworks.devices import Visibility
from gpuconform.frameworks.gpus import describe_gpus
from gpuconform.frameworks.gpus import first_sentence
from gpuconform.frameworks.jax.observations import NO_CUDA_JAXLIB
from gpuconform.frameworks.jax.observations import JaxBuildInfo
from gpuconform.frameworks.jax.observations import JaxDevices
from gpuconform.verdict.check import Finding

MATRIX = "matrices/jax.toml"


def no_cuda_plugin(
    installed: PackageInfo,
    build: JaxBuildInfo,
    devices: JaxDevices | None,
    tables: FrameworkTables,
    driver: str | None,
    gpus: str,
    source: str,
) -> Finding | None:
    """jaxlib without a CUDA plugin where the profile expects NVIDIA GPUs: JAX falls back to the CPU."""
    if build.plugins:
        return None
    said = next((w for w in (devices.warnings if devices else ()) if NO_CUDA_JAXLIB in w), None)
    gpu = devices.backend("gpu") if devices else None
    found = f"installed: {_listed(build)}; no jax-cuda12-plugin or jax-cuda13-plugin"
    if said:
        found += f"; JAX logged: {said}"
    elif gpu is not None and gpu.error:
        found += f"; jax.devices('gpu') raised {gpu.error}"
    return Finding(
        f"jax {installed.version} has no CUDA plugin: jaxlib {build.jaxlib} runs on the CPU only",
        expected=f"jaxlib with a JAX CUDA plugin of the same version ({gpus})",
        found=found,
        source=source,
        why='without jax-cudaNN-plugin JAX says "An NVIDIA GPU may be present on this machine, but a CUDA-enabled '
        'jaxlib is not installed. Falling back to cpu." and every computation runs on the CPU',
        fix=f"pip install -U '{plugin_extra(installed.version, tables, driver)}'",
    )


def versions_match(installed: PackageInfo, build: JaxBuildInfo, tables: FrameworkTables) -> Finding | None:
    """jaxlib, the CUDA plugins and their PJRT wheels are one version, and jax accepts that jaxlib."""
    problems = list(tables.jax.mismatches(build.versions))
    jaxlib = build.versions.get("jaxlib") or build.jaxlib
    accepted = tables.jax.jaxlib_problem(installed.version, jaxlib) if jaxlib else None
    if accepted:
        problems.insert(0, accepted)
    if not problems:
        return None
    extra = "jax[cuda13]" if "jax-cuda13-plugin" in build.plugins else "jax[cuda12]" if build.plugins else "jax"
    return Finding(
        f"jax {installed.version}'s jaxlib and CUDA plugin versions do not match: {problems[0]}",
        expected="jaxlib, jax-cudaNN-plugin and jax-cudaNN-pjrt at one version, one jax accepts "
        f"({MATRIX}: the plugins require their own PJRT version; jax's cudaNN extras pin one version)",
        found=f"installed: {_listed(build)}; " + "; ".join(problems),
        source=f"importlib.metadata in a JAX child; {MATRIX}",
        why="a plugin built for another jaxlib fails to load (JAX logs that the CUDA backend failed to "
        "initialize) or crashes at the first computation; JAX then runs on the CPU",
        fix=f"pip install -U '{extra}=={installed.version}' (it installs jaxlib and the plugin at the same version)",
    )


def plugin_runs_on_driver(
    installed: PackageInfo, build: JaxBuildInfo, tables: FrameworkTables, driver: str
) -> Finding | None:
    """Each installed CUDA plugin's CUDA is one this driver runs (its minimum through cuda_drivers.toml)."""
    for package, version in build.plugins.items():
        row = tables.jax.plugin(package, version)
        if row is None:
            continue
        requirement = tables.jax_driver(row)
        if requirement.satisfied_by(Version(driver)) is not None:
            continue
        floor = requirement.minor_compat or requirement.full
        fix = f"upgrade the NVIDIA driver to >= {floor} ({requirement.toolkit_label})"
        other = _runnable_extra(installed.version, tables, Version(driver), exclude=package)
        if other:
            pjrt = package.replace("-plugin", "-pjrt")
            fix += (
                f"; or use the plugin this driver runs: pip uninstall -y {package} {pjrt} && pip install -U '{other}'"
            )
        return Finding(
            f"{package} {version} needs CUDA {row.cuda}, which needs NVIDIA driver >= {floor}; this host has {driver}",
            expected=f"driver >= {floor} for CUDA {row.cuda} (matrices/cuda_drivers.toml: {requirement.toolkit_label})",
            found=f"driver {driver}; {package} {version} requires nvidia-cuda-runtime{row.cuda_runtime}",
            source=f"importlib.metadata in a JAX child; {MATRIX}; the driver version from NVML",
            why="the CUDA backend then fails to initialise and JAX falls back to the CPU",
            fix=fix,
        )
    return None


def sees_gpus(
    installed: PackageInfo, devices: JaxDevices, expected: tuple[GpuFacts, ...], shown: Visibility, source: str
) -> Finding | None:
    """jax.devices('gpu') lists the GPUs the profile promises (those CUDA_VISIBLE_DEVICES shows)."""
    seen = devices.gpus
    if len(seen) >= len(expected):
        return None
    gpu = devices.backend("gpu")
    if shown.value is not None and len(shown.gpus) < len(expected):
        cause, fix = shown.describe(), "unset CUDA_VISIBLE_DEVICES or list every GPU the job should use"
    elif devices.warnings:
        cause = first_sentence(devices.warnings[0])
        fix = "read JAX's warning: it names why the CUDA backend did not start"
    elif gpu is not None and gpu.error:
        cause = first_sentence(gpu.error)
        fix = "check the driver layer's checks and the JAX CUDA plugin (framework::jax_build_can_use_the_gpu)"
    else:
        cause = "JAX gave no reason"
        fix = "check the driver layer's checks and CUDA_VISIBLE_DEVICES; run nvidia-smi in the same environment"
    kinds = ", ".join(d.kind or "?" for d in seen) or "none"
    return Finding(
        f"JAX sees {len(seen)} of the {len(expected)} GPU(s) expected: {cause}",
        expected=describe_gpus(expected),
        found=f"jax.devices('gpu'): {kinds}; default backend {devices.default_backend}"
        + (f"; warnings: {' | '.join(devices.warnings)}" if devices.warnings else ""),
        source=source,
        why="a GPU JAX does not list runs nothing; computations silently run on the CPU",
        fix=fix,
    )


# ---- which plugin to install ------------------------------------------------------------------


def plugin_extra(jax: str, tables: FrameworkTables, driver: str | None) -> str:
    """'jax[cuda13]==0.10.2': the extra of this jax whose plugin the driver runs (the newest CUDA when unknown)."""
    found = _runnable_extra(jax, tables, Version(driver) if driver else None)
    return found or f"jax[cuda12]=={jax}"


def _runnable_extra(jax: str, tables: FrameworkTables, driver: Version | None, exclude: str = "") -> str | None:
    for package in sorted(PLUGINS, key=lambda p: -PLUGINS[p]):
        if package == exclude:
            continue
        row = tables.jax.plugin(package, jax)
        if row is None:
            continue
        try:
            runs = driver is None or tables.jax_driver(row).satisfied_by(driver) is not None
        except MatrixKeyError:
            runs = False
        if runs:
            return f"jax[cuda{PLUGINS[package]}]=={jax}"
    return None


def _listed(build: JaxBuildInfo) -> str:
    return ", ".join(f"{n} {v}" for n, v in build.installed) or "no jaxlib distribution"
