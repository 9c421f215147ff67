"""Test-only seam: make the TensorFlow child (and only it) crash, hang, print garbage or spawn a process.

Put this directory on PYTHONPATH and set GPUCONFORM_TEST_TF_FAULT; every Python
started with it imports this file, but only `python -m gpuconform.frameworks.tensorflow.experiments.child`
acts on it. Nothing in the product reads this variable. GPUCONFORM_TEST_TF_PIDS
names a file that gets the PID of each such child, then of each process it spawns.

- ``signal``: SIGKILL itself; ``hang``: sleep; ``garbage``: print a broken result line;
- ``hang-with-grandchild``: start a process of its own (its pipes closed), then sleep;
- ``leave-a-process``: start a process of its own, then exit at once, leaving it behind.
"""

from __future__ import annotations

import os
import sys

_fault = os.environ.get("GPUCONFORM_TEST_TF_FAULT")
if _fault and "gpuconform.frameworks.tensorflow.experiments.child" in getattr(sys, "orig_argv", ()):
    _pids = os.environ.get("GPUCONFORM_TEST_TF_PIDS")
    if _pids:
        with open(_pids, "a") as _f:
            _f.write(f"{os.getpid()}\n")
    if _fault in ("hang-with-grandchild", "leave-a-process"):
        import subprocess

        _grandchild = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(10**6)"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if _pids:
            with open(_pids, "a") as _f:
                _f.write(f"{_grandchild.pid}\n")
        if _fault == "leave-a-process":
            os._exit(0)
        _fault = "hang"
    if _fault == "signal":
        import signal

        os.kill(os.getpid(), signal.SIGKILL)
    elif _fault == "hang":
        import time

        time.sleep(10**6)
    elif _fault == "garbage":
        sys.stdout.write("gpuconform-result:{this is not json\n")
        sys.stdout.flush()
        os._exit(0)
