"""Property tests: invariants of the matrices and the parsers that must hold for any input."""

from __future__ import annotations

import contextlib

from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from packaging.version import Version

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.matrix import Matrices
from gpuconform.facts.versions import DriverVersion
from gpuconform.facts.versions import decode_cuda_int
from gpuconform.facts.versions import decode_cudnn_int
from gpuconform.facts.versions import decode_nccl_int
from gpuconform.facts.versions import encode_cuda_int
from gpuconform.facts.versions import encode_cudnn_int
from gpuconform.facts.versions import encode_nccl_int
from gpuconform.facts.versions import parse_cc
from gpuconform.facts.versions import parse_driver_version
from gpuconform.facts.versions import parse_nvidia_proc_version
from gpuconform.facts.versions import parse_tf_version

M: Matrices = load_matrices()
RUNS = {"runs", "runs-minor-compat", "needs-ptx-jit"}

drivers = st.builds(
    lambda major, minor, patch: parse_driver_version(
        f"{major}.{minor:02d}" + ("" if patch is None else f".{patch:02d}")
    ),
    st.integers(300, 700),
    st.integers(0, 200),
    st.none() | st.integers(0, 99),
)
ccs = st.tuples(st.integers(3, 12), st.integers(0, 9))
anything = st.one_of(
    st.text(),
    st.binary(),
    st.integers(),
    st.floats(),
    st.none(),
    st.booleans(),
    st.lists(st.integers(), max_size=3).map(tuple),
)


# --- the tables agree with each other ----------------------------------------------------------


def test_every_tf_release_cuda_has_a_driver_row_read_from_nvidia_from_2_0() -> None:
    for release in M.tf_releases:
        requirement = M.driver_requirement(release.cuda)
        assert requirement.full >= Version("384.81")
        # CUDA 9.0, 1.5-1.12's, is known only from third-party copies of NVIDIA's notes (cuda_drivers.toml)
        assert not requirement.third_party or release.version < Version("1.13")


def test_every_tf_release_has_a_kernels_row() -> None:
    for release in M.tf_releases:
        assert release.series in M.kernels_for(release.version).tf


def test_every_cuda_major_after_10_has_a_minor_version_compatibility_floor() -> None:
    majors = {t.version.release[0] for t in M.toolkits}
    assert {c.major for c in M.minor_compat} == {m for m in majors if m > 10}


def test_the_floor_of_a_major_is_its_first_ga_driver_or_the_recommended_driver() -> None:
    for compat in M.minor_compat:
        ga = M.driver_requirement(f"{compat.major}.0")
        # 11.0 shipped before its floor (450.80.02); 12.0 and 13.0 shipped with it.
        assert compat.linux_min_driver >= ga.full


# --- monotone in the driver --------------------------------------------------------------------


@given(drivers, drivers)
def test_a_newer_driver_never_supports_fewer_cuda_toolkits(
    a: DriverVersion, b: DriverVersion
) -> None:
    old, new = sorted((a, b))
    for toolkit in M.toolkits:
        requirement = M.driver_requirement(toolkit.version)
        if requirement.satisfied_by(old) is not None:
            assert requirement.satisfied_by(new) is not None
        if requirement.satisfied_by(old) == "full":
            assert requirement.satisfied_by(new) == "full"
    newest_old, newest_new = M.max_cuda_for_driver(old), M.max_cuda_for_driver(new)
    if newest_old is not None:
        assert newest_new is not None and newest_new >= newest_old


@given(drivers, drivers, st.none() | ccs)
@settings(max_examples=50)
def test_a_newer_driver_never_makes_a_release_stop_running(
    a: DriverVersion, b: DriverVersion, cc: tuple[int, int] | None
) -> None:
    old, new = sorted((a, b))
    before = M.runnable_releases(old, cc, None)
    after = M.runnable_releases(new, cc, None)
    for was, now in zip(before, after):
        if was.verdict in RUNS:
            assert now.verdict in RUNS, (was.detail, now.detail)


# --- monotone in the compute capability --------------------------------------------------------


