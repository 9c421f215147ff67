"""pytest-xdist integration: facts probed once, TensorFlow layers kept together, GPUs pinned to workers.

Registered by the plugin only when pytest-xdist is installed.

- Facts: the controller probes the host once and hands the JSON to every
  worker (``workerinput``), so no worker loads NVML or CUDA libraries again.
- Grouping: the layers that run TensorFlow (framework and above) start
  children that initialise the GPUs; two of them at once on one GPU would
  corrupt the memory layer's measurements (or run it out of memory). Under
  the default ``--dist load`` the controller schedules every check of those
  layers' files as one unit on one worker (`TfLayerScheduling`), in collection
  order, which also keeps their ``depends_on`` blocking within one process. The
  other layers spread over the workers as usual; a check whose prerequisite failed
  on another worker is blocked by the controller once every worker has reported
  (`gpuconform.verdict.judge.block_dependents`). An explicit ``--dist`` is
  respected; the per-GPU file lock of `gpuconform.frameworks.tensorflow.live` still keeps two
  workers off one GPU.
- Pinning (``--host-gpu-per-worker``): worker ``gwN`` is pinned to NVML GPU
  ``N mod count``: every TensorFlow child it starts gets
  ``CUDA_VISIBLE_DEVICES=<that index>`` and ``CUDA_DEVICE_ORDER=PCI_BUS_ID``,
  and its checks expect that one GPU. Under the default ``--dist load`` the
  run switches to ``each``, so that every worker checks its own GPU and an
  eight-GPU box is checked in parallel with ``-n 8``; workers sharing a GPU
  (more workers than GPUs) take turns through its lock.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from xdist.scheduler import EachScheduling  # type: ignore[import-untyped]
from xdist.scheduler import LoadScopeScheduling

from gpuconform.plugin.keys import WORKER_FACTS
from gpuconform.plugin.session import session_key
from gpuconform.verdict.judge import LAYERS

WORKER_GPU = "gpuconform_gpu"
WORKER_LOCKS = "gpuconform_locks"
WORKER_OBSERVATIONS = "gpuconform_observations"
TF_GROUP = "gpuconform-tensorflow"
#: The suite files whose checks start TensorFlow children: framework and every layer above it.
TF_LAYER_FILES = frozenset(f"test_{layer}.py" for layer in LAYERS[LAYERS.index("framework") :])


def pin_for(worker_id: str, gpu_count: int) -> int | None:
    """The NVML index worker `worker_id` ("gw3") is pinned to, or None when there is nothing to pin."""
    if gpu_count < 1 or not worker_id.startswith("gw") or not worker_id[2:].isdigit():
        return None
    return int(worker_id[2:]) % gpu_count


def scope_of(nodeid: str) -> str:
    """The scheduling unit of a check: one unit for all TensorFlow layers, else the check itself."""
    path = nodeid.split("::", 1)[0]
    return TF_GROUP if os.path.basename(path) in TF_LAYER_FILES else nodeid


def worker_gpu(config: pytest.Config) -> int | None:
    """The GPU this worker is pinned to (None: not pinned, or not an xdist worker)."""
    value = getattr(config, "workerinput", {}).get(WORKER_GPU)
    return None if value is None else int(value)


def worker_lock_dir(config: pytest.Config) -> Path | None:
    """The directory of the run's GPU lock files (None outside xdist)."""
    value = getattr(config, "workerinput", {}).get(WORKER_LOCKS)
    return None if value is None else Path(value)


class TfLayerScheduling(LoadScopeScheduling):  # type: ignore[misc]
    """Load scheduling, except that the TensorFlow layers' checks form one unit."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)

    def remove_node(self, node: Any) -> str | None:
        # LoadScopeScheduling requeues the whole unit of a crashed worker, the check that
        # killed it included: it then crashes every replacement worker in turn and the run
        # stalls. xdist reports the crashed check as failed; run only the rest again.
        workload = self.assigned_work.pop(node)
        pending = [nodeid for unit in workload.values() for nodeid, done in unit.items() if not done]
        if not pending:
            return None
        crashitem = pending[0]
        for unit in workload.values():
            if crashitem in unit:
                unit[crashitem] = True
        self.workqueue.update({scope: unit for scope, unit in workload.items() if not all(unit.values())})
        for other in self.assigned_work:
            self._reschedule(other)
        return str(crashitem)


class XdistHooks:
    """Hooks for pytest-xdist only; the controller's and each worker's copy."""

    def __init__(self) -> None:
        self.lock_dir: str | None = None

    def pytest_configure_node(self, node: Any) -> None:
        session = node.config.stash.get(session_key, None)
        if session is None:
            return
        node.workerinput[WORKER_FACTS] = session.facts_text
        if self.lock_dir is None:
            self.lock_dir = tempfile.mkdtemp(prefix="gpuconform-locks-")
        node.workerinput[WORKER_LOCKS] = self.lock_dir
        if session.settings.gpu_per_worker:
            pin = pin_for(str(node.gateway.id), len(session.facts.driver.nvml.gpus))
            if pin is not None:
                node.workerinput[WORKER_GPU] = pin

    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        # A worker: hand the children it ran to the controller (xdist sends workeroutput when the worker finishes).
        output = getattr(session.config, "workeroutput", None)
        host = session.config.stash.get(session_key, None)
        if output is not None and host is not None and host.tf_runner.live:
            from gpuconform.frameworks.replay import recording_json

            output[WORKER_OBSERVATIONS] = recording_json(list(host.runners.values()))

    def pytest_testnodedown(self, node: Any, error: object) -> None:
        # The controller: keep what a finished worker's children observed (a crashed worker sends nothing).
        session = node.config.stash.get(session_key, None)
        text = getattr(node, "workeroutput", {}).get(WORKER_OBSERVATIONS)
        if session is None or not text:
            return
        from gpuconform.facts.errors import DataError
        from gpuconform.frameworks.replay import load_recording

        try:
            session.tf_runner.from_workers.append(load_recording(text, f"worker {node.gateway.id}'s observations"))
        except (DataError, ValueError) as exc:  # never expected: the worker wrote it; facts.json then lacks them
            session.notes.append(f"the observations of worker {node.gateway.id} are not in facts.json: {exc}")

    def pytest_xdist_make_scheduler(self, config: pytest.Config, log: Any) -> Any:
        if config.getvalue("dist") != "load":
            return None  # the user chose a mode: keep it
        session = config.stash.get(session_key, None)
        if session is not None and session.settings.gpu_per_worker and session.facts.driver.nvml.gpus:
            return EachScheduling(config, log)
        return TfLayerScheduling(config, log)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if self.lock_dir is not None:
            shutil.rmtree(self.lock_dir, ignore_errors=True)
            self.lock_dir = None
