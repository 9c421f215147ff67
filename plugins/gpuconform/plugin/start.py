"""Start a conformance run: resolve the settings, load the data, gather the facts, pick the profile, stage the reports.

Bad input is a usage error (exit 4) that names where the bad value came from.
"""

from __future__ import annotations

import contextlib
import json
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from gpuconform.expect.expectations import build_expectations
from gpuconform.expect.framework_needs import installed_frameworks
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import Facts
from gpuconform.facts.model import RunOptions
from gpuconform.frameworks import FRAMEWORKS
from gpuconform.frameworks import framework
from gpuconform.frameworks.children import Runner
from gpuconform.plugin import settings as opts
from gpuconform.plugin.settings import Settings
from gpuconform.report.staging import Staging
from gpuconform.report.staging import remove_stale_reports

if TYPE_CHECKING:
    from gpuconform.expect.profiles import Profile

from gpuconform.plugin.session import HostSession


def start_session(config: pytest.Config) -> HostSession:
    """Resolve settings, load data, gather facts and pick the profile; bad input is a UsageError."""
    from gpuconform.expect.loading import load_matrices
    from gpuconform.expect.profiles import resolve_profile
    from gpuconform.facts.serde import load
    from gpuconform.frameworks.replay import Replay
    from gpuconform.probes.host import facts_json
    from gpuconform.probes.host import probe_host
    from gpuconform.probes.host import replay_facts

    settings = opts.resolve(config)
    run_id = uuid.uuid4().hex[:16]  # in every report, so that reports of different runs cannot mix
    staging = None
    if settings.reports_dir is not None and not hasattr(config, "workerinput"):
        # First: a run that ends early (killed while probing, a bad profile) must not leave the
        # previous run's reports there looking current.
        _check_writable(settings.reports_dir)
        remove_stale_reports(settings.reports_dir, keep=settings.facts_file)
        staging = Staging(run_id)
    with _named_by(config, opts.MATRICES):
        matrices = load_matrices(settings.matrices_dir)
    workerinput = getattr(config, "workerinput", {})
    if "gpuconform_facts" in workerinput:
        facts = load(Facts, json.loads(workerinput["gpuconform_facts"]), "controller facts")
    elif settings.facts_file is not None:
        with _named_by(config, opts.FACTS):
            facts = replay_facts(settings.facts_file)
    else:
        with _named_by(config, opts.ROOT):
            facts = probe_host(matrices, settings.root, settings.probe_timeout)
        facts = replace(facts, host=replace(facts.host, run_id=run_id))
    base = config.invocation_params.dir
    recorded = _recorded_profile(settings, facts)
    if recorded is not None:
        # No --host-profile on a replay: the profile the recorded run checked against, not this host's default.
        where = f"{settings.facts_file} (key run.profile)"
        try:
            profile = resolve_profile(recorded, facts, matrices, base, where)
        except DataError as exc:
            raise pytest.UsageError(
                f"{where} names profile {recorded!r}, which cannot be used here: {exc}; "
                "choose a profile with --host-profile"
            ) from None
        why = f"profile {recorded} as recorded in {settings.facts_file} (--host-profile chooses another)"
        profile = replace(profile, chosen_by=f"{why}; {profile.chosen_by}" if profile.chosen_by else why)
    else:
        with _named_by(config, opts.PROFILE):
            profile = resolve_profile(settings.profile, facts, matrices, base, settings.profile_source)
    facts = replace(facts, run=_run_options(settings, recorded or settings.profile, profile))
    if staging is not None:
        _stage_plugin_reports(config, settings, staging)
    host = HostSession(
        config=config,
        settings=settings,
        matrices=matrices,
        facts=facts,
        profile=profile,
        expectations=build_expectations(profile, facts, matrices),
        facts_text=facts_json(facts),
        # One runner per framework; while replaying, the children the file recorded of that framework
        # answer in their place (an xdist worker has the controller's facts).
        runners={
            fid: Runner(
                framework(fid),
                timeout=settings.tf_timeout,
                live=settings.facts_file is None,
                replay=None if settings.facts_file is None else Replay.of(facts, str(settings.facts_file), fid),
            )
            for fid in FRAMEWORKS
        },
        run_id=run_id,
        staging=staging,
    )
    installed = installed_frameworks(facts.packages)
    for runner in host.runners.values():
        runner.host = next((host.runners[h] for h in runner.framework.hosts if h in installed), None)
    return host


def _recorded_profile(settings: Settings, facts: Facts) -> str | None:
    """The profile a replayed file records, when no --host-profile (option, variable or ini key) chose one."""
    chosen = settings.profile_source != opts.source_of_default(opts.PROFILE)
    if settings.facts_file is None or facts.run is None or chosen:
        return None
    return facts.run.profile


def _run_options(settings: Settings, spec: str, profile: Profile) -> RunOptions:
    """What this run was asked to check, as facts.json records it (a profile file by its full path)."""
    from gpuconform.expect.profiles import builtin_dir
    from gpuconform.expect.profiles import builtin_name

    if builtin_name(spec) == "auto":
        recorded = "auto"  # replayed, auto picks again from the same facts
    elif profile.source and Path(profile.source).parent == builtin_dir():
        recorded = Path(profile.source).stem
    else:
        recorded = profile.source or spec
    return RunOptions(
        profile=recorded,
        profile_name=profile.name,
        profile_source=settings.profile_source,
        strict=settings.strict,
        compat=settings.compat,
        probe_timeout=settings.probe_timeout,
        tf_timeout=settings.tf_timeout,
        report_formats=tuple(sorted(settings.report_formats)),
    )


@contextlib.contextmanager
def _named_by(config: pytest.Config, opt: opts.Option) -> Iterator[None]:
    """Turn a DataError into a usage error that also names where the bad value came from."""
    try:
        yield
    except DataError as exc:
        # A value typed on the command line is in plain sight; one from a variable or an ini
        # file is not, so the message says where it came from.
        where = opts.source(config, opt)
        text = str(exc)
        typed = where.startswith("option ") and exc.source != "--host-profile"
        raise pytest.UsageError(text if typed or text.startswith(where) else f"{where}: {text}") from None


def _check_writable(directory: Path) -> None:
    # Find out now, not after every check has run: junitxml and pytest-html would
    # otherwise end the run with a traceback instead of a verdict.
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".gpuconform-write-test-"):
            pass
    except OSError as exc:
        raise pytest.UsageError(
            f"--host-reports: cannot write reports to {directory}: {exc.strerror or exc}; "
            "choose a writable directory with --host-reports DIR, or --host-reports off"
        ) from None


def _stage_plugin_reports(config: pytest.Config, settings: Settings, staging: Staging) -> None:
    # Set before junitxml and pytest-html configure themselves (we run tryfirst). A user's own
    # --junitxml / --html path wins, and is staged the same way: written beside, renamed over.
    assert settings.reports_dir is not None
    if "junit" in settings.report_formats:
        target = getattr(config.option, "xmlpath", None) or settings.reports_dir / "junit.xml"
        config.option.xmlpath = str(staging.stage("junit", Path(target)))
    if "html" in settings.report_formats and hasattr(config.option, "htmlpath"):
        if not config.option.htmlpath:
            config.option.htmlpath = str(settings.reports_dir / "report.html")
            config.option.self_contained_html = True
        config.option.htmlpath = str(staging.stage("html", Path(config.option.htmlpath)))