@given(ccs, st.sampled_from([r.version for r in M.tf_releases]))
def test_native_coverage_keeps_at_least_ptx_as_the_minor_grows(
    cc: tuple[int, int], tf: Version
) -> None:
    if M.coverage(tf, cc).kind != "native":
        return
    major, minor = cc
    for higher in range(minor, 10):
        assert M.coverage(tf, (major, higher)).kind in ("native", "ptx")


@given(ccs, st.sampled_from([r.version for r in M.tf_releases]))
def test_ptx_coverage_never_disappears_on_a_newer_gpu(cc: tuple[int, int], tf: Version) -> None:
    if M.coverage(tf, cc).kind == "none":
        return
    kernels = M.kernels_for(tf)
    if any(p <= cc for p in kernels.ptx):
        for newer in [(cc[0], m) for m in range(cc[1], 10)] + [(cc[0] + 1, 0), (12, 9)]:
            assert M.coverage(tf, newer).kind != "none"


# --- round trips -------------------------------------------------------------------------------


@given(st.integers(1, 99), st.integers(0, 99))
def test_cuda_integers_round_trip(major: int, minor: int) -> None:
    version = Version(f"{major}.{minor}")
    assert decode_cuda_int(encode_cuda_int(version)) == version


@given(
    st.one_of(
        st.tuples(st.integers(1, 8), st.integers(0, 9), st.integers(0, 99)),
        st.tuples(st.integers(9, 99), st.integers(0, 99), st.integers(0, 99)),
    )
)
def test_cudnn_integers_round_trip(parts: tuple[int, int, int]) -> None:
    version = Version("{}.{}.{}".format(*parts))
    assert decode_cudnn_int(encode_cudnn_int(version)) == version


@given(st.integers(1, 99), st.integers(0, 99), st.integers(0, 99))
def test_nccl_integers_round_trip(major: int, minor: int, patch: int) -> None:
    version = Version(f"{major}.{minor}.{patch}")
    assert decode_nccl_int(encode_nccl_int(version)) == version


@given(drivers)
def test_driver_versions_round_trip_through_their_text(driver: DriverVersion) -> None:
    assert parse_driver_version(str(driver)) == driver
    assert str(parse_driver_version(str(driver))) == str(driver)


# --- junk in, ValueError out -------------------------------------------------------------------


def _only_value_error(function: object, value: object) -> None:
    # Any other exception escapes and fails the test.
    with contextlib.suppress(ValueError):
        function(value)  # type: ignore[operator]


@given(anything)
def test_the_parsers_raise_nothing_but_value_error_on_arbitrary_input(value: object) -> None:
    for parser in (parse_driver_version, parse_cc, parse_tf_version):
        _only_value_error(parser, value)
    for decoder in (decode_cuda_int, decode_cudnn_int, decode_nccl_int):
        _only_value_error(decoder, value)


@given(st.text())
def test_parse_driver_version_raises_only_value_error_on_arbitrary_text(text: str) -> None:
    try:
        version = parse_driver_version(text)
    except ValueError:
        return
    assert version.release[0] <= 9999


@given(st.text())
def test_proc_version_text_never_raises_and_finds_only_valid_drivers(text: str) -> None:
    found = parse_nvidia_proc_version(text)
    if found is not None:
        parse_driver_version(found)
    found = parse_nvidia_proc_version("NVRM version: NVIDIA UNIX x86_64 Kernel Module  " + text)
    if found is not None:
        parse_driver_version(found)


@given(st.integers(-(2**40), 2**40))
def test_the_decoders_raise_only_value_error_on_any_integer(value: int) -> None:
    for decoder in (decode_cuda_int, decode_cudnn_int, decode_nccl_int):
        _only_value_error(decoder, value)


@given(st.text() | st.from_regex(r"\A\d+(\.\d+){0,4}\Z"))
def test_tf_lookups_never_raise(text: str) -> None:
    lookup = M.tf_release(text)
    assert lookup.status in ("known", "unknown-newer", "unknown-older", "unknown")
    assert (lookup.release is None) == (lookup.status in ("unknown-older", "unknown"))


@given(st.text() | st.integers())
def test_gpu_lookups_never_raise(value: str | int) -> None:
    M.gpu_by_pci_id(value)
    if isinstance(value, str):
        M.gpu_by_name(value)
