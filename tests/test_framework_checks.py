"""The framework layer's checks, fed the facts of GPU hosts and recorded TensorFlow child outputs.

No GPU is needed: each check function of suites/test_framework.py is called
with the Facts, Expectations and Batch a GPU host would give it, the Batch
loaded from tests/data/tf_outputs/ through the same parsing a live child's
output goes through. Every failure must carry all four parts.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import suites.test_framework as fw

from gpuconform.expect.expectations import Expectations
from gpuconform.expect.expectations import build_expectations
from gpuconform.expect.loading import load_matrices
from gpuconform.expect.profiles import GpuExpectation
from gpuconform.expect.profiles import Profile
from gpuconform.expect.profiles import builtin_dir
from gpuconform.expect.profiles import load_profile
from gpuconform.facts.model import DeviceNode
from gpuconform.facts.model import DriverFacts
from gpuconform.facts.model import Facts
from gpuconform.facts.model import GpuFacts
from gpuconform.facts.model import HostIdentity
from gpuconform.facts.model import KernelModule
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.model import NvmlFacts
from gpuconform.facts.model import PackageInfo
from gpuconform.facts.model import PackagesFacts
from gpuconform.facts.model import PlatformFacts
from gpuconform.frameworks.children import Batch
from gpuconform.frameworks.children import Result
from gpuconform.frameworks.children import Runner
from gpuconform.frameworks.children import parse_results
from gpuconform.frameworks.tensorflow.framework import FRAMEWORK
from gpuconform.frameworks.tensorflow.headers import WheelBuild
from gpuconform.frameworks.tensorflow.headers import read_installed
from gpuconform.frameworks.tensorflow.live import LiveTf
from gpuconform.frameworks.tensorflow.live import observe
from gpuconform.frameworks.tensorflow.log import parse_log
from gpuconform.frameworks.tensorflow.observations import BuildInfo
from gpuconform.frameworks.tensorflow.observations import DeviceList
from gpuconform.frameworks.tensorflow.observations import GpuInit
from gpuconform.frameworks.tensorflow.observations import TfIdentity
from gpuconform.frameworks.tensorflow.record import load_batch
from gpuconform.probes.child import ChildResult
from gpuconform.verdict.check import CouldNotCheck
from gpuconform.verdict.check import Finding
from gpuconform.verdict.check import NonConformance

OUTPUTS = Path(__file__).parent / "data" / "tf_outputs"
SITE = "/venv/lib/python3.11/site-packages"
PIP = f"{SITE}/nvidia"
SKIP = pytest.skip.Exception
MATRICES = load_matrices()

# name, soname, pip directory, version: what tensorflow[and-cuda] 2.21 installs
PIP_LIBS = (
    ("cudart", "libcudart.so.12", "cuda_runtime", "12.5"),
    ("cublas", "libcublas.so.12", "cublas", "12.5.3"),
    ("cublasLt", "libcublasLt.so.12", "cublas", "12.5.3"),
    ("cufft", "libcufft.so.11", "cufft", "11.2.3"),
    ("cusolver", "libcusolver.so.11", "cusolver", "11.6.3"),
    ("cusparse", "libcusparse.so.12", "cusparse", "12.5.1"),
    ("cudnn", "libcudnn.so.9", "cudnn", "9.3.0"),
)


def batch(name: str) -> Batch:
    return load_batch(json.loads((OUTPUTS / f"{name}.json").read_text()))


def t4(index: int = 0, bus: str = "0000:00:04.0") -> GpuFacts:
    return GpuFacts(
        index, "Tesla T4", uuid=f"GPU-t4-{index}", pci_bus_id=bus, compute_capability=(7, 5), memory_total_mib=15360
    )


def a100(index: int) -> GpuFacts:
    return GpuFacts(
        index,
        "NVIDIA A100-SXM4-40GB",
        uuid=f"GPU-a100-{index}",
        pci_bus_id=f"0000:00:0{4 + index}.0",
        compute_capability=(8, 0),
    )


def libraries(missing: tuple[str, ...] = ()) -> LibrariesFacts:
    libs = []
    for name, soname, directory, version in PIP_LIBS:
        path = f"{PIP}/{directory}/lib/{soname}"
        found = name not in missing
        libs.append(
            LibraryFacts(
                name,
                soname,
                required=True,
                candidates=(LibraryCandidate(path, "pip", path),) if found else (),
                loads=(LibraryLoad(path, True, version),) if found else (),
            )
        )
    driver = "/usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15"
    libs.append(
        LibraryFacts(
            "cuda",
            "libcuda.so.1",
            True,
            (LibraryCandidate("/usr/lib/x86_64-linux-gnu/libcuda.so.1", "ldcache", driver),),
            (LibraryLoad("/usr/lib/x86_64-linux-gnu/libcuda.so.1", True, "12.4"),),
        )
    )
    return LibrariesFacts("tensorflow 2.21.0 (built with CUDA 12.5.1, cuDNN 9)", tuple(libs))


def host(
    gpus: tuple[GpuFacts, ...] = (t4(),),
    tf: tuple[str, str] | None = ("tensorflow", "2.21.0"),
    missing: tuple[str, ...] = (),
    modules: tuple[str, ...] = ("nvidia", "nvidia_uvm"),
    container: str | None = None,
) -> Facts:
    nodes = tuple(DeviceNode(f"/dev/{n}", True, True, True, True) for n in ("nvidiactl", "nvidia-uvm", "nvidia0"))
    return Facts(
        host=HostIdentity("gpu-host", "2026-01-01T00:00:00+00:00"),
        platform=PlatformFacts(
            "3.11.7", "CPython", "Linux", "6.8.0", "x86_64", libc="glibc", libc_version="2.35", container=container
        ),
        packages=PackagesFacts(tensorflow=PackageInfo(tf[0], tf[1], SITE) if tf else None),
        driver=DriverFacts(
            modules=tuple(KernelModule(m) for m in modules),
            device_nodes=nodes,
            nvml=NvmlFacts(driver_version="550.54.15", cuda_driver_version=12040, device_count=len(gpus), gpus=gpus),
        ),
        libraries=libraries(missing),
    )


def expect(profile: str | Profile, facts: Facts) -> Expectations:
    chosen = profile if isinstance(profile, Profile) else load_profile(builtin_dir() / f"{profile}.toml", MATRICES)
    return build_expectations(chosen, facts, MATRICES)


def live(pin: int | None = None) -> LiveTf:
    return LiveTf(Runner(FRAMEWORK, live=False), PackageInfo("tensorflow", "2.21.0", SITE), 300.0, 20.0, pin=pin)


def failure(check: Any, *args: Any) -> Finding:
    """The finding a check fails with; it must fill every part."""
    with pytest.raises(NonConformance) as raised:
        check(*args)
    finding = raised.value.finding
    assert finding.missing_parts() == [], finding.render()
    return finding


class Warnings(list[Finding]):
    """A host_warn that keeps what it was given."""

    def __call__(self, summary: str, **parts: str) -> None:
        self.append(Finding(summary, **parts))


# ---- facts and matrices only ----------------------------------------------------------


def test_tensorflow_cpu_on_a_gpu_profile_fails_with_the_uninstall_and_the_cuda_wheel() -> None:
    facts = host(tf=("tensorflow-cpu", "2.21.0"))
    f = failure(fw.test_tensorflow_build_can_use_the_gpu, expect("t4", facts), MATRICES)
    assert f.summary == "tensorflow-cpu 2.21.0 is installed on a GPU host: it has no CUDA support"
    assert f.fix == "pip uninstall -y tensorflow-cpu && pip install 'tensorflow[and-cuda]==2.21.0'"


def test_the_gpu_build_passes_and_a_cpu_profile_makes_the_check_not_applicable() -> None:
    facts = host()
    fw.test_tensorflow_build_can_use_the_gpu(expect("t4", facts), MATRICES)
    with pytest.raises(SKIP, match="not applicable: profile 'cpu' expects no GPU"):
        fw.test_tensorflow_build_can_use_the_gpu(expect("cpu", host(tf=("tensorflow-cpu", "2.21.0"))), MATRICES)


def test_a_gpu_with_only_ptx_in_the_wheel_passes_with_a_prewarm_warning() -> None:
    h100 = GpuFacts(0, "NVIDIA H100 80GB HBM3", compute_capability=(9, 0))
    facts = host(gpus=(h100,))
    warned = Warnings()
    fw.test_gpu_kernels_cover_every_compute_capability(expect("h100", facts), facts, MATRICES, warned)
    (w,) = warned
    assert w.summary.startswith(
        "NVIDIA H100 80GB HBM3 (compute capability 9.0) has no native kernels in tensorflow 2.21.0"
    )
    assert "compute_90 PTX" in w.found
    assert "~/.nv/ComputeCache" in w.fix


def test_a_gpu_below_the_oldest_sass_fails_and_names_the_newest_release_with_kernels() -> None:
    gtx = GpuFacts(0, "NVIDIA GeForce GTX 960", compute_capability=(5, 2))
    facts = host(gpus=(gtx,))
    profile = Profile("auto-gtx960", "GTX 960", gpus=GpuExpectation(count=1, model="gtx960"))
    f = failure(fw.test_gpu_kernels_cover_every_compute_capability, expect(profile, facts), facts, MATRICES, Warnings())
    assert f.summary == "NVIDIA GeForce GTX 960 (compute capability 5.2) has no kernels in tensorflow 2.21.0"
    assert "sm_60" in f.found
    assert "TensorFlow 2.16 (the newest release with kernels for 5.2)" in f.fix


def test_without_nvml_gpus_the_profile_compute_capability_is_judged() -> None:
    facts = host(gpus=())
    warned = Warnings()
    fw.test_gpu_kernels_cover_every_compute_capability(expect("t4", facts), facts, MATRICES, warned)
    assert warned == []


# ---- the TensorFlow child -------------------------------------------------------------


def identity_of(b: Batch) -> TfIdentity | None:
    return None if b.import_error else observe(b, "identity", TfIdentity)


def test_the_official_wheel_imports_as_itself() -> None:
    b = batch("t4_framework_healthy")
    fw.imports_as_installed(expect("t4", host()), b, identity_of(b))


def test_a_release_candidate_whose_version_string_is_spelled_otherwise_imports_as_itself() -> None:
    b = batch("t4_framework_healthy")
    seen = identity_of(b)
    assert seen is not None
    rc = dataclasses.replace(seen, version="2.22.0-rc0", distribution_version="2.22.0rc0")  # TF 2.22.0rc0's own
    fw.imports_as_installed(expect("t4", host(tf=("tensorflow", "2.22.0rc0"))), b, rc)


def test_an_import_killed_by_sigill_names_the_missing_cpu_instructions() -> None:
    b = batch("t4_framework_sigill")
    f = failure(fw.imports_as_installed, expect("t4", host()), b, identity_of(b))
    assert f.summary.startswith("import tensorflow fails: signal: killed by SIGILL")
    assert "AVX" in f.why


#: What `import tensorflow` 2.21 raised here with jax 0.10.2 installed beside it (Keras imports jax) under
#: JAX_ENABLE_X64=maybe.
X64 = "invalid truth value 'maybe' for environment 'JAX_ENABLE_X64'"


@pytest.mark.parametrize(
    ("environment", "fix"),
    [
        (
            (("JAX_ENABLE_X64", "maybe"), ("XLA_FLAGS", "")),
            "correct or unset what the error names in this host's environment (JAX_ENABLE_X64='maybe'): "
            "every program gets it",
        ),
        ((), "pip install --force-reinstall 'tensorflow==2.21.0'"),
        ((("PATH", "/usr/bin"), ("OTHER_X64", "1")), "pip install --force-reinstall 'tensorflow==2.21.0'"),
    ],
)
def test_an_import_a_setting_of_the_host_breaks_names_the_setting_as_the_fix(
    environment: tuple[tuple[str, str], ...], fix: str
) -> None:
    raised = Result("__import__", False, None, "ValueError", X64)
    b = Batch(fw.MODULE, (), {"__import__": raised}, ChildResult(("replay", "x"), 1, "", "", False))
    f = failure(fw.imports_as_installed, expect("t4", host()), b, None, environment)
    assert f.summary == f"import tensorflow fails: ValueError: {X64}"
    assert f.fix == fix


def test_a_jax_flag_an_import_error_names_in_lower_case_is_the_variable_that_set_it() -> None:
    # What `import tensorflow` 2.21 raised here with jax 0.10.2 beside it under JAX_DEFAULT_MATMUL_PRECISION=fast.
    said = 'Invalid value "fast" for JAX flag jax_default_matmul_precision'
    raised = Result("__import__", False, None, "ValueError", said)
    b = Batch(fw.MODULE, (), {"__import__": raised}, ChildResult(("replay", "x"), 1, "", "", False))
    f = failure(fw.imports_as_installed, expect("t4", host()), b, None, (("JAX_DEFAULT_MATMUL_PRECISION", "fast"),))
    assert f.fix.startswith("correct or unset what the error names in this host's environment "
                            "(JAX_DEFAULT_MATMUL_PRECISION='fast')")


def test_a_shadowing_copy_of_tensorflow_is_named_with_where_it_came_from() -> None:
    facts = host(tf=("tensorflow", "2.20.0"))
    b = batch("t4_framework_healthy")
    f = failure(fw.imports_as_installed, expect("t4", facts), b, identity_of(b))
    assert (
        f.summary
        == "import tensorflow loads TensorFlow 2.21.0 from tensorflow 2.21.0, not the installed tensorflow 2.20.0"
    )


def test_build_info_of_the_official_wheel_matches_the_matrix() -> None:
    b = batch("t4_framework_healthy")
    fw.test_build_info_matches_the_matrix(
        expect("t4", host()), MATRICES, observe(b, "build_info", BuildInfo), Warnings()
    )


def test_build_info_from_another_cuda_fails_as_a_stale_matrix_or_an_unofficial_wheel() -> None:
    info = observe(batch("t4_framework_build_12_3"), "build_info", BuildInfo)
    f = failure(fw.test_build_info_matches_the_matrix, expect("t4", host()), MATRICES, info, Warnings())
    assert f.summary == "tensorflow 2.21.0 was built with CUDA 12.3 (matrix: 12.5.1); cuDNN 8 (matrix: 9)"
    assert f.fix.startswith("install the official wheel: pip install --force-reinstall 'tensorflow==2.21.0'")


def test_a_release_newer_than_the_matrix_only_warns_about_its_build() -> None:
    info = observe(batch("t4_framework_build_12_3"), "build_info", BuildInfo)
    warned = Warnings()
    fw.test_build_info_matches_the_matrix(expect("t4", host(tf=("tensorflow", "2.99.0"))), MATRICES, info, warned)
    assert warned[0].summary.startswith(
        "tensorflow 2.99.0 is not in the matrix and its build differs from the newest row"
    )


RC_KEYS = ("is_cuda_build", "is_rocm_build", "is_tensorrt_build")  # all 2.22.0rc0's get_build_info() has
RC_HEADERS = (f"{SITE}/tensorflow/include/third_party/gpus/cuda/cuda_config.h",)


def rc_build(**headers: Any) -> BuildInfo:
    """A 2.22.0rc0 GPU build: no CUDA keys in get_build_info(), its headers as the wheel ships them."""
    said = {"header_cuda": "12.5.1", "header_cudnn": "9.10.0", "header_caps": ("6.0", "7.0", "8.0", "8.9", "9.0")}
    return BuildInfo(keys=RC_KEYS, is_cuda_build=True, header_files=RC_HEADERS, **{**said, **headers})


def test_a_build_info_without_cuda_keys_is_judged_by_the_packages_headers_and_passes_when_they_agree() -> None:
    warned = Warnings()
    facts = host(tf=("tensorflow", "2.22.0rc0"))
    fw.test_build_info_matches_the_matrix(expect("t4", facts), MATRICES, rc_build(), warned)
    assert warned == []


def test_headers_that_disagree_with_the_matrix_fail_naming_the_header_and_the_missing_keys() -> None:
    facts = host(tf=("tensorflow", "2.22.0rc0"))
    build = rc_build(header_cuda="12.8.1")
    f = failure(fw.test_build_info_matches_the_matrix, expect("t4", facts), MATRICES, build, Warnings())
    assert f.summary == "tensorflow 2.22.0rc0 was built with CUDA 12.8.1 (matrix: 12.5.1)"
    assert f.found.startswith("the package's headers: CUDA 12.8.1, cuDNN 9.10.0, compute capabilities 6.0, 7.0")
    assert f.found.endswith("(get_build_info() has no CUDA keys: is_cuda_build, is_rocm_build, is_tensorrt_build)")
    assert "TensorFlow 2.22.0rc0 (a pre-release row)" in f.expected
    assert RC_HEADERS[0] in f.source


def test_a_cudnn_header_older_than_the_matrix_row_fails() -> None:
    facts = host(tf=("tensorflow", "2.22.0rc0"))
    build = rc_build(header_cudnn="9.3.0")
    f = failure(fw.test_build_info_matches_the_matrix, expect("t4", facts), MATRICES, build, Warnings())
    assert f.summary == "tensorflow 2.22.0rc0 was built with cuDNN 9.3.0 (matrix: 9.10.0)"


def test_a_build_that_says_nothing_of_its_cuda_is_a_warning_that_the_matrix_row_was_used_unchecked() -> None:
    silent = BuildInfo(keys=RC_KEYS, is_cuda_build=True)
    warned = Warnings()
    fw.test_build_info_matches_the_matrix(expect("t4", host(tf=("tensorflow", "2.22.0rc0"))), MATRICES, silent, warned)
    (warning,) = warned
    assert warning.summary == (
        "tensorflow 2.22.0rc0 does not say which CUDA and cuDNN it was built with: the lower layers used the matrix "
        "row of TensorFlow 2.22.0rc0 (a pre-release row) (CUDA 12.5.1, cuDNN 9.10.0) unchecked"
    )
    assert "no cuda_config.h or cudnn_version.h" in warning.found


def test_the_installed_headers_are_read_without_importing_tensorflow(tmp_path: Path) -> None:
    package = tmp_path / "tensorflow"
    (package / "include/third_party/gpus/cuda").mkdir(parents=True)
    (package / "include/third_party/gpus/cuda/cuda_config.h").write_text(
        '#define TF_CUDA_VERSION "12.5.1"\n#define TF_CUDNN_VERSION "9"\n#define TF_CUDA_COMPUTE_CAPABILITIES 60, 90\n'
    )
    (package / "include/third_party/gpus/cudnn/include").mkdir(parents=True)
    (package / "include/third_party/gpus/cudnn/include/cudnn_version.h").write_text(
        "#define CUDNN_MAJOR 9\n#define CUDNN_MINOR 10\n#define CUDNN_PATCHLEVEL 0\n"
    )
    build = read_installed(package)
    assert (build.cuda, build.cudnn, build.compute_capabilities) == ("12.5.1", "9.10.0", ("6.0", "9.0"))
    assert build.source[0].endswith("cuda_config.h") and len(build.source) == 2
    assert read_installed(tmp_path / "nowhere") == WheelBuild()


def test_a_cpu_build_that_says_so_passes_the_build_check() -> None:
    info = BuildInfo(keys=("is_cuda_build",), is_cuda_build=False)
    fw.test_build_info_matches_the_matrix(
        expect("cpu", host(tf=("tensorflow-cpu", "2.21.0"))), MATRICES, info, Warnings()
    )


def test_a_library_tensorflow_failed_to_dlopen_is_named_with_the_pip_fix() -> None:
    log = parse_log(batch("t4_framework_no_cudnn").log)
    facts = host(missing=("cudnn",))
    f = failure(fw.test_tensorflow_loads_every_gpu_library, expect("t4", facts), facts, MATRICES, log)
    assert f.summary == "tensorflow 2.21.0 cannot load libcudnn.so.9"
    assert "LD_LIBRARY_PATH: /usr/local/nvidia/lib64" in f.found
    assert "nvidia-cudnn-cu12" in f.fix


def test_cannot_dlopen_without_per_library_lines_falls_back_to_the_libraries_facts() -> None:
    b = batch("t4_framework_no_cudnn")
    log = dataclasses.replace(parse_log(b.log), missing=())
    facts = host(missing=("cudnn",))
    f = failure(fw.test_tensorflow_loads_every_gpu_library, expect("t4", facts), facts, MATRICES, log)
    assert f.summary == "tensorflow 2.21.0 could not dlopen some GPU libraries: libcudnn.so.9 not found"
    assert "TF_CPP_MAX_VLOG_LEVEL=1" in f.fix


def test_a_clean_load_log_passes() -> None:
    facts = host()
    fw.test_tensorflow_loads_every_gpu_library(
        expect("t4", facts), facts, MATRICES, parse_log(batch("t4_framework_healthy").log)
    )


# ---- which GPUs TensorFlow sees ---------------------------------------------------------


def sees(
    recording: str,
    facts: Facts,
    profile: str | Profile = "t4",
    pin: int | None = None,
    build: BuildInfo | None = None,
    log: str | None = None,
) -> Warnings:
    """Run the visible-GPU check on a recorded child (`build`, `log`: replace what it recorded)."""
    b = batch(recording)
    warned = Warnings()
    fw.test_tensorflow_sees_the_expected_gpus(
        expect(profile, facts),
        facts,
        live(pin),
        observe(b, "devices", DeviceList),
        build or observe(b, "build_info", BuildInfo),
        parse_log(b.log if log is None else log),
        MATRICES,
        warned,
        b if log is None else dataclasses.replace(b, child=dataclasses.replace(b.child, stderr=log)),
    )
    return warned


def sees_failure(recording: str, facts: Facts, profile: str | Profile = "t4", pin: int | None = None) -> Finding:
    return failure(sees, recording, facts, profile, pin)


def test_the_t4_tensorflow_sees_passes() -> None:
    assert sees("t4_framework_healthy", host()) == []


def test_nvidia_smi_works_but_tf_sees_no_gpu_because_cudnn_is_missing() -> None:
    f = sees_failure("t4_framework_no_cudnn", host(missing=("cudnn",)))
    assert f.summary == "TensorFlow sees 0 of the 1 GPU(s) expected: TensorFlow could not load libcudnn.so.9"
    assert "nvidia-cudnn-cu12" in f.fix


def test_nvidia_smi_works_but_cuinit_fails_without_nvidia_uvm() -> None:
    f = sees_failure("t4_framework_cuinit_303", host(modules=("nvidia",)))
    assert f.summary == (
        "TensorFlow sees 0 of the 1 GPU(s) expected: cuInit fails with UNKNOWN ERROR (303) "
        "because the nvidia_uvm module is not loaded"
    )
    assert f.fix == "sudo modprobe nvidia-uvm && sudo nvidia-modprobe -u -c=0"


def test_cuinit_failing_in_a_container_with_uvm_loaded_points_at_the_container() -> None:
    f = sees_failure("t4_framework_cuinit_303", host(container="docker"))
    assert f.summary == "TensorFlow sees 0 of the 1 GPU(s) expected: cuInit fails with UNKNOWN ERROR (303)"
    assert f.fix.startswith("restart the docker container with --gpus all")


def test_cuda_visible_devices_minus_one_is_named_as_the_cause() -> None:
    f = sees_failure("t4_framework_hidden", host())
    assert f.summary == "TensorFlow sees 0 of the 1 GPU(s) expected: CUDA_VISIBLE_DEVICES='-1' hides every GPU"
    assert f.fix.startswith("unset CUDA_VISIBLE_DEVICES")


def test_a_gpu_below_tensorflows_minimum_is_named_with_the_minimum() -> None:
    k80 = GpuFacts(0, "Tesla K80", pci_bus_id="0000:00:04.0", compute_capability=(3, 7))
    profile = Profile("auto-k80", "K80", gpus=GpuExpectation(count=1))
    f = sees_failure("k80_framework_ignored", host(gpus=(k80,)), profile)
    assert f.summary == (
        "TensorFlow sees 0 of the 1 GPU(s) expected: "
        "TensorFlow ignores Tesla K80 (compute capability 3.7): it needs at least 6.0"
    )


def test_a_cpu_build_is_the_first_cause_named() -> None:
    cpu_build = BuildInfo(keys=("is_cuda_build",), is_cuda_build=False)
    f = failure(sees, "t4_framework_cuinit_303", host(tf=("tensorflow-cpu", "2.21.0")), "t4", None, cpu_build)
    assert f.summary == "TensorFlow sees 0 of the 1 GPU(s) expected: tensorflow-cpu 2.21.0 is a CPU-only build"


def test_no_evidence_at_all_says_so_and_how_to_get_tensorflows_own_account() -> None:
    f = failure(sees, "t4_framework_no_cudnn", host(), "t4", None, None, "")
    assert f.summary == "TensorFlow sees 0 of the 1 GPU(s) expected (1 in NVML), and its log names no cause"
    assert "TF_CPP_MAX_VLOG_LEVEL=1" in f.fix


def test_more_gpus_than_the_profile_fail() -> None:
    f = sees_failure("a100x2_framework_healthy", host(gpus=(a100(0), a100(1))), "a100")
    assert f.summary == "TensorFlow sees 2 GPUs, 1 expected"


def test_a_compute_capability_tensorflow_and_nvml_disagree_on_fails() -> None:
    f = sees_failure("t4_framework_healthy", host(gpus=(a100(0),)), "a100")
    assert f.summary == "TensorFlow reports compute capabilities 7.5; NVML says 8.0"


def test_a_pinned_worker_expects_only_its_gpu() -> None:
    facts = host(gpus=(t4(0), t4(1, "0000:00:05.0")))
    profile = Profile("t4x2", "two T4", gpus=GpuExpectation(count=2, model="t4"))
    assert sees("t4_framework_healthy", facts, profile, pin=1) == []
    f = sees_failure("t4_framework_healthy", facts, profile, pin=None)
    assert f.summary.startswith("TensorFlow sees 1 of the 2 GPU(s) expected")


def test_gpus_seen_on_a_cpu_profile_only_warn() -> None:
    warned = sees("t4_framework_healthy", host(), "cpu")
    assert warned[0].summary == "profile 'cpu' expects no GPU, but TensorFlow sees 1"


# ---- the process after GPU initialisation -------------------------------------------


def test_the_libraries_mapped_are_the_ones_the_libraries_layer_checked() -> None:
    facts = host()
    fw.test_tensorflow_maps_the_libraries_the_libraries_layer_checked(
        expect("t4", facts), facts, observe(batch("t4_framework_healthy"), "gpu_init", GpuInit)
    )


def test_a_cudnn_the_libraries_layer_never_saw_winning_fails() -> None:
    facts = host()
    init = observe(batch("t4_framework_stray_cudnn"), "gpu_init", GpuInit)
    f = failure(fw.test_tensorflow_maps_the_libraries_the_libraries_layer_checked, expect("t4", facts), facts, init)
    assert f.summary == (
        "tensorflow 2.21.0 loaded libcudnn.so.9 from /opt/cudnn-9.1/lib/libcudnn.so.9.1.0, "
        "a copy the libraries layer never found"
    )
    child = "a TensorFlow child process (gpuconform.frameworks.tensorflow.experiments.framework)"
    assert f.source == f"/proc/4242/maps of {child} after GPU initialisation"


def test_tensorfloat32_on_ampere_is_reported_as_a_warning_with_how_to_turn_it_off() -> None:
    b = batch("a100x2_framework_healthy")
    facts = host(gpus=(a100(0), a100(1)))
    warned = Warnings()
    record: list[tuple[str, object]] = []
    fw.test_tensorfloat32_state_is_reported(
        expect("a100", facts),
        observe(b, "devices", DeviceList),
        observe(b, "gpu_init", GpuInit),
        warned,
        lambda name, value: record.append((name, value)),
    )
    assert record == [("tensorfloat32", True)]
    assert warned[0].summary.startswith("TensorFloat-32 is on for NVIDIA A100-SXM4-40GB")
    assert "enable_tensor_float_32_execution(False)" in warned[0].fix


def test_tensorfloat32_is_not_applicable_before_ampere() -> None:
    b = batch("t4_framework_healthy")
    with pytest.raises(SKIP, match="compute capability 8.0"):
        fw.test_tensorfloat32_state_is_reported(
            expect("t4", host()), observe(b, "devices", DeviceList), observe(b, "gpu_init", GpuInit), Warnings(), print
        )


# ---- the remaining branches ----------------------------------------------------------------


def test_a_cpu_distribution_reporting_a_cuda_build_fails() -> None:
    info = observe(batch("t4_framework_healthy"), "build_info", BuildInfo)
    f = failure(
        fw.test_build_info_matches_the_matrix,
        expect("cpu", host(tf=("tensorflow-cpu", "2.21.0"))),
        MATRICES,
        info,
        Warnings(),
    )
    assert f.summary == "tensorflow-cpu 2.21.0 reports a CUDA build"


def test_a_tensorflow_without_a_cpu_device_fails() -> None:
    b = batch("t4_framework_healthy")
    devices = dataclasses.replace(observe(b, "devices", DeviceList), physical=("/physical_device:GPU:0",))
    facts = host()
    with pytest.raises(NonConformance) as raised:
        fw.test_tensorflow_sees_the_expected_gpus(
            expect("t4", facts),
            facts,
            live(),
            devices,
            observe(b, "build_info", BuildInfo),
            parse_log(b.log),
            MATRICES,
            Warnings(),
            b,
        )
    assert raised.value.finding.summary == "TensorFlow lists no CPU device"


def test_another_copy_of_another_version_winning_names_the_expected_one() -> None:
    facts = host()
    libs = facts.libraries
    assert libs is not None
    opt = "/opt/cudnn-9.1/lib/libcudnn.so.9.1.0"
    cudnn = next(lib for lib in libs.libraries if lib.name == "cudnn")
    other = dataclasses.replace(
        cudnn,
        candidates=(*cudnn.candidates, LibraryCandidate(opt, "system", opt)),
        loads=(*cudnn.loads, LibraryLoad(opt, True, "9.1.0")),
    )
    facts = dataclasses.replace(
        facts,
        libraries=dataclasses.replace(libs, libraries=tuple(other if lib is cudnn else lib for lib in libs.libraries)),
    )
    init = observe(batch("t4_framework_stray_cudnn"), "gpu_init", GpuInit)
    f = failure(fw.test_tensorflow_maps_the_libraries_the_libraries_layer_checked, expect("t4", facts), facts, init)
    assert (
        f.summary
        == f"tensorflow 2.21.0 loaded libcudnn.so.9 from {opt}, not the expected {PIP}/cudnn/lib/libcudnn.so.9"
    )
    assert f.found == f"{opt}: version 9.1.0 (system)"


def test_a_child_answering_garbage_is_could_not_check_not_a_judgement() -> None:
    data = json.loads((OUTPUTS / "t4_framework_healthy.json").read_text())
    data["results"]["devices"] = {"ok": True, "value": {"physical": "not a list"}}
    with pytest.raises(
        CouldNotCheck,
        match=r"could not check TensorFlow \(devices\): TensorFlow child \(devices\): physical: expected list",
    ):
        observe(load_batch(data), "devices", DeviceList)


def test_a_child_that_timed_out_importing_tensorflow_is_could_not_check() -> None:
    data = json.loads((OUTPUTS / "t4_framework_sigill.json").read_text())
    child = load_batch(data).child
    hung = dataclasses.replace(child, returncode=-9, timed_out=True)
    b = Batch("framework", (), parse_results(hung, ["identity"]), hung)
    with pytest.raises(CouldNotCheck, match="could not check TensorFlow: timeout"):
        fw.identity.__wrapped__(b)  # type: ignore[attr-defined]


# ---- issue 11: builds by era, architectures newer than the wheel's CUDA, two TensorFlows, the toolchain log --------


RTX3090 = GpuFacts(0, "NVIDIA GeForce RTX 3090", pci_bus_id="0000:00:04.0", compute_capability=(8, 6))
GENERIC = Profile("auto-gpu", "one GPU", gpus=GpuExpectation(count=1))


def packaged(facts: Facts, *dists: tuple[str, str], cuda_build: bool | None = None) -> Facts:
    """`facts` with these TF distributions installed (the first is the one import finds first)."""
    infos = tuple(PackageInfo(name, version, SITE) for name, version in dists)
    packages = PackagesFacts(tensorflow=infos[0], tensorflow_distributions=infos, tensorflow_is_cuda_build=cuda_build)
    return dataclasses.replace(facts, packages=packages)


def on(facts: Facts, driver: str, python: str) -> Facts:
    nvml = dataclasses.replace(facts.driver.nvml, driver_version=driver)
    return dataclasses.replace(
        facts,
        driver=dataclasses.replace(facts.driver, nvml=nvml),
        platform=dataclasses.replace(facts.platform, python_version=python),
    )


class Request:
    """A stand-in for pytest's request: the fixtures a check asks for by name (a missing one skips, as live_only)."""

    def __init__(self, **values: Any) -> None:
        self.values = values

    def getfixturevalue(self, name: str) -> Any:
        if name not in self.values:
            pytest.skip(f"not applicable: needs the live host ({name} not recorded)")
        return self.values[name]


