"""pytest-html's and pytest-metadata's hooks: the host section on top of the page, and the one redaction.

pytest-metadata's dict (its CI variables, --metadata, what other plugins add) bypasses our
allowlist: it is redacted in place each time before someone reads it (pytest-html, -v's header,
junitxml's metadata fixture). pytest-html, which inserts each environment value with innerHTML,
gets an escaped copy.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from typing import Any

import pytest

from gpuconform.facts import redact
from gpuconform.report.html import host_section
from gpuconform.report.htmlparts import environment_table

if TYPE_CHECKING:
    from gpuconform.plugin.session import HostSession


class MetadataRedaction:
    """pytest-metadata's dict goes through the one redaction, with or without pytest-html.

    Its CI variables, --metadata and what other plugins add bypass our allowlist: the dict is
    redacted in place each time before someone reads it (pytest-html, -v's header, junitxml's
    metadata fixture).
    """

    def __init__(self, session: HostSession) -> None:
        self.session = session

    @pytest.hookimpl(optionalhook=True, trylast=True)
    def pytest_metadata(self, metadata: dict[str, Any], config: pytest.Config) -> None:
        redact.metadata(metadata)

    @pytest.hookimpl(tryfirst=True)
    def pytest_sessionstart(self, session: pytest.Session) -> None:
        self._redact_metadata()  # before pytest-html (trylast) and the terminal's -v header read it

    def _redact_metadata(self) -> dict[str, Any] | None:
        try:
            from pytest_metadata.plugin import metadata_key  # type: ignore[import-untyped]
        except ImportError:
            return None
        data = self.session.config.stash.get(metadata_key, None)
        if data is not None:
            redact.metadata(data)
        return data


class HtmlHooks(MetadataRedaction):
    """Hooks for pytest-html only; pytest-html, which inserts each environment value with innerHTML,
    gets an escaped copy of the redacted metadata."""

    def __init__(self, session: HostSession) -> None:
        super().__init__(session)
        self.html_report: Any = None

    def pytest_html_report_title(self, report: Any) -> None:
        report.title = f"gpuconform: {self.session.facts.host.hostname} ({self.session.profile.name})"
        self.html_report = report  # called right after pytest-html took its environment from the metadata
        self._publish_environment()

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        prefix.append(host_section(self.session))
        self._publish_environment()  # again, just before the page is written: xdist workers' metadata came in

    def _publish_environment(self) -> None:
        data = self._redact_metadata()
        if data is not None and self.html_report is not None:
            self.html_report.set_data("environment", environment_table(data))
