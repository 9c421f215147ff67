"""Test-only seam: this interpreter's package metadata shows no Pillow (as on a host without it)."""

from __future__ import annotations

import importlib.metadata

_real = importlib.metadata.distributions


def _without_pillow(**kwargs):  # type: ignore[no-untyped-def]
    return (d for d in _real(**kwargs) if (d.metadata["Name"] or "").lower() != "pillow")


importlib.metadata.distributions = _without_pillow
