"""Imports keras when the interpreter starts, before any of gpuconform's code (tests/test_zygote_guests.py)."""

from __future__ import annotations

import contextlib

with contextlib.suppress(ImportError):  # a backend that does not import here (NumPy's without SciPy), as site would
    import keras  # noqa: F401
