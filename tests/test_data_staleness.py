"""Data newer than the matrices: a TF release, CUDA version, driver branch or GPU the tables do not know.

Each is named, with the as-of date of the table that lacks it, as a warning: the
driver layer's `the_matrices_know_this_driver_and_gpus` check, the platform layer's
TF lookup, and the as-of dates every report carries (`gpuconform.expect.asof`).
"""

from __future__ import annotations

import dataclasses
import importlib.metadata
from pathlib import Path
from typing import Any

import pytest
import suites.test_driver as drv

from gpuconform.expect.asof import as_of_line
from gpuconform.expect.asof import tables_used
from gpuconform.expect.tables.reader import RULE_TABLE_FILES
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import PciDevice
from gpuconform.frameworks.tensorflow.experiments.dists import installed_version
from tests.test_framework_checks import MATRICES
from tests.test_framework_checks import Warnings
from tests.test_framework_checks import expect
from tests.test_framework_checks import host
from tests.test_framework_checks import t4

DRIVERS_AS_OF = MATRICES.meta["cuda_drivers"].as_of.isoformat()
GPUS_AS_OF = MATRICES.meta["gpus"].as_of.isoformat()
TF_AS_OF = MATRICES.meta["tensorflow"].as_of.isoformat()


def with_nvml(facts: Facts, **changes: Any) -> Facts:
    nvml = dataclasses.replace(facts.driver.nvml, **changes)
    return dataclasses.replace(facts, driver=dataclasses.replace(facts.driver, nvml=nvml))


def warnings_of(facts: Facts, profile: str = "t4") -> Warnings:
    warned = Warnings()
    drv.test_the_matrices_know_this_driver_and_gpus(facts, expect(profile, facts), MATRICES, warned)
    return warned


# --- the driver-layer check ----------------------------------------------------------------------------------


def test_a_host_the_data_knows_passes_without_a_warning() -> None:
    assert warnings_of(host()) == []


def test_a_driver_branch_newer_than_the_data_is_a_warning_with_the_tables_date() -> None:
    (warning,) = warnings_of(with_nvml(host(), driver_version="620.10.01"))
    assert warning.summary.startswith(
        f"matrix as of {DRIVERS_AS_OF} (cuda_drivers.toml) does not know driver branch R620 (driver 620.10.01; "
        "newest branch R617, CUDA 13.4)"
    )
    assert warning.found == "driver 620.10.01"
    assert warning.fix.startswith("update gpuconform (or pass --host-matrices with newer tables)")


def test_a_cuda_version_newer_than_the_data_is_a_warning() -> None:
    (warning,) = warnings_of(with_nvml(host(), cuda_driver_version=13060))
    assert warning.summary == (
        f"matrix as of {DRIVERS_AS_OF} (cuda_drivers.toml) does not know CUDA 13.6 (newest: CUDA 13.5, 13.5.0)"
    )
    assert warning.found == "the driver runs CUDA 13.6"


def test_a_gpu_the_data_does_not_know_is_a_warning_naming_it_and_its_pci_id() -> None:
    rubin = GpuFacts(0, "NVIDIA R100", uuid="GPU-r100", pci_device_id=0x3400, compute_capability=(10, 7))
    (warning,) = warnings_of(with_nvml(host(), gpus=(rubin, dataclasses.replace(rubin, index=1))))
    assert warning.summary.startswith(
        f"matrix as of {GPUS_AS_OF} (gpus.toml) does not know GPU 'NVIDIA R100' (PCI device 0x3400)"
    )
    assert warning.found == "NVIDIA R100 (PCI device 0x3400)"  # once for two of them


def test_without_nvml_an_unknown_pci_device_is_named_by_its_id() -> None:
    facts = with_nvml(host(), gpus=(), device_count=0)
    bus = (PciDevice("0000:00:04.0", 0x10DE, 0x3400, 0x030200, "nvidia"),)
    facts = dataclasses.replace(facts, driver=dataclasses.replace(facts.driver, pci_devices=bus))
    (warning,) = warnings_of(facts)
    assert warning.summary.startswith(f"matrix as of {GPUS_AS_OF} (gpus.toml) does not know GPU (PCI device 0x3400)")
    assert warning.source.startswith("/sys/bus/pci/devices")


