"""Secrets: no environment value reaches a report unredacted, and no markup in one reaches the page unescaped.

One real run of the platform layer (`pytest <suites> --host-profile cpu -m platform -v`, in
a subprocess) plants secrets everywhere a report can pick up the environment: our
allowlisted variables, the CI variables pytest-metadata copies into report.html's
Environment table, `--metadata` and `--metadata-from-json`, Terraform's TF_* variables. Each
row then greps all four reports (and the terminal, whose -v header prints the metadata) for
its secrets. A second run plants `<img onerror>` markup, and headless chromium renders
report.html to prove no element was created and no script ran. The tokens are put
together at import time so that no token-shaped literal sits in this file.
"""

from __future__ import annotations

import html
import json
import os
import random
import string
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path

import pytest
from hypothesis import assume
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st

from gpuconform.facts import redact
from gpuconform.plugin.keys import suites_dir
from tests.catalogue import Row
from tests.catalogue import catalogued
from tests.chromium import Browser
from tests.chromium import browser
from tests.chromium import find_chromium

REPORTS = ("junit.xml", "report.html", "facts.json", "result.json")
SECTION = "Secrets"
_rng = random.Random(20240610)  # fixed: the same tokens every run


def _chars(alphabet: str, n: int) -> str:
    return "".join(_rng.choice(alphabet) for _ in range(n))


ALNUM = string.ascii_letters + string.digits
GITHUB = "gh" + "p_" + _chars(ALNUM, 36)
GITHUB_FINE = "github" + "_pat_" + _chars(ALNUM, 22) + "_" + _chars(ALNUM, 59)
GITLAB = "gl" + "pat-" + _chars(ALNUM, 20)
GITLAB_JOB = "gl" + "cbt-64_" + _chars(ALNUM, 20)
SLACK = "xo" + "xb-" + _chars(string.digits, 12) + "-" + _chars(string.digits, 13) + "-" + _chars(ALNUM, 24)
AWS = "AK" + "IA" + _chars(string.ascii_uppercase + string.digits, 16)
JWT = "ey" + "JhbGciOiJIUzI1NiJ9.ey" + "JzdWIiOiJncHVjb25mb3JtIn0." + _chars(ALNUM + "_-", 43)
HEX = _chars("0123456789abcdef", 40)  # an old-style (pre-2021) GitHub token, or any hex API key
OPAQUE = _chars(ALNUM + "+/", 40)  # an AWS secret access key's shape
NVIDIA = "nv" + "api-" + _chars(ALNUM + "_-", 64)


@dataclass(frozen=True)
class Plant:
    """What one row plants: environment variables, pytest arguments, and the strings no report may hold."""

    env: dict[str, str] = field(default_factory=dict)
    args: tuple[str, ...] = ()
    secrets: tuple[str, ...] = ()
    shown: tuple[str, ...] = ()  # what report.html must still show (redacted, not dropped)
    xdist: bool = False  # planted in a run of two xdist workers, whose metadata the controller merges


def _row(case: str, seam: str, expect: str, id: str) -> Row:
    return Row("faults", SECTION, case, seam, expect, id)


