"""Reports never carry secrets, runs never touch the network, and host text is escaped in HTML."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gpuconform.facts.redact import REDACTED
from gpuconform.plugin.keys import suites_dir
from gpuconform.probes.platform import TF_NAMES
from gpuconform.probes.platform import reported_environment
from tests.simhost.cc import require_compiler
from tests.simhost.host import build_host
from tests.simhost.host import run_suite
from tests.simhost.spec import load_spec

SPECS = Path(__file__).parent / "simhost" / "specs"
SECRETS = {
    "AWS_SECRET_ACCESS_KEY": "sekrit-aws-0001",
    "HF_TOKEN": "sekrit-hf-0002",
    "DB_PASSWORD": "sekrit-db-0003",
    "TF_API_TOKEN": "sekrit-tf-0004",  # Terraform Cloud's token: TF_ is not an allowlisted prefix
    "NVIDIA_API_KEY": "sekrit-nv-0005",
    "CUDA_CACHE_PATH": "https://user:sekrit-url-0006@cache.example/x",  # credentials inside a URL
}
PROFILE_WITH_SECRETS = """
# password = "sekrit-comment-0007"   (a comment: TOML drops it, so no report can carry it)
[profile]
name = "lab"
description = "lab box"  # token: sekrit-comment-0008
[gpus]
count = 0
[tensorflow]
required = false
"""


def _all_report_text(directory: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in directory.rglob("*") if p.is_file())


def test_the_environment_is_reported_through_an_allowlist_with_secrets_redacted() -> None:
    env = {**SECRETS, "CUDA_VISIBLE_DEVICES": "0", "HOME": "/root", "GITHUB_TOKEN": "sekrit"}
    reported = dict(reported_environment(env))
    assert reported["CUDA_VISIBLE_DEVICES"] == "0"
    assert "HOME" not in reported and "GITHUB_TOKEN" not in reported and "AWS_SECRET_ACCESS_KEY" not in reported
    assert "TF_API_TOKEN" not in reported
    assert reported["NVIDIA_API_KEY"] == REDACTED
    assert reported["CUDA_CACHE_PATH"] == f"https://{REDACTED}@cache.example/x"


def test_tensorflow_variables_are_reported_and_terraform_variables_are_not() -> None:
    tensorflow = {name: "1" for name in TF_NAMES}
    terraform = {"TF_VAR_region": "eu", "TF_CLI_ARGS": "-no-color", "TF_LOG": "DEBUG", "TF_WORKSPACE": "prod"}
    reported = dict(reported_environment({**tensorflow, **terraform, "TF_BUILD": "True"}))
    assert reported == tensorflow


def test_planted_secrets_appear_in_no_report(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    (pytester.path / "lab.toml").write_text(PROFILE_WITH_SECRETS)
    result = pytester.runpytest_subprocess(
        str(suites_dir()), "-m", "platform or driver or libraries", "--host-profile", "lab.toml", timeout=300
    )
    assert result.ret == 0, result.stdout.str()[-2000:]
    reports = pytester.path / "reports"
    assert {p.name for p in reports.iterdir()} >= {"junit.xml", "report.html", "facts.json", "result.json"}
    text = _all_report_text(reports) + result.stdout.str() + result.stderr.str()
    leaked = [s for s in ("sekrit-",) if s in text]
    assert not leaked, [line for line in text.splitlines() if "sekrit-" in line][:5]


NETWORK_GUARD = """
import os, socket
_log = os.environ["GPUCONFORM_NET_LOG"]
def _refuse(*args, **kwargs):
    with open(_log, "a") as f:
        f.write(f"{os.getpid()} {args[:2]!r}\\n")
    raise OSError("network blocked by the gpuconform no-network test")
for _name in ("connect", "connect_ex", "sendto"):
    setattr(socket.socket, _name, _refuse)
socket.create_connection = _refuse
socket.getaddrinfo = _refuse
"""


def test_a_whole_run_attempts_no_network_access(tmp_path: Path) -> None:
    guard = tmp_path / "guard"
    guard.mkdir()
    (guard / "sitecustomize.py").write_text(NETWORK_GUARD)
    log = tmp_path / "net.log"
    env = dict(os.environ)
    # sitecustomize is imported by every Python that starts with this PYTHONPATH: the
    # pytest process and every probe and TensorFlow child it starts.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(guard), env.get("PYTHONPATH")]))
    env["GPUCONFORM_NET_LOG"] = str(log)
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(suites_dir()), "--host-profile", "cpu", "-p", "no:cacheprovider"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert "host verdict:" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert not log.exists(), log.read_text()


def test_markup_in_a_gpu_name_is_escaped_in_the_html_report(tmp_path: Path) -> None:
    require_compiler()
    import dataclasses

    spec = load_spec(SPECS / "t4_healthy.toml")
    evil = "Tesla T4<script>alert('x')</script>"
    spec = dataclasses.replace(spec, gpu=(dataclasses.replace(spec.gpu[0], name=evil),))
    host = build_host(spec, tmp_path / "host")
    run_suite(host, tmp_path, layers="platform or driver or libraries")
    page = (tmp_path / "reports/report.html").read_text()
    assert "<script>alert('x')</script>" not in page
    assert "&lt;script&gt;" in page or "\\u003cscript" in page
    facts = json.loads((tmp_path / "reports/facts.json").read_text())
    assert facts["driver"]["nvml"]["gpus"][0]["name"] == evil  # the data keeps the truth
