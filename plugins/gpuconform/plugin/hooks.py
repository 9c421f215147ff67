"""The gpuconform pytest plugin: options, host facts, fixtures, verdict and reports.

Importing this module is cheap and side-effect free: no TensorFlow, no pynvml,
no probing and no `reports/`. The plugin does its work only in a conformance
run: when a `--host-*` option is given, or the run collects the suites.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING
from typing import Any

import pytest

from gpuconform.plugin import settings as opts
from gpuconform.plugin.keys import WORKER_FACTS
from gpuconform.plugin.keys import suites_dir
from gpuconform.plugin.session import session_key
from gpuconform.verdict.judge import LAYER_HELP
from gpuconform.verdict.judge import LAYERS

if TYPE_CHECKING:
    from gpuconform.expect.expectations import Expectations
    from gpuconform.expect.matrix import Matrices
    from gpuconform.expect.profiles import Profile
    from gpuconform.facts.model import Facts
    from gpuconform.frameworks.children import Runner
    from gpuconform.plugin.session import HostSession


# ---- initialization -----------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    opts.add_options(parser)


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    # The first hook after this plugin is loaded that can still change the rootdir and ini file.
    from gpuconform.plugin.invocation import repair_rootdir

    repair_rootdir(early_config, args)


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> int | None:
    # `--host-profile list` describes the built-ins and runs nothing, as --markers does: before
    # pytest_configure, which would probe the host.
    if not opts.lists_profiles(config):
        return None
    from gpuconform.expect.loading import load_matrices
    from gpuconform.expect.profiles import builtin_listing

    print("\n".join(builtin_listing(load_matrices())))
    return 0


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config: pytest.Config) -> None:
    for layer in LAYERS:
        config.addinivalue_line("markers", f"{layer}: gpuconform layer '{layer}': {LAYER_HELP[layer]}")
    config.addinivalue_line(
        "markers",
        "depends_on(*check_ids): skip this check as blocked when any of these checks "
        "(e.g. 'driver::nvml_initialises') failed or was blocked",
    )
    if not is_conformance_run(config):
        return
    from gpuconform.plugin.interrupts import install as sigterm_like_ctrl_c

    sigterm_like_ctrl_c(config)  # before probing: its children are killed on SIGTERM too; uninstalls itself
    from gpuconform.plugin.invocation import pin_terminal_summary
    from gpuconform.plugin.invocation import run_installed_suites_if_nothing_named
    from gpuconform.plugin.start import start_session

    session = start_session(config)  # raises UsageError (exit 4) for bad input
    session.compact_summary = pin_terminal_summary(config)
    note = run_installed_suites_if_nothing_named(config, suites_dir())
    if note:
        session.notes.append(note)
    config.stash[session_key] = session
    config.pluginmanager.register(session, "gpuconform-session")
    from gpuconform.plugin.early import EarlyChildren

    config.pluginmanager.register(EarlyChildren(session), "gpuconform-children")
    if config.pluginmanager.hasplugin("xdist"):
        from gpuconform.plugin.xdist import XdistHooks

        config.pluginmanager.register(XdistHooks(), "gpuconform-xdist")
    if config.pluginmanager.hasplugin("html"):
        from gpuconform.plugin.html_hooks import HtmlHooks

        config.pluginmanager.register(HtmlHooks(session), "gpuconform-html")
    else:
        if config.pluginmanager.hasplugin("metadata"):
            from gpuconform.plugin.html_hooks import MetadataRedaction

            config.pluginmanager.register(MetadataRedaction(session), "gpuconform-metadata")
        if session.settings.reports_dir is not None and "html" in session.settings.report_formats:
            why = "disabled with -p no:html" if config.pluginmanager.is_blocked("html") else "not installed"
            session.notes.append(f"report.html is not written: pytest-html is {why}")


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(session_key, None)
    if session is not None:
        config.pluginmanager.unregister(session)
        del config.stash[session_key]


def is_conformance_run(config: pytest.Config) -> bool:
    """Whether this run checks a host: a --host-* option was given or the suites are collected."""
    if opts.given_on_command_line(config):
        return True
    if hasattr(config, "workerinput") and WORKER_FACTS in config.workerinput:
        return True
    suites = suites_dir()
    base = config.invocation_params.dir
    for arg in config.args:
        if arg.startswith("gpuconform.suites"):
            return True
        path = (base / arg.split("::")[0]).resolve()
        if path == suites or suites in path.parents:
            return True
    return False


# ---- fixtures -----------------------------------------------------------------------


def _session(request: pytest.FixtureRequest) -> HostSession:
    session = request.config.stash.get(session_key, None)
    if session is None:
        raise pytest.UsageError(
            "gpuconform is not active in this run: pass --host-profile (or run the suites/ directory)"
        )
    return session


@pytest.fixture(scope="session")
def host_facts(request: pytest.FixtureRequest) -> Facts:
    """The Facts of the host under test (probed once per run, or replayed with --host-facts)."""
    return _session(request).facts


@pytest.fixture(scope="session")
def host_profile(request: pytest.FixtureRequest) -> Profile:
    """The host profile this run checks against (--host-profile)."""
    return _session(request).profile


@pytest.fixture(scope="session")
def host_matrices(request: pytest.FixtureRequest) -> Matrices:
    """The compatibility matrices (matrices/*.toml)."""
    return _session(request).matrices


@pytest.fixture(scope="session")
def host_expect(request: pytest.FixtureRequest) -> Expectations:
    """What the host should be, from the profile, the matrices and the facts."""
    return _session(request).expectations


@pytest.fixture
def host_warn(request: pytest.FixtureRequest) -> Any:
    """Record a warning on the current check: ``host_warn(summary, fix=...)``.

    The check still passes; the warning is shown in the summary and the reports,
    and fails the verdict under --host-strict.
    """
    from gpuconform.verdict.check import Finding

    def warn(summary: str, **parts: str) -> None:
        _session(request).add_warning(request.node.nodeid, Finding(summary, **parts))

    return warn


@pytest.fixture(scope="session")
def host_tf(request: pytest.FixtureRequest) -> Runner:
    """Runs TensorFlow experiments in child processes, each batch once per run.

    While facts are replayed (--host-facts), a batch is answered by the child the file recorded;
    one the file does not record raises `gpuconform.frameworks.children.NotRecorded`.
    """
    return _session(request).tf_runner


@pytest.fixture(scope="session")
def host_replayed(request: pytest.FixtureRequest) -> bool:
    """True when facts are replayed from a file, so live-only checks must skip."""
    return _session(request).settings.facts_file is not None


# ---- running ------------------------------------------------------------------------


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    session = item.config.stash.get(session_key, None)
    if session is not None:
        session.annotate(item, call, report)
    return report


def pytest_report_header(config: pytest.Config) -> list[str] | None:
    session = config.stash.get(session_key, None)
    return session.header_lines() if session is not None else None
