"""Build a whole simulated host from a spec, and run the real suite against it in a subprocess.

Only the hardware is simulated: the suite runs for real (real pytest, real
pynvml, real dlopen, real ctypes) with `--host-root` pointing at the spec's
root tree and `LD_LIBRARY_PATH`/`PYTHONPATH` pointing at its shim libraries.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from gpuconform.plugin.keys import suites_dir
from tests.simhost.libshims import materialise_libraries
from tests.simhost.nvml_shim import build_nvml_shim
from tests.simhost.rootfs import materialise_root
from tests.simhost.spec import HostSpec

PROFILES = Path(__file__).parent / "profiles"
LOW_LAYERS = "platform or driver or libraries"


@dataclass(frozen=True)
class SimHost:
    """A materialised simulated host."""

    spec: HostSpec
    root: Path
    env: dict[str, str]

    @property
    def probe_timeout(self) -> str:
        """--host-probe-timeout for a run on this host: 3 s where a fault hangs (the bound its
        message names), 60 s otherwise, so a loaded machine cannot turn an answering probe into a
        timeout."""
        hangs = self.spec.nvml.fault == "hang" or any(lib.fault == "hang" for lib in self.spec.library)
        return "3" if hangs else "60"

    @property
    def profile_arg(self) -> str:
        """The --host-profile value: a built-in name, or a test-only profile file."""
        local = PROFILES / f"{self.spec.profile}.toml"
        return str(local) if local.is_file() else self.spec.profile


def build_host(spec: HostSpec, dest: Path) -> SimHost:
    """Write the root tree, the NVML shim, the CUDA library shims and a fake TF distribution."""
    root = materialise_root(spec, dest / "root")
    driverlib = dest / "driverlib"
    driverlib.mkdir(parents=True, exist_ok=True)
    build_nvml_shim(spec, driverlib)
    extra = materialise_libraries(spec.libraries, dest, spec.driver.cuda_driver_version)
    site = dest / "site-packages"
    if spec.tensorflow:
        # The platform probe reads installed distributions from metadata only: a
        # dist-info is all it takes to make the host "have" that TensorFlow.
        info = site / f"tensorflow-{spec.tensorflow}.dist-info"
        info.mkdir(parents=True, exist_ok=True)
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: tensorflow\nVersion: {spec.tensorflow}\n")
        _nvcc_wheel(site, spec.tensorflow)
    env = dict(os.environ)
    env.pop("GPUCONFORM_PROFILE", None)
    paths = [str(driverlib)] + [p for p in extra.get("LD_LIBRARY_PATH", "").split(os.pathsep) if p]
    env["LD_LIBRARY_PATH"] = os.pathsep.join(dict.fromkeys(paths))
    env["PYTHONPATH"] = os.pathsep.join(dict.fromkeys([str(site), *filter(None, [extra.get("PYTHONPATH")])]))
    for key in ("CONDA_PREFIX",):
        if key in extra:
            env[key] = extra[key]
    return SimHost(spec, root, env)


def _nvcc_wheel(site: Path, tensorflow: str) -> None:
    """What tensorflow[and-cuda]'s nvidia-cuda-nvcc wheel puts beside TensorFlow: the ptxas and libdevice.10.bc
    that XLA finds there from 2.14 (matrices/xla_toolchain.toml), ptxas answering with the pinned version."""
    from packaging.specifiers import SpecifierSet

    from gpuconform.expect.loading import load_matrices

    pins = load_matrices().and_cuda_pins(tensorflow) or {}
    name, spec = next(((n, s) for n, s in pins.items() if n.startswith("nvidia-cuda-nvcc")), ("", ""))
    floor = next((s.version for s in SpecifierSet(spec) if s.operator in (">=", "==")), None) if spec else None
    if floor is None:
        return
    root = site / "nvidia" / "cuda_nvcc"
    (root / "nvvm" / "libdevice").mkdir(parents=True, exist_ok=True)
    (root / "nvvm" / "libdevice" / "libdevice.10.bc").write_bytes(b"BC\xc0\xde")
    (root / "bin").mkdir(exist_ok=True)
    major_minor = ".".join(floor.split(".")[:2])
    ptxas = root / "bin" / "ptxas"
    ptxas.write_text(f'#!/bin/sh\necho "Cuda compilation tools, release {major_minor}, V{floor}"\n')
    ptxas.chmod(0o755)


def run_suite(
    host: SimHost, cwd: Path, *args: str, layers: str = LOW_LAYERS, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    """Run the real suites against the simulated host; return the finished process."""
    argv = [
        sys.executable,
        "-m",
        "pytest",
        str(suites_dir()),
        "-p",
        "no:cacheprovider",
        "-m",
        layers,
        "--host-root",
        str(host.root),
        "--host-profile",
        host.profile_arg,
        *args,
    ]
    return subprocess.run(argv, cwd=cwd, env=host.env, capture_output=True, text=True, timeout=timeout, check=False)


def verdict_line(proc: subprocess.CompletedProcess[str]) -> str:
    """The `host verdict:` line of a run."""
    lines = [line for line in proc.stdout.splitlines() if line.startswith("host verdict:")]
    assert lines, f"no verdict line; stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}"
    return lines[-1]