NO_REPORT = "absent from junit.xml, report.html, facts.json, result.json and the -v header"
PLANTS = {
    "jenkins-git-url": Plant(
        env={"GIT_URL": f"https://bot:{GITHUB}@github.com/lab/models.git"},
        secrets=(GITHUB,),
        shown=(f"https://{redact.REDACTED}@github.com/lab/models.git",),
    ),
    "password-with-at": Plant(
        env={"CUDA_CACHE_PATH": "https://cacheuser:Hunter2@pw-tail-7f3k@cache.example/x"},
        secrets=("Hunter2", "pw-tail-7f3k"),
        shown=(f"https://{redact.REDACTED}@cache.example/x",),
    ),
    "jenkins-urls": Plant(
        env={
            "JENKINS_URL": "https://admin:jenkins-pw-0042@jenkins.example/",
            "BUILD_URL": "https://jenkins.example/job/train/7/?token=trigger-0043&delay=0",
        },
        secrets=("jenkins-pw-0042", "trigger-0043"),
        shown=("https://jenkins.example/job/train/7/?token=",),
    ),
    "gitlab-job-token": Plant(
        env={"CI_JOB_TOKEN": GITLAB_JOB, "CI_COMMIT_REF_NAME": GITLAB}, secrets=(GITLAB_JOB, GITLAB)
    ),
    "terraform-variable": Plant(env={"TF_VAR_db_password": "tfvar-pw-0051"}, secrets=("tfvar-pw-0051", "TF_VAR_db")),
    "terraform-token": Plant(env={"TF_TOKEN_app_terraform_io": "tftoken-0052"}, secrets=("tftoken-0052", "TF_TOKEN_")),
    "terraform-cli-args": Plant(
        env={"TF_CLI_ARGS_apply": "-var=region=eu -var=db_password=tfcli-pw-0053"}, secrets=("tfcli-pw-0053",)
    ),
    "metadata-option": Plant(
        args=("--metadata", "deploy_key", "md-key-0061", "--metadata", "build_note", f"pushed with {GITHUB_FINE}"),
        secrets=("md-key-0061", GITHUB_FINE),
        shown=("build_note",),
    ),
    "metadata-json": Plant(
        args=(
            "--metadata-from-json",
            json.dumps(
                {"pipeline": {"hook": "https://ci:md-json-pw-0062@ci.example/h", "header": "Bearer mdJson0063x"}}
            ),
        ),
        secrets=("md-json-pw-0062", "mdJson0063x"),
    ),
    "allowlisted-secret-name": Plant(
        env={"NVIDIA_API_KEY": NVIDIA, "CUDA_MPS_PASSWORD": "mps-pw-0071", "KERAS_SESSION": "keras-0072"},
        secrets=(NVIDIA, "mps-pw-0071", "keras-0072"),
    ),
    "slack-and-aws-tokens": Plant(
        env={"JOB_NAME": f"nightly {SLACK}", "NODE_NAME": f"gpu-07 {AWS}"}, secrets=(SLACK, AWS), shown=("gpu-07 ",)
    ),
    "jwt": Plant(env={"BUILD_TAG": f"jenkins-train-7 {JWT}"}, secrets=(JWT,), shown=("jenkins-train-7 ",)),
    "opaque-hex-and-base64": Plant(
        env={"GIT_BRANCH": f"origin/main {HEX}", "CI_RUNNER_DESCRIPTION": f"runner {OPAQUE}"},
        secrets=(HEX, OPAQUE),
        shown=("origin/main ",),
    ),
    "xdist-workers": Plant(
        env={"GIT_URL": f"https://bot:{GITHUB}@github.com/lab/models.git", "BUILD_TAG": f"x {JWT}"},
        args=("-n", "2", "--metadata", "deploy_key", "md-key-0081"),
        secrets=(GITHUB, JWT, "md-key-0081"),
        shown=(f"https://{redact.REDACTED}@github.com/lab/models.git",),
        xdist=True,
    ),
}
SECRET_ROWS = [
    _row(
        "Jenkins GIT_URL with a GitHub token as URL userinfo",
        "environment -> pytest-metadata's Environment table",
        f"URL shown as https://<redacted>@github.com/...; token {NO_REPORT}",
        "jenkins-git-url",
    ),
    _row(
        "a URL password containing '@' (https://user:p@ss@host)",
        "allowlisted variable (CUDA_CACHE_PATH) -> facts",
        "userinfo hidden up to the last '@' before the host: neither half of the password in any report",
        "password-with-at",
    ),
    _row(
        "JENKINS_URL with credentials, BUILD_URL with ?token=",
        "environment -> pytest-metadata's Environment table",
        f"userinfo and the secret-named query value redacted, the rest of each URL kept; {NO_REPORT}",
        "jenkins-urls",
    ),
    _row(
        "GitLab CI_JOB_TOKEN, and a glpat- token in a CI variable pytest-metadata copies",
        "environment (GitLab CI)",
        f"the job token (not allowlisted) and the token-shaped value {NO_REPORT}",
        "gitlab-job-token",
    ),
    _row(
        "Terraform TF_VAR_db_password",
        "environment (TF_ is Terraform's prefix too)",
        f"not reported at all: only TensorFlow's own TF_* names are allowlisted; name and value {NO_REPORT}",
        "terraform-variable",
    ),
    _row(
        "Terraform TF_TOKEN_<host>",
        "environment",
        f"not reported; name and value {NO_REPORT}",
        "terraform-token",
    ),
    _row(
        "Terraform TF_CLI_ARGS_apply carrying -var=db_password=...",
        "environment",
        f"not reported; the password {NO_REPORT}",
        "terraform-cli-args",
    ),
    _row(
        "--metadata deploy_key VALUE, --metadata NOTE with a GitHub fine-grained token",
        "pytest-metadata's --metadata",
        f"the secret-named key's value and the token-shaped value {NO_REPORT}",
        "metadata-option",
    ),
    _row(
        "nested credentials in --metadata-from-json (URL userinfo, Bearer header)",
        "pytest-metadata's --metadata-from-json",
        f"redacted at every depth; {NO_REPORT}",
        "metadata-json",
    ),
    _row(
        "secret-named variables under allowlisted prefixes (NVIDIA_API_KEY, CUDA_MPS_PASSWORD, KERAS_SESSION)",
        "allowlisted variable -> facts",
        f"reported as <redacted>; the values {NO_REPORT}",
        "allowlisted-secret-name",
    ),
    _row(
        "a Slack xoxb- and an AWS AKIA... token inside innocently named CI variables",
        "environment -> pytest-metadata's Environment table",
        f"the tokens cut out, the rest of each value kept; {NO_REPORT}",
        "slack-and-aws-tokens",
    ),
    _row(
        "a JWT inside a CI variable",
        "environment -> pytest-metadata's Environment table",
        f"the JWT cut out; {NO_REPORT}",
        "jwt",
    ),
    _row(
        "an opaque 40-digit hex and a 40-character base64 secret in CI variables",
        "environment -> pytest-metadata's Environment table",
        f"cut out (a commit id is kept only under GIT_COMMIT-like names); {NO_REPORT}",
        "opaque-hex-and-base64",
    ),
    _row(
        "the same secrets in a run with -n 2: each xdist worker sends its own metadata to the controller",
        "pytest-xdist workers' pytest-metadata",
        f"redacted in the workers and again after the merge; {NO_REPORT}",
        "xdist-workers",
    ),
]


