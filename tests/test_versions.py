"""Table tests for the version parsers and decoders in gpuconform.facts.versions."""

from __future__ import annotations

import pytest
from packaging.specifiers import SpecifierSet
from packaging.version import Version

from gpuconform.facts.versions import DriverVersion
from gpuconform.facts.versions import WrittenSpecifierSet
from gpuconform.facts.versions import decode_cuda_int
from gpuconform.facts.versions import decode_cudnn_int
from gpuconform.facts.versions import decode_nccl_int
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import encode_cuda_int
from gpuconform.facts.versions import encode_cudnn_int
from gpuconform.facts.versions import encode_nccl_int
from gpuconform.facts.versions import format_cc
from gpuconform.facts.versions import parse_cc
from gpuconform.facts.versions import parse_driver_version
from gpuconform.facts.versions import parse_nvidia_proc_version
from gpuconform.facts.versions import parse_tf_version
from gpuconform.facts.versions import release_series

DOTTED = "(expected dot-separated numbers like '550.54.15')"

# --- driver versions ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("550.54.15", "550.54.15"),
        ("418.152.00", "418.152.00"),
        ("570.26", "570.26"),
        ("  535.104.05\n", "535.104.05"),
        ("470.82.01", "470.82.01"),
        ("1.2.3.4", "1.2.3.4"),
    ],
)
def test_driver_versions_parse_and_print_as_nvidia_writes_them(text: str, expected: str) -> None:
    version = parse_driver_version(text)
    assert isinstance(version, Version)
    assert str(version) == expected


def test_driver_versions_compare_numerically_not_as_text() -> None:
    assert parse_driver_version("470.82.01") < parse_driver_version("470.129.06")
    assert parse_driver_version("525.60.13") > parse_driver_version("525.8")
    assert parse_driver_version("470.82.01") == Version("470.82.1")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "driver version is empty"),
        ("   ", "driver version is empty"),
        (
            "-550.54",
            f"not a driver version: '-550.54' {DOTTED}",
        ),
        ("abc", f"not a driver version: 'abc' {DOTTED}"),
        (
            "550..54",
            f"not a driver version: '550..54' {DOTTED}",
        ),
        (
            "550.54.",
            f"not a driver version: '550.54.' {DOTTED}",
        ),
        ("1.2.3.4.5", "not a driver version: '1.2.3.4.5' has 5 components, at most 4 expected"),
        ("10000.1", "not a driver version: '10000.1' has branch 10000, expected 1 to 9999"),
        ("0.1", "not a driver version: '0.1' has branch 0, expected 1 to 9999"),
        ("550.1234567", "not a driver version: '550.1234567' has an absurdly long component"),
        (
            "550.54.15 beta",
            f"not a driver version: '550.54.15 beta' {DOTTED}",
        ),
        ("x" * 300, "driver version is 300 characters long, expected a short version string"),
        (550, "driver version must be text, got int 550"),
        (None, "driver version must be text, got NoneType None"),
    ],
)
def test_junk_driver_versions_are_refused_with_a_clear_message(text: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_driver_version(text)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("version", "branch"), [("550.54.15", 550), ("418.39", 418), (DriverVersion("580.65.06"), 580)]
)
def test_the_driver_branch_is_the_first_component(version: str | Version, branch: int) -> None:
    assert driver_branch(version) == branch


# --- /proc/driver/nvidia/version ----------------------------------------------------------------

