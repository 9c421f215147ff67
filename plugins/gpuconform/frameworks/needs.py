"""Which frameworks a run checks, and how a check of one counts: the profile's `[frameworks]` table applied.

A framework the profile requires fails its checks; one it does not require but that is installed
is checked too, and what would fail is a warning (`judged`). A profile without a `[frameworks]`
table requires TensorFlow, as it always has; PyTorch or JAX installed beside it are checked as
such optional frameworks. Required but not installed is a failure of the framework's import check,
with the pip command; neither required nor installed, the checks do not apply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Iterable
from typing import Any

from gpuconform.expect.framework_needs import ANY
from gpuconform.expect.framework_needs import AUTO
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.profiles import Profile
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.frameworks import framework
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.live import LiveChildren
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import blocked
from gpuconform.verdict.check import fail_with
from gpuconform.verdict.check import not_applicable

Warn = Callable[..., None]


def need_of(framework_id: str, profile: Profile, packages: PackagesFacts) -> FrameworkNeed:
    """What the profile asks of this framework; not applicable when it asks nothing and none is installed."""
    name = framework(framework_id).name
    need = next((n for n in profile.framework_needs(packages) if n.name == framework_id), None)
    if need is None:
        not_applicable(f"{name} is not installed, and profile {profile.name!r} does not require it")
    return need


def pip_requirement(need: FrameworkNeed) -> str:
    """What `pip install` takes for this need: 'torch' or "'torch>=2.6'"."""
    dist = framework(need.name).distributions[0]
    spec = need.specifier.strip()
    return dist if spec in (ANY, AUTO) else f"'{dist}{spec}'"


def judged(need: FrameworkNeed, finding: Finding | None, warn: Warn) -> None:
    """Fail with `finding` when the framework is required; warn with it when it is only installed."""
    __tracebackhide__ = True
    if finding is None:
        return
    if need.required:
        fail_with(finding)
    why = f"{finding.why} " if finding.why else ""
    parts = {"expected": finding.expected, "found": finding.found, "source": finding.source, "fix": finding.fix}
    warn(finding.summary, why=f"{why}(a warning: {need.source}, so its failures do not fail the host)", **parts)


def import_fix(installed: PackageInfo, error: str, environment: Iterable[tuple[str, str]]) -> str:
    """The fix of a framework whose import raises `error`: the host's variables the error names, where it names
    any (`TORCH_LOGS=bogus` makes `import torch` raise 'Invalid log settings', `JAX_ENABLE_X64=maybe` makes
    `import tensorflow` raise where Keras imports jax), else reinstalling its wheel."""
    named = [(k, v) for k, v in sorted(environment) if _names(error, k)]
    if named:
        setting = ", ".join(f"{k}={v!r}" for k, v in named)
        return f"correct or unset what the error names in this host's environment ({setting}): every program gets it"
    return f"pip install --force-reinstall '{installed.name}=={installed.version}'"


def _names(error: str, variable: str) -> bool:
    """Whether `error` names `variable`: as written, or, for a name with an underscore, as the lower-case flag
    JAX reads it into (JAX_DEFAULT_MATMUL_PRECISION=fast: 'Invalid value "fast" for JAX flag
    jax_default_matmul_precision'); PATH is not named by every "path" of a message."""
    flags = re.IGNORECASE if "_" in variable else 0
    return re.search(rf"\b{re.escape(variable)}\b", error, flags) is not None


def installed_finding(need: FrameworkNeed) -> Finding | None:
    """Why the installed distribution does not meet the profile (missing, or outside its specifier), or None."""
    name = framework(need.name).name
    if need.installed is None:
        return Finding(
            f"{name} is required but not installed",
            expected=f"{need.name} {need.specifier} ({need.source})",
            found=f"no {' / '.join(framework(need.name).distributions)} distribution in this environment",
            source="the environment's distribution metadata (importlib.metadata)",
            fix=f"pip install {pip_requirement(need)}",
        )
    if need.satisfied is False:
        return Finding(
            f"{need.installed.name} {need.installed.version} is outside the profile's range ({need.specifier})",
            expected=f"{need.name} {need.specifier} ({need.source})",
            found=f"{need.installed.name} {need.installed.version} at {need.installed.location or '?'}",
            source="the environment's distribution metadata (importlib.metadata)",
            fix=f"pip install {pip_requirement(need)}",
        )
    return None


def imports_check(framework_id: str) -> str:
    """The id of a framework's import check, which every other check of it waits on."""
    return f"framework::{framework_id}_imports_as_the_installed_distribution"


#: What a framework must pass beyond its import before any of its code runs: JAX, a backend started.
STARTS_CHECKS = {"jax": "framework::jax_starts_a_backend_under_this_hosts_settings"}


def running_checks(framework_id: str) -> tuple[str, ...]:
    """The checks a check that runs a framework's code waits on: its import check, then any start check."""
    start = STARTS_CHECKS.get(framework_id)
    return (imports_check(framework_id), *((start,) if start else ()))


def answer(live: LiveChildren, need: FrameworkNeed, batch: Batch, name: str, cls: type[Any]) -> Any:
    """An experiment's answer. A framework that does not import answers nothing: a required one blocks the check
    (by its import check, which fails with why, whichever layer asks), an optional one makes it not apply."""
    if batch.import_error:
        check = imports_check(need.name)
        if not need.required:
            not_applicable(f"{live.name} does not import ({check} warns why)")
        blocked(check, f"import {need.name} fails in a child process: {batch.import_error.splitlines()[0]}")
    return live.observe(batch, name, cls)
