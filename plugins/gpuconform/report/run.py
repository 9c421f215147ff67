"""What the reports read of a finished run: a structural type, so that report/ knows nothing of the pytest face.

`gpuconform.plugin.session.HostSession` is one; a test can build another.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING
from typing import Protocol

import pytest

if TYPE_CHECKING:
    from gpuconform.expect.compat import CompatTable
    from gpuconform.expect.matrix import Matrices
    from gpuconform.expect.profiles import Profile
    from gpuconform.facts.model import Facts
    from gpuconform.frameworks.children import Runner
    from gpuconform.report.staging import Staging
    from gpuconform.verdict.judge import CheckOutcome
    from gpuconform.verdict.judge import Verdict


class RunSettings(Protocol):
    """The settings a report shows or follows."""

    @property
    def reports_dir(self) -> Path | None: ...
    @property
    def report_formats(self) -> frozenset[str]: ...
    @property
    def strict(self) -> bool: ...
    @property
    def compat(self) -> bool: ...
    @property
    def facts_file(self) -> Path | None: ...


class Run(Protocol):
    """A run as its reports see it."""

    @property
    def config(self) -> pytest.Config: ...
    @property
    def settings(self) -> RunSettings: ...
    @property
    def facts(self) -> Facts: ...
    @property
    def profile(self) -> Profile: ...
    @property
    def matrices(self) -> Matrices: ...
    @property
    def outcomes(self) -> dict[str, CheckOutcome]: ...
    @property
    def verdict(self) -> Verdict | None: ...
    @property
    def compat(self) -> CompatTable | None: ...
    @property
    def run_id(self) -> str: ...
    @property
    def notes(self) -> list[str]: ...
    @property
    def staging(self) -> Staging | None: ...
    @property
    def runners(self) -> dict[str, Runner]: ...
