"""Check ids are stable across releases: the suites collect exactly the ids in tests/data/check_ids.txt.

result.json, JUnit and fleet roll-ups key on `layer::name`; DCGM users lost their
scripts when test names changed between majors (NVIDIA/DCGM#296). A renamed or
removed check fails here until it is marked retired; a new check fails here until
its id is appended, and the failure says exactly which lines to add.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from gpuconform.verdict.judge import LAYERS
from tests.fleetgen import CHECK_IDS

ID = re.compile(r"^(?P<layer>[a-z]+)::(?P<name>[a-z0-9_]+)(\[[^\]]+\])?$")


@pytest.fixture(scope="module")
def collected() -> list[str]:
    """The ids the suites collect now, through the same command users run."""
    proc = subprocess.run(
        [sys.executable, "-m", "gpuconform", "checks", "--ids"],
        capture_output=True, text=True, timeout=300, check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.split()


def listed() -> tuple[list[str], list[str]]:
    """(current ids, retired ids) of the committed list."""
    current, retired = [], []
    for line in CHECK_IDS.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        if line.startswith("retired: "):
            retired.append(line.removeprefix("retired: "))
        else:
            current.append(line)
    return current, retired


def test_no_listed_check_was_renamed_or_removed(collected: list[str]) -> None:
    current, _ = listed()
    gone = [i for i in current if i not in set(collected)]
    assert not gone, (
        "these check ids are listed in tests/data/check_ids.txt but no longer collected, so users' "
        "dashboards and scripts that key on them break. Keep the test names; or, if the check is "
        "really gone, prefix its line with 'retired: ':\n" + "\n".join(gone)
    )


def test_every_collected_check_is_listed(collected: list[str]) -> None:
    current, retired = listed()
    new = [i for i in collected if i not in set(current)]
    assert not new, (
        "new check ids: append these lines to tests/data/check_ids.txt "
        "(`python -m gpuconform checks --ids` lists them all):\n" + "\n".join(new)
    )
    assert not set(collected) & set(retired), "a retired id came back: pick a new name for the new check"


def test_check_ids_are_unique_and_name_their_layer() -> None:
    current, retired = listed()
    assert len(set(current)) == len(current), "an id is listed twice"
    for check_id in current + retired:
        match = ID.match(check_id)
        assert match, f"{check_id!r} is not layer::name[params]"
        assert match.group("layer") in LAYERS, check_id


def test_the_checks_command_prints_layer_prefixed_ids(collected: list[str]) -> None:
    assert collected, "no checks collected"
    assert {i.split("::")[0] for i in collected} <= set(LAYERS)
    assert "driver::nvidia_gpu_is_on_the_pci_bus" in collected


@pytest.fixture(scope="module")
def described() -> subprocess.CompletedProcess[str]:
    """`gpuconform checks` as a user runs it, noting whether TensorFlow was imported on the way."""
    script = (
        "import sys\n"
        "from gpuconform.cli import main\n"
        "code = main(['checks'])\n"
        "print('tensorflow imported' if 'tensorflow' in sys.modules else 'no tensorflow', file=sys.stderr)\n"
        "raise SystemExit(code)\n"
    )
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def test_the_checks_command_lists_every_check_in_layer_order_with_a_description(
    described: subprocess.CompletedProcess[str], collected: list[str]
) -> None:
    lines = described.stdout.splitlines()
    assert [line.split()[0] for line in lines] == collected  # the same checks as --ids, in the same order
    layers = [check_id.split("::")[0] for check_id in collected]
    assert layers == sorted(layers, key=LAYERS.index)  # platform first, then driver, ... as the verdict reads them
    assert list(dict.fromkeys(layers)) == list(LAYERS)
    descriptions = {line.split()[0]: line.split(None, 1)[1] for line in lines}
    assert descriptions["driver::gpu_count_matches_the_profile"] == "GPU count matches the profile"
    assert descriptions["driver::nvidia_gpu_is_on_the_pci_bus"] == "NVIDIA GPU is on the PCI bus"
    assert descriptions["libraries::cudnn_and_cudart_are_built_for_the_same_cuda_major"].startswith("cuDNN and")
    # A check with a docstring is described by its first line.
    assert descriptions["driver::the_nvidia_kernel_module_is_loaded"] == "The nvidia kernel module is loaded."


def test_the_checks_command_imports_no_tensorflow(described: subprocess.CompletedProcess[str]) -> None:
    assert described.stderr.strip().splitlines()[-1] == "no tensorflow"
