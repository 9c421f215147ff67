"""Write the run's reports: facts.json, result.json, and host properties into junit.xml.

pytest's own junitxml writes junit.xml and pytest-html writes report.html; this
module adds what they do not know (host facts, profile, verdict) and writes the
JSON files. A report that cannot be written is an error named in the terminal,
never a traceback, and never stops the other reports from being written.
"""

from __future__ import annotations

import json
import os
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import TYPE_CHECKING

import gpuconform
from gpuconform.host import facts_json

if TYPE_CHECKING:
    from gpuconform.session import HostSession

RESULT_SCHEMA_VERSION = 1


def write_reports(session: HostSession) -> list[str]:
    """Write every enabled report; return one message per report that could not be written."""
    settings = session.settings
    errors: list[str] = []
    if settings.reports_dir is None:
        return errors
    formats = settings.report_formats
    if "facts" in formats:
        _guard(errors, "facts.json", lambda: _write(settings.reports_dir / "facts.json", facts_json(session.facts)))
    if "result" in formats:
        _guard(errors, "result.json", lambda: _write(settings.reports_dir / "result.json", result_json(session)))
    xmlpath = getattr(session.config.option, "xmlpath", None)
    if "junit" in formats and xmlpath:
        _guard(errors, "junit.xml", lambda: add_junit_properties(Path(xmlpath), host_summary(session)))
    return errors


def host_summary(session: HostSession) -> list[tuple[str, str]]:
    """The host card: the facts people look for first, as (label, value) rows."""
    f = session.facts
    nvml = f.driver.nvml
    tf = f.packages.tensorflow
    gpus = ", ".join(f"{g.index}: {g.name}" for g in nvml.gpus) or (
        f"{len(f.driver.pci_devices)} on PCI, none in NVML" if f.driver.pci_devices else "none"
    )
    libs = {lib.name: lib for lib in (f.libraries.libraries if f.libraries else ())}

    def lib_version(name: str) -> str:
        lib = libs.get(name)
        versions = sorted({ld.version for ld in lib.loads if ld.version}) if lib else []
        return ", ".join(versions) or "not found"

    verdict = session.verdict.line() if session.verdict else "not computed"
    cuda_driver = ""
    if nvml.cuda_driver_version:
        cuda_driver = f"{nvml.cuda_driver_version // 1000}.{nvml.cuda_driver_version % 1000 // 10}"
    return [
        ("verdict", verdict),
        ("profile", f"{session.profile.name}: {session.profile.description}"),
        ("host", f"{f.host.hostname} ({f.platform.system} {f.platform.kernel_release}, {f.platform.machine})"),
        ("facts", f.host.source + (f" below {f.host.host_root}" if f.host.host_root else "")),
        ("python", f.platform.python_version),
        ("container", f.platform.container or "none detected"),
        ("gpus", gpus),
        ("driver", nvml.driver_version or f.driver.kernel_module_version or "not loaded"),
        ("cuda (driver API)", cuda_driver or "unknown"),
        ("cuda runtime", lib_version("cudart")),
        ("cudnn", lib_version("cudnn")),
        ("tensorflow", f"{tf.name} {tf.version}" if tf else "not installed"),
        ("gpuconform", gpuconform.__version__),
    ]


def result_json(session: HostSession) -> str:
    """The machine-readable result: schema-versioned, one entry per check."""
    verdict = session.verdict
    assert verdict is not None
    document = {
        "schema": "gpuconform-result",
        "schema_version": RESULT_SCHEMA_VERSION,
        "gpuconform_version": gpuconform.__version__,
        "host": {
            "hostname": session.facts.host.hostname,
            "collected_at": session.facts.host.collected_at,
            "facts_source": session.facts.host.source,
        },
        "profile": {"name": session.profile.name, "source": session.profile.source},
        "verdict": {
            "status": verdict.status,
            "layer": verdict.layer,
            "check_id": verdict.check_id,
            "reason": verdict.reason,
            "fix": verdict.fix,
            "line": verdict.line(),
            "warnings": list(verdict.warnings),
        },
        "checks": [
            {
                "id": o.check_id,
                "layer": o.layer,
                "outcome": o.outcome,
                "skip_kind": o.skip_kind if o.outcome == "skipped" else None,
                "summary": o.summary or o.skip_reason,
                "message": o.message,
                "fix": o.fix,
                "warnings": o.warnings,
                "duration": round(o.duration, 6),
            }
            for o in session.outcomes.values()
        ],
    }
    return json.dumps(document, indent=2) + "\n"


def add_junit_properties(path: Path, rows: list[tuple[str, str]]) -> None:
    """Add the host summary as <properties> of every <testsuite> in a JUnit file."""
    tree = ET.parse(path)
    root = tree.getroot()
    suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
    for suite in suites:
        props = suite.find("properties")
        if props is None:
            props = ET.Element("properties")
            suite.insert(0, props)
        for name, value in rows:
            ET.SubElement(props, "property", name=f"gpuconform.{name}", value=value)
    _write(path, ET.tostring(root, encoding="unicode", xml_declaration=True))


def _guard(errors: list[str], name: str, action: object) -> None:
    try:
        action()  # type: ignore[operator]
    except (OSError, ET.ParseError) as exc:
        errors.append(f"could not write {name}: {exc}")


def _write(path: Path, text: str) -> None:
    # Write next to the target and rename, so a crash never leaves half a report.
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
