"""Test-only seam: make the TensorFlow child (and only it) crash, hang, print garbage or spawn a process.

Put this directory on PYTHONPATH and set GPUCONFORM_TEST_TF_FAULT; every Python
started with it imports this file, but only `python -m gpuconform.frameworks.tensorflow.experiments.child`
acts on it. Nothing in the product reads this variable. GPUCONFORM_TEST_TF_PIDS
names a file that gets the PID of each such child, then of each process it spawns.

- ``signal``: SIGKILL itself; ``hang``: sleep; ``garbage``: print a broken result line;
- ``hang-with-grandchild``: start a process of its own (its pipes closed), then sleep;
- ``jit-from-ptx``: log TensorFlow's line for a GPU it JIT-compiles kernels for, wait for the file
  GPUCONFORM_TEST_TF_RELEASE names, then run on;
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
    elif _fault == "jit-from-ptx":
        # First use of a GPU the build has no kernels for: TensorFlow logs this line, then compiles for
        # minutes. The child logs it where a TensorFlow child would (its own stderr; from a zygote, each
        # forked child's), then waits for the file GPUCONFORM_TEST_TF_RELEASE names, and runs on as usual.
        def _jit() -> None:
            import time

            sys.stderr.write(
                "W0000 00:00:1718000000.300000   4242 gpu_device.cc:2365] TensorFlow was not built with CUDA kernel "
                "binaries compatible with compute capability 9.0. CUDA kernels will be jit-compiled from PTX, which "
                "could take 30 minutes or longer.\n"
            )
            sys.stderr.flush()
            release = os.environ.get("GPUCONFORM_TEST_TF_RELEASE", "")
            for _ in range(6000):  # bounded: the parent's --host-tf-timeout ends it sooner
                if not release or os.path.exists(release):
                    break
                time.sleep(0.1)

        if "--zygote" in sys.orig_argv:
            from collections.abc import Callable
            from typing import Any

            import gpuconform.frameworks.forkserver as _forkserver

            _serve = _forkserver.serve

            def _serve_jit(run: Callable[[str, list[str], str | None], None], *args: Any, **kwargs: Any) -> int:
                def _run(module: str, names: list[str], guest: str | None) -> None:
                    _jit()
                    run(module, names, guest)

                return _serve(_run, *args, **kwargs)

            _forkserver.serve = _serve_jit
        else:
            _jit()
