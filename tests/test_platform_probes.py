"""The probes and descriptions behind the platform and framework rules: TF distributions, the CPU, the XLA toolchain.

Each probe runs on files made here (dist-infos with RECORDs, a /proc/cpuinfo, a ptxas that prints its
version): no TensorFlow is imported. The toolchain's libraries check is called with the facts a host
would give it; every failure carries its four parts.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import stat
import tempfile
from pathlib import Path

import pytest
import suites.test_libraries as libs

from gpuconform.expect.expectations import build_expectations
from gpuconform.expect.loading import load_matrices
from gpuconform.expect.profiles import builtin_dir
from gpuconform.expect.profiles import load_profile
from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import ToolchainFacts
from gpuconform.facts.model import ToolVersion
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description
from gpuconform.probes.platform import probe_cpu
from gpuconform.probes.platform import probe_packages
from gpuconform.probes.toolchain import probe_toolchain
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import NonConformance

MATRICES = load_matrices()
SKIP = pytest.skip.Exception


def dist(site: Path, name: str, version: str, files: dict[str, str], owns: bool = True) -> None:
    """A dist-info for `name` in `site`, whose RECORD lists `files` (with their hashes when it `owns` them)."""
    info = site / f"{name.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    rows = []
    for rel, text in files.items():
        target = site / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        if owns:
            target.write_text(text)
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        rows.append(f"{rel},sha256={digest},{len(text)}")
    (info / "RECORD").write_text("\n".join(rows) + "\n")


BUILD_INFO_14 = "is_rocm_build = False\nis_cuda_build = False\n"
BUILD_INFO_21 = "build_info = collections.OrderedDict([('is_cuda_build', True), ('is_rocm_build', False)])\n"


def test_two_tensorflows_in_one_directory_are_both_recorded_and_the_one_whose_files_are_on_disk_is_first(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    dist(site, "tensorflow-gpu", "1.14.0", {"tensorflow/__init__.py": "# gpu\n"}, owns=False)
    dist(
        site,
        "tensorflow",
        "1.14.0",
        {"tensorflow/__init__.py": "# cpu\n", "tensorflow_core/python/platform/build_info.py": BUILD_INFO_14},
    )
    packages = probe_packages([str(site)])
    assert [d.name for d in packages.tensorflow_distributions] == ["tensorflow", "tensorflow-gpu"]
    assert packages.tensorflow is not None and packages.tensorflow.name == "tensorflow"
    assert packages.tensorflow_is_cuda_build is False


def test_the_first_directory_on_sys_path_wins_as_it_does_for_import(tmp_path: Path) -> None:
    user, system = tmp_path / "user", tmp_path / "system"
    dist(user, "tensorflow", "2.21.0", {"tensorflow/python/platform/build_info.py": BUILD_INFO_21})
    dist(system, "tensorflow-cpu", "2.20.0", {"tensorflow/__init__.py": "# cpu\n"})
    packages = probe_packages([str(user), str(system)])
    assert [(d.name, d.version) for d in packages.tensorflow_distributions] == [
        ("tensorflow", "2.21.0"),
        ("tensorflow-cpu", "2.20.0"),
    ]
    assert packages.tensorflow_is_cuda_build is True


def test_a_package_without_a_readable_build_info_records_nothing_about_its_build(tmp_path: Path) -> None:
    site = tmp_path / "site"
    dist(site, "tensorflow", "2.21.0", {"tensorflow/__init__.py": "#\n"})
    assert probe_packages([str(site)]).tensorflow_is_cuda_build is None


CUDA_CONFIG = "include/external/local_config_cuda/cuda/cuda/cuda_config.h"


def test_the_cuda_a_package_was_built_with_is_read_from_its_headers_cuda_config(tmp_path: Path) -> None:
    site = tmp_path / "site"
    header = '#define TF_CUDA_VERSION "9.2"\n#define TF_CUDNN_VERSION "7"\n'  # a conda tensorflow-gpu 1.11
    dist(site, "tensorflow-gpu", "1.11.0", {f"tensorflow/{CUDA_CONFIG}": header})
    assert probe_packages([str(site)]).tensorflow_cuda_version == "9.2"


def test_build_info_names_the_cuda_where_the_headers_do_not_and_a_cpu_builds_empty_header_names_none(
    tmp_path: Path,
) -> None:
    gpu, cpu = tmp_path / "gpu", tmp_path / "cpu"
    info = "build_info = collections.OrderedDict([('cuda_version', '11.2'), ('cudnn_version', '8')])\n"
    dist(gpu, "tensorflow", "2.9.0", {"tensorflow/python/platform/build_info.py": info})
    dist(cpu, "tensorflow-cpu", "2.21.0", {f"tensorflow/{CUDA_CONFIG}": '#define TF_CUDA_VERSION ""\n'})
    assert probe_packages([str(gpu)]).tensorflow_cuda_version == "11.2"
    assert probe_packages([str(cpu)]).tensorflow_cuda_version is None


def test_the_cpu_flags_tensorflow_wheels_need_are_read_from_proc_cpuinfo(tmp_path: Path) -> None:
    (tmp_path / "proc").mkdir()
    (tmp_path / "proc/cpuinfo").write_text(
        "processor\t: 0\nmodel name\t: Intel(R) Pentium(R) Silver N5000 CPU @ 1.10GHz\n"
        "flags\t\t: fpu sse sse2 ssse3 sse4_1 sse4_2 aes\n\nprocessor\t: 1\nflags\t\t: fpu avx\n"
    )
    assert probe_cpu(tmp_path) == {
        "cpu_model": "Intel(R) Pentium(R) Silver N5000 CPU @ 1.10GHz",
        "cpu_flags": ("sse4_1", "sse4_2"),
    }
    (tmp_path / "proc/cpuinfo").write_text("processor\t: 0\nFeatures\t: fp asimd\n")  # aarch64: no x86 flags
    assert probe_cpu(tmp_path)["cpu_flags"] is None


def fake_tool(directory: Path, name: str, script: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    tool = directory / name
    tool.write_text("#!/bin/sh\n" + script)
    tool.chmod(tool.stat().st_mode | stat.S_IXUSR)


def test_the_toolchain_probe_finds_ptxas_on_path_and_libdevice_under_the_data_dir(tmp_path: Path) -> None:
    cuda = tmp_path / "cuda-12.5"
    fake_tool(cuda / "bin", "ptxas", 'echo "Cuda compilation tools, release 12.5, V12.5.82"\n')
    (cuda / "nvvm/libdevice").mkdir(parents=True)
    (cuda / "nvvm/libdevice/libdevice.10.bc").write_bytes(b"BC")
    env = {"PATH": f"{cuda}/bin", "XLA_FLAGS": f"--xla_gpu_cuda_data_dir={cuda}"}
    tc = probe_toolchain(env, None, "2.21.0", root=tmp_path / "root")
    assert tc.ptxas == ToolVersion(f"{cuda}/bin/ptxas", "12.5.82")
    assert tc.libdevice == f"{cuda}/nvvm/libdevice/libdevice.10.bc"
    assert tc.nvcc.error is not None and tc.nvcc.error.kind == "missing"


def test_the_pip_nvcc_wheel_beside_tensorflow_is_found_from_2_14(tmp_path: Path) -> None:
    site = tmp_path / "site"
    fake_tool(site / "nvidia/cuda_nvcc/bin", "ptxas", 'echo "Cuda compilation tools, release 12.5, V12.5.82"\n')
    (site / "nvidia/cuda_nvcc/nvvm/libdevice").mkdir(parents=True)
    (site / "nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc").write_bytes(b"BC")
    found = probe_toolchain({"PATH": ""}, str(site), "2.21.0", root=tmp_path / "root")
    assert found.ptxas.version == "12.5.82"
    assert found.libdevice == f"{site}/nvidia/cuda_nvcc/nvvm/libdevice/libdevice.10.bc"
    older = probe_toolchain({"PATH": ""}, str(site), "2.13.0", root=tmp_path / "root")
    assert older.libdevice is None and older.ptxas.error is not None


def test_a_ptxas_that_fails_is_recorded_with_its_exit_and_a_missing_libdevice_as_missing(tmp_path: Path) -> None:
    fake_tool(tmp_path / "usr/local/cuda/bin", "ptxas", "echo 'cannot execute' >&2\nexit 1\n")
    tc = probe_toolchain({"PATH": "/usr/bin"}, None, "2.2.0", root=tmp_path)
    assert tc.ptxas.path == "/usr/local/cuda/bin/ptxas"
    assert tc.ptxas.error is not None and tc.ptxas.error.kind == "exit"
    assert "ptxas --version exited 1: cannot execute" in tc.ptxas.error.message
    assert tc.libdevice is None and tc.libdevice_error is not None and tc.libdevice_error.kind == "missing"


def test_pip_nvcc_is_a_root_only_from_2_14(tmp_path: Path) -> None:
    site = str(tmp_path / "site")
    from gpuconform.probes.toolchain import candidate_roots

    assert f"{site}/nvidia/cuda_nvcc" in candidate_roots({}, site, "2.16.1")
    assert f"{site}/nvidia/cuda_nvcc" not in candidate_roots({}, site, "2.13.0")


# ---- the host description says what the threads establish ------------------------------------------------------


def describe(tmp_path: Path, text: str) -> Facts:
    path = tmp_path / "host.toml"
    path.write_text(text)
    return expand(load_description(path), MATRICES, collected_at="2026-12-01T00:00:00+00:00")


def test_a_described_build_without_cuda_says_so_in_the_packages_and_in_the_childs_build_info(tmp_path: Path) -> None:
    facts = describe(
        tmp_path,
        '[tensorflow]\ndistribution = "tensorflow"\nversion = "2.15.0"\ncuda_build = false\n'
        "[tensorflow.observed]\ngpus = 0\n",
    )
    assert facts.packages.tensorflow_is_cuda_build is False
    build = next(r for r in facts.observations[0].results if r.name == "build_info")
    assert build.value["is_cuda_build"] is False


def test_a_described_plain_tensorflow_1_x_is_a_cpu_build_by_its_era(tmp_path: Path) -> None:
    facts = describe(tmp_path, '[tensorflow]\ndistribution = "tensorflow"\nversion = "1.13.1"\n[tensorflow.observed]\n')
    build = next(r for r in facts.observations[0].results if r.name == "build_info")
    assert build.value["is_cuda_build"] is False


def test_a_described_build_for_another_cuda_asks_for_that_cudas_sonames(tmp_path: Path) -> None:
    facts = describe(tmp_path, '[tensorflow]\ndistribution = "tensorflow-gpu"\nversion = "1.11.0"\ncuda = "9.2"\n')
    assert facts.packages.tensorflow_cuda_version == "9.2"
    assert facts.libraries is not None
    assert facts.libraries.basis == "tensorflow-gpu 1.11.0 (built with CUDA 9.2, cuDNN 7)"
    assert {lib.name: lib.soname for lib in facts.libraries.libraries}["cudart"] == "libcudart.so.9.2"


def test_a_failed_install_a_cpu_and_a_missing_libdevice_are_described(tmp_path: Path) -> None:
    facts = describe(
        tmp_path,
        '[host]\ncpu_model = "N5000"\ncpu_flags = ["SSE4_2"]\n'
        '[install]\nrequested = "tensorflow==2.17.*"\nlog = ["ERROR: No matching distribution found for tensorflow"]\n'
        '[toolchain]\nlibdevice = ""\n',
    )
    assert facts.platform.cpu_flags == ("sse4_2",) and facts.platform.cpu_model == "N5000"
    failed = facts.packages.failed_install
    assert failed is not None and failed.requested == "tensorflow==2.17.*" and failed.installer == "pip"
    assert facts.toolchain is not None and facts.toolchain.libdevice_error is not None
    assert facts.toolchain.ptxas == ToolVersion()  # not described: not recorded


# ---- libraries::xla_finds_libdevice_and_a_ptxas_for_each_gpu ---------------------------------------------------


class Warnings(list[Finding]):
    def __call__(self, summary: str, **parts: str) -> None:
        self.append(Finding(summary, **parts))


def toolchain_host(tf: str, toolchain: ToolchainFacts, cc: tuple[int, int] = (8, 6), conda: bool = False) -> Facts:
    text = f'[tensorflow]\ndistribution = "tensorflow"\nversion = "{tf}"\n'
    if conda:
        text = '[host]\nenvironment = { CONDA_PREFIX = "/opt/conda" }\n' + text
    facts = describe(Path(tempfile.mkdtemp()), text)
    gpu = GpuFacts(0, "NVIDIA GeForce RTX 3090", compute_capability=cc)
    return dataclasses.replace(
        facts,
        toolchain=toolchain,
        driver=dataclasses.replace(facts.driver, nvml=NvmlFacts(driver_version="550.54.15", gpus=(gpu,))),
    )


def judged(facts: Facts) -> tuple[Warnings, Finding | None]:
    profile = load_profile(builtin_dir() / "t4.toml", MATRICES)
    expectations = build_expectations(profile, facts, MATRICES)
    warned = Warnings()
    try:
        libs.test_xla_finds_libdevice_and_a_ptxas_for_each_gpu(expectations, facts, MATRICES, warned)
    except NonConformance as raised:
        assert raised.finding.missing_parts() == [], raised.finding.render()
        return warned, raised.finding
    return warned, None


MISSING = ProbeError("toolchain", "missing", "no libdevice.10.bc under /usr/local/cuda")
PTXAS_12_5 = ToolVersion("/usr/local/cuda/bin/ptxas", "12.5.82")


def test_no_libdevice_fails_with_the_pip_nvcc_wheel_for_a_release_that_looks_there() -> None:
    _, f = judged(toolchain_host("2.16.1", ToolchainFacts(ptxas=PTXAS_12_5, libdevice_error=MISSING)))
    assert f is not None and f.summary == "XLA finds no libdevice.10.bc for TensorFlow 2.16.1"
    assert f.fix.startswith("pip install 'nvidia-cuda-nvcc-cu12~=12.3.0'")


def test_no_libdevice_in_a_conda_environment_before_2_14_fails_with_tensorflows_conda_recipe() -> None:
    _, f = judged(toolchain_host("2.11.0", ToolchainFacts(ptxas=PTXAS_12_5, libdevice_error=MISSING), conda=True))
    assert f is not None
    assert f.fix.startswith("conda install -c nvidia cuda-nvcc; export XLA_FLAGS=--xla_gpu_cuda_data_dir=$CONDA_PREFIX")


def test_no_ptxas_only_warns_because_xla_falls_back_to_the_driver() -> None:
    missing = ToolVersion(error=ProbeError("toolchain", "missing", "no ptxas on PATH or under the CUDA roots"))
    warned, f = judged(toolchain_host("2.16.1", ToolchainFacts(ptxas=missing, libdevice="/x/libdevice.10.bc")))
    assert f is None
    (w,) = warned
    assert w.summary == "XLA finds no ptxas: it falls back to the driver to compile its PTX"


def test_a_ptxas_too_old_for_sm_86_warns_with_a_newer_one() -> None:
    old = ToolVersion("/usr/local/cuda-11.0/bin/ptxas", "11.0.221")
    warned, f = judged(toolchain_host("2.16.1", ToolchainFacts(ptxas=old, libdevice="/x/libdevice.10.bc")))
    assert f is None
    summaries = [w.summary for w in warned]
    assert any(
        s.startswith("ptxas 11.0.221 is too old for NVIDIA GeForce RTX 3090 (sm_86)") for s in summaries
    ), summaries
    assert any("older than the 11.1" in s for s in summaries)


def test_a_ptxas_below_the_floor_a_release_refuses_fails() -> None:
    old = ToolVersion("/usr/local/cuda-11.7/bin/ptxas", "11.7.99")
    _, f = judged(toolchain_host("2.16.2", ToolchainFacts(ptxas=old, libdevice="/x/libdevice.10.bc")))
    assert f is not None and f.summary == "ptxas 11.7.99 is older than the 11.8 TensorFlow 2.16.2 asks for"


def test_without_a_recorded_toolchain_the_check_is_not_applicable() -> None:
    facts = dataclasses.replace(toolchain_host("2.16.1", ToolchainFacts()), toolchain=None)
    with pytest.raises(SKIP, match="not applicable: the CUDA toolchain"):
        judged(facts)

