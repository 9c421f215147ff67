"""Assert that a run's four reports exist and are valid, whatever went wrong on the host."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import jsonschema

from gpuconform.facts.schema import facts_schema
from gpuconform.probes.host import replay_facts

SCHEMAS = Path(__file__).resolve().parents[1] / "plugins" / "gpuconform" / "schemas"


def assert_reports_valid(directory: Path) -> dict[str, Any]:
    """Check junit.xml, report.html, facts.json and result.json; return result.json."""
    junit = ET.parse(directory / "junit.xml").getroot()
    suite = junit if junit.tag == "testsuite" else junit.find("testsuite")
    assert suite is not None, "junit.xml has no testsuite"
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert str(props.get("gpuconform.verdict", "")).startswith("host verdict:"), props

    page = (directory / "report.html").read_text()
    assert "host verdict:" in page

    facts = json.loads((directory / "facts.json").read_text())
    jsonschema.validate(facts, facts_schema())
    replay_facts(directory / "facts.json")  # and it replays

    result = json.loads((directory / "result.json").read_text())
    schema_path = SCHEMAS / "result.schema.json"
    if schema_path.is_file():
        jsonschema.validate(result, json.loads(schema_path.read_text()))
    assert result["verdict"]["line"] == props["gpuconform.verdict"]
    return result


_OUTCOMES = "PASSED|FAILED|SKIPPED|ERROR|XFAIL|XPASS"


def reported(output: str, test_name: str) -> bool:
    """Whether pytest -v's `output` (serial or xdist's) shows test `test_name` with its outcome yet."""
    name = re.escape(test_name)
    return re.search(rf"{name}(?:\[\S*\])? ({_OUTCOMES})|({_OUTCOMES}) \S*::{name}(?:\[|\s|$)", output) is not None
