"""Which installed distribution provides a module, for experiments that report versions.

TF 2.22.0rc0 requires ``keras-nightly`` (it installs the ``keras`` module), so
``importlib.metadata.version("keras")`` raises there although ``import keras`` works.
The matrices key rows on the module's usual distribution ("keras"); the version is
whichever distribution installed the module.
"""

from __future__ import annotations

import importlib.metadata


def installed_version(distribution: str, module: str) -> str:
    """The version of `distribution`, else of the distribution that installed `module` (keras-nightly)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        for other in importlib.metadata.packages_distributions().get(module, []):
            return importlib.metadata.version(other)
        raise
