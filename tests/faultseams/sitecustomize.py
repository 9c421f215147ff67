"""Test-only seam: make the TensorFlow child (and only it) crash, hang or print garbage.

Put this directory on PYTHONPATH and set GPUCONFORM_TEST_TF_FAULT; every Python
started with it imports this file, but only `python -m gpuconform.experiments.child`
acts on it. Nothing in the product reads this variable.
"""

from __future__ import annotations

import os
import sys

_fault = os.environ.get("GPUCONFORM_TEST_TF_FAULT")
if _fault and "gpuconform.experiments.child" in getattr(sys, "orig_argv", ()):
    _pids = os.environ.get("GPUCONFORM_TEST_TF_PIDS")
    if _pids:
        with open(_pids, "a") as _f:
            _f.write(f"{os.getpid()}\n")
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
