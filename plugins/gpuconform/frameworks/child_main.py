"""The entry point every framework's child shares: import the framework, run named experiments, print JSON lines.

    python -m gpuconform.frameworks.<name>.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.<name>.experiments.child --zygote

A framework's `experiments/child.py` calls `main` with the module to import ("torch") and its
own package. The second form imports the framework once and forks one child per batch
(`gpuconform.frameworks.forkserver`). Each experiment is ``def name(module) -> JSON-able``;
its answer is one marked line, flushed at once, so a crash keeps the answers before it.
Only the standard library is imported here: the framework is imported by name, in the child.
"""

from __future__ import annotations

import importlib
import json
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

MARK = "gpuconform-result:"


def emit(name: str, payload: dict[str, Any]) -> None:
    """Print one result line, marked so the framework's own stdout noise is never mistaken for it."""
    sys.stdout.write(MARK + json.dumps({"name": name, **payload}, default=repr) + "\n")
    sys.stdout.flush()


def main(
    argv: list[str],
    framework_module: str,
    package: str,
    switches: Callable[[Any], dict[str, str]] | None = None,
) -> int:
    """Import `framework_module`, then answer `argv` (MODULE NAME..., or --zygote) from `package`'s experiments.

    `switches(framework)`: the import-time switches a zygote reports (`Framework.reported_at_import`).
    """
    started = time.monotonic()
    try:
        imported_module: Any = importlib.import_module(framework_module)
    except Exception as exc:  # noqa: BLE001 - any import failure is an observation
        imported: dict[str, Any] = {"ok": False, "error_type": type(exc).__name__, "error": str(exc)[:2000]}
        imported_module = None
    else:
        version = str(getattr(imported_module, "__version__", ""))
        imported = {"ok": True, "value": {"version": version, "seconds": time.monotonic() - started}}
    if argv[:1] == ["--zygote"]:
        from gpuconform.frameworks.forkserver import serve

        reported = None if switches is None else switches(imported_module)
        return serve(lambda module, names: run(imported_module, imported, package, module, names), reported)
    run(imported_module, imported, package, argv[0], argv[1:])
    return 0


def run(framework: Any, imported: dict[str, Any], package: str, module_name: str, names: list[str]) -> None:
    """Say how the import went, then run experiments `names` of `module_name` if it went well."""
    emit("__import__", imported)
    if framework is None:
        return
    module = importlib.import_module(f"{package}.{module_name}")
    for name in names:
        t0 = time.monotonic()
        try:
            value = getattr(module, name)(framework)
            emit(name, {"ok": True, "value": value, "seconds": time.monotonic() - t0})
        except Exception as exc:  # noqa: BLE001 - the error is the observation
            emit(
                name,
                {
                    "ok": False,
                    "error_type": type(exc).__name__,
                    "error": str(exc)[:4000],
                    "trace": traceback.format_exc(limit=4)[-2000:],
                    "seconds": time.monotonic() - t0,
                },
            )
