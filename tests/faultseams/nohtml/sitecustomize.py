"""Test-only seam: this interpreter's package metadata shows no pytest-html (as where it is not installed)."""

from __future__ import annotations

import importlib.metadata

_real = importlib.metadata.distributions


def _without_pytest_html(**kwargs):  # type: ignore[no-untyped-def]
    return (d for d in _real(**kwargs) if (d.metadata["Name"] or "").lower() != "pytest-html")


importlib.metadata.distributions = _without_pytest_html