def test_plain_tensorflow_before_2_1_on_a_gpu_host_fails_with_the_tensorflow_gpu_of_its_era() -> None:
    facts = packaged(host(), ("tensorflow", "1.14.0"))
    f = failure(fw.test_tensorflow_build_can_use_the_gpu, expect("t4", facts), MATRICES)
    assert f.summary == "tensorflow 1.14.0 is installed on a GPU host: it has no CUDA support"
    assert "tensorflow 1.14.0 is the CPU-only build (matrices/tf_platforms.toml)" in f.found
    assert f.fix.startswith("pip uninstall -y tensorflow && pip install 'tensorflow-gpu==1.14.0'")
    assert "install_requires" in f.fix and "conda update" in f.fix


def test_tensorflow_1_15_0_is_a_cuda_build_and_passes() -> None:
    facts = packaged(host(), ("tensorflow", "1.15.0"))
    fw.test_tensorflow_build_can_use_the_gpu(expect("t4", facts), MATRICES)


def test_a_build_named_like_a_cuda_one_whose_own_build_info_says_no_cuda_fails() -> None:
    facts = packaged(host(), ("tensorflow", "2.15.0"), cuda_build=False)
    f = failure(fw.test_tensorflow_build_can_use_the_gpu, expect("t4", facts), MATRICES)
    assert "the package's build_info.py (is_cuda_build = False)" in f.found
    assert f.fix.startswith("install a CUDA build of 2.15.0 in a fresh environment: pip install 'tensorflow[and-cuda]")