PROPRIETARY = (
    "NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  Tue Mar  5 22:23:56 UTC 2024\n"
    "GCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n"
)
OPEN = (
    "NVRM version: NVIDIA UNIX Open Kernel Module for x86_64  570.86.15  Release Build  "
    "(dvs-builder@U16-I3-B03-4-3)  Thu Jan 16 23:08:33 UTC 2025\n"
    "GCC version:  gcc version 13.3.0 (Ubuntu 13.3.0-6ubuntu2~24.04)\n"
)
AARCH64 = (
    "NVRM version: NVIDIA UNIX aarch64 Kernel Module  535.104.05  Sat Aug 19 01:13:15 UTC 2023\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (PROPRIETARY, "550.54.15"),
        (OPEN, "570.86.15"),
        (AARCH64, "535.104.05"),
        ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  470.82.01  Tue Oct 26 ...", "470.82.01"),
        ("", None),
        ("GCC version:  gcc version 12.2.0\n", None),
        ("NVRM version: something else entirely\n", None),
        ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  99999.1  junk\n", None),
        ("\x00\xff garbage", None),
    ],
)
def test_the_driver_version_is_read_from_proc_driver_nvidia_version(
    text: str, expected: str | None
) -> None:
    assert parse_nvidia_proc_version(text) == expected


def test_proc_version_text_of_the_wrong_type_is_refused() -> None:
    with pytest.raises(ValueError, match="must be text, got bytes"):
        parse_nvidia_proc_version(b"NVRM version")  # type: ignore[arg-type]


# --- integers reported by the libraries -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (12040, "12.4"),
        (12050, "12.5"),
        (11080, "11.8"),
        (10010, "10.1"),
        (9020, "9.2"),
        (13000, "13.0"),
    ],
)
def test_cuda_integers_decode_as_1000_major_plus_10_minor(value: int, expected: str) -> None:
    assert decode_cuda_int(value) == Version(expected)
    assert encode_cuda_int(Version(expected)) == value


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "CUDA version integer 0 is not positive"),
        (-12040, "CUDA version integer -12040 is not positive"),
        (12041, "CUDA version integer 12041 does not end in 0 (expected 1000*major + 10*minor)"),
        (990, "CUDA version integer 990 decodes to major 0, expected 1 to 99"),
        (100000, "CUDA version integer 100000 decodes to major 100, expected 1 to 99"),
        (True, "CUDA version integer must be an integer, got bool True"),
        ("12040", "CUDA version integer must be an integer, got str '12040'"),
        (12.4, "CUDA version integer must be an integer, got float 12.4"),
    ],
)
def test_junk_cuda_integers_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        decode_cuda_int(value)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (8906, "8.9.6"),
        (90300, "9.3.0"),
        (7605, "7.6.5"),
        (8100, "8.1.0"),
        (91000, "9.10.0"),
        (100100, "10.1.0"),
    ],
)
def test_cudnn_integers_decode_with_the_encoding_of_their_major(value: int, expected: str) -> None:
    assert decode_cudnn_int(value) == Version(expected)
    assert encode_cudnn_int(Version(expected)) == value


CUDNN_BOTH = (
    "(expected 1000*major + 100*minor + patch below 9000, or 10000*major + 100*minor + patch "
    "from 90000)"
)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (0, "cuDNN version integer 0 is not positive"),
        (999, f"cuDNN version integer 999 is not a cuDNN version {CUDNN_BOTH}"),
        (9000, f"cuDNN version integer 9000 is not a cuDNN version {CUDNN_BOTH}"),
        (45000, f"cuDNN version integer 45000 is not a cuDNN version {CUDNN_BOTH}"),
        (10**7, "cuDNN version integer 10000000 decodes to major 1000, expected 1 to 99"),
        (None, "cuDNN version integer must be an integer, got NoneType None"),
    ],
)
def test_junk_cudnn_integers_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        decode_cudnn_int(value)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (22707, "2.27.7"),
        (2708, "2.7.8"),
        (21602, "2.16.2"),
        (2899, "2.8.99"),
        (20900, "2.9.0"),
        (30001, "3.0.1"),
    ],
)
def test_nccl_integers_decode_with_both_encodings(value: int, expected: str) -> None:
    assert decode_nccl_int(value) == Version(expected)
    assert encode_nccl_int(Version(expected)) == value


