"""Fixtures shared by the suites: the facts each layer needs, or an error when they could not be observed."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_tables import FrameworkTables
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PciDevice
from gpuconform.frameworks.live import LiveChildren
from gpuconform.frameworks.needs import need_of
from gpuconform.frameworks.tensorflow import LiveTf
from gpuconform.frameworks.tensorflow import recorder
from gpuconform.plugin.frameworks import framework_tables
from gpuconform.plugin.frameworks import live_for
from gpuconform.plugin.frameworks import live_tf

# The plugin's fixtures, registered again here: a conftest.py of the repository the checks run in may
# define fixtures of the same names for its own tests, and a conftest's fixtures outrank a plugin's;
# these outrank it in turn, for the checks alone (tests/test_invocations.py, same-fixture-names).
from gpuconform.plugin.hooks import host_expect as host_expect
from gpuconform.plugin.hooks import host_facts as host_facts
from gpuconform.plugin.hooks import host_matrices as host_matrices
from gpuconform.plugin.hooks import host_profile as host_profile
from gpuconform.plugin.hooks import host_replayed as host_replayed
from gpuconform.plugin.hooks import host_tf as host_tf
from gpuconform.plugin.hooks import host_warn as host_warn
from gpuconform.verdict.check import could_not_check
from gpuconform.verdict.check import not_applicable

#: Probe failures that mean "the probe itself broke", not "the host said no".
CRASH_KINDS = ("signal", "timeout", "exit", "invalid-output")


@pytest.fixture
def gpu_profile(host_expect: Expectations) -> Expectations:
    """The expectations, for a check that applies only when the profile expects GPUs."""
    if not host_expect.profile.expects_gpu:
        not_applicable(f"profile {host_expect.profile.name!r} expects no GPU")
    return host_expect


@pytest.fixture
def pci_gpus(host_facts: Facts, gpu_profile: Expectations) -> tuple[PciDevice, ...]:
    """The NVIDIA display/3D controllers on the PCI bus."""
    return tuple(d for d in host_facts.driver.pci_devices if d.vendor_id == 0x10DE)


@pytest.fixture
def nvml(host_facts: Facts, gpu_profile: Expectations) -> NvmlFacts:
    """NVML's answers; an error (not a failure) when the NVML probe crashed or hung."""
    facts = host_facts.driver.nvml
    error = facts.init_error
    if error is not None and error.kind in CRASH_KINDS:
        could_not_check("NVML", f"the NVML probe {error.kind}: {error.message}")
    return facts


@pytest.fixture
def nvml_gpus(nvml: NvmlFacts) -> tuple[GpuFacts, ...]:
    """The GPUs NVML enumerated (the check is blocked when NVML did not initialise)."""
    return nvml.gpus


@pytest.fixture
def tf_live(request: pytest.FixtureRequest, host_expect: Expectations) -> LiveTf:
    """TensorFlow children for a live check; it skips when TF is not installed or facts are replayed."""
    return live_tf(request.config, host_expect.tensorflow)


@pytest.fixture
def measured(request: pytest.FixtureRequest) -> Callable[[str, object], None]:
    """``measured(name, value)``: report a measurement with the check (JUnit properties), without judging it."""
    return recorder(request.node)


@pytest.fixture
def torch_need(host_expect: Expectations, host_facts: Facts) -> FrameworkNeed:
    """What the profile's [frameworks] table asks of PyTorch (not applicable when it asks nothing of it)."""
    return need_of("torch", host_expect.profile, host_facts.packages)


@pytest.fixture
def jax_need(host_expect: Expectations, host_facts: Facts) -> FrameworkNeed:
    """What the profile's [frameworks] table asks of JAX (not applicable when it asks nothing of it)."""
    return need_of("jax", host_expect.profile, host_facts.packages)


@pytest.fixture
def torch_live(request: pytest.FixtureRequest, torch_need: FrameworkNeed) -> LiveChildren:
    """PyTorch children for a check (replayed while facts are); not applicable when torch is not installed."""
    return live_for(request.config, torch_need)


@pytest.fixture
def jax_live(request: pytest.FixtureRequest, jax_need: FrameworkNeed) -> LiveChildren:
    """JAX children for a check (replayed while facts are); not applicable when jax is not installed."""
    return live_for(request.config, jax_need)


@pytest.fixture
def other_tables(request: pytest.FixtureRequest) -> FrameworkTables:
    """torch.toml and jax.toml of this run's matrices."""
    return framework_tables(request.config)