def test_two_tensorflows_at_once_fail_the_import_check_from_the_package_facts_alone() -> None:
    facts = packaged(host(), ("tensorflow", "1.14.0"), ("tensorflow-gpu", "1.14.0"))
    expectations = expect("t4", facts)
    with pytest.raises(SKIP, match="tensorflow 1.14.0 and tensorflow-gpu 1.14.0 are installed at once"):
        fw.test_tensorflow_build_can_use_the_gpu(expectations, MATRICES)
    f = failure(fw.test_tensorflow_imports_as_the_installed_distribution, expectations, MATRICES, facts, Request())
    assert f.summary == (
        "2 TensorFlow distributions are installed at once; import tensorflow loads tensorflow 1.14.0 "
        "(the CPU-only build)"
    )
    assert f.fix.startswith("pip uninstall tensorflow tensorflow-gpu -y && pip install 'tensorflow-gpu==1.14.0'")
    assert "install_requires" in f.fix


def test_the_child_says_which_of_two_tensorflows_imports() -> None:
    facts = packaged(host(), ("tensorflow-gpu", "1.14.0"), ("tensorflow", "1.14.0"))
    seen = TfIdentity("1.14.0", f"{SITE}/tensorflow/__init__.py", "tensorflow", "1.14.0")
    f = failure(
        fw.test_tensorflow_imports_as_the_installed_distribution,
        expect("t4", facts),
        MATRICES,
        facts,
        Request(identity=seen),
    )
    assert f.summary.endswith("import tensorflow loads tensorflow 1.14.0 (the CPU-only build)")
    assert f"tensorflow.__file__ {SITE}/tensorflow/__init__.py in the TensorFlow child" in f.found


