"""A torch whose import raises (tests/test_zygote_guests.py)."""

from __future__ import annotations

raise ImportError("libtorch_cpu.so: cannot open shared object file: No such file or directory")
