"""Record a TensorFlow child's answer as JSON, and turn such a recording back into a `Batch`.

The checks of the framework, placement and memory layers judge `Batch`
objects. A recording lets the self-tests feed them what a GPU host's child
answered, through the same parsing (`children.parse_results`) a live child's
output goes through. Record on a GPU host with::

    python -m gpuconform.frameworks.tensorflow.record OUT.json framework identity build_info devices gpu_init

The format: ``module``, ``names``, ``env`` (what the parent added),
``returncode``, ``results`` (name -> ``{"ok", "value"}`` or
``{"ok": false, "error_type", "error"}``; an experiment left out crashed), and
``log`` (the child's stderr, one string per line).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from gpuconform.frameworks.child_main import MARK
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import parse_results
from gpuconform.frameworks.children import run_batch
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.probes.child import ChildResult


def dump_batch(batch: Batch, names: list[str]) -> dict[str, Any]:
    """The JSON form of a batch."""
    results: dict[str, Any] = {}
    for name in ("__import__", *names):
        r = batch[name]
        if r.crash is not None:
            continue  # a missing answer is how a crash is recorded
        answer = {"ok": True, "value": r.value} if r.ok else {"ok": False, "error_type": r.error_type, "error": r.error}
        results[name] = answer
    return {
        "module": batch.module,
        "names": names,
        "env": dict(batch.env),
        "returncode": batch.child.returncode,
        "results": results,
        "log": batch.log.splitlines(),
    }


def load_batch(data: Mapping[str, Any]) -> Batch:
    """A Batch from its JSON form, parsed exactly as a live child's output is."""
    names = list(data["names"])
    stdout = "".join(MARK + json.dumps({"name": name, **answer}) + "\n" for name, answer in data["results"].items())
    argv = ("python", *FRAMEWORK.child_argv(str(data["module"]), *names))
    child = ChildResult(argv, data.get("returncode", 0), stdout, "\n".join(data.get("log", [])) + "\n")
    env = tuple(sorted(dict(data.get("env", {})).items()))
    return Batch(str(data["module"]), env, parse_results(child, names), child)


def main(argv: list[str]) -> int:
    out, module, names = argv[0], argv[1], argv[2:]
    batch = run_batch(FRAMEWORK, module, names, env={"TF_CPP_MIN_LOG_LEVEL": "0", "TF_CPP_MAX_VLOG_LEVEL": "1"})
    with open(out, "w", encoding="utf-8") as handle:
        json.dump(dump_batch(batch, names), handle, indent=2)
        handle.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