BUILD = "framework::tensorflow_build_can_use_the_gpu"
IMPORTS = "framework::tensorflow_imports_as_the_installed_distribution"
ACCEPTS_CPU = dataclasses.replace(GENERIC, tensorflow=dataclasses.replace(GENERIC.tensorflow, gpu_build=False))


@pytest.mark.parametrize(
    ("profile", "dists", "reason"),
    [
        ("t4", [("tensorflow-cpu", "2.21.0")], f"blocked by {BUILD}: tensorflow-cpu 2.21.0 is installed on a GPU host"),
        ("t4", [("tensorflow", "1.14.0")], f"blocked by {BUILD}: tensorflow 1.14.0 is installed on a GPU host"),
        (
            "t4",
            [("tensorflow", "1.14.0"), ("tensorflow-gpu", "1.14.0")],
            f"blocked by {IMPORTS}: tensorflow 1.14.0 and tensorflow-gpu 1.14.0 are installed at once",
        ),
        ("cpu", [("tensorflow-cpu", "2.21.0")], "not applicable: profile 'cpu' expects no GPU"),
        (ACCEPTS_CPU, [("tensorflow-cpu", "2.21.0")], "not applicable: profile 'auto-gpu' accepts a CPU-only"),
    ],
)
def test_a_check_that_needs_a_cuda_build_is_blocked_by_the_check_that_failed_the_build(
    profile: str | Profile, dists: list[tuple[str, str]], reason: str
) -> None:
    facts = packaged(host(), *dists)
    expectations = expect(profile, facts)
    with pytest.raises(SKIP) as skipped:
        fw.test_gpu_kernels_cover_every_compute_capability(expectations, facts, MATRICES, Warnings())
    assert str(skipped.value).startswith(reason)
    if str(skipped.value).startswith(f"blocked by {BUILD}: "):  # the build check's own summary, word for word
        summary = failure(fw.test_tensorflow_build_can_use_the_gpu, expectations, MATRICES).summary
        assert str(skipped.value) == f"blocked by {BUILD}: {summary}"


