"""A torch whose import kills its process, as a SIGSEGV in a native library would (tests/test_zygote_guests.py)."""

from __future__ import annotations

import os
import signal

os.kill(os.getpid(), signal.SIGSEGV)
