"""pytest-html hooks: a host summary table at the top of report.html (registered only with pytest-html)."""

from __future__ import annotations

from html import escape
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpuconform.session import HostSession


class HtmlHooks:
    """Hooks for pytest-html only."""

    def __init__(self, session: HostSession) -> None:
        self.session = session

    def pytest_html_report_title(self, report: object) -> None:
        report.title = f"gpuconform: {self.session.facts.host.hostname} ({self.session.profile.name})"  # type: ignore[attr-defined]

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str]) -> None:
        from gpuconform.reports import host_summary

        verdict = self.session.verdict
        status = verdict.status if verdict else "NONE"
        rows = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{escape(label)}</th><td>{escape(value)}</td></tr>"
            for label, value in host_summary(self.session)
        )
        colour = {"PASS": "#1a7f37", "FAIL": "#cf222e"}.get(status, "#6e7781")
        prefix.append(
            f"<section id='gpuconform-host'><h2 style='color:{colour}'>"
            f"{escape(verdict.line() if verdict else 'host verdict: not computed')}</h2>"
            f"<table id='gpuconform-host-summary'>{rows}</table></section>"
        )
