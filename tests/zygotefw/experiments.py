"""The stand-in framework's experiments."""

from __future__ import annotations

import os
import random
import sys
import time


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
    }
