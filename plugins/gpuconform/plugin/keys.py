"""The names the pytest face shares: what an xdist worker is handed, and where the suites are."""

from __future__ import annotations

import importlib.util
from pathlib import Path

#: The workerinput key under which the controller hands xdist workers its facts.
WORKER_FACTS = "gpuconform_facts"


def suites_dir() -> Path:
    """The directory of the conformance suites (the checkout's suites/ or the installed copy)."""
    spec = importlib.util.find_spec("gpuconform.suites")
    if spec is not None and spec.submodule_search_locations:
        return Path(next(iter(spec.submodule_search_locations))).resolve()
    return (Path(__file__).resolve().parents[3] / "suites").resolve()
