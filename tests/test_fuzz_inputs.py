"""Fuzz the profile and facts parsers: any input is a profile/facts or a DataError, never a crash."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.profiles import load_profile
from gpuconform.facts import serde
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import Facts
from gpuconform.probes.host import replay_facts

MATRICES = load_matrices()
KEYS = [
    "profile",
    "gpus",
    "tensorflow",
    "driver",
    "name",
    "description",
    "count",
    "model",
    "compute_capability",
    "min_memory_mib",
    "min_pcie_gen",
    "required",
    "version",
    "min_version",
    "host",
    "platform",
    "nvml",
    "gpus",
]
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    st.sampled_from(["t4", "7.5", ">=2.16", "550.54.15", "a100", "", "x" * 300]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), inner, max_size=5)
    ),
    max_leaves=25,
)
toml_scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**62), max_value=2**62),
    st.text(max_size=12),
    st.sampled_from(["t4", "7.5", ">=2.16", "550.54.15", "2.16+", "sm_75"]),
)


def _toml_value(v: Any) -> str:
    return json.dumps(v) if not isinstance(v, bool) else str(v).lower()


@st.composite
def profile_documents(draw: st.DrawFn) -> str:
    lines = []
    for table in draw(
        st.lists(st.sampled_from(["profile", "gpus", "tensorflow", "driver", "gpu", "extra"]), max_size=4, unique=True)
    ):
        lines.append(f"[{table}]")
        for key in draw(st.lists(st.sampled_from(KEYS), max_size=5, unique=True)):
            lines.append(f"{key} = {_toml_value(draw(toml_scalars))}")
    return "\n".join(lines) + "\n"


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(document=profile_documents())
def test_any_profile_document_loads_or_is_a_data_error(tmp_path: Path, document: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(document)
    try:
        profile = load_profile(path, MATRICES)
    except DataError as exc:
        assert str(path) in str(exc)
    else:
        assert 0 <= profile.gpus.count <= 64


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=200))
def test_any_bytes_as_a_profile_are_a_data_error_or_a_profile(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "p.toml"
    path.write_bytes(raw)
    try:
        profile = load_profile(path, MATRICES)
    except DataError as exc:
        assert str(path) in str(exc)
    else:
        assert profile.name and 0 <= profile.gpus.count <= 64


@settings(max_examples=300, deadline=None)
@given(data=values)
def test_any_json_value_is_facts_or_a_data_error(data: Any) -> None:
    try:
        facts = serde.load(Facts, data, "fuzz")
    except DataError as exc:
        assert str(exc).startswith("fuzz")
    else:
        assert serde.load(Facts, json.loads(json.dumps(serde.dump(facts))), "again") == facts


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.binary(max_size=300))
def test_any_bytes_as_a_facts_file_are_a_data_error(tmp_path: Path, raw: bytes) -> None:
    path = tmp_path / "facts.json"
    path.write_bytes(raw)
    try:
        replay_facts(path)
    except DataError as exc:
        assert str(path) in str(exc)