@dataclass(frozen=True)
class Run:
    """A finished run: its reports' text (raw and HTML-unescaped) and the terminal output."""

    reports: Path
    texts: dict[str, str]
    terminal: str


def _run_platform_layer(cwd: Path, env: dict[str, str], args: tuple[str, ...] = ()) -> Run:
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "--host-profile", "cpu", "-m", "platform"]
    argv += ["-p", "no:cacheprovider", "-v", *args]
    proc = subprocess.run(
        argv, cwd=cwd, env={**os.environ, **env}, capture_output=True, text=True, timeout=600, check=False
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    reports = cwd / "reports"
    texts = {name: (reports / name).read_text(errors="replace") for name in REPORTS}
    ET.fromstring(texts["junit.xml"])  # the reports stay valid with the redaction in place
    json.loads(texts["facts.json"])
    json.loads(texts["result.json"])
    return Run(reports, texts, proc.stdout + proc.stderr)


def _readable(text: str) -> str:
    # report.html holds pytest-html's data as an HTML-escaped attribute whose strings we escaped
    # once more; grep the text a reader could recover as well as the bytes on disk.
    return text + "\n" + html.unescape(text) + "\n" + html.unescape(html.unescape(text))


def _run_planted(tmp_path_factory: pytest.TempPathFactory, xdist: bool) -> Run:
    env: dict[str, str] = {}
    args: tuple[str, ...] = ()
    for plant in PLANTS.values():
        if plant.xdist == xdist:
            env.update(plant.env)
            args += plant.args
    run = _run_platform_layer(tmp_path_factory.mktemp("secrets"), env, args)
    assert "metadata: {" in run.terminal  # -v printed pytest-metadata's dict: the terminal is checked too
    return run


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_planted(tmp_path_factory, xdist=False)


@pytest.fixture(scope="module")
def planted_under_xdist(tmp_path_factory: pytest.TempPathFactory) -> Run:
    return _run_planted(tmp_path_factory, xdist=True)


@catalogued(SECRET_ROWS)
def test_a_planted_secret_reaches_no_report(row: Row, request: pytest.FixtureRequest) -> None:
    plant = PLANTS[row.id]
    planted: Run = request.getfixturevalue("planted_under_xdist" if plant.xdist else "planted")
    for name, text in {**planted.texts, "terminal": planted.terminal}.items():
        readable = _readable(text)
        for secret in plant.secrets:
            assert secret not in readable, f"{secret!r} is in {name}: " + next(
                line for line in readable.splitlines() if secret in line
            )
    page = _readable(planted.texts["report.html"])
    for visible in plant.shown:
        assert visible in page, f"report.html no longer shows {visible!r}"


def test_the_planted_allowlisted_variables_are_still_reported_redacted(planted: Run) -> None:
    environment = dict(json.loads(planted.texts["facts.json"])["platform"]["environment"])
    assert environment["CUDA_CACHE_PATH"] == f"https://{redact.REDACTED}@cache.example/x"
    assert environment["NVIDIA_API_KEY"] == redact.REDACTED
    assert not [name for name in environment if name.startswith("TF_")]


# ---- markup --------------------------------------------------------------------------


def _markup(tag: str) -> str:
    # No quotes: the facts tree shows values as JSON, where a quote would read \".
    return f"<img src=x id=gcpwn-{tag} onerror=window.gcPwned=(window.gcPwned||[]).concat(this.id)>"


MARKUP = {
    "allowlisted-variable": Plant(env={"NVIDIA_DRIVER_CAPABILITIES": _markup("env")}, shown=(_markup("env"),)),
    "ci-variable": Plant(env={"JOB_NAME": _markup("ci")}, shown=(_markup("ci"),)),
    "metadata-option": Plant(args=("--metadata", "note", _markup("md")), shown=(_markup("md"),)),
    "nested-metadata": Plant(
        args=(
            "--metadata-from-json",
            json.dumps({"nested": {_markup("name"): _markup("value")}, "list": [_markup("li")]}),
        ),
        shown=(f"{_markup('name')}: {_markup('value')}", f"0: {_markup('li')}"),
    ),
}
MARKUP_ROWS = [
    _row(
        "<img onerror> markup in an allowlisted variable",
        "allowlisted variable -> facts -> report.html's host section",
        "rendered in chromium as text: no element created, no script run",
        "allowlisted-variable",
    ),
    _row(
        "<img onerror> markup in a CI variable pytest-metadata copies (JOB_NAME)",
        "environment -> pytest-html's Environment table (inserted with innerHTML)",
        "escaped before pytest-html gets it: shown as text, no element, no script",
        "ci-variable",
    ),
    _row(
        "<img onerror> markup in a --metadata value",
        "pytest-metadata's --metadata",
        "shown as text, no element, no script",
        "metadata-option",
    ),
    _row(
        "<img onerror> markup as a nested key, a nested value and a list item of --metadata-from-json",
        "pytest-metadata's --metadata-from-json (pytest-html lists nested items with innerHTML)",
        "each shown as text, no element, no script",
        "nested-metadata",
    ),
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (Debian: apt-get install -y chromium)")
    with browser(binary) as b:
        yield b


@pytest.fixture(scope="module")
def marked_up(tmp_path_factory: pytest.TempPathFactory) -> Run:
    env: dict[str, str] = {}
    args: tuple[str, ...] = ()
    for plant in MARKUP.values():
        env.update(plant.env)
        args += plant.args
    return _run_platform_layer(tmp_path_factory.mktemp("markup"), env, args)


#: Resolves once pytest-html's script has filled the Environment table (no timed wait).
RENDERED = """new Promise(resolve => { const ready = () =>
  document.querySelectorAll('#environment tr').length ? resolve(true) : requestAnimationFrame(ready); ready(); })"""


@catalogued(MARKUP_ROWS)
def test_markup_in_an_environment_value_renders_as_text(row: Row, marked_up: Run, chromium: Browser) -> None:
    page = chromium.new_page()
    page.open((marked_up.reports / "report.html").as_uri())
    assert page.evaluate(RENDERED) is True
    assert page.evaluate("document.querySelectorAll('[id^=gcpwn]').length") == 0
    assert page.evaluate("window.gcPwned === undefined")
    shown = page.evaluate(
        "document.querySelector('#environment').textContent + document.querySelector('#gc').textContent"
    )
    for text in MARKUP[row.id].shown:
        assert text in shown
    assert page.console_errors == []


# ---- precision -----------------------------------------------------------------------

SURVIVORS = {
    "versions-and-platform": [
        ("Python", "3.11.7"),
        ("Platform", "Linux-5.15.0-1057-azure-x86_64-with-glibc2.35"),
        ("Platform", "Linux-6.8.0-1014-aws-x86_64-with-glibc2.39"),
        ("tensorflow", "2.16.1"),
        ("wheel", "tensorflow-2.16.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"),
        ("nvidia-cudnn-cu12", "9.3.0.75"),
        ("driver", "550.54.15"),
        ("TF_XLA_FLAGS", "--tf_xla_auto_jit=2 --tf_xla_cpu_global_jit"),
        ("TF_CPP_VMODULE", "gpu_device=2,bfc_allocator=1"),
        ("NVIDIA_REQUIRE_CUDA", "cuda>=12.5 brand=tesla,driver>=470,driver<471 brand=unknown,driver>=535,driver<536"),
        ("CUDA_VISIBLE_DEVICES", "GPU-6f1e5d2c-2b3a-4c5d-8e9f-0a1b2c3d4e5f,1"),
        ("gpu", "Tesla_T4_PCIe_16GB_Driver550_Ubuntu2204_Image"),
        ("JOB_NAME", "ThisIsMyVeryLongCamelCaseJobNameForTraining2024"),
    ],
    "paths": [
        (
            "LD_LIBRARY_PATH",
            "/home/User1/miniconda3/envs/TensorflowGpu/lib:/usr/local/cuda-12.5/targets/x86_64-linux/lib",
        ),
        ("PATH", "/root/.vscode-server/bin/8b3775030ed1a69b13e4f4c628c612102e30a681/bin/remote-cli:/usr/local/bin"),
        ("PATH", "/nix/store/0c7q6dxnm8z4a1yk9v3r2wl5hbsjfgip-python3-3.11.7/bin:/usr/bin"),
        ("PYTHONPATH", "/opt/NVIDIA/TensorRT-10.0.1/lib64/python3.11/site-packages"),
        ("WORKSPACE", "/var/lib/jenkins/workspace/GpuConformance_Nightly_Build_T4"),
        ("CUDA_HOME", "/usr/local/cuda"),
        ("URL", "https://registry.npmjs.org/@babel/core"),
        ("URL", "https://artifacts.example:8443/@scope/pkg/-/pkg-1.2.3.tgz"),
    ],
    "commit-ids-and-digests": [
        ("GIT_COMMIT", "8b3775030ed1a69b13e4f4c628c612102e30a681"),
        ("CI_COMMIT_SHA", "e83c5163316f89bfbde7d9ab23ca2e25604af290"),
        ("CIRCLE_SHA1", "e83c5163316f89bfbde7d9ab23ca2e25604af290"),
        ("CODEBUILD_RESOLVED_SOURCE_VERSION", "e83c5163316f89bfbde7d9ab23ca2e25604af290"),
        ("image", "nvcr.io/nvidia/tensorflow@sha256:" + "0123456789abcdef" * 4),
        ("BITBUCKET_REPO_UUID", "{6f1e5d2c-2b3a-4c5d-8e9f-0a1b2c3d4e5f}"),
    ],
}
PRECISION_ROWS = [
    _row(
        "version strings, kernel releases, wheel tags, TF/XLA flags, GPU UUIDs, long identifiers",
        "any environment value or metadata",
        "kept verbatim: the redaction is precise, not a blanket on long strings",
        "versions-and-platform",
    ),
    _row(
        "paths with hashes (VS Code server, nix store), scoped-package and port URLs",
        "any environment value or metadata",
        "kept verbatim: a path segment or an '@' in a URL path is not a credential",
        "paths",
    ),
    _row(
        "40-digit commit ids under commit names (GIT_COMMIT, CI_COMMIT_SHA), sha256: digests, UUIDs",
        "CI variables pytest-metadata copies",
        "kept verbatim (the same hex under any other name is redacted)",
        "commit-ids-and-digests",
    ),
]


@catalogued(PRECISION_ROWS)
def test_ordinary_values_survive_the_redaction(row: Row) -> None:
    changed = [
        (n, v, redact.environment_value(n, v)) for n, v in SURVIVORS[row.id] if redact.environment_value(n, v) != v
    ]
    assert changed == []


CATALOGUE = SECRET_ROWS + MARKUP_ROWS + PRECISION_ROWS


# ---- the redaction itself ------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("https://user:p@ss@host/x", f"https://{redact.REDACTED}@host/x"),
        ("https://user:p@ss@host", f"https://{redact.REDACTED}@host"),
        ("git+ssh://git:s3cret@host:22/repo", f"git+ssh://{redact.REDACTED}@host:22/repo"),
        ("https://user:pa/ss@host/x", f"https://{redact.REDACTED}@host/x"),
        ("https://tokenonly@host/x", f"https://{redact.REDACTED}@host/x"),
        ("https://h/x?a=1&access_token=abc&b=2", f"https://h/x?a=1&access_token={redact.REDACTED}&b=2"),
        ("deploy --password=hunter2 --user bob", f"deploy --password={redact.REDACTED} --user bob"),
        ('{"api_key": "abc", "name": "ok"}', f'{{"api_key": "{redact.REDACTED}", "name": "ok"}}'),
        ("Authorization: Bearer abcDEF123456789", f"Authorization: {redact.REDACTED}"),
        ("Basic functionality works", "Basic functionality works"),
        ("a -----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- b", f"a {redact.REDACTED} b"),
        (f"{HEX}", redact.REDACTED),
        (f"x {OPAQUE} y", f"x {redact.REDACTED} y"),
    ],
)
def test_the_redaction_cuts_out_credentials_and_keeps_the_rest(value: str, expected: str) -> None:
    assert redact.text(value) == expected
    assert redact.text(expected) == expected  # and redacting twice changes nothing


