"""The package list for setuptools; everything else is in pyproject.toml.

The wheel's packages are found, never listed: every package below plugins/ (so a new subpackage
of plugins/gpuconform ships without an edit here or in pyproject.toml), plus the two trees that
pyproject.toml's package-dir maps into the package from outside plugins/: matrices/ as
gpuconform.matrices and suites/ as gpuconform.suites, with their own subpackages. A
`[tool.setuptools.packages.find]` table cannot say this: it names packages after the folders
below its `where`, so matrices/ would ship as a top-level package `matrices`.
"""

from __future__ import annotations

from setuptools import find_packages
from setuptools import setup

#: pyproject.toml's package-dir entries outside plugins/ (package name: folder).
MAPPED = {"gpuconform.matrices": "matrices", "gpuconform.suites": "suites"}


def packages() -> list[str]:
    found = find_packages("plugins", include=["gpuconform", "gpuconform.*"])
    for name, folder in MAPPED.items():
        found += [name, *(f"{name}.{sub}" for sub in find_packages(folder))]
    return sorted(found)


setup(packages=packages())
