"""Which distribution's files a framework child imported: the answer every framework's identity experiment gives.

Runs in the child (standard library only: importlib.metadata), and its dataclass is read back in
the parent. A copy of the package earlier on sys.path (a source checkout, a stale user site)
shows as a module file no installed distribution owns.
"""

from __future__ import annotations

import importlib.metadata
import os
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Identity:
    """`import <framework>`: its version, its file, the distribution that owns that file."""

    version: str  # module.__version__
    module_file: str  # module.__file__, resolved
    distribution: str | None = None  # the distribution whose files include it
    distribution_version: str | None = None
    distribution_location: str | None = None  # its site directory


def identify(module: Any, top: str) -> Identity:
    """The identity of an imported top-level package `top` (the child side)."""
    module_file = os.path.realpath(str(module.__file__))
    owner = None
    for name in dict.fromkeys(importlib.metadata.packages_distributions().get(top, [])):
        dist = importlib.metadata.distribution(name)
        if os.path.realpath(str(dist.locate_file(f"{top}/__init__.py"))) == module_file:
            owner = dist
            break
    return Identity(
        version=str(module.__version__),
        module_file=module_file,
        distribution=owner.metadata["Name"] if owner else None,
        distribution_version=owner.version if owner else None,
        distribution_location=str(owner.locate_file("")) if owner else None,
    )
