"""The state of one conformance run, registered as a plugin object while the run lasts."""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any

import pytest

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.profiles import Profile
from gpuconform.facts.model import Facts
from gpuconform.facts.text import headline
from gpuconform.frameworks.children import Runner
from gpuconform.plugin.settings import Settings
from gpuconform.report.staging import Staging
from gpuconform.verdict.check import BLOCKED
from gpuconform.verdict.check import NOT_APPLICABLE
from gpuconform.verdict.check import CouldNotCheck
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import NonConformance
from gpuconform.verdict.check import same_fix
from gpuconform.verdict.judge import LAYERS
from gpuconform.verdict.judge import CheckOutcome
from gpuconform.verdict.judge import Verdict
from gpuconform.verdict.judge import block_dependents
from gpuconform.verdict.judge import blocking_reason
from gpuconform.verdict.judge import compute_verdict

if TYPE_CHECKING:
    from gpuconform.expect.compat import CompatTable


#: Where a conformance run keeps its HostSession (config.stash).
session_key: pytest.StashKey[HostSession] = pytest.StashKey()

#: user_properties keys that carry a check's parts across xdist to the controller
#: (junitxml writes them as the testcase's properties too).
PROP_SUMMARY = "gpuconform.summary"
#: A summary our own checks write stays whole; one carrying a framework's text is cut here.
SUMMARY_LIMIT = 1000
PROP_FIX = "gpuconform.fix"
PROP_FINDING = "gpuconform.finding"  # the whole Finding, as one line of JSON
PROP_WARNING = "gpuconform.warning"  # one per warning, a Finding as JSON
PROP_ERROR = "gpuconform.could_not_check"  # set when the check could not observe its facts
PROP_DEPENDS = "gpuconform.depends_on"  # the check ids of its depends_on marks, space-separated

#: What an unclassified skip is turned into: honest outcomes allow no quiet skips.
UNCLASSIFIED_SKIP = (
    "skipped without saying why the check does not apply or what blocked it: {reason!r}; "
    "a conformance check skips only through gpuconform.verdict.check.not_applicable() or blocked()"
)


