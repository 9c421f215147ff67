"""Write the run's reports: facts.json, result.json, host properties into junit.xml, and the HTML's head.

pytest's own junitxml writes junit.xml and pytest-html writes report.html; this
module adds what they do not know (host facts, profile, verdict) and writes the
JSON files. A report that cannot be written is an error named in the terminal,
never a traceback, and never stops the other reports from being written.
"""

from __future__ import annotations

import datetime
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from typing import TYPE_CHECKING
from typing import Any

import gpuconform
from gpuconform.expect.asof import tables_used
from gpuconform.facts import serde
from gpuconform.facts.model import Facts
from gpuconform.facts.text import clean
from gpuconform.facts.unstated import driver_version_not_stated
from gpuconform.facts.versions import format_cc
from gpuconform.frameworks.replay import recorded_facts
from gpuconform.probes.host import facts_json
from gpuconform.report.staging import atomic_file as atomic_file  # re-exported: fleet writes through it
from gpuconform.report.staging import describe
from gpuconform.report.staging import is_same_file
from gpuconform.report.staging import write_text as write_text  # re-exported likewise
from gpuconform.verdict.check import Finding
from gpuconform.verdict.judge import layer_summaries

if TYPE_CHECKING:
    from gpuconform.report.run import Run

#: The `schema` value of every result.json, and its version: bump the version when a field
#: is renamed or removed or its meaning changes; adding a field keeps it.
RESULT_SCHEMA = "gpuconform-result"
RESULT_SCHEMA_VERSION = 1


def write_reports(session: Run) -> list[str]:
    """Write facts.json and result.json; return one message per report that could not be written.

    junit.xml and report.html are written by their plugins and published by `publish_plugin_reports`.
    """
    directory = session.settings.reports_dir
    errors: list[str] = []
    if directory is None:
        return errors
    formats = session.settings.report_formats
    replayed = session.settings.facts_file
    if "facts" in formats and replayed is not None and is_same_file(replayed, directory / "facts.json"):
        session.notes.append(f"facts.json is not rewritten: it is the file this run replays ({replayed})")
    elif "facts" in formats:
        # With the children's observations of a live run (the session's facts were probed before any child ran).
        facts = recorded_facts(session.facts, list(session.runners.values()))
        _guard(errors, "facts.json", lambda: write_text(directory / "facts.json", facts_json(facts)))
    if "result" in formats:
        _guard(errors, "result.json", lambda: write_text(directory / "result.json", result_json(session)))
    return errors


def publish_plugin_reports(session: Run) -> None:
    """Finish junit.xml (host properties) and report.html (viewport) and rename them into place."""
    from gpuconform.report.htmlparts import with_viewport
    from gpuconform.report.staging import point_writers_at_targets

    staging = session.staging
    if staging is None:
        return
    rows = host_summary(session) + verdict_rows(session)
    staging.publish("junit", lambda text: junit_with_properties(text, rows))
    staging.publish("html", with_viewport)
    point_writers_at_targets(session.config, staging)


def host_summary(session: Run) -> list[tuple[str, str]]:
    """The host card: the facts people look for first, as (label, value) rows."""
    f = session.facts
    nvml = f.driver.nvml
    tf = f.packages.tensorflow
    gpus = ", ".join(f"{g.index}: {g.name}" for g in nvml.gpus) or (
        f"{len(f.driver.pci_devices)} on PCI, none in NVML" if f.driver.pci_devices else "none"
    )
    verdict = session.verdict.line() if session.verdict else "not computed"
    cuda_driver = _cuda_int(nvml.cuda_driver_version)
    return [
        ("verdict", verdict),
        ("profile", f"{session.profile.name}: {session.profile.description}"),
        ("host", f"{f.host.hostname} ({f.platform.system} {f.platform.kernel_release}, {f.platform.machine})"),
        ("facts", f.host.source + (f" below {f.host.host_root}" if f.host.host_root else "")),
        ("python", f.platform.python_version),
        ("container", f.platform.container or "none detected"),
        ("gpus", gpus),
        ("driver", nvml.driver_version or f.driver.kernel_module_version or _no_driver(f)),
        ("cuda (driver API)", cuda_driver or "unknown"),
        ("cuda runtime", ", ".join(library_versions(f, "cudart")) or "not found"),
        ("cudnn", ", ".join(library_versions(f, "cudnn")) or "not found"),
        ("tensorflow", f"{tf.name} {tf.version}" if tf else "not installed"),
        ("gpuconform", gpuconform.__version__),
        ("run", session.run_id),
    ]


def verdict_rows(session: Run) -> list[tuple[str, str]]:
    """The root check and its fix, for CI systems that show suite properties (JUnit)."""
    verdict = session.verdict
    if verdict is None or verdict.status != "FAIL":
        return []
    rows = [("root_check", verdict.check_id or ""), ("fix", verdict.fix)]
    if verdict.blocked:
        rows.append(("blocked", ", ".join(verdict.blocked)))
    return rows