NCCL_SHORT = "(X*1000 + Y*100 + Z is only used for X <= 2 and Y <= 8)"


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (-1, "NCCL version integer -1 is not positive"),
        (2900, f"NCCL version integer 2900 is not an NCCL version {NCCL_SHORT}"),
        (3100, f"NCCL version integer 3100 is not an NCCL version {NCCL_SHORT}"),
        (500, f"NCCL version integer 500 is not an NCCL version {NCCL_SHORT}"),
        (10**6, "NCCL version integer 1000000 decodes to major 100, expected 1 to 99"),
    ],
)
def test_junk_nccl_integers_are_refused(value: int, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        decode_nccl_int(value)
    assert str(excinfo.value) == message


# --- compute capability ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7.5", (7, 5)),
        (" 8.6 ", (8, 6)),
        ("10.0", (10, 0)),
        ("sm_75", (7, 5)),
        ("SM_80", (8, 0)),
        ("compute_90", (9, 0)),
        ("sm_100", (10, 0)),
        ("sm_120", (12, 0)),
        ("sm_90a", (9, 0)),
        ((7, 5), (7, 5)),
        ((12, 0), (12, 0)),
    ],
)
def test_compute_capabilities_parse_from_every_spelling(
    value: str | tuple[int, int], expected: tuple[int, int]
) -> None:
    assert parse_cc(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("75", "not a compute capability: '75' (expected '7.5', 'sm_75' or 'compute_90')"),
        ("7.10", "not a compute capability: '7.10' (expected '7.5', 'sm_75' or 'compute_90')"),
        ("sm_7", "not a compute capability: 'sm_7' (expected '7.5', 'sm_75' or 'compute_90')"),
        ("", "not a compute capability: '' (expected '7.5', 'sm_75' or 'compute_90')"),
        ("0.5", "compute capability 0.5 is out of range (major 1 to 99, minor 0 to 9)"),
        ((7, 10), "compute capability 7.10 is out of range (major 1 to 99, minor 0 to 9)"),
        ((7,), "compute capability must be two integers, got (7,)"),
        ((7, "5"), "compute capability must be two integers, got (7, '5')"),
        ((True, 5), "compute capability must be two integers, got (True, 5)"),
        (7.5, "compute capability must be text, got float 7.5"),
    ],
)
def test_junk_compute_capabilities_are_refused(value: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_cc(value)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


def test_a_compute_capability_formats_as_major_dot_minor() -> None:
    assert format_cc((8, 9)) == "8.9"


# --- TensorFlow versions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "series"),
    [
        ("2.19.1", "2.19"),
        ("2.15.0.post1", "2.15"),
        ("2.18.0rc0", "2.18"),
        ("2.17.0-rc1", "2.17"),
        ("2.16.1", "2.16"),
        ("2", "2.0"),
        ("2.18.0.dev20240101", "2.18"),
    ],
)
def test_tf_versions_parse_and_name_their_release_series(text: str, series: str) -> None:
    assert release_series(parse_tf_version(text)) == series
    assert release_series(text) == series


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "TensorFlow version is empty"),
        ("latest", "not a TensorFlow version: 'latest'"),
        ("1!2.0", "not a TensorFlow version: '1!2.0'"),
        ("2.1.0.0.0", "not a TensorFlow version: '2.1.0.0.0'"),
        ("2.99999999", "not a TensorFlow version: '2.99999999' has an absurd component"),
        (2.19, "TensorFlow version must be text, got float 2.19"),
    ],
)
def test_junk_tf_versions_are_refused(text: object, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_tf_version(text)  # type: ignore[arg-type]
    assert str(excinfo.value) == message


def test_a_written_specifier_set_prints_as_written_and_matches_like_any_other() -> None:
    spec = WrittenSpecifierSet(">=3.10,<3.14")
    assert str(spec) == ">=3.10,<3.14"
    assert Version("3.12.1") in spec
    assert Version("3.14.0") not in spec
    assert spec == SpecifierSet("<3.14,>=3.10")
