"""The stand-in framework's experiments."""

from __future__ import annotations

import gc
import os
import random
import sys
import time

from gpuconform.probes.priority import session_nice


def hang() -> None:
    time.sleep(10**6)


def process() -> dict[str, object]:
    """What makes this child a process of its own: its ids, its seeds, its environment."""
    numpy = sys.modules["numpy"]
    return {
        "pid": os.getpid(),
        "parent": os.getppid(),  # the zygote that forked it
        "switch": os.environ.get("ZYGOTEFW_SWITCH"),
        "switch_at_import": os.environ.get("ZYGOTEFW_SWITCH_AT_IMPORT"),
        "session": os.getsid(0),
        "random": random.random(),
        "numpy": float(numpy.random.random()),
        "later": os.environ.get("GPUCONFORM_ZYGOTE_TEST"),
        "nice": os.getpriority(os.PRIO_PROCESS, 0),
        "parent_nice": os.getpriority(os.PRIO_PROCESS, os.getppid()),
        "session_nice": session_nice(),  # its session's autogroup value (Linux; 0 where there is none)
        "frozen": gc.get_freeze_count(),  # what the zygote froze before it forked
    }