def library_versions(facts: Facts, name: str) -> list[str]:
    """The versions of a CUDA library (by short name, "cudnn") that loaded on this host."""
    libs = facts.libraries.libraries if facts.libraries else ()
    return sorted({ld.version for lib in libs if lib.name == name for ld in lib.loads if ld.version})


def result_json(session: Run) -> str:
    """The machine-readable result (schemas/result.schema.json): one entry per check."""
    return json.dumps(result_document(session), indent=2) + "\n"


def result_document(session: Run) -> dict[str, Any]:
    """The result as JSON-able data; its shape is `schemas/result.schema.json`, version RESULT_SCHEMA_VERSION."""
    verdict = session.verdict
    assert verdict is not None
    outcomes = list(session.outcomes.values())
    return {
        "schema": RESULT_SCHEMA,
        "schema_version": RESULT_SCHEMA_VERSION,
        "gpuconform_version": gpuconform.__version__,
        "run_id": session.run_id,
        "finished_at": _now(),
        "host": host_identity(session),
        "summary": [{"label": label, "value": value} for label, value in host_summary(session)],
        "profile": {
            "name": session.profile.name,
            "description": session.profile.description,
            "source": session.profile.source,
            "chosen_by": session.profile.chosen_by,
        },
        "options": {"strict": session.settings.strict, "compat": session.settings.compat},
        "verdict": {
            "status": verdict.status,
            "layer": verdict.layer,
            "check_id": verdict.check_id,
            "reason": verdict.reason,
            "fix": verdict.fix,
            "line": verdict.line(),
            "finding": _finding(verdict.finding),
            "blocked": list(verdict.blocked),
            "also_failing": [{"id": check_id, "reason": reason} for check_id, reason in verdict.also],
            "warnings": list(verdict.warnings),
        },
        "layers": [
            {"layer": s.layer, "status": s.status, "warnings": s.warnings, "counts": s.counts}
            for s in layer_summaries(outcomes, session.settings.strict)
        ],
        "checks": [
            {
                "id": o.check_id,
                "layer": o.layer,
                "outcome": o.kind,
                "reason": o.reason,
                "message": o.message,
                "remediation": o.fix,
                "finding": _finding(o.finding),
                "blocked_by": o.blocked_by,
                "warnings": [_finding(w) for w in o.warnings],
                "duration": round(o.duration, 6),
                "nodeid": o.nodeid,
            }
            for o in outcomes
        ],
        "compat": serde.dump(session.compat) if session.compat is not None else None,
        "matrices": tables_used(session.matrices),
    }


def host_identity(session: Run) -> dict[str, Any]:
    """Which host this is, in the fields a fleet roll-up groups and filters by."""
    f = session.facts
    nvml = f.driver.nvml
    tf = f.packages.tensorflow
    return {
        "hostname": f.host.hostname,
        "collected_at": f.host.collected_at,
        "facts_source": f.host.source,
        "host_root": f.host.host_root,
        "system": f.platform.system,
        "kernel_release": f.platform.kernel_release,
        "machine": f.platform.machine,
        "distro": f.platform.distro,
        "container": f.platform.container,
        "python": f.platform.python_version,
        "driver": nvml.driver_version or f.driver.kernel_module_version,
        "cuda_driver_api": _cuda_int(nvml.cuda_driver_version),
        "cuda_runtime": library_versions(f, "cudart"),
        "cudnn": library_versions(f, "cudnn"),
        "tensorflow": f"{tf.name} {tf.version}" if tf else None,
        "gpus": [
            {
                "index": g.index,
                "name": g.name,
                "uuid": g.uuid,
                "pci_bus_id": g.pci_bus_id,
                "compute_capability": format_cc(g.compute_capability) if g.compute_capability else None,
                "memory_total_mib": g.memory_total_mib,
            }
            for g in nvml.gpus
        ],
    }


def _finding(finding: Finding | None) -> dict[str, str] | None:
    return serde.dump(finding) if finding is not None else None


def _no_driver(facts: Facts) -> str:
    return "not stated in the replayed facts" if driver_version_not_stated(facts) else "not loaded"


def _cuda_int(value: int | None) -> str | None:
    return f"{value // 1000}.{value % 1000 // 10}" if value else None


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def junit_with_properties(text: str, rows: list[tuple[str, str]]) -> str:
    """A JUnit document with the host summary as <properties> of every <testsuite>."""
    root = ET.fromstring(text)
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        props = suite.find("properties")
        if props is None:
            props = ET.Element("properties")
            suite.insert(0, props)
        for name, value in rows:
            ET.SubElement(props, "property", name=junit_property_name(name), value=clean(value))
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def junit_property_name(label: str) -> str:
    """`gpuconform.<label>` with the label's spaces and brackets folded ("cuda (driver API)" -> cuda_driver_api)."""
    return "gpuconform." + "_".join(re.findall(r"[a-z0-9.]+", label.lower()))


def _guard(errors: list[str], name: str, action: Callable[[], None]) -> None:
    try:
        action()
    except (OSError, UnicodeError) as exc:
        errors.append(f"could not write {name}: {describe(exc)}")
