"""Table tests for the platform and framework rule tables: architectures, tf_platforms, xla_toolchain.

Each loader gives its rows types and the questions the rules ask; the answers below are the
sourced rows (see each file's [meta]), and a malformed file is a DataError naming the key.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from packaging.version import Version

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.tables.architectures import load_architectures
from gpuconform.expect.tables.tf_platforms import load_tf_platforms
from gpuconform.expect.tables.xla_toolchain import load_xla_toolchain
from gpuconform.facts.errors import DataError

RULES = load_matrices().rules
META = """[meta]
title = "t"
as_of = 2026-12-01
sources = ["here"]
"""


def write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "table.toml"
    path.write_text(META + body)
    return path


# ---- architectures.toml ---------------------------------------------------------------------------


def test_cuda_10_1_predates_the_rtx_3090_but_cuda_11_0_runs_it_through_sm_80_sass() -> None:
    arch = RULES.architectures
    row = arch.cuda_predates(Version("10.1"), (8, 6))
    assert row is not None and row.cc == (8, 0) and row.min_cuda == Version("11.0")
    assert arch.cuda_predates(Version("11.0"), (8, 6)) is None
    assert arch.first_cuda_for((8, 6)) == Version("11.0")


def test_cuda_12_5_predates_blackwell_compute_capability_12_0() -> None:
    row = RULES.architectures.cuda_predates(Version("12.5.1"), (12, 0))
    assert row is not None and row.min_cuda == Version("12.8") and row.name == "Blackwell"
    assert RULES.architectures.cuda_predates(Version("12.8"), (12, 0)) is None


def test_cuda_12_dropped_kepler_3_5_and_cuda_11_8_still_targets_it() -> None:
    arch = RULES.architectures
    dropped = arch.cuda_dropped(Version("12.3"), (3, 5))
    assert dropped is not None and dropped.last_cuda == Version("11.8")
    assert arch.cuda_dropped(Version("11.8"), (3, 5)) is None
    assert arch.cuda_dropped(Version("12.3"), (7, 5)) is None


def test_a_gpu_the_table_does_not_know_is_never_claimed_too_new() -> None:
    assert RULES.architectures.cuda_predates(Version("9.0"), (13, 0)) is None


def test_every_row_is_typed_with_its_branch_and_ordered_by_compute_capability() -> None:
    rows = RULES.architectures.rows
    assert [r.cc for r in rows] == sorted(r.cc for r in rows)
    kepler = RULES.architectures.row((3, 7))
    assert kepler is not None and kepler.last_driver_branch == 470 and kepler.sm == "sm_37"


def test_an_architecture_listed_twice_is_refused(tmp_path: Path) -> None:
    row = '[[arch]]\ncc = "8.6"\nname = "Ampere"\nmin_cuda = "11.1"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"arch\[1\]\.cc: duplicate compute capability"):
        load_architectures(write(tmp_path, row + row))


def test_an_architecture_whose_last_cuda_precedes_its_first_is_refused(tmp_path: Path) -> None:
    body = '[[arch]]\ncc = "3.5"\nname = "Kepler"\nmin_cuda = "6.0"\nlast_cuda = "5.5"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"arch\[0\]\.last_cuda: 5\.5 is older than min_cuda 6\.0"):
        load_architectures(write(tmp_path, body))


def test_a_driver_branch_not_written_rNNN_is_refused(tmp_path: Path) -> None:
    body = '[[arch]]\ncc = "3.5"\nname = "K"\nmin_cuda = "6.0"\nlast_driver_branch = "470"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"last_driver_branch: '470' is not a driver branch"):
        load_architectures(write(tmp_path, body))


# ---- tf_platforms.toml ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "version", "cuda"),
    [
        ("tensorflow", "1.9.0", False),
        ("tensorflow", "1.14.0", False),
        ("tensorflow", "1.15.0", True),  # the one 1.x release whose plain wheel is a CUDA build
        ("tensorflow", "1.15.2", False),
        ("tensorflow", "2.0.0", False),
        ("tensorflow", "2.1.0", True),
        ("tensorflow-gpu", "1.14.0", True),
        ("tensorflow_gpu", "2.5.0", True),
        ("tensorflow-cpu", "2.21.0", False),
        ("tf-nightly", "2.21.0.dev20250722", None),
    ],
)
def test_whether_a_distribution_is_a_cuda_build_depends_on_its_era(name: str, version: str, cuda: bool | None) -> None:
    assert RULES.tf_platforms.is_cuda_build(name, version) is cuda


def test_the_gpu_build_of_a_release_is_tensorflow_gpu_before_2_1() -> None:
    platforms = RULES.tf_platforms
    assert platforms.gpu_distribution("1.14.0") == "tensorflow-gpu"
    assert platforms.gpu_distribution("2.0.0") == "tensorflow-gpu"
    assert platforms.gpu_distribution("1.15.0") == "tensorflow"
    assert platforms.gpu_distribution("2.3.0") == "tensorflow"


def test_windows_tensorflow_and_its_tensorflow_intel_are_one_install_but_tensorflow_gpu_beside_it_is_not() -> None:
    platforms = RULES.tf_platforms
    assert platforms.one_install(("tensorflow", "2.12.0"), ("tensorflow-intel", "2.12.0"))
    assert not platforms.one_install(("tensorflow", "2.12.0"), ("tensorflow-intel", "2.11.0"))
    assert not platforms.one_install(("tensorflow", "1.14.0"), ("tensorflow-gpu", "1.14.0"))


def test_native_windows_runs_the_gpu_through_2_10_and_not_from_2_11() -> None:
    platforms = RULES.tf_platforms
    old = platforms.platform("windows_native", "2.3.0")
    new = platforms.platform("windows_native", "2.12.0")
    assert old is not None and old.gpu is True
    assert new is not None and new.gpu is False and new.fix is not None and "WSL2" in new.fix
    assert str(platforms.last_gpu_release("windows_native")) == "<2.11"


def test_official_x86_wheels_need_avx_from_1_6() -> None:
    need = RULES.tf_platforms.cpu_requirement("2.0", "x86_64")
    assert need is not None and need.flags == ("avx",)
    assert RULES.tf_platforms.cpu_requirement("1.5", "x86_64") is None
    assert RULES.tf_platforms.cpu_requirement("2.0", "aarch64") is None


def test_the_tensorrt_pin_of_2_14_has_no_python_3_11_distribution_and_2_15s_is_gone() -> None:
    platforms = RULES.tf_platforms
    (pin,) = platforms.uninstallable_pins("2.14.0", "3.11")
    assert str(pin.requirement) == "tensorrt==8.5.3.1" and "3.10" in pin.fix
    assert platforms.uninstallable_pins("2.14.0", "3.10") == ()
    (gone,) = platforms.uninstallable_pins("2.15.0", "3.10")
    assert str(gone.requirement) == "tensorrt-libs==8.6.1" and "2.15.0.post1" in gone.fix
    assert platforms.uninstallable_pins("2.15.1", "3.10") == ()


def test_a_release_is_installed_the_way_its_own_era_allowed() -> None:
    platforms = RULES.tf_platforms
    new = platforms.gpu_install(Version("2.16.1"), and_cuda=True, cuda="12.3", cudnn="8.9")
    assert new == "pip install 'tensorflow[and-cuda]==2.16.*'"
    old = platforms.gpu_install(Version("2.3.0"), and_cuda=False, cuda="10.1", cudnn="7.6")
    assert old.startswith("pip install 'tensorflow==2.3.*' with CUDA 10.1 and cuDNN 7.6")
    assert "cuda-10-1" in old and "[and-cuda]" not in old
    gpu = platforms.gpu_install(Version("1.14.0"), and_cuda=False, cuda="10.0", cudnn="7.4")
    assert gpu.startswith("pip install 'tensorflow-gpu==1.14.*'")
    windows = platforms.gpu_install(Version("2.3.0"), and_cuda=False, cuda="10.1", cudnn="7.6", system="Windows")
    assert windows == "pip install 'tensorflow==2.3.*' with CUDA 10.1 and cuDNN 7.6 on %PATH%"


def test_two_rows_of_one_distribution_claiming_a_release_are_refused(tmp_path: Path) -> None:
    row = '[[distribution]]\nname = "tensorflow"\ntensorflow = "{spec}"\nlinux_gpu = false\nsource = "s"\n'
    body = row.format(spec="<2.1") + row.format(spec=">=2.0")
    with pytest.raises(DataError, match=r"distribution\[1\]\.tensorflow: >=2\.0 overlaps <2\.1"):
        load_tf_platforms(write(tmp_path, body))


def test_a_platform_without_gpu_support_must_give_its_fix(tmp_path: Path) -> None:
    body = '[[platform]]\nname = "macos"\ntensorflow = ">=2.0"\ngpu = false\nsource = "s"\n'
    with pytest.raises(DataError, match=r"platform\[0\]\.fix: a platform without GPU support needs the fix"):
        load_tf_platforms(write(tmp_path, body))


def test_a_platform_gpu_that_is_neither_a_boolean_nor_unconfirmed_is_refused(tmp_path: Path) -> None:
    body = '[[platform]]\nname = "macos"\ntensorflow = ">=2.0"\ngpu = "maybe"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"platform\[0\]\.gpu: 'maybe' is not accepted"):
        load_tf_platforms(write(tmp_path, body))


def test_an_unknown_platform_and_a_bad_pin_are_refused(tmp_path: Path) -> None:
    body = '[[platform]]\nname = "bsd"\ntensorflow = ">=2.0"\ngpu = true\nsource = "s"\n'
    with pytest.raises(DataError, match=r"platform\[0\]\.name: 'bsd' is not accepted"):
        load_tf_platforms(write(tmp_path, body))
    pin = '[[pin]]\nrequirement = "tensorrt=="\npinned_by = "==2.14.0"\navailable = false\nfix = "f"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"pin\[0\]\.requirement"):
        load_tf_platforms(write(tmp_path, pin))


# ---- xla_toolchain.toml ---------------------------------------------------------------------------


def test_the_ptxas_an_rtx_3090_needs_is_11_1_and_cuda_13s_ptxas_is_too_new_for_volta() -> None:
    xla = RULES.xla_toolchain
    assert xla.ptxas_range((8, 6)) == (Version("11.1"), None)
    assert xla.ptxas_range((7, 0)) == (None, Version("12.9"))


def test_tensorflows_toolchain_lines_name_their_cause_once_each() -> None:
    log = "\n".join(
        [
            "W gpu_backend_lib.cc:530] Can't find libdevice directory ${CUDA_DIR}/nvvm/libdevice.",
            "InternalError: libdevice not found at ./libdevice.10.bc [Op:__some_op]",
            "W asm_compiler.cc:81] Running ptxas --version returned 256",
        ]
    )
    causes = [row.cause for row, _ in RULES.xla_toolchain.messages_in(log)]
    assert causes == ["libdevice_missing", "ptxas_failed"]


def test_tensorflow_2_2_to_2_4_retry_a_failing_ptxas_and_2_5_caches_the_failure() -> None:
    xla = RULES.xla_toolchain
    assert xla.uncached_failure("2.2.0") is not None
    assert xla.uncached_failure("2.4.1") is not None
    assert xla.uncached_failure("2.5.0") is None
    assert xla.uncached_failure("2.1.0") is None


def test_a_release_range_marked_unconfirmed_has_no_specifier() -> None:
    floors = RULES.xla_toolchain.floors
    assert any(f.tensorflow is None for f in floors)
    assert [str(f.min_ptxas) for f in RULES.xla_toolchain.floors_for("2.16.2")] == ["11.1", "11.8"]


def test_a_toolchain_message_that_is_not_a_regular_expression_is_refused(tmp_path: Path) -> None:
    body = '[[message]]\ncause = "c"\nmatch = "(unclosed"\ntext = "t"\nfix = "f"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"message\[0\]\.match: not a regular expression"):
        load_xla_toolchain(write(tmp_path, body))


def test_a_ptxas_row_with_an_empty_or_silent_range_is_refused(tmp_path: Path) -> None:
    body = '[[ptxas_arch]]\ncc = "7.2-5.0"\nmax_ptxas = "12.9"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"ptxas_arch\[0\]\.cc: '7\.2-5\.0' is an empty range"):
        load_xla_toolchain(write(tmp_path, body))
    silent = '[[ptxas_arch]]\ncc = "7.0"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"ptxas_arch\[0\]: names neither min_ptxas nor max_ptxas"):
        load_xla_toolchain(write(tmp_path, silent))


def test_a_ptxas_floor_whose_releases_are_neither_a_specifier_nor_unconfirmed_is_refused(tmp_path: Path) -> None:
    body = '[[ptxas_floor]]\ntensorflow = "most"\nmin_ptxas = "9.0"\nseverity = "error"\nmessage = "m"\nsource = "s"\n'
    with pytest.raises(DataError, match=r"ptxas_floor\[0\]\.tensorflow: 'most' is neither"):
        load_xla_toolchain(write(tmp_path, body))
