"""The two pieces every part of the Facts tree uses: why something could not be observed, and a checked field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any


@dataclass(frozen=True)
class ProbeError:
    """Why a probe could not observe something (it never means "absent")."""

    probe: str
    kind: str  # e.g. "NVMLError_DriverNotLoaded", "timeout", "signal", "missing", "unreadable"
    message: str


def checked(parse: Callable[[Any], object], default: Any) -> Any:
    """An optional field whose value `parse` must accept when a Facts file is loaded (see serde.load).

    Required fields say it themselves: ``field(metadata={"parse": parse})``.
    """
    return field(default=default, metadata={"parse": parse})