def test_a_name_that_says_secret_hides_the_whole_value() -> None:
    for name in ("HF_TOKEN", "db_password", "MY_PASSWD", "AWS_SECRET_ACCESS_KEY", "NVIDIA_API_KEY", "GCP_CREDENTIALS"):
        assert redact.environment_value(name, "anything") == redact.REDACTED
    for name in ("GITLAB_PAT", "DB_PASS", "SENTRY_DSN", "X_AUTH", "SESSION_ID", "JSESSIONID_COOKIE"):
        assert redact.environment_value(name, "anything") == redact.REDACTED
    for name in ("PATH", "PWD", "OLDPWD", "COMPASS_HOME", "BYPASS_CACHE", "CUDA_VISIBLE_DEVICES"):
        assert redact.environment_value(name, "/usr/bin") == "/usr/bin"


def test_metadata_is_redacted_in_place_at_every_depth() -> None:
    data = {
        "GIT_URL": "https://bot:x@h/r",
        "Packages": {"pytest": "9.2.0", "upload_token": "t"},
        "CI_JOB_TOKEN": "t",
        "list": ["https://a:b@c/d", 3, None],
        "n": 5,
    }
    same = data
    redact.metadata(data)
    assert same is data
    assert data == {
        "GIT_URL": f"https://{redact.REDACTED}@h/r",
        "Packages": {"pytest": "9.2.0", "upload_token": redact.REDACTED},
        "CI_JOB_TOKEN": redact.REDACTED,
        "list": [f"https://{redact.REDACTED}@c/d", 3, None],
        "n": 5,
    }