@dataclass(eq=False)  # a plugin object: pluggy keys plugins by identity, so it must hash
class HostSession:
    """Settings, facts, profile and outcomes of a run; hooks that record and report them."""

    config: pytest.Config
    settings: Settings
    matrices: Matrices
    facts: Facts
    profile: Profile
    expectations: Expectations
    facts_text: str
    runners: dict[str, Runner]  # framework id -> the runner of its children ("tensorflow" first)
    outcomes: dict[str, CheckOutcome] = field(default_factory=dict)
    pending_warnings: dict[str, list[Finding]] = field(default_factory=dict)
    verdict: Verdict | None = None
    compat: CompatTable | None = None
    compat_problem: str | None = None
    run_id: str = ""
    staging: Staging | None = None  # None: reports are off, or this is an xdist worker
    report_errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # said in the header and again above the verdict
    checks_collected: int = 0
    collection_order: dict[str, int] = field(default_factory=dict)  # node id -> its place, as xdist collected
    fixes_given: dict[str, str] = field(default_factory=dict)  # fix -> the first check that printed it
    compact_summary: bool = False  # print the checks that did not pass grouped, not pytest's -ra lines
    exitstatus: int = 0  # the run's, once it has ended

    @property
    def tf_runner(self) -> Runner:
        """The runner of TensorFlow's children."""
        return self.runners["tensorflow"]

    def close_runners(self) -> None:
        """Stop every framework's children (a run that ends, or ended early)."""
        for runner in self.runners.values():
            runner.close()

    # ---- collection ---------------------------------------------------------------

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        # Under xdist the controller collects nothing itself: count what the first worker collected.
        if self.checks_collected == 0:
            self.checks_collected = sum(1 for nodeid in ids if _layer_of_file(nodeid) is not None)
            # Workers report in the order they finish; the verdict reads the checks in this order, as a serial run does.
            self.collection_order = {nodeid: i for i, nodeid in enumerate(ids)}

    def pytest_itemcollected(self, item: pytest.Item) -> None:
        if layer_of(item) is None:
            return
        self.checks_collected += 1
        # --strict-markers for the checks, whatever the user's ini says: a misspelt marker
        # must not turn a check into something else.
        unknown = sorted({m.name for m in item.iter_markers()} - _registered_markers(self.config))
        if unknown:
            raise pytest.UsageError(f"{item.nodeid}: unknown marker(s) {', '.join(unknown)} on a conformance check")

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            if layer_of(item) is None and _in_suites(item):
                item.add_marker(pytest.mark.platform)  # pragma: no cover - every suite file sets one
        # Lowest layer first (files are collected alphabetically): the order of the verdict,
        # and an interrupted run has checked the foundations. Stable within a layer.
        rank = {layer: i for i, layer in enumerate(LAYERS)}
        items.sort(key=lambda item: rank.get(layer_of(item) or "", len(LAYERS)))

    # ---- running ------------------------------------------------------------------

    def pytest_sessionstart(self, session: pytest.Session) -> None:
        if self.staging is not None:
            self.staging.guard_writers(self.config)

    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        # A prerequisite that ran elsewhere (another xdist worker) is not known here: the controller
        # blocks the check after the fact (`block_dependents`), from the ids PROP_DEPENDS carries.
        for dep in depends_on(item):
            reason = blocking_reason(dep, self.outcomes.get(dep))
            if reason is not None:
                pytest.skip(reason)

    def annotate(self, item: pytest.Item, call: pytest.CallInfo[None], report: pytest.TestReport) -> None:
        """Attach the check's finding and warnings to its report (they travel with xdist)."""
        error = call.excinfo.value if call.excinfo is not None else None
        finding = error.finding if isinstance(error, (NonConformance, CouldNotCheck)) else None
        if report.skipped and not hasattr(report, "wasxfail") and layer_of(item) is not None:
            reason = _skip_reason(report)
            if reason.startswith((NOT_APPLICABLE, BLOCKED)):
                _point_at_the_check(item, report)
            else:
                check_id = check_id_of(item.nodeid, layer_of(item) or "")
                finding = Finding(
                    summary=f"could not check {check_id}: skipped without a reason class",
                    expected="a pass, a failure, or a skip that says 'not applicable' or 'blocked by'",
                    found=f"pytest.skip({reason!r})",
                    source=item.nodeid,
                    why="a quiet skip hides what could not be checked; it counts against the gate like an error",
                    fix=UNCLASSIFIED_SKIP.format(reason=reason),
                )
                report.outcome = "failed"
                report.user_properties.append((PROP_ERROR, "true"))
        if isinstance(error, CouldNotCheck):
            report.user_properties.append((PROP_ERROR, "true"))
        if report.when == "setup" and layer_of(item) is not None and depends_on(item):
            report.user_properties.append((PROP_DEPENDS, " ".join(depends_on(item))))
        if finding is not None:
            report.longrepr = finding.render()
            # One line, whatever a check put in it: the verdict line and the summaries quote it.
            report.user_properties.append((PROP_SUMMARY, headline(finding.summary, SUMMARY_LIMIT)))
            report.user_properties.append((PROP_FINDING, finding.to_json()))
            if finding.fix:
                report.user_properties.append((PROP_FIX, finding.fix))
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            for warning in self.pending_warnings.pop(item.nodeid, []):
                report.user_properties.append((PROP_WARNING, warning.to_json()))

    def add_warning(self, nodeid: str, finding: Finding) -> None:
        self.pending_warnings.setdefault(nodeid, []).append(finding)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        layer = next((k for k in report.keywords if k in LAYERS), None) or _layer_of_file(report.nodeid)
        if layer is None:
            return
        check_id = check_id_of(report.nodeid, layer)
        outcome = self.outcomes.setdefault(check_id, CheckOutcome(check_id, layer, nodeid=report.nodeid))
        outcome.duration += report.duration
        props = dict(report.user_properties)
        outcome.warnings += [Finding.from_json(str(v)) for k, v in report.user_properties if k == PROP_WARNING]
        if report.when == "call" or report.outcome != "passed":
            outcome.outcome = _classify(report, outcome.outcome)
        if report.outcome == "skipped":
            outcome.skip_reason = _skip_reason(report)
        if PROP_DEPENDS in props:
            outcome.depends_on = tuple(str(props[PROP_DEPENDS]).split())
        if report.failed and outcome.finding is None:
            if PROP_FINDING in props:
                outcome.finding = Finding.from_json(str(props[PROP_FINDING]))
            outcome.summary = outcome.summary or str(props.get(PROP_SUMMARY) or _first_line(report))
            outcome.message = outcome.message or str(report.longreprtext)
            outcome.fix = outcome.fix or str(props.get(PROP_FIX, ""))
            if outcome.finding is not None and not hasattr(self.config, "workerinput"):
                fix = same_fix(check_id, outcome.finding.fix, self.fixes_given)
                if fix != outcome.finding.fix:  # the FAILURES section prints the report's text
                    report.longrepr = replace(outcome.finding, fix=fix).render()

    # ---- reporting ----------------------------------------------------------------

    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        # Before the other plugins finish: pytest-html renders the verdict in its own
        # (trylast) sessionfinish. After them: junitxml has written the file we annotate,
        # and the terminal has printed its stats line, so the verdict is the last line.
        if self.collection_order:
            last = len(self.collection_order)
            ordered = sorted(self.outcomes.items(), key=lambda kv: self.collection_order.get(kv[1].nodeid, last))
            self.outcomes.clear()
            self.outcomes.update(ordered)
        block_dependents(self.outcomes)
        self.verdict = compute_verdict(self.outcomes.values(), self.profile.name, self.settings.strict)
        if self.verdict.status == "FAIL" and session.exitstatus == 0:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # strict-mode warnings fail too
        controller = not hasattr(self.config, "workerinput")
        if controller:
            from gpuconform.expect.compat import predict

            try:
                self.compat = predict(self.facts, self.profile, self.matrices)
            except (ValueError, KeyError) as exc:  # a hand-edited facts file; the checks say what is wrong
                self.compat_problem = f"the compatibility table was not computed: {exc}"
        try:
            yield
        finally:
            if controller:
                self._finish_reports(session)
                self.exitstatus = session.exitstatus
                self._print_verdict()

    def _finish_reports(self, session: pytest.Session) -> None:
        from gpuconform.report.files import publish_plugin_reports
        from gpuconform.report.files import write_reports

        publish_plugin_reports(self)  # already done in the terminal summary, unless there was none
        self.report_errors = write_reports(self)
        if self.staging is not None:
            self.staging.abandon()
            self.report_errors = self.staging.errors + self.report_errors
        if self.report_errors and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.INTERNAL_ERROR

    @pytest.hookimpl(tryfirst=True)
    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        from gpuconform.report.files import publish_plugin_reports

        # Before junitxml's and pytest-html's "generated ..." lines, so that they name the files.
        publish_plugin_reports(self)
        warned = [o for o in self.outcomes.values() if o.warnings]
        if warned:
            terminalreporter.section("host warnings", sep="-", yellow=True)
            for o in warned:
                for w in o.warnings:
                    terminalreporter.line(f"{o.check_id}: {w.render()}")
        if self.compact_summary:
            from gpuconform.report.terminal import TITLE
            from gpuconform.report.terminal import not_passed

            lines = not_passed(self.outcomes.values(), self.settings.strict)
            if lines:
                terminalreporter.section(TITLE, sep="-")
            for line in lines:
                terminalreporter.line(line)

    def _print_verdict(self) -> None:
        tr = self.config.pluginmanager.get_plugin("terminalreporter")
        if tr is None or self.verdict is None:
            return
        interrupted = self.exitstatus == pytest.ExitCode.INTERRUPTED
        if self.checks_collected == 0 and not self.outcomes and not interrupted:
            self.notes.append(
                "no conformance checks were collected from "
                f"{' '.join(map(str, self.config.args)) or 'this directory'}; they are installed with gpuconform: "
                f"pytest --pyargs gpuconform.suites --host-profile {self.settings.profile}"
            )
        from gpuconform.report.terminal import layers_line
        from gpuconform.report.terminal import verdict_details

        for note in self.notes:
            tr.write_line(f"gpuconform: {note}", yellow=True)
        # The compatibility table goes with the verdict, below the check list, where it is read.
        if self.compat_problem:
            tr.write_line(f"gpuconform: {self.compat_problem}", yellow=True)
        if self.settings.compat and self.compat is not None:
            from gpuconform.expect.compat import render_text

            tr.write_sep("-", "TensorFlow releases on this host (--host-compat)")
            for line in render_text(self.compat):
                tr.write_line(line)
        if self.outcomes:
            tr.write_line(layers_line(self.outcomes.values(), self.settings.strict))
        for line in verdict_details(self.verdict):
            tr.write_line(line)
        for error in self.report_errors:
            tr.write_line(f"gpuconform: {error}", red=True)
        if self.report_errors:
            # Never PASS above a report that is missing: the run's result is the reports too.
            reports = "; ".join(self.report_errors)
            line = f"host verdict: ERROR: reports incomplete ({reports}); the checks said: {self.verdict.line()}"
            tr.write_line(line, bold=True, red=True)
            return
        status = self.verdict.status
        if interrupted and status != "FAIL":
            # What ran may have passed, but the layers after it were never checked: no PASS for that.
            line = f"host verdict: INCOMPLETE (profile {self.profile.name}): the run was interrupted; "
            line += f"the {len(self.outcomes)} check(s) that ran said {status}"
            tr.write_line(line, bold=True, yellow=True)
            return
        if interrupted:
            tr.write_line("gpuconform: the run was interrupted: the layers after this one were not all checked")
        tr.write_line(self.verdict.line(), bold=True, red=status == "FAIL", green=status == "PASS")

    def header_lines(self) -> list[str]:
        s = self.settings
        source = f"replayed from {s.facts_file}" if s.facts_file else f"probed below {s.root}"
        lines = [
            f"gpuconform: profile {self.profile.name} ({self.profile.description})",
            f"gpuconform: facts {source}; reports: {s.reports_dir or 'off'}",
        ]
        if self.profile.chosen_by:
            lines.append(f"gpuconform: {self.profile.chosen_by}")
        lines += [f"gpuconform: note: {n}" for n in self.expectations.notes]
        lines += [f"gpuconform: {n}" for n in self.notes]
        return lines


