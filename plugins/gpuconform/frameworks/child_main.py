"""The entry point every framework's child shares: import the framework, run named experiments, print JSON lines.

    python -m gpuconform.frameworks.<name>.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.<name>.experiments.child --zygote [--nice N]

A framework's `experiments/child.py` calls `main` with the module to import ("torch") and its
own package. The second form imports the framework once and forks one child per batch
(`gpuconform.frameworks.forkserver`), N nice levels lower where given (`gpuconform.probes.priority`).
Each experiment is ``def name(module) -> JSON-able``; its answer is one marked line, flushed at
once, so a crash keeps the answers before it.
Only the standard library is imported here: the framework is imported by name, in the child.

A zygote also forks *guests*: children of another framework's experiments, which import that
framework themselves after this one's (Keras 3 under TensorFlow's zygote: `import tensorflow` has
imported keras already). The guest's `experiments/child.py` gives `import_as_guest(at_start)`,
which returns the framework as a fresh child under the batch's environment would have it, or
raises `Declined` where it cannot (the parent then runs the batch in the guest's own zygote).
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
#: The answer of a guest child that cannot run as a fresh child would (`Declined`).
DECLINED = "__declined__"
#: The modules imported before any of ours ran: the interpreter's start-up (site, .pth files, a sitecustomize).
AT_START = frozenset(sys.modules)


class Declined(Exception):
    """A guest cannot run here as in a fresh child of its own (its text says why)."""


def emit(name: str, payload: dict[str, Any]) -> None:
    """Print one result line, marked so the framework's own stdout noise is never mistaken for it."""
    sys.stdout.write(MARK + json.dumps({"name": name, **payload}, default=repr) + "\n")
    sys.stdout.flush()


def main(
    argv: list[str],
    framework_module: str,
    package: str,
    switches: Callable[[Any], dict[str, str]] | None = None,
    warm: Callable[[Any], None] | None = None,
) -> int:
    """Import `framework_module`, then answer `argv` (MODULE NAME..., or --zygote) from `package`'s experiments.

    `switches(framework)`: the import-time switches a zygote reports (`Framework.reported_at_import`).
    `warm(framework)`: imports a zygote makes for its children once the framework has imported.
    """
    zygote = argv[:1] == ["--zygote"]
    if zygote:
        lower_zygote(argv)
    imported_module, imported = _import(lambda: importlib.import_module(framework_module))
    if zygote:
        from gpuconform.frameworks.forkserver import serve

        if warm is not None and imported_module is not None:
            warm(imported_module)

        reported = None if switches is None else switches(imported_module)
        return serve(
            lambda module, names, guest: run(imported_module, imported, package, module, names, guest), reported
        )
    run(imported_module, imported, package, argv[0], argv[1:])
    return 0


def lower_zygote(argv: list[str]) -> None:
    """A zygote's ``--nice N`` (after ``--zygote``): lower its priority now, before the import, most of its work."""
    if argv[1:2] == ["--nice"]:
        from gpuconform.probes.priority import lower

        lower(int(argv[2]))


def _import(load: Callable[[], Any]) -> tuple[Any, dict[str, Any]]:
    """The framework `load` imports (None if it raised), and how the import went, as `__import__` answers it."""
    started = time.monotonic()
    try:
        module = load()
    except Declined:
        raise
    except Exception as exc:  # noqa: BLE001 - any import failure is an observation
        return None, {"ok": False, "error_type": type(exc).__name__, "error": str(exc)[:2000]}
    version = str(getattr(module, "__version__", ""))
    return module, {"ok": True, "value": {"version": version, "seconds": time.monotonic() - started}}


def run(
    framework: Any,
    imported: dict[str, Any],
    package: str,
    module_name: str,
    names: list[str],
    guest: str | None = None,
) -> None:
    """Say how the import went, then run experiments `names` of `module_name` if it went well.

    `guest`: the experiments package of another framework, imported here after this one (see above).
    """
    if guest is not None:
        try:
            if framework is None:
                raise Declined(f"{package}'s framework did not import in this zygote")
            framework, imported = _import(lambda: importlib.import_module(f"{guest}.child").import_as_guest(AT_START))
        except Declined as exc:
            emit(DECLINED, {"ok": True, "value": str(exc)})
            return
        package = guest
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