TOKENS = [GITHUB, GITHUB_FINE, GITLAB, GITLAB_JOB, SLACK, AWS, JWT, NVIDIA, OPAQUE, HEX]


@settings(max_examples=400, derandomize=True, deadline=None)
@given(
    prefix=st.text(max_size=40),
    before=st.sampled_from(list(" ,;:=/'\"()[]{}\n\t@")),
    token=st.sampled_from(TOKENS),
    after=st.sampled_from(list(" ,;'\"()[]{}\n\t&")),
    suffix=st.text(max_size=40),
    name=st.text(max_size=20),
)
def test_a_token_survives_no_surrounding_text(
    prefix: str, before: str, token: str, after: str, suffix: str, name: str
) -> None:
    assume(not any(part in name.upper() for part in redact.COMMIT_PARTS))  # where a 40-digit hex is a commit
    assert token not in redact.environment_value(name, prefix + before + token + after + suffix)


@pytest.mark.parametrize(
    "filler",
    ["a", "KEY", "key=", "Aa1", "ab12", "a:", "https://u:p@h/x?token=1&", "/Aa", "@", "=", "Bearer x ", 'token="'],
)
def test_a_token_after_128_kib_of_pathological_text_is_still_cut_out(filler: str) -> None:
    # Every pattern is linear: quadratic backtracking here would take hours, not fail an assertion.
    value = filler * (128 * 1024 // len(filler)) + " " + GITHUB
    assert GITHUB not in redact.text(value)


def test_a_replayed_facts_file_s_environment_goes_through_the_allowlist_and_the_redaction(
    planted: Run, tmp_path: Path
) -> None:
    from gpuconform.probes.host import replay_facts

    recorded = json.loads(planted.texts["facts.json"])  # a hand-edited or an old file, as --host-facts reads it
    recorded["platform"]["environment"] = [
        ["TF_VAR_db_password", "replay-0091"],
        ["CUDA_CACHE_PATH", "https://u:replay-0092@h/x"],
    ]
    (tmp_path / "facts.json").write_text(json.dumps(recorded))
    environment = dict(replay_facts(tmp_path / "facts.json").platform.environment)
    assert environment == {"CUDA_CACHE_PATH": f"https://{redact.REDACTED}@h/x"}


def test_metadata_is_redacted_even_without_pytest_html(tmp_path: Path) -> None:
    # pytest-metadata without pytest-html: its -v header and the metadata junitxml can carry
    # still go through the redaction.
    seam = Path(__file__).parent / "faultseams" / "nohtml"
    env = {k: v for k, v in os.environ.items() if not k.startswith("GPUCONFORM_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(seam), env.get("PYTHONPATH")]))
    argv = [sys.executable, "-m", "pytest", str(suites_dir()), "-m", "platform", "-p", "no:cacheprovider", "-v"]
    argv += ["--host-profile", "cpu", "--metadata", "DEPLOY_TOKEN", GITHUB]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    assert "report.html is not written: pytest-html is not installed" in proc.stdout
    assert "DEPLOY_TOKEN" in proc.stdout  # the -v header lists the metadata
    assert GITHUB not in proc.stdout + proc.stderr