#: Marks pytest itself provides; everything else must be registered (pytest_configure does ours).
BUILTIN_MARKS = frozenset({"parametrize", "skip", "skipif", "xfail", "usefixtures", "filterwarnings"})


def _registered_markers(config: pytest.Config) -> frozenset[str]:
    names = {line.split(":", 1)[0].split("(", 1)[0].strip() for line in config.getini("markers")}
    return frozenset(names) | BUILTIN_MARKS


def layer_of(item: pytest.Item) -> str | None:
    """The layer marker of an item, if it has one."""
    return next((m.name for m in item.iter_markers() if m.name in LAYERS), None)


def depends_on(item: pytest.Item) -> tuple[str, ...]:
    """The check ids an item's depends_on marks name, the closest mark first."""
    return tuple(str(dep) for mark in item.iter_markers("depends_on") for dep in mark.args)


def _layer_of_file(nodeid: str) -> str | None:
    # Reports xdist makes up for a crashed worker carry no keywords; the suite file names the layer.
    name = nodeid.split("::", 1)[0].rsplit("/", 1)[-1]
    layer = name.removeprefix("test_").removesuffix(".py")
    return layer if layer in LAYERS and name.startswith("test_") else None


def check_id_of(nodeid: str, layer: str) -> str:
    """A stable check id: ``layer::name`` where name is the test name without ``test_``."""
    name = nodeid.rpartition("::")[2]
    return f"{layer}::{name.removeprefix('test_')}"