def test_windows_tensorflow_and_its_tensorflow_intel_are_one_install_not_two() -> None:
    facts = packaged(host(), ("tensorflow", "2.10.0"), ("tensorflow-intel", "2.10.0"))
    assert not expect("t4", facts).shadowing


def test_an_rtx_3090_with_tensorflow_2_3_fails_because_cuda_10_1_predates_ampere() -> None:
    facts = on(packaged(host(gpus=(RTX3090,)), ("tensorflow", "2.3.0")), "455.23.05", "3.8.10")
    f = failure(fw.test_gpu_kernels_cover_every_compute_capability, expect(GENERIC, facts), facts, MATRICES, Warnings())
    assert f.summary == (
        "NVIDIA GeForce RTX 3090 (compute capability 8.6) is newer than the CUDA 10.1 of tensorflow 2.3.0: "
        "no kernels it can load"
    )
    assert "CUDA 10.1's cuBLAS and cuDNN carry no kernels for Ampere" in f.why
    assert "TensorFlow 2.4 (CUDA 11.0) is the first release built for 8.6" in f.fix
    assert "[and-cuda]" not in f.fix  # no release before 2.14 has the extra


def test_tensorflow_2_4_runs_an_rtx_3090_through_sm_80_sass() -> None:
    facts = on(packaged(host(gpus=(RTX3090,)), ("tensorflow", "2.4.0")), "455.23.05", "3.8.10")
    warned = Warnings()
    fw.test_gpu_kernels_cover_every_compute_capability(expect(GENERIC, facts), facts, MATRICES, warned)
    assert warned == []


