"""reports/report.html and fleet.html, rendered in a real headless chromium and checked as a person would read them.

The suite runs for real on this GPU-less machine with the t4 profile (so it fails at
the driver with checks blocked behind the root); chromium (Debian's package, driven
over its DevTools pipe by tests/chromium.py) loads the page from disk, and the
assertions read the rendered DOM: what is shown, what one click opens, what the
page fetched (nothing), and whether it fits a phone's width. Without chromium these
tests skip, saying how to install it.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gpuconform.plugin.keys import suites_dir
from gpuconform.verdict.judge import OUTCOMES
from tests.chromium import Browser
from tests.chromium import Page
from tests.chromium import browser
from tests.chromium import find_chromium
from tests.fleetgen import generate

PHONE = {"width": 390, "height": 844, "mobile": True}


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    with browser(binary) as b:
        yield b


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """A failing t4 run of the low layers on this machine: its reports directory and result."""
    cwd = tmp_path_factory.mktemp("html")
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider"]
    argv += ["-m", "platform or driver or libraries", "--host-profile", "t4", "--host-compat"]
    proc = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 1, proc.stdout[-3000:]
    reports = cwd / "reports"
    return reports, json.loads((reports / "result.json").read_text())


@pytest.fixture
def report(chromium: Browser, run: tuple[Path, dict[str, Any]]) -> tuple[Page, dict[str, Any]]:
    """The report of `run`, freshly loaded in a desktop-sized tab, and its result.json."""
    reports, result = run
    return open_page(chromium, reports / "report.html"), result


def open_page(chromium: Browser, path: Path, **size: Any) -> Page:
    page = chromium.new_page()
    page.open(path.as_uri(), **size)
    return page


def test_the_report_shows_the_verdict_root_check_and_fix_on_top(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    verdict = result["verdict"]
    assert page.evaluate("document.querySelector('#gc-verdict').innerText") == verdict["line"]
    assert page.evaluate("document.querySelector('#gc-fix').innerText") == f"fix: {verdict['fix']}"
    # The host section is the first thing under the title, above pytest-html's environment table.
    order = page.evaluate(
        "[document.querySelector('#gc').getBoundingClientRect().top,"
        " document.querySelector('#environment').getBoundingClientRect().top]"
    )
    assert order[0] < order[1]
    assert page.console_errors == []


def test_the_host_card_names_gpus_driver_cuda_cudnn_tensorflow_and_profile(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    labels = page.evaluate("[...document.querySelectorAll('#gpuconform-host-summary b')].map(b => b.textContent)")
    for label in ("profile", "gpus", "driver", "cuda (driver API)", "cuda runtime", "cudnn", "tensorflow"):
        assert label in labels
    card = page.evaluate("document.querySelector('#gpuconform-host-summary').innerText")
    assert result["host"]["hostname"] in card and result["profile"]["name"] in card


def test_the_layer_table_counts_match_result_json(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    rows = page.evaluate(
        "[...document.querySelectorAll('#gc-layers tbody tr')].map(r => [...r.cells].map(c => c.innerText.trim()))"
    )
    shown = {row[0]: row for row in rows}
    for layer in result["layers"]:
        row = shown[layer["layer"]]
        assert row[1] == layer["status"]
        assert [int(n) for n in row[2 : 2 + len(OUTCOMES)]] == [layer["counts"][k] for k in OUTCOMES]
    assert shown["driver"][1] == "fail" and int(shown["driver"][2 + OUTCOMES.index("blocked")]) > 0


def test_each_failure_shows_its_four_parts_and_what_it_blocked(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    cards = page.evaluate(
        "[...document.querySelectorAll('.gc-problem')].filter(c => !c.querySelector('.gc-warn'))"
        ".map(c => ({text: c.innerText, labels: [...c.querySelectorAll('dt')].map(d => d.textContent)}))"
    )
    problems = [c for c in result["checks"] if c["outcome"] in ("failed", "error")]
    assert len(cards) == len(problems)
    root = cards[0]
    assert result["verdict"]["check_id"] in root["text"] and "root cause" in root["text"]
    assert root["labels"] == ["expected", "found", "from", "why", "fix"]
    blocked = result["verdict"]["blocked"]
    assert f"{len(blocked)} checks blocked by {result['verdict']['check_id']}" in root["text"] and blocked


def test_the_checks_the_root_blocked_are_one_collapsed_line_with_a_count(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    verdict = result["verdict"]
    shown = page.evaluate(
        "(() => { const d = document.querySelector('#gc-blocked');"
        " const before = [d.open, d.querySelector('summary').innerText, d.getBoundingClientRect().height,"
        " d.querySelector('summary').getBoundingClientRect().height];"
        " d.querySelector('summary').click();"
        " return [...before, d.open, [...d.querySelectorAll('li')].map(li => li.innerText)]; })()"
    )
    closed, summary, height, line, opened, items = shown
    assert closed is False and summary == f"{len(verdict['blocked'])} checks blocked by {verdict['check_id']}"
    assert height == line  # collapsed: the summary line is all there is
    assert opened is True and items == verdict["blocked"]


def test_the_check_tables_give_each_blocked_reason_once(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    root = result["verdict"]["check_id"]
    cells = page.evaluate(
        "[...document.querySelectorAll('details[id^=gc-layer-] tbody tr')].map(r => [r.cells[0].id,"
        " r.cells[2].textContent, (r.cells[2].querySelector('a') || {}).hash || ''])"
    )
    reasons = {ident.removeprefix("check-"): (text, link) for ident, text, link in cells}
    blocked = [c["id"] for c in result["checks"] if c["outcome"] == "blocked" and c["blocked_by"] == root]
    assert blocked
    for check_id in blocked:
        assert reasons[check_id] == (f"blocked by {root}", f"#check-{root}")
    assert sum(result["verdict"]["reason"] in text for text, _ in reasons.values()) == 1  # the root's own row


def test_the_facts_behind_a_check_are_one_click_away(report: tuple[Page, dict[str, Any]]) -> None:
    page, _ = report
    opened = page.evaluate(
        "(() => { const a = document.querySelector(\"#gc-layer-driver a.gc-facts\");"
        " const target = document.getElementById(a.getAttribute('href').slice(1));"
        " const before = target.open; a.click();"
        " return [before, target.open, target.id, target.querySelector('pre').textContent]; })()"
    )
    assert opened[0] is False and opened[1] is True and opened[2] == "gc-facts-driver"
    assert '"pci_devices"' in opened[3]
    inline = page.evaluate(
        "(() => { const d = document.querySelector('.gc-problem details'); d.querySelector('summary').click();"
        " return [d.open, d.querySelector('pre').textContent]; })()"
    )
    assert inline[0] is True and '"pci_devices"' in inline[1]


def test_the_compat_table_lists_every_release_and_marks_the_installed_one(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    rows = page.evaluate(
        "[...document.querySelectorAll('#gc-compat tbody tr')]"
        ".map(r => [r.className, r.cells[0].innerText, r.cells[1].innerText])"
    )
    assert [r[1].split(" ")[0] for r in rows] == [r["tensorflow"] for r in result["compat"]["rows"]]
    assert [r[2] for r in rows] == [r["verdict"] for r in result["compat"]["rows"]]
    installed = [r for r in rows if r[0] == "gc-mine"]
    assert len(installed) == sum(r["installed"] for r in result["compat"]["rows"])


def test_the_report_names_the_as_of_date_of_every_table_it_used(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    line = page.evaluate("document.querySelector('#gc-matrices').innerText")
    assert line.startswith("matrices as of: ")
    for table in result["matrices"]:
        assert f"{table['table']} {table['as_of']}" in line


def test_pytest_html_still_renders_its_results_table(report: tuple[Page, dict[str, Any]]) -> None:
    page, result = report
    rows = page.evaluate("document.querySelectorAll('#results-table tbody.results-table-row').length")
    assert rows == len(result["checks"])


def test_the_report_fetches_nothing(report: tuple[Page, dict[str, Any]]) -> None:
    page, _ = report
    (only,) = page.requests  # the page itself, from disk
    assert only.startswith("file://") and only.endswith("/reports/report.html")


def test_the_report_fits_a_phone_screen(chromium: Browser, run: tuple[Path, dict[str, Any]]) -> None:
    reports, _ = run
    page = open_page(chromium, reports / "report.html", **PHONE)
    # A page wider than the phone makes mobile chromium zoom out (innerWidth grows past 390).
    width = page.evaluate("window.innerWidth")
    assert width == PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    assert page.evaluate("document.querySelector('#gc').getBoundingClientRect().right") <= width
    # Text stays readable: the verdict is not shrunk below 14 CSS pixels.
    assert page.evaluate("parseFloat(getComputedStyle(document.querySelector('#gc-verdict')).fontSize)") >= 14


@pytest.fixture(scope="module")
def fleet(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    base = tmp_path_factory.mktemp("fleet")
    generate(base / "results", 80, seed=11)
    argv = [sys.executable, "-m", "gpuconform", "fleet", "merge", str(base / "results"), "-o", str(base / "out")]
    subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False)
    return base / "out", json.loads((base / "out" / "fleet.json").read_text())


def test_the_fleet_page_shows_causes_and_every_host_by_layer(
    chromium: Browser, fleet: tuple[Path, dict[str, Any]]
) -> None:
    out, data = fleet
    page = open_page(chromium, out / "fleet.html")
    assert page.evaluate("document.querySelector('#gc-fleet-line').innerText") == data["line"]
    headings = page.evaluate("[...document.querySelectorAll('.gc-problem h3')].map(h => h.innerText)")
    assert headings == [f"{c['count']} host{'s' if c['count'] != 1 else ''}: {c['title']}" for c in data["causes"]]
    assert page.evaluate("document.querySelectorAll('#gc-hosts tbody tr').length") == 80
    first = page.evaluate("[...document.querySelector('#gc-hosts tbody tr').cells].map(c => c.innerText)")
    assert first[0] == data["hosts"][0]["hostname"] and first[1] == data["hosts"][0]["status"]
    assert page.requests == [(out / "fleet.html").as_uri()] and page.console_errors == []


def test_the_fleet_filter_keeps_only_the_matching_hosts(chromium: Browser, fleet: tuple[Path, dict[str, Any]]) -> None:
    out, data = fleet
    page = open_page(chromium, out / "fleet.html")
    visible = page.evaluate(
        "(() => { const f = document.querySelector('#gc-filter'); f.value = 'FALLEN OFF';"
        " f.dispatchEvent(new Event('input'));"
        " return [...document.querySelectorAll('#gc-hosts tbody tr')]"
        ".filter(r => !r.hidden).map(r => r.cells[0].innerText); })()"
    )
    lost = sorted(h["hostname"] for h in data["hosts"] if "fallen off the bus" in h["reason"])
    assert lost and sorted(visible) == lost


def test_the_fleet_page_fits_a_phone_screen(chromium: Browser, fleet: tuple[Path, dict[str, Any]]) -> None:
    out, _ = fleet
    page = open_page(chromium, out / "fleet.html", **PHONE)
    assert page.evaluate("window.innerWidth") == PHONE["width"]
    assert page.evaluate("document.documentElement.scrollWidth <= document.documentElement.clientWidth")