def _in_suites(item: pytest.Item) -> bool:
    from gpuconform.plugin.keys import suites_dir

    return suites_dir() in item.path.resolve().parents


def _classify(report: pytest.TestReport, previous: str) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.failed:
        could_not = any(k == PROP_ERROR for k, _ in report.user_properties)
        return "failed" if report.when == "call" and not could_not else "error"
    if report.skipped:
        return "skipped"
    return previous if previous in ("failed", "error") else "passed"


def _skip_reason(report: pytest.TestReport) -> str:
    if getattr(report, "wasxfail", None):
        # A known regression: its reason (issue reference, workaround), not its traceback.
        return str(report.wasxfail)
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


def _point_at_the_check(item: pytest.Item, report: pytest.TestReport) -> None:
    # pytest places a skip where pytest.skip() was called: for a blocked check that is this
    # module, for others a fixture. -rs should name the check, as pytest does for skip marks.
    if isinstance(report.longrepr, tuple) and len(report.longrepr) == 3:
        path, line = item.reportinfo()[:2]
        report.longrepr = (str(path), (line or 0) + 1, report.longrepr[2])


def _first_line(report: pytest.TestReport) -> str:
    crash = getattr(report.longrepr, "reprcrash", None)
    text = crash.message if crash is not None else str(report.longreprtext)
    for line in str(report.longreprtext).splitlines():
        if "crashed while running" in line:  # xdist's report for a worker that died mid-check
            return line.strip()[:300]
    return (text.strip().splitlines() or [""])[0][:300]
