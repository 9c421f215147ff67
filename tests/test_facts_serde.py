"""The Facts tree round-trips through JSON, and bad Facts files fail with the key that is wrong."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from gpuconform.facts import serde
from gpuconform.facts.base import ProbeError
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import HostIdentity
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PlatformFacts
from gpuconform.facts.schema import SCHEMA_PATH
from gpuconform.facts.schema import facts_schema
from gpuconform.probes.host import facts_json
from gpuconform.probes.host import replay_facts

SAMPLE = Facts(
    host=HostIdentity(hostname="gpu-01", collected_at="2026-11-23T00:00:00+00:00"),
    platform=PlatformFacts(
        "3.11.7", "CPython", "Linux", "6.1.0", "x86_64", environment=(("CUDA_VISIBLE_DEVICES", "0"),)
    ),
    driver=DriverFacts(
        nvml=NvmlFacts(
            driver_version="550.54.15",
            cuda_driver_version=12040,
            device_count=1,
            gpus=(GpuFacts(0, "Tesla T4", compute_capability=(7, 5), memory_total_mib=15360),),
        )
    ),
)


def test_facts_round_trip_through_json_unchanged() -> None:
    text = facts_json(SAMPLE)
    assert serde.load(Facts, json.loads(text), "mem") == SAMPLE


def test_replayed_facts_say_where_they_came_from(tmp_path: Path) -> None:
    path = tmp_path / "facts.json"
    path.write_text(facts_json(SAMPLE))
    facts = replay_facts(path)
    assert facts.host.source == f"replay:{path}"
    assert facts.driver == SAMPLE.driver


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda d: d["driver"]["nvml"]["gpus"][0].update(name=7),
            "driver.nvml.gpus[0].name: expected string, got integer 7",
        ),
        (
            lambda d: d["driver"]["nvml"].update(driver_verison="1"),
            "driver.nvml.driver_verison: unknown key; did you mean 'driver_version'?",
        ),
        (lambda d: d["platform"].pop("system"), "platform.system: required key is missing"),
        (
            lambda d: d["driver"]["nvml"]["gpus"][0].update(compute_capability=[7]),
            "compute_capability: expected 2 items, got 1",
        ),
        (lambda d: d.update(driver=[]), "driver: expected a table, got list"),
        (lambda d: d.update(schema_version=99), "schema_version: 99 is newer than this gpuconform understands"),
    ],
)
def test_a_malformed_facts_file_names_the_bad_key(tmp_path: Path, mutate, expected: str) -> None:
    data = serde.dump(SAMPLE)
    mutate(data)
    path = tmp_path / "facts.json"
    path.write_text(json.dumps(data))
    with pytest.raises(DataError) as err:
        replay_facts(path)
    assert str(path) in str(err.value)
    assert expected in str(err.value)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "is not valid JSON"),
        (b"\xff\xfe\x00garbage", "is not UTF-8 text"),
        (b"[1, 2]", "expected a JSON object at the top level"),
        (b"[" * 100000 + b"]" * 100000, "nested too deeply"),
    ],
)
def test_unparsable_facts_files_are_data_errors(tmp_path: Path, content: bytes, expected: str) -> None:
    path = tmp_path / "facts.json"
    path.write_bytes(content)
    with pytest.raises(DataError, match=expected):
        replay_facts(path)


def test_a_directory_or_missing_path_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        replay_facts(tmp_path)
    with pytest.raises(DataError, match="does not exist"):
        replay_facts(tmp_path / "nope.json")


def test_deeply_nested_values_are_refused_at_the_first_wrong_level() -> None:
    value: object = "x"
    for _ in range(10_000):
        value = [value]
    with pytest.raises(DataError, match=r"\[0\]\[0\]: expected string, got list"):
        serde.load(tuple[tuple[str, ...], ...], value, "mem")  # type: ignore[arg-type]


def test_probe_errors_survive_the_round_trip() -> None:
    facts = SAMPLE.__class__(
        host=SAMPLE.host,
        platform=SAMPLE.platform,
        driver=DriverFacts(
            nvml=NvmlFacts(init_error=ProbeError("nvml", "NVMLError_DriverNotLoaded", "Driver Not Loaded"))
        ),
    )
    assert serde.load(Facts, json.loads(facts_json(facts)), "mem") == facts


def test_the_committed_schema_matches_the_dataclasses() -> None:
    assert json.loads(SCHEMA_PATH.read_text()) == facts_schema(), "regenerate with: python -m gpuconform.facts.schema"


def test_dumped_facts_validate_against_the_schema() -> None:
    jsonschema.validate(json.loads(facts_json(SAMPLE)), facts_schema())


def test_the_schema_rejects_what_the_loader_rejects() -> None:
    data = serde.dump(SAMPLE)
    data["driver"]["nvml"]["bogus"] = 1
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(data, facts_schema())
