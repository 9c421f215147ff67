"""The pytest face of the framework seam: each check's framework children, as this run and worker need them.

The frameworks know nothing of pytest's session or of pytest-xdist: here the run's runner, its
timeouts and this worker's GPU pin and lock directory are handed to them as values.
"""

from __future__ import annotations

import pytest

from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.expect.framework_tables import load_framework_tables
from gpuconform.facts.model import PackageInfo
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.plugin.session import session_key
from gpuconform.plugin.xdist import worker_gpu
from gpuconform.plugin.xdist import worker_lock_dir
from gpuconform.verdict.check import not_applicable


def live_tf(config: pytest.Config, tensorflow: PackageInfo | None) -> LiveTf:
    """The LiveTf of this run (replaying the recorded children while facts are replayed), or skip: no TensorFlow."""
    session = config.stash[session_key]
    settings = session.settings
    if tensorflow is None:
        not_applicable("TensorFlow is not installed")
    return LiveTf(
        runner=session.tf_runner,
        tensorflow=tensorflow,
        timeout=settings.tf_timeout,
        probe_timeout=settings.probe_timeout,
        pin=worker_gpu(config),
        lock_dir=worker_lock_dir(config),
    )


def live_framework(config: pytest.Config, framework_id: str, installed: PackageInfo) -> LiveChildren:
    """The children of framework `framework_id` in this run (replayed while facts are), as this worker starts them."""
    return LiveChildren(
        runner=config.stash[session_key].runners[framework_id],
        installed=installed,
        pin=worker_gpu(config),
        lock_dir=worker_lock_dir(config),
        probe_timeout=config.stash[session_key].settings.probe_timeout,
    )


def live_for(config: pytest.Config, need: FrameworkNeed) -> LiveChildren:
    """The children of the framework `need` names; not applicable when it is not installed (its import check
    fails instead, naming the pip command, where it is required)."""
    if need.installed is None:
        not_applicable(f"{need.name} is not installed (framework::{need.name}_imports_as_the_installed_distribution)")
    return live_framework(config, need.name, need.installed)


def framework_tables(config: pytest.Config) -> FrameworkTables:
    """torch.toml and jax.toml of this run's matrices (--host-matrices, else the packaged ones)."""
    return load_framework_tables(config.stash[session_key].settings.matrices_dir)
