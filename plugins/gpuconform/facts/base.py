"""The pieces every part of the Facts tree uses: why something could not be observed (or is not stated), and a
checked field."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any


@dataclass(frozen=True)
class ProbeError:
    """Why a probe could not observe something, or that the file's source does not state it (never "absent")."""

    probe: str
    kind: str  # "NVMLError_DriverNotLoaded", "timeout", "missing", ...; "not_stated": the file's source does not say
    message: str


#: The kind of a ProbeError that records a value the source of the facts does not state: a host description of a
#: public report that gives no driver version, a Facts file written by hand. It is neither an observation that
#: failed nor an absence: a check that needs the value is not applicable, and says which fact is missing. A live
#: probe never records it for a value it read.
NOT_STATED = "not_stated"


def not_stated(probe: str, source: str = "the host description") -> ProbeError:
    """The record of a value `source` does not state, where `probe` would record its failure to read it."""
    return ProbeError(probe, NOT_STATED, f"{source} states none")


def checked(parse: Callable[[Any], object], default: Any) -> Any:
    """An optional field whose value `parse` must accept when a Facts file is loaded (see serde.load).

    Required fields say it themselves: ``field(metadata={"parse": parse})``.
    """
    return field(default=default, metadata={"parse": parse})