def test_a_blackwell_gpu_with_no_release_built_for_it_names_a_build_that_targets_it() -> None:
    rtx5080 = GpuFacts(0, "NVIDIA GeForce RTX 5080", pci_bus_id="0000:00:04.0", compute_capability=(12, 0))
    facts = on(packaged(host(gpus=(rtx5080,)), ("tensorflow", "2.20.0")), "575.51.03", "3.12.3")
    f = failure(fw.test_gpu_kernels_cover_every_compute_capability, expect(GENERIC, facts), facts, MATRICES, Warnings())
    assert f.fix.startswith("no TensorFlow release in the matrix (to 2.22.0rc0) is built with CUDA 12.8 or newer")
    assert "NGC TensorFlow container" in f.fix and "TF_CUDA_COMPUTE_CAPABILITIES=12.0" in f.fix


def test_a_gpu_older_than_every_kernel_of_the_wheel_names_the_source_build_and_the_last_release_for_it() -> None:
    m1200 = GpuFacts(0, "Quadro M1200", pci_bus_id="0000:00:04.0", compute_capability=(5, 0))
    facts = on(packaged(host(gpus=(m1200,)), ("tensorflow", "2.3.0")), "418.39", "3.8.10")
    f = failure(fw.test_gpu_kernels_cover_every_compute_capability, expect(GENERIC, facts), facts, MATRICES, Warnings())
    assert f.summary == "Quadro M1200 (compute capability 5.0) has no kernels in tensorflow 2.3.0"
    assert "TensorFlow 2.2 (the newest release with kernels for 5.0): pip install 'tensorflow==2.2.*'" in f.fix
    assert "build TensorFlow 2.3 from source with TF_CUDA_COMPUTE_CAPABILITIES=5.0" in f.fix


