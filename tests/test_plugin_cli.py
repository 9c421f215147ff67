"""The plugin end to end on this (GPU-less) machine: options, ini twins, usage errors, reports.

Every run is a real pytest subprocess over the real suites/, as a user would start it.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import pytest

from gpuconform.plugin.keys import suites_dir

SUITES = str(suites_dir())
# The platform and driver layers are enough here and keep each run fast.
LOW = ("-m", "platform or driver", "-p", "no:cacheprovider")


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess(SUITES, *LOW, *args, timeout=300)


def test_the_cpu_profile_passes_and_writes_all_reports(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--host-profile", "cpu")
    assert result.ret == 0, result.stdout.str()
    assert result.stdout.lines[-1].startswith("host verdict: PASS (profile cpu")
    reports = pytester.path / "reports"
    for name in ("junit.xml", "report.html", "facts.json", "result.json"):
        assert (reports / name).is_file(), name
    assert json.loads((reports / "result.json").read_text())["verdict"]["status"] == "PASS"


def test_the_t4_profile_on_a_gpu_less_host_fails_at_the_driver(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--host-profile", "t4")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["host verdict: FAIL at driver: expected 1 Tesla T4 on the PCI bus, found 0"])
    result.stdout.fnmatch_lines(["*fix:*lspci -nn*"])


def test_an_unknown_profile_is_a_usage_error_listing_the_builtins(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--host-profile", "nosuch")
    assert result.ret == 4
    result.stderr.fnmatch_lines(
        [
            "*--host-profile: unknown profile 'nosuch'*a100, auto, b200, cpu, gb200, h100, h200, l4, l40s, "
            "rtx-pro-6000, rtx2080ti, rtx5090, t4, v100*"
        ]
    )


def test_a_near_miss_profile_name_suggests_the_right_one(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--host-profile", "t44")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*unknown profile 't44'; did you mean 't4'?*"])


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ('[profile]\nname="x"\ndescription="y"\n[gpus]\ncout=1\n', "*gpus.cout: unknown key; did you mean 'count'?*"),
        (
            '[profile]\nname="x"\ndescription="y"\n[gpus]\ncount="one"\n',
            "*gpus.count: expected integer, got string 'one'*",
        ),
        (
            '[profile]\nname="x"\ndescription="y"\n[gpus]\ncount=1\nmodel="t44"\n',
            "*gpus.model: unknown GPU model 't44'; did you mean 't4'?*",
        ),
        (
            '[profile]\nname="x"\ndescription="y"\n[gpus]\ncount=100000\n',
            "*gpus.count: 100000 is out of range (accepted: 0 to 64)*",
        ),
        ('[profile]\nname="x"\n', "*profile.description: required key is missing*"),
        ("[profile\n", "*is not valid TOML*"),
        (
            '[profile]\nname="x"\ndescription="y"\n[tensorflow]\nversion="2.16+"\n',
            "*tensorflow.version: '2.16+' is not a version specifier*",
        ),
    ],
)
def test_a_bad_profile_file_names_the_file_and_the_key(pytester: pytest.Pytester, body: str, expected: str) -> None:
    path = pytester.path / "mine.toml"
    path.write_text(body)
    result = run(pytester, "--host-profile", str(path))
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"ERROR: {path}: {expected.lstrip('*')}"])
    assert "Traceback" not in result.stderr.str()


def test_a_profile_file_of_ones_own_is_used(pytester: pytest.Pytester) -> None:
    path = pytester.path / "lab.toml"
    path.write_text('[profile]\nname = "lab"\ndescription = "our lab box"\n[gpus]\ncount = 2\n')
    result = run(pytester, "--host-profile", str(path))
    assert result.ret == 1
    result.stdout.fnmatch_lines(["host verdict: FAIL at driver: expected 2 NVIDIA GPU on the PCI bus, found 0"])


def test_the_ini_twin_sets_the_profile(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nhost_profile = t4\n")
    result = pytester.runpytest_subprocess(
        SUITES, *LOW, "-c", str(pytester.path / "tox.ini"), "--rootdir", str(pytester.path), timeout=300
    )
    assert result.ret == 1
    result.stdout.fnmatch_lines(["host verdict: FAIL at driver:*"])


def test_the_environment_variable_sets_the_profile(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUCONFORM_PROFILE", "t4")
    result = run(pytester)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*gpuconform: profile t4*", "host verdict: FAIL at driver:*"])


def test_the_command_line_beats_the_environment(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPUCONFORM_PROFILE", "t4")
    assert run(pytester, "--host-profile", "cpu").ret == 0


def test_auto_picks_cpu_on_a_machine_without_an_nvidia_gpu(pytester: pytest.Pytester) -> None:
    result = run(pytester)
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*gpuconform: auto: no NVIDIA GPU on the PCI bus or in NVML*"])


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ("--host-probe-timeout", "-1"),
            "*option --host-probe-timeout: invalid value '-1'; expected a number of seconds in (0, 3600]*",
        ),
        (("--host-probe-timeout", "soon"), "*option --host-probe-timeout: invalid value 'soon'*"),
        (
            ("--host-report-formats", "junit,pdf"),
            "*option --host-report-formats: invalid value 'junit,pdf'; "
            "expected a comma-separated subset of junit,html,facts,result*",
        ),
        (
            ("--host-root", "/no/such/dir"),
            "*option --host-root: invalid value '/no/such/dir'; expected an existing directory*",
        ),
        (
            ("--host-facts", "missing.json"),
            "*option --host-facts: invalid value*missing.json'; expected an existing file*",
        ),
    ],
)
def test_bad_option_values_are_usage_errors_naming_the_option(
    pytester: pytest.Pytester, args: tuple[str, ...], expected: str
) -> None:
    result = run(pytester, *args)
    assert result.ret == 4
    result.stderr.fnmatch_lines([expected])


def test_a_bad_ini_value_names_the_ini_key_and_file(pytester: pytest.Pytester) -> None:
    ini = pytester.makeini("[pytest]\nhost_probe_timeout = never\n")
    result = pytester.runpytest_subprocess(SUITES, *LOW, "-c", str(ini), "--rootdir", str(pytester.path), timeout=300)
    assert result.ret == 4
    result.stderr.fnmatch_lines([f"*ini key host_probe_timeout in {ini}: invalid value 'never'*"])


def test_reports_can_be_moved_and_narrowed(pytester: pytest.Pytester) -> None:
    result = run(
        pytester, "--host-profile", "cpu", "--host-reports", "out/host", "--host-report-formats", "facts,junit"
    )
    assert result.ret == 0
    assert sorted(p.name for p in (pytester.path / "out/host").iterdir()) == ["facts.json", "junit.xml"]
    assert not (pytester.path / "reports").exists()


def test_reports_can_be_turned_off(pytester: pytest.Pytester) -> None:
    assert run(pytester, "--host-profile", "cpu", "--host-reports", "off").ret == 0
    assert not (pytester.path / "reports").exists()


def test_junit_carries_the_host_facts_and_verdict_as_properties(pytester: pytest.Pytester) -> None:
    run(pytester, "--host-profile", "t4")
    suite = ET.parse(pytester.path / "reports/junit.xml").getroot().find("testsuite")
    assert suite is not None
    props = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert props["gpuconform.verdict"].startswith("host verdict: FAIL at driver:")
    assert props["gpuconform.profile"].startswith("t4:")
    assert "gpuconform.driver" in props and "gpuconform.tensorflow" in props


def test_the_html_report_has_the_host_summary_on_top(pytester: pytest.Pytester) -> None:
    run(pytester, "--host-profile", "cpu")
    page = (pytester.path / "reports/report.html").read_text()
    assert "gpuconform-host-summary" in page
    assert "host verdict: PASS (profile cpu" in page
    assert "<link " not in page  # self-contained: nothing fetched from elsewhere


def test_replaying_the_recorded_facts_reaches_the_same_verdict(pytester: pytest.Pytester) -> None:
    first = run(pytester, "--host-profile", "t4", "--host-reports", "live")
    replay = run(pytester, "--host-profile", "t4", "--host-facts", "live/facts.json", "--host-reports", "replay")
    assert first.stdout.lines[-1] == replay.stdout.lines[-1]
    replay.stdout.fnmatch_lines(["*gpuconform: facts replayed from*live/facts.json*"])


def test_a_malformed_facts_file_is_a_usage_error_naming_the_key(pytester: pytest.Pytester) -> None:
    run(pytester, "--host-profile", "cpu")
    data = json.loads((pytester.path / "reports/facts.json").read_text())
    data["platform"]["python_version"] = 3.11
    (pytester.path / "bad.json").write_text(json.dumps(data))
    result = run(pytester, "--host-facts", "bad.json")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*bad.json: platform.python_version: expected string, got number 3.11*"])


def test_a_run_of_other_tests_is_left_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile("def test_ok():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    assert result.ret == 0
    assert "host verdict" not in result.stdout.str()
    assert not (pytester.path / "reports").exists()


def test_the_layer_markers_are_registered_for_strict_markers(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--markers")
    for layer in (
        "platform",
        "driver",
        "libraries",
        "framework",
        "placement",
        "memory",
        "preprocessing",
        "determinism",
    ):
        result.stdout.fnmatch_lines([f"@pytest.mark.{layer}: gpuconform layer*"])
    result.stdout.fnmatch_lines(["@pytest.mark.depends_on(*check_ids)*"])


def test_every_option_has_help_naming_its_ini_key_and_variable(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess("--help")
    for flag, ini, env in (
        ("--host-profile", "host_profile", "GPUCONFORM_PROFILE"),
        ("--host-facts", "host_facts", "GPUCONFORM_FACTS"),
        ("--host-root", "host_root", "GPUCONFORM_ROOT"),
        ("--host-reports", "host_reports", "GPUCONFORM_REPORTS"),
        ("--host-report-formats", "host_report_formats", "GPUCONFORM_REPORT_FORMATS"),
        ("--host-probe-timeout", "host_probe_timeout", "GPUCONFORM_PROBE_TIMEOUT"),
        ("--host-strict", "host_strict", "GPUCONFORM_STRICT"),
    ):
        assert flag in result.stdout.str()
        result.stdout.fnmatch_lines([f"*{ini}*"])
        assert env in result.stdout.str()


def test_importing_the_plugin_imports_no_framework_and_writes_nothing(pytester: pytest.Pytester) -> None:
    code = (
        "import sys, gpuconform.plugin.hooks, gpuconform.plugin.session, gpuconform.report.files\n"
        "bad = [m for m in ('tensorflow', 'pynvml', 'keras', 'torch') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    result = pytester.run(pytest_python(), "-W", "error", "-c", code)
    assert result.ret == 0, result.stderr.str()
    assert not (pytester.path / "reports").exists()


def pytest_python() -> str:
    import sys

    return sys.executable


def test_help_runs_without_probing_or_writing_reports(pytester: pytest.Pytester) -> None:
    result = pytester.runpytest_subprocess(SUITES, "--help")
    assert result.ret == 0
    assert not (pytester.path / "reports").exists()


VALUED = [
    ("--host-probe-timeout", "host_probe_timeout", "GPUCONFORM_PROBE_TIMEOUT", "0", "a number of seconds in (0, 3600]"),
    ("--host-tf-timeout", "host_tf_timeout", "GPUCONFORM_TF_TIMEOUT", "later", "a number of seconds in (0, 86400]"),
    ("--host-report-formats", "host_report_formats", "GPUCONFORM_REPORT_FORMATS", "xml", "a comma-separated subset"),
    ("--host-root", "host_root", "GPUCONFORM_ROOT", "/nope", "an existing directory"),
    ("--host-facts", "host_facts", "GPUCONFORM_FACTS", "nope.json", "an existing file"),
]
FLAGS = [
    ("host_strict", "GPUCONFORM_STRICT"),
    ("host_gpu_per_worker", "GPUCONFORM_GPU_PER_WORKER"),
    ("host_compat", "GPUCONFORM_COMPAT"),
]


@pytest.mark.parametrize(("flag", "ini", "env", "bad", "accepted"), VALUED)
def test_a_bad_value_from_each_channel_names_that_channel(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, flag: str, ini: str, env: str, bad: str, accepted: str
) -> None:
    via_flag = run(pytester, flag, bad)
    assert via_flag.ret == 4
    via_flag.stderr.fnmatch_lines([f"*option {flag}: invalid value*{bad}*expected {accepted}*"])

    monkeypatch.setenv(env, bad)
    via_env = run(pytester, "--host-profile", "cpu")
    assert via_env.ret == 4
    via_env.stderr.fnmatch_lines([f"*environment variable {env}: invalid value*{bad}*"])
    monkeypatch.delenv(env)

    inifile = pytester.makeini(f"[pytest]\n{ini} = {bad}\n")
    via_ini = pytester.runpytest_subprocess(
        SUITES, *LOW, "--host-profile", "cpu", "-c", str(inifile), "--rootdir", str(pytester.path), timeout=300
    )
    assert via_ini.ret == 4
    via_ini.stderr.fnmatch_lines([f"*ini key {ini} in {inifile}: invalid value*{bad}*"])


@pytest.mark.parametrize(("ini", "env"), FLAGS)
def test_a_bad_boolean_names_its_ini_key_or_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ini: str, env: str
) -> None:
    monkeypatch.setenv(env, "maybe")
    via_env = run(pytester, "--host-profile", "cpu")
    assert via_env.ret == 4
    via_env.stderr.fnmatch_lines([f"*environment variable {env}: invalid value 'maybe'; expected true or false*"])
    monkeypatch.delenv(env)
    inifile = pytester.makeini(f"[pytest]\n{ini} = maybe\n")
    via_ini = pytester.runpytest_subprocess(
        SUITES, *LOW, "--host-profile", "cpu", "-c", str(inifile), "--rootdir", str(pytester.path), timeout=300
    )
    assert via_ini.ret == 4
    via_ini.stderr.fnmatch_lines([f"*ini key {ini} in {inifile}: invalid value 'maybe'; expected true or false*"])


def test_reports_follow_the_ini_key_and_the_variable(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    inifile = pytester.makeini("[pytest]\nhost_reports = from-ini\nhost_report_formats = facts\n")
    args = (SUITES, *LOW, "--host-profile", "cpu", "-c", str(inifile), "--rootdir", str(pytester.path))
    assert pytester.runpytest_subprocess(*args, timeout=300).ret == 0
    assert [p.name for p in (pytester.path / "from-ini").iterdir()] == ["facts.json"]
    monkeypatch.setenv("GPUCONFORM_REPORTS", "from-env")
    assert pytester.runpytest_subprocess(*args, timeout=300).ret == 0
    assert [p.name for p in (pytester.path / "from-env").iterdir()] == ["facts.json"]


def test_the_facts_ini_key_replays_a_file(pytester: pytest.Pytester) -> None:
    assert run(pytester, "--host-profile", "cpu").ret == 0
    inifile = pytester.makeini("[pytest]\nhost_facts = reports/facts.json\nhost_reports = again\n")
    result = pytester.runpytest_subprocess(
        SUITES, *LOW, "--host-profile", "cpu", "-c", str(inifile), "--rootdir", str(pytester.path), timeout=300
    )
    assert result.ret == 0
    result.stdout.fnmatch_lines(["*gpuconform: facts replayed from*reports/facts.json*"])
