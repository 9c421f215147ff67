"""Why a JAX install cannot use this host's GPUs, and the fix: the framework layer's judgements for jax.

Each function takes what the child answered (`observations`), the host's facts and the
matrices (jax.toml through `gpuconform.expect.framework_tables`, a plugin's minimum driver
through cuda_drivers.toml) and returns the Finding a check fails (or warns) with, or None.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from packaging.version import Version

from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.expect.matrix import MatrixKeyError
from gpuconform.expect.tables.jax import PLUGINS
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.text import headline
from gpuconform.frameworks.devices import Visibility
from gpuconform.frameworks.gpus import describe_gpus
from gpuconform.frameworks.gpus import first_sentence
from gpuconform.frameworks.jax.observations import NO_CUDA_JAXLIB
from gpuconform.frameworks.jax.observations import JaxBuildInfo
from gpuconform.frameworks.jax.observations import JaxDevices
from gpuconform.verdict.check import Finding

MATRIX = "matrices/jax.toml"
BUILD_CHECK = "framework::jax_build_can_use_the_gpu"
#: XLA's fatal line for flags of XLA_FLAGS its release does not define (xla/parse_flags_from_env.cc), as
#: jaxlib 0.10.2 writes it: "F1202 ... parse_flags_from_env.cc:234] Unknown flags in XLA_FLAGS: --a=1 --b".
UNKNOWN_FLAGS = re.compile(r"Unknown flags? in (?P<variable>[A-Z_]+): (?P<flags>.+?)[ \t]*$", re.MULTILINE)


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


def unknown_xla_flags(installed: PackageInfo, log: str, environment: Mapping[str, str], source: str) -> Finding | None:
    """XLA aborted the child on flags of XLA_FLAGS it does not define (`log`: the child's stderr)."""
    unknown = UNKNOWN_FLAGS.search(log)
    if unknown is None:
        return None
    variable, flags = unknown["variable"], unknown["flags"].split()
    kept = " ".join(f for f in environment.get(variable, "").split() if f not in flags)
    return Finding(
        f"{variable} names flags XLA does not know ({' '.join(flags)}): every JAX program aborts when it "
        "starts a backend",
        expected=f"every flag of {variable} one the XLA of jax {installed.version}'s jaxlib defines",
        found=f"XLA aborted the child (exit status 1): {unknown.group(0)}",
        source=source,
        why=f"XLA reads {variable} once, when JAX starts its first backend, and aborts the process on a flag it "
        "does not define: XLA renames and removes flags between releases, so flags written for another "
        "jaxlib (or misspelt) kill every program before it computes anything",
        fix=f"export {variable}='{kept}'" if kept else f"unset {variable}",
    )


def no_backend(installed: PackageInfo, devices: JaxDevices, source: str) -> Finding | None:
    """jax.devices() raised: no backend started (JAX_PLATFORMS naming only platforms this host lacks)."""
    if devices.error is None:
        return None
    asked = devices.platforms
    setting = f"JAX_PLATFORMS={asked!r}" if asked else "JAX_PLATFORMS unset"
    return Finding(
        f"JAX starts no backend under this host's settings: jax.devices() raised {headline(devices.error)}"
        + (f" (JAX_PLATFORMS={asked})" if asked else ""),
        expected="jax.devices() lists a backend's devices (the CPU's at least)",
        found=f"jax.devices() raised {devices.error}; {setting}",
        source=source,
        why="JAX_PLATFORMS, where set, names the only platforms JAX may start (jax/_src/xla_bridge.py skips cuda "
        "where no NVIDIA GPU is visible, and fails on any other that does not start); with no backend every JAX "
        "program fails at its first array",
        fix=f"make {asked} start (the error names why; the driver layer and {BUILD_CHECK} check CUDA), or, where "
        f"the CPU will do, unset JAX_PLATFORMS or name cpu after it (export JAX_PLATFORMS={asked},cpu)"
        if asked
        else f"pip install --force-reinstall 'jax=={installed.version}' (its CPU backend itself does not start)",
    )


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