def test_a_kepler_gpu_under_a_cuda_that_dropped_it_is_told_no_source_build_can_help() -> None:
    k80 = GpuFacts(0, "Tesla K80", pci_bus_id="0000:00:04.0", compute_capability=(3, 7))
    facts = packaged(host(gpus=(k80,)), ("tensorflow", "2.16.1"))
    f = failure(fw.test_gpu_kernels_cover_every_compute_capability, expect(GENERIC, facts), facts, MATRICES, Warnings())
    assert "from source" not in f.fix
    assert "CUDA 12.3 dropped sm_37 after CUDA 11.8" in f.fix


def toolchain_log(version: str, log: str) -> tuple[Warnings, Finding | None]:
    facts = packaged(host(), ("tensorflow", version))
    b = batch("t4_framework_healthy")
    b = dataclasses.replace(b, child=dataclasses.replace(b.child, stderr=log))
    warned = Warnings()
    try:
        fw.test_tensorflow_log_names_no_xla_toolchain_failure(expect("t4", facts), facts, MATRICES, b, warned)
    except NonConformance as raised:
        assert raised.finding.missing_parts() == []
        return warned, raised.finding
    return warned, None


def test_tensorflow_2_2_retrying_a_failing_ptxas_fails_with_a_working_ptxas_or_2_5() -> None:
    _, f = toolchain_log("2.2.0", "W stream_executor/gpu/asm_compiler.cc:81] Running ptxas --version returned 256")
    assert f is not None
    assert f.summary == "TensorFlow 2.2.0 cannot run ptxas and retries it for every kernel"
    assert "CUDA -devel image" in f.fix and "tensorflow/tensorflow#44486" in f.fix


