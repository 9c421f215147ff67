"""A value the source of the facts does not state is recorded as not stated, and every check that needs it says so.

A public report rarely gives every version: the host description writes ``"not stated"`` (driver.version, driver.cuda,
a library's version) instead of a stand-in, and expands to Facts that record it as such (a ProbeError of kind
"not_stated" where the probe would have recorded its failure to read the value). Replayed through the real suite in
a subprocess, each check that needs the value is not applicable, never a pass or a failure, and names the missing
fact; the checks that depend on it are not blocked, since nothing failed; and the host passes on what is stated.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.facts import serde
from gpuconform.facts.base import NOT_STATED
from gpuconform.facts.errors import DataError
from gpuconform.facts.model import Facts
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.host import facts_json
from gpuconform.probes.host import replay_facts
from tests.test_library_search_checks import AND_CUDA_12
from tests.test_replay_observations import as_version_1

PACKAGE = Path(__file__).resolve().parents[1] / "plugins" / "gpuconform"
COLLECTED = "2026-12-01T00:00:00+00:00"
#: What each check that needs the driver version reads on a host whose description does not state it.
DRIVER_NOT_STATED = "the replayed facts do not state the driver version (the host description states none)"
LIBCUDA = "/usr/lib/x86_64-linux-gnu/libcuda.so.1"
LIBCUDA_NOT_STATED = f"the replayed facts do not state the version of {LIBCUDA} (the host description states none)"
#: A T4 in a docker container of a CUDA 12.3 image, tensorflow 2.16.2 and its pip CUDA libraries, with the driver's
#: version and the CUDA version of its libcuda not stated.
HOST: dict[str, Any] = {
    "host": {"container": "docker", "environment": {"CUDA_VERSION": "12.3.2"}},
    "gpu": [{"model": "t4", "count": 1}],
    "driver": {"version": "not stated"},
    "tensorflow": {"version": "2.16.2"},
    "library": [lib for lib in AND_CUDA_12 if lib["name"] != "cuda"]
    + [{"name": "cuda", "version": "not stated", "origin": "ldcache"}],
}
#: The built-in t4 profile with a driver range, so that the profile's driver check needs the version too.
T4_PROFILE = Path(__file__).resolve().parents[1] / "matrices" / "profiles" / "t4.toml"
PROFILE = T4_PROFILE.read_text() + '\n[driver]\nmin_version = "535.54.03"\n'


def _facts(host: dict[str, Any], where: Path) -> Facts:
    return expand(load_description(where / "host.toml", host), load_matrices(), collected_at=COLLECTED)


def _replay(tmp_path: Path) -> dict[str, Any]:
    (tmp_path / "facts.json").write_text(facts_json(_facts(HOST, tmp_path)))
    (tmp_path / "t4-driver.toml").write_text(PROFILE)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-p", "no:cacheprovider", "-q"]
    argv += ["-m", "platform or driver or libraries", "--host-facts", "facts.json", "--host-profile", "t4-driver.toml"]
    argv += ["--host-reports", "reports", "--host-report-formats", "result"]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    result = tmp_path / "reports" / "result.json"
    assert result.is_file(), (proc.stdout + proc.stderr)[-3000:]
    return dict(json.loads(result.read_text()))


# check id -> the words of its reason after "not applicable: "
NEEDS_THE_DRIVER_VERSION = {
    "driver::driver_is_new_enough_for_the_tensorflow_cuda": f"{DRIVER_NOT_STATED}, so whether it is new enough for "
    "tensorflow 2.16.2 (CUDA 12.3), which needs >= 525.60.13, is not judged",
    "driver::driver_is_new_enough_for_the_container_cuda": f"{DRIVER_NOT_STATED}, so whether it runs the CUDA 12.3 the "
    "container image needs is not judged",
    "driver::driver_version_satisfies_the_profile": f"{DRIVER_NOT_STATED}, so the profile's range "
    "(driver >= 535.54.03) is not judged",
    "driver::driver_branch_supports_each_gpu": f"{DRIVER_NOT_STATED}, so whether its branch supports each GPU "
    "(Tesla T4) is not judged",
    "libraries::the_cuda_driver_library_matches_the_kernel_module": f"{DRIVER_NOT_STATED}, so the libcuda copy is not "
    "compared with the kernel module",
    "libraries::the_driver_api_is_new_enough_for_the_runtime": f"{LIBCUDA_NOT_STATED}, so the CUDA version libcuda "
    "supports is not compared with the runtime's",
    "libraries::only_one_version_of_each_library_is_reachable[cuda]": LIBCUDA_NOT_STATED,
}


def test_each_check_that_needs_a_value_not_stated_is_not_applicable_and_names_it(tmp_path: Path) -> None:
    result = _replay(tmp_path)
    checks = {c["id"]: c for c in result["checks"]}

    for check_id, words in NEEDS_THE_DRIVER_VERSION.items():
        check = checks[check_id]
        assert (check["outcome"], check["reason"]) == ("not-applicable", f"not applicable: {words}"), check_id
    # What is stated is judged: the module is loaded, NVML answers, libcuda loads.
    for check_id in (
        "driver::the_nvidia_kernel_module_is_loaded",
        "driver::nvml_initialises",
        "libraries::library_is_found[cuda]",
        "libraries::library_loads_and_reports_its_version[cuda]",
    ):
        assert checks[check_id]["outcome"] == "passed", checks[check_id]
    # Nothing failed, so nothing is blocked (the driver API check depends on the TensorFlow CUDA check).
    assert [c["id"] for c in result["checks"] if c["outcome"] == "blocked"] == []
    assert result["verdict"]["line"] == "host verdict: PASS (profile t4)", result["verdict"]


def test_the_same_host_with_its_driver_stated_records_nothing_as_not_stated(tmp_path: Path) -> None:
    host = HOST | {"driver": {"version": "470.57.02"}}
    facts = _facts(host, tmp_path)

    assert facts.driver.nvml.driver_version == facts.driver.kernel_module_version == "470.57.02"
    assert [e for e in facts.driver.nvml.errors if e.kind == NOT_STATED] == []
    assert facts.driver.proc_version_error is None


def test_a_driver_not_stated_expands_to_facts_that_say_so_where_the_probe_would_record_it(tmp_path: Path) -> None:
    facts = _facts(HOST, tmp_path)
    d = facts.driver
    unstated = {e.probe: e.message for e in d.nvml.errors if e.kind == NOT_STATED}

    assert (d.nvml.driver_version, d.nvml.cuda_driver_version, d.kernel_module_version) == (None, None, None)
    assert unstated == {
        "nvml.nvmlSystemGetDriverVersion": "the host description states none",
        "nvml.nvmlSystemGetCudaDriverVersion": "the host description states none",
    }
    assert d.proc_version_error is not None and d.proc_version_error.kind == NOT_STATED
    assert d.proc_version_text is not None and "not stated" in d.proc_version_text  # the module is loaded
    assert facts.libraries is not None
    libcuda = next(lib for lib in facts.libraries.libraries if lib.name == "cuda")
    assert [(ld.loaded, ld.version, ld.error and ld.error.kind) for ld in libcuda.loads] == [(True, None, NOT_STATED)]
    assert [c.driver_build for c in libcuda.candidates] == [None]


def test_a_described_host_with_values_not_stated_round_trips_through_facts_from_spec(tmp_path: Path) -> None:
    facts = _facts(HOST, tmp_path)
    (tmp_path / "host.toml").write_text(
        "[host]\ncontainer = 'docker'\nenvironment = { CUDA_VERSION = '12.3.2' }\n"
        "[[gpu]]\nmodel = 't4'\n[driver]\nversion = 'not stated'\n[tensorflow]\nversion = '2.16.2'\n"
        + "".join(
            "[[library]]\n" + "".join(f"{k} = {json.dumps(v)}\n" for k, v in lib.items()) for lib in HOST["library"]
        )
    )
    argv = [sys.executable, "-m", "gpuconform", "facts", "from-spec", "host.toml", "-o", "facts.json"]
    proc = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr

    replayed = replay_facts(tmp_path / "facts.json")
    written = serde.load(Facts, json.loads((tmp_path / "facts.json").read_text()), "facts.json")
    assert written.driver == facts.driver and written.libraries == facts.libraries
    assert replayed.driver == facts.driver
    assert serde.load(Facts, serde.dump(facts), "dumped") == facts


def test_a_version_1_facts_file_still_loads_with_its_driver_version(tmp_path: Path) -> None:
    stated = _facts(HOST | {"driver": {"version": "550.54.15"}}, tmp_path)
    old = as_version_1(serde.dump(stated))
    (tmp_path / "facts-v1.json").write_text(json.dumps(old))

    replayed = replay_facts(tmp_path / "facts-v1.json")

    assert old["schema_version"] == 1
    assert replayed.driver.nvml.driver_version == replayed.driver.kernel_module_version == "550.54.15"
    assert replayed.driver.nvml.errors == () and replayed.driver.proc_version_error is None


@pytest.mark.parametrize(
    ("change", "key", "words"),
    [
        ({"driver": {"version": "unknown"}}, "driver.version", "(accepted: a driver version like '550.54.15', or "
         "'not stated')"),
        ({"library": [{"name": "cudnn", "version": "not stated"}]}, "library[0].soname", "cudnn's version is 'not "
         "stated', so its file name cannot be derived from it"),
        ({"driver": {"version": "550.54.15", "cuda": "twelve"}}, "driver.cuda", "'twelve' is not a version"),
    ],
)
def test_a_description_that_misspells_not_stated_names_the_key(
    change: dict[str, Any], key: str, words: str, tmp_path: Path
) -> None:
    with pytest.raises(DataError) as caught:
        _facts(HOST | change, tmp_path)
    assert caught.value.key == key
    assert words in str(caught.value)


def test_no_live_probe_records_a_value_as_not_stated() -> None:
    # "Not stated" is a property of a description or a hand-written file: a probe that could not read a value
    # records why (a ProbeError of its own kind). Only probes/described/ may write it.
    probes = PACKAGE / "probes"
    writers = sorted(
        str(p.relative_to(PACKAGE))
        for p in probes.rglob("*.py")
        if "described" not in p.parts and ("not_stated" in p.read_text() or "NOT_STATED" in p.read_text())
    )
    assert writers == []
