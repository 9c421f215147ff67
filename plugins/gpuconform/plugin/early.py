"""Start the collected checks' framework children as soon as collection ends, and stop them with the run.

Each suite module declares the batches its checks will ask for (module-level
`gpuconform.frameworks.children.Planned` values). Once pytest knows which checks run, the batches
of their modules start, so TensorFlow imports and works while the lower layers are checked; a
check then waits only for what is left of its own child. On a profile that expects no GPU they
run side by side (a CPU child shares nothing with another); where GPUs are in play nothing starts
early and children run one at a time in the order the checks ask, as a check measuring a GPU
needs the whole GPU; so do an xdist worker's. Whatever runs, `gpuconform.plugin.progress` says so on the terminal.
"""

from __future__ import annotations

import pytest

from gpuconform.expect.framework_needs import installed_frameworks
from gpuconform.frameworks.children import Planned
from gpuconform.frameworks.keras import keras_3
from gpuconform.frameworks.live import LiveChildren
from gpuconform.plugin.frameworks import live_framework
from gpuconform.plugin.frameworks import live_tf
from gpuconform.plugin.progress import Progress
from gpuconform.plugin.session import HostSession

#: Children side by side on a CPU-only profile: every batch of the suites at once, whatever the cores.
MOST_AT_ONCE = 8
#: Nice levels below ours for PyTorch's and JAX's zygotes and children beside a live TensorFlow
#: (`gpuconform.probes.priority`): TensorFlow's import, then the Keras children it hosts (Keras on torch
#: imports torch and torch._dynamo again), is the run's longest chain, and at equal shares the other
#: imports stretch it. Their checks still get every answer; only the order of the CPU's work changes.
BESIDE_TENSORFLOW = 10


class EarlyChildren:
    """Hooks that start, report and stop the run's framework children."""

    def __init__(self, session: HostSession) -> None:
        self.session = session
        self.progress: Progress | None = None

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        host = self.session
        runner = host.tf_runner
        if not runner.live:
            return
        gpus = host.profile.expects_gpu
        if hasattr(host.config, "workerinput"):
            # An xdist worker collects every check but runs those it is sent, and its terminal
            # is not shown: its children start when its checks ask, as on a GPU host.
            return
        self.progress = Progress(host.config, runner.framework.name, gpus, runner.framework.busy)
        runner.watcher = self.progress
        for other in host.runners.values():  # PyTorch's, JAX's and Keras's children are said as theirs
            if other is not runner:
                other.watcher = self.progress.of(other.framework.name, other.framework.busy)
        if gpus:
            return
        live = None if host.expectations.tensorflow is None else live_tf(host.config, host.expectations.tensorflow)
        if live is not None:
            runner.concurrency = MOST_AT_ONCE
        others = _other_frameworks(host, BESIDE_TENSORFLOW if live is not None else 0)
        installed = installed_frameworks(host.facts.packages)
        for planned in _planned(session.items):
            if planned.gpus_only or planned.needs not in (None, *installed):  # no check here will ask for it
                continue
            if planned.framework == runner.framework.id and live is not None:
                live.start(*planned.args())
            elif planned.framework in others:
                others[planned.framework].start(*planned.args())
        self._flush()

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        self._flush()  # takes the status line down before pytest writes the outcome

    def pytest_runtest_logfinish(self) -> None:
        self._flush()

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionfinish(self) -> None:
        self.session.close_runners()
        self._flush()

    def pytest_unconfigure(self) -> None:
        self.session.close_runners()  # a run that ended before its sessionfinish

    def _flush(self) -> None:
        if self.progress is not None:
            self.progress.flush()


def _other_frameworks(host: HostSession, nice: int) -> dict[str, LiveChildren]:
    """The frameworks besides TensorFlow this run checks and has installed, their runners side by side too.

    PyTorch's and JAX's run `nice` levels lower; Keras's children are TensorFlow's guests where it is installed.
    """
    found = {}
    for need in host.profile.framework_needs(host.facts.packages):
        if need.name != "tensorflow" and need.installed is not None and need.name in host.runners:
            host.runners[need.name].concurrency = MOST_AT_ONCE
            host.runners[need.name].nice = nice
            found[need.name] = live_framework(host.config, need.name, need.installed)
    keras = host.facts.packages.keras
    if keras_3(keras) and "keras" in host.runners:  # Keras 3 under each backend (the preprocessing layer)
        assert keras is not None
        host.runners["keras"].concurrency = MOST_AT_ONCE
        found["keras"] = live_framework(host.config, "keras", keras)
    return found


def _planned(items: list[pytest.Item]) -> list[Planned]:
    """The batches declared by the modules of `items`, in the order their checks come."""
    seen: dict[int, Planned] = {}
    for module in dict.fromkeys(getattr(item, "module", None) for item in items):
        for value in vars(module).values() if module is not None else ():
            if isinstance(value, Planned):
                seen.setdefault(id(value), value)
    return list(seen.values())

