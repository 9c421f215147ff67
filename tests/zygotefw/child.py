"""The stand-in framework's child: ``python -m tests.zygotefw.child --zygote`` (or MODULE NAME...)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time

#: The stand-in's import-time switch: read once, while "importing" (tests/test_zygote.py).
SWITCH = "ZYGOTEFW_SWITCH"


def run(module_name: str, names: list[str], guest: str | None = None) -> None:
    module = importlib.import_module(f"{__package__}.{module_name}")
    print("gpuconform-result:" + json.dumps({"name": "__import__", "ok": True, "value": None}), flush=True)
    for name in names:
        value = getattr(module, name)()
        print("gpuconform-result:" + json.dumps({"name": name, "ok": True, "value": value}), flush=True)


if __name__ == "__main__":
    from gpuconform.frameworks.child_main import lower_zygote

    if sys.argv[1:2] == ["--zygote"]:
        lower_zygote(sys.argv[1:])  # as every framework's child does, before its import
    import numpy  # noqa: F401 - the "framework", imported once by the zygote

    hang = os.environ.get("ZYGOTEFW_HANG_AT_IMPORT")  # a framework whose import never returns
    if hang == "1":
        time.sleep(10**6)
    os.environ["ZYGOTEFW_SWITCH_AT_IMPORT"] = os.environ.get(SWITCH, "0")  # what this process "imported" with
    if sys.argv[1:2] == ["--zygote"]:
        from gpuconform.frameworks.forkserver import serve

        raise SystemExit(serve(run, {SWITCH: os.environ["ZYGOTEFW_SWITCH_AT_IMPORT"]}))
    run(sys.argv[1], sys.argv[2:])