def test_a_gpu_known_by_name_alone_or_by_pci_id_alone_is_known() -> None:
    t4_without_id = dataclasses.replace(t4(), pci_device_id=None)
    renamed_t4 = dataclasses.replace(t4(), name="NVIDIA T4 (renamed)", pci_device_id=0x1EB8)
    assert warnings_of(with_nvml(host(), gpus=(t4_without_id, renamed_t4))) == []


def test_the_new_blackwell_and_hopper_models_are_known() -> None:
    for name, cc in [("NVIDIA GeForce RTX 5090", "12.0"), ("NVIDIA GB10", "12.1"), ("NVIDIA B300 SXM6 AC", "10.3")]:
        model = MATRICES.gpu_by_name(name)
        assert model is not None and model.compute_capability_text == cc
    assert MATRICES.unknown_gpu("NVIDIA H20-3e", 0x232C) is None


# --- TensorFlow releases and CUDA toolkits ----------------------------------------------------------------------


def test_a_tensorflow_series_newer_than_the_data_says_so_with_the_tables_date() -> None:
    lookup = MATRICES.tf_release("2.23.0")
    assert lookup.status == "unknown-newer"
    assert lookup.warning == (
        f"TensorFlow 2.23.0 is newer than the matrix: matrix as of {TF_AS_OF} (tensorflow.toml) does not know "
        f"TF 2.23; expectations use the newest known release {MATRICES.tf_releases[0].version}"
    )


def test_a_cuda_the_tables_know_and_one_they_do_not() -> None:
    assert MATRICES.unknown_cuda("13.5.37") is None
    assert MATRICES.unknown_cuda("12.5.1") is None
    assert "does not know CUDA 14.0" in str(MATRICES.unknown_cuda("14.0"))


def test_a_toolkit_without_a_bundled_driver_says_so_and_never_counts_as_a_drivers_newest_cuda() -> None:
    requirement = MATRICES.driver_requirement("13.4")
    assert requirement.toolkit_label.startswith("CUDA 13.4 GA, driver not bundled")
    assert str(requirement.full) == "580.65.06"
    assert str(MATRICES.max_cuda_for_driver("580.95.05")) == "13.0"


def test_cuda_13_4_ga_is_13_4_1_and_update_1_is_13_4_2() -> None:
    assert MATRICES.toolkit("13.4").version == MATRICES.toolkit("13.4.1").version
    assert str(MATRICES.toolkit("13.4").version) == "13.4.1"
    assert MATRICES.toolkit("13.4.2").label == "CUDA 13.4 Update 1"


def test_a_row_read_from_third_party_quotes_says_so_where_its_driver_is_quoted() -> None:
    assert "third-party quotes" in MATRICES.driver_requirement("13.3").toolkit_label
    assert "third-party" not in MATRICES.driver_requirement("13.2.2").toolkit_label


# --- the as-of dates the reports carry ----------------------------------------------------------------------------


def test_every_table_a_run_used_is_listed_with_its_as_of_date() -> None:
    tables = {t["table"]: t["as_of"] for t in tables_used(MATRICES)}
    assert set(tables) == {
        "tensorflow.toml",
        "cuda_drivers.toml",
        "gpus.toml",
        "kernels.toml",
        "and_cuda.toml",
        "sonames.toml",
        "keras_preprocessing.toml",
        *RULE_TABLE_FILES.values(),
    }
    assert tables["gpus.toml"] == GPUS_AS_OF
    assert as_of_line(tables_used(MATRICES)).startswith(f"matrices as of: tensorflow.toml {TF_AS_OF}, ")


def test_a_module_installed_by_another_distribution_reports_that_distributions_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # TF 2.22.0rc0 requires keras-nightly, which installs the `keras` module: no "keras" metadata exists.
    info = tmp_path / "fancymod_nightly-3.16.0.dev2026102704.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fancymod-nightly\nVersion: 3.16.0.dev2026102704\n")
    (info / "top_level.txt").write_text("fancymod\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert installed_version("fancymod", "fancymod") == "3.16.0.dev2026102704"
    with pytest.raises(importlib.metadata.PackageNotFoundError):
        installed_version("nosuchdist", "nosuchmodule")
