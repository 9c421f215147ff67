"""TF-TRT's TensorRT: the soname each release dlopens (matrices/tensorrt.toml), found like the CUDA libraries.

The table is read from the wheels; the probe finds libnvinfer.so.N and its other majors with real shims (dlopen,
getInferLibVersion); a described host states its TensorRT with a "tensorrt" [[library]]; and the check
libraries::tensorrt_matches_the_tensorflow_build is run over described hosts through the real suite, so the
messages below are what a user reads.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.tables.tensorrt import load_tensorrt
from gpuconform.facts.errors import DataError
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.libraries import probe_libraries
from tests.simhost.libshims import materialise_libraries
from tests.test_library_search_checks import run_layers
from tests.test_library_search_checks import text

MATRICES = load_matrices()
TABLE = MATRICES.rules.tensorrt
CHECK = "libraries::tensorrt_matches_the_tensorflow_build"
#: The dso_loader line TF 2.10 logs at import on any host without libnvinfer.so.7 (tensorflow/tensorflow#57679).
NVINFER_7_LOG = (
    "W tensorflow/stream_executor/platform/default/dso_loader.cc:64] Could not load dynamic library "
    "'libnvinfer.so.7'; dlerror: libnvinfer.so.7: cannot open shared object file: No such file or directory"
)


def tf(version: str, log: tuple[str, ...] = ()) -> dict[str, object]:
    return {"version": version, "observed": {"log": list(log)}} if log else {"version": version}


# ---- the table ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "soname", "built_with"),
    [
        ("2.3.0", "libnvinfer.so.6", None),
        ("2.4.0", "libnvinfer.so.7", "7.1.3"),
        ("2.10.0", "libnvinfer.so.7", "7.2.2"),
        ("2.11.0", "libnvinfer.so.7", "7.2.2"),
        ("2.12.0", "libnvinfer.so.8", "8.4.3"),
    ],
)
def test_each_release_read_dlopens_one_tensorrt_major(version: str, soname: str, built_with: str | None) -> None:
    row = TABLE.release(version)
    assert row is not None and f"tensorflow {version}" in row.wheels
    assert [w.soname for w in TABLE.wanted(version)] == [soname, soname.replace("libnvinfer", "libnvinfer_plugin")]
    assert (str(row.built_with) if row.built_with else None) == built_with


def test_tensorrt_8_is_dlopened_first_by_2_12_not_2_11_as_the_thread_expected() -> None:
    assert TABLE.loading(8)[0].first().base_version == "2.12"
    assert all(r.major != 8 for r in TABLE.releases if r.tensorflow.contains("2.11.0"))


@pytest.mark.parametrize(
    ("row", "key", "problem"),
    [
        ('nvinfer = "seven"', "release[0].nvinfer", "is not a soname suffix"),
        ('nvinfer = "8.6.1"\nbuilt_with = "8.6.0"', "release[0].built_with", "does not provide libnvinfer.so.8.6.1"),
        ('nvinfer = "7"\nbuilt_with = "8.4.3"', "release[0].built_with", "does not provide libnvinfer.so.7"),
        ('built_with = "8.4.3"', "release[0].built_with", "without TF-TRT"),
        ('nvinfer = "7"\nwheel = "x"', "release[0].wheel", "unknown key"),
    ],
)
def test_a_bad_row_names_its_key(tmp_path: Path, row: str, key: str, problem: str) -> None:
    path = tmp_path / "tensorrt.toml"
    meta = '[meta]\ntitle = "t"\nas_of = 2026-12-01\nsources = ["s"]\n'
    path.write_text(f'{meta}\n[[release]]\ntensorflow = ">=2.5,<2.12"\nwheels_read = ["tensorflow 2.10.0"]\n{row}\n'
                    'source = "s"\n')
    with pytest.raises(DataError) as err:
        load_tensorrt(path)
    assert err.value.key == key and problem in str(err.value)


# ---- the probe and the description ------------------------------------------------------------------------


def test_the_probe_finds_an_installed_tensorrt_8_beside_the_7_tf_2_10_asks_for(tmp_path: Path) -> None:
    libs = [
        SimpleNamespace(name="nvinfer", version="8.4.3", location="pip"),
        SimpleNamespace(name="nvinfer_plugin", version="8.4.3", location="pip"),
    ]
    env = materialise_libraries(libs, tmp_path, None)
    (tmp_path / "root").mkdir()
    facts = probe_libraries(
        None, None, "t", root=tmp_path / "root", env={"PATH": os.environ.get("PATH", ""), **env},
        sys_path=[str(tmp_path / "site-packages")], tensorrt=TABLE.wanted("2.10.0"),
    )
    nvinfer, plugin = facts.tensorrt
    assert (nvinfer.soname, nvinfer.candidates) == ("libnvinfer.so.7", ())
    assert [(c.origin, Path(c.path).name) for c in nvinfer.other_candidates] == [("pip", "libnvinfer.so.8")]
    assert [(ld.loaded, ld.version, ld.raw_version) for ld in nvinfer.other_loads] == [(True, "8.4.3", 8403)]
    assert [(ld.loaded, ld.version, ld.error) for ld in plugin.other_loads] == [(True, None, None)]


def test_a_tensorrt_library_in_a_description_is_both_of_its_libraries_under_its_major(tmp_path: Path) -> None:
    host = {"tensorflow": tf("2.10.0"), "library": [{"name": "tensorrt", "version": "10.0.1", "origin": "pip"}]}
    facts = expand(load_description(tmp_path / "host.toml", host), MATRICES)
    assert facts.libraries is not None
    assert [(lib.soname, [c.path for c in lib.other_candidates]) for lib in facts.libraries.tensorrt] == [
        ("libnvinfer.so.7", ["/usr/lib/python3/site-packages/tensorrt/libnvinfer.so.10"]),
        ("libnvinfer_plugin.so.7", ["/usr/lib/python3/site-packages/tensorrt/libnvinfer_plugin.so.10"]),
    ]


# ---- the check --------------------------------------------------------------------------------------------


def test_tensorrt_8_4_under_tf_2_10_fails_and_names_tensorrt_7_2_or_tf_2_12(tmp_path: Path) -> None:
    host = {"tensorflow": tf("2.10.0", (NVINFER_7_LOG,)), "library": [{"name": "tensorrt", "version": "8.4.3"}]}
    check = run_layers(tmp_path, host, "libraries")[CHECK]
    assert check["outcome"] == "failed"
    assert check["message"].startswith(
        "TensorRT 8.4.3 is installed (libnvinfer.so.8), but tensorflow 2.10.0 dlopens libnvinfer.so.7 (TensorRT 7)"
    )
    assert (
        "install TensorRT 7.2 (it was built against 7.2.2) for libnvinfer.so.7 and libnvinfer_plugin.so.7"
        in check["remediation"]
    )
    assert "or move TensorFlow to a release whose TF-TRT loads TensorRT 8.4.3 (2.12 to 2.14, " in check["remediation"]
    assert "pip install 'tensorflow==2.12.*'" in check["remediation"]


def test_the_tensorrt_tf_2_10_was_built_against_passes(tmp_path: Path) -> None:
    host = {"tensorflow": tf("2.10.0"), "library": [{"name": "tensorrt", "version": "7.2.2"}]}
    assert run_layers(tmp_path, host, "libraries")[CHECK]["outcome"] == "passed"


def test_without_tensorrt_the_libnvinfer_warning_fails_nothing(tmp_path: Path) -> None:
    checks = run_layers(tmp_path, {"tensorflow": tf("2.10.0", (NVINFER_7_LOG,))}, "libraries or framework")
    assert checks[CHECK]["outcome"] == "not-applicable"
    assert "TensorRT is not installed" in text(checks[CHECK]) and "harmless" in text(checks[CHECK])
    assert [cid for cid, c in checks.items() if c["outcome"] in ("failed", "error")] == []


def test_a_release_without_tf_trt_does_not_judge_an_installed_tensorrt(tmp_path: Path) -> None:
    host = {"tensorflow": tf("2.18.0"), "library": [{"name": "tensorrt", "version": "8.6.1"}]}
    check = run_layers(tmp_path, host, "libraries")[CHECK]
    assert check["outcome"] == "not-applicable" and "has no TF-TRT" in text(check)


def test_a_pip_tensorrt_tf_2_10_does_not_search_is_told_the_ld_library_path_line(tmp_path: Path) -> None:
    host = {"tensorflow": tf("2.10.0"), "library": [{"name": "tensorrt", "version": "7.2.3", "origin": "pip"}]}
    check = run_layers(tmp_path, host, "libraries")[CHECK]
    assert check["outcome"] == "failed"
    assert check["message"].startswith(
        "libnvinfer.so.7 is installed, but tensorflow 2.10.0's loader does not search "
        "/usr/lib/python3/site-packages/tensorrt (pip)"
    )
    assert "LD_LIBRARY_PATH" in check["remediation"] and "site-packages/tensorrt" in check["remediation"]


def test_tensorrt_8_6_1_under_its_soname_only_is_told_the_file_name_tf_2_15_opens(tmp_path: Path) -> None:
    host = {"tensorflow": tf("2.15.0"), "library": [{"name": "tensorrt", "version": "8.6.1"}]}
    check = run_layers(tmp_path, host, "libraries")[CHECK]
    assert check["message"].startswith(
        "TensorRT 8.6.1 is installed (libnvinfer.so.8), but tensorflow 2.15.0 dlopens libnvinfer.so.8.6.1 "
        "(TensorRT 8.6.1, by its full version)"
    )
    assert check["remediation"].endswith(
        "cd /usr/lib/x86_64-linux-gnu && ln -s libnvinfer.so.8 /usr/lib/x86_64-linux-gnu/libnvinfer.so.8.6.1 && "
        "ln -s libnvinfer_plugin.so.8 /usr/lib/x86_64-linux-gnu/libnvinfer_plugin.so.8.6.1"
    )


def test_tensorrt_8_4_under_tf_2_15_is_told_exactly_8_6_1_or_the_releases_that_load_8_4(tmp_path: Path) -> None:
    host = {"tensorflow": tf("2.15.0"), "library": [{"name": "tensorrt", "version": "8.4.3"}]}
    check = run_layers(tmp_path, host, "libraries")[CHECK]
    assert check["remediation"] == (
        "install TensorRT 8.6.1 (exactly: it dlopens that version's file name) for libnvinfer.so.8.6.1 and "
        "libnvinfer_plugin.so.8.6.1 (NVIDIA's TensorRT 8 tar, deb or rpm packages) where TensorFlow's loader finds "
        "them (the ld cache or LD_LIBRARY_PATH), or move TensorFlow to a release whose TF-TRT loads TensorRT 8.4.3 "
        "(2.12 to 2.14, matrices/tensorrt.toml): pip install 'tensorflow==2.12.*'"
    )


def test_on_a_gpu_host_without_tensorrt_the_libnvinfer_warning_fails_no_framework_check(tmp_path: Path) -> None:
    host = {
        "gpu": [{"model": "t4"}],
        "driver": {"version": "515.65.01"},
        "toolkit": [{"version": "11.2", "origin": "ldcache"}],
        "library": [{"name": "cudnn", "version": "8.1.0", "origin": "ldcache"}, {"name": "cuda", "version": "11.7"}],
        "tensorflow": {"version": "2.10.0", "observed": {"gpus": 1, "log": [NVINFER_7_LOG]}},
    }
    checks = run_layers(tmp_path, host, "libraries or framework")
    assert checks["framework::tensorflow_loads_every_gpu_library"]["outcome"] == "passed"
    assert checks[CHECK]["outcome"] == "not-applicable"
