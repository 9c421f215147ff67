"""reports/result.json and fleet.json follow their committed JSON Schemas, and the schemas follow the code.

Consumers (CI gates, dashboards, the fleet roll-up) parse these files; the schemas are
the contract. A real run's result validates, a malformed one does not, and every
enumeration in a schema equals the one the code uses, so neither can drift alone.
"""

from __future__ import annotations

import copy
import json
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.lookups import VERDICTS
from gpuconform.plugin.keys import suites_dir
from gpuconform.report.files import RESULT_SCHEMA
from gpuconform.report.files import RESULT_SCHEMA_VERSION
from gpuconform.verdict.judge import LAYER_STATUSES
from gpuconform.verdict.judge import OUTCOMES
from tests.fleetgen import SCENARIOS
from tests.fleetgen import generate


def schema(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(resources.files("gpuconform.schemas").joinpath(name).read_text())
    return data


def validator(name: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(schema(name))


def errors(name: str, document: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator(name).iter_errors(document)]


@pytest.fixture(scope="module")
def real_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """result.json of two real runs on this GPU-less machine: one passing, one failing with blocked checks."""
    import subprocess
    import sys

    out = {}
    for profile in ("cpu", "t4"):
        cwd = tmp_path_factory.mktemp(profile)
        argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider"]
        argv += ["-m", "platform or driver or libraries", "--host-profile", profile, "--host-compat"]
        subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=300, check=False)
        out[profile] = json.loads((cwd / "reports/result.json").read_text())
    return out


@pytest.mark.parametrize("name", ["result.schema.json", "fleet.schema.json"])
def test_the_schema_is_a_valid_draft_2020_12_schema(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(schema(name))


@pytest.mark.parametrize("profile", ["cpu", "t4"])
def test_a_real_result_validates_against_the_schema(profile: str, real_results: dict[str, dict[str, Any]]) -> None:
    document = real_results[profile]
    assert errors("result.schema.json", document) == []
    assert document["schema"] == RESULT_SCHEMA
    assert document["schema_version"] == RESULT_SCHEMA_VERSION


def test_the_failing_real_result_has_a_root_blocked_checks_and_a_compat_table(
    real_results: dict[str, dict[str, Any]],
) -> None:
    document = real_results["t4"]
    assert document["verdict"]["status"] == "FAIL"
    assert document["verdict"]["check_id"] == "driver::nvidia_gpu_is_on_the_pci_bus"
    assert document["verdict"]["blocked"]
    assert {c["outcome"] for c in document["checks"]} <= set(OUTCOMES)
    assert len(document["compat"]["rows"]) >= 20


def test_a_real_result_carries_the_as_of_date_of_every_table_it_used(real_results: dict[str, dict[str, Any]]) -> None:
    tables = {t["table"]: t["as_of"] for t in real_results["t4"]["matrices"]}
    assert {"tensorflow.toml", "cuda_drivers.toml", "gpus.toml", "kernels.toml", "and_cuda.toml"} <= set(tables)
    assert tables["gpus.toml"] == load_matrices().meta["gpus"].as_of.isoformat()


def test_every_check_entry_has_its_id_layer_outcome_message_remediation_and_duration(
    real_results: dict[str, dict[str, Any]],
) -> None:
    for check in real_results["t4"]["checks"]:
        assert check["id"].startswith(check["layer"] + "::")
        assert isinstance(check["duration"], float) and check["duration"] >= 0
        if check["outcome"] == "failed":
            assert check["message"] and check["remediation"]


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("checks", 0, "outcome"), "skipped"),  # a skip must say blocked or not-applicable
        (("checks", 0, "id"), "no layer prefix"),
        (("verdict", "status"), "GREEN"),
        (("schema_version",), 2),
        (("verdict", "check_id"), None),  # a FAIL always names its root check
        (("checks", 0, "finding"), {"summary": "x"}),  # a finding has all its parts
    ],
)
def test_a_malformed_result_is_rejected(
    path: tuple[Any, ...], value: Any, real_results: dict[str, dict[str, Any]]
) -> None:
    document = copy.deepcopy(real_results["t4"])
    if path == ("checks", 0, "finding"):
        document["checks"][0]["outcome"] = "failed"
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert errors("result.schema.json", document) != []


def test_a_blocked_check_must_name_what_blocked_it(real_results: dict[str, dict[str, Any]]) -> None:
    document = copy.deepcopy(real_results["t4"])
    blocked = next(c for c in document["checks"] if c["outcome"] == "blocked")
    blocked["blocked_by"] = None
    assert errors("result.schema.json", document) != []


def test_the_schema_enumerations_are_the_codes(real_results: dict[str, dict[str, Any]]) -> None:
    defs = schema("result.schema.json")["$defs"]
    assert defs["outcome"]["enum"] == list(OUTCOMES)
    layer_status = schema("result.schema.json")["properties"]["layers"]["items"]["properties"]["status"]["enum"]
    assert layer_status == list(LAYER_STATUSES)
    compat_verdicts = defs["compat"]["properties"]["rows"]["items"]["properties"]["verdict"]["enum"]
    assert compat_verdicts == list(VERDICTS)
    assert set(defs["outcome"]["enum"]) == set(real_results["t4"]["layers"][0]["counts"])


def test_generated_fleet_results_follow_the_schema_too(tmp_path: Path) -> None:
    # The fleet tests and the benchmark run on these: they must be results a real run could write.
    paths = generate(tmp_path, 40, seed=7)
    seen = set()
    for path in paths:
        document = json.loads(path.read_text())
        assert errors("result.schema.json", document) == [], path
        seen.add(document["verdict"]["check_id"])
    assert len(seen) >= 4 and len(SCENARIOS) >= 6


def test_a_merged_fleet_follows_the_fleet_schema(tmp_path: Path) -> None:
    from gpuconform.fleet.merge import merge

    generate(tmp_path / "results", 30, seed=1)
    merge([tmp_path / "results"], tmp_path / "fleet")
    document = json.loads((tmp_path / "fleet/fleet.json").read_text())
    assert errors("fleet.schema.json", document) == []
    assert document["totals"]["hosts"] == 30
