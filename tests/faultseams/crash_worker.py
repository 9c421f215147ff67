"""Test-only pytest plugin: an xdist worker dies while running one check."""

from __future__ import annotations

import os

import pytest

VICTIM = "test_python_is_inside_the_tensorflow_range"


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> None:
    if os.environ.get("PYTEST_XDIST_WORKER") and item.name == VICTIM:
        os._exit(13)