def test_a_release_that_caches_the_failed_ptxas_only_warns() -> None:
    warned, f = toolchain_log("2.5.0", "W asm_compiler.cc:81] Running ptxas --version returned 256")
    assert f is None
    (w,) = warned
    assert "ptxas failed" in w.summary


def test_libdevice_not_found_in_tensorflows_log_fails_with_xla_flags() -> None:
    _, f = toolchain_log("2.11.0", "InternalError: libdevice not found at ./libdevice.10.bc [Op:__some_op]")
    assert f is not None and "XLA_FLAGS=--xla_gpu_cuda_data_dir=" in f.fix


def test_a_subset_chosen_with_cuda_visible_devices_is_seen_renumbered_and_only_warns() -> None:
    facts = host(gpus=(a100(0), a100(1)))
    b = batch("a100x2_framework_healthy")
    seen = observe(b, "devices", DeviceList)
    one = dataclasses.replace(seen, cuda_visible_devices="1", gpus=seen.gpus[:1])
    warned = Warnings()
    fw.test_tensorflow_sees_the_expected_gpus(
        expect(Profile("auto-2", "two", gpus=GpuExpectation(count=2)), facts),
        facts,
        live(),
        one,
        observe(b, "build_info", BuildInfo),
        parse_log(b.log),
        MATRICES,
        warned,
        b,
    )
    (w,) = warned
    assert w.summary == "CUDA_VISIBLE_DEVICES='1' shows TensorFlow 1 of the 2 GPUs"
    assert "its GPU:0 is NVML's GPU 1" in w.why


def test_no_gpu_seen_with_a_kernel_image_error_names_the_architecture_cause() -> None:
    facts = on(packaged(host(gpus=(RTX3090,)), ("tensorflow", "2.3.0")), "455.23.05", "3.8.10")
    log = "InternalError: CUDA runtime implicit initialization on GPU:0 failed. Status: device kernel image is invalid"
    f = failure(sees, "t4_framework_no_cudnn", facts, GENERIC, None, None, log)
    assert f.summary.endswith("tensorflow 2.3.0 has no kernels this GPU's architecture can load")
    assert "device kernel image is invalid" in f.found
    assert "TensorFlow 2.4" in f.fix


def test_a_build_whose_own_build_info_says_no_cuda_is_named_with_a_cuda_build_of_its_release() -> None:
    cpu_build = BuildInfo(keys=("is_cuda_build",), is_cuda_build=False)
    facts = packaged(host(), ("tensorflow", "2.3.0"))
    f = failure(sees, "t4_framework_no_cudnn", facts, "t4", None, cpu_build)
    assert f.summary == "TensorFlow sees 0 of the 1 GPU(s) expected: tensorflow 2.3.0 is a CPU-only build"
    assert f.fix.startswith("install a CUDA build of 2.3.0 in a fresh environment: pip install 'tensorflow==2.3.0'")
