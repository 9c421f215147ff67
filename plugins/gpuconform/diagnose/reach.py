"""Which copies of a CUDA library the installed TensorFlow's own loader reaches, and fixes valid for its release.

The libraries probe (and a host description) lists every copy of a soname with every origin that reaches
it; matrices/library_search.toml says which origins a release's dlopen searches. A copy reached only through
origins the release does not search (conda's lib/ from 2.7, a pip wheel 2.16.1 lost, /usr/local/cuda
always) is not loadable for that release: it is neither "found" nor a duplicate. The fixes are those of the
release's own era: the LD_LIBRARY_PATH line for the directory (written the way the release's install guide
wrote it), the patch release that searches the wheels again, the CUDA and cuDNN install its guide gave
(tf_platforms.toml), the [and-cuda] pins only from 2.14 (and_cuda.toml).
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.version import Version

from gpuconform.expect.matrix import Matrices
from gpuconform.expect.tables.library_search import TENSORRT_PIP_DIRS
from gpuconform.expect.tables.library_search import pip_package
from gpuconform.expect.tables.tensorflow import TfRelease
from gpuconform.expect.tables.tensorrt import TENSORRT_LIBRARIES
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.model import PackageInfo

WINDOWS = "Windows"
#: The wheel directory (site-packages/nvidia/<dir>/lib) of each library whose directory is not its own name.
PIP_DIRS = {"cudart": "cuda_runtime", "cublasLt": "cublas"}
#: The nvidia-<name>-cuXX wheel of each library.
PIP_WHEELS = {
    "cudart": "cuda-runtime",
    "cublas": "cublas",
    "cublasLt": "cublas",
    "cufft": "cufft",
    "curand": "curand",
    "cusolver": "cusolver",
    "cusparse": "cusparse",
    "cudnn": "cudnn",
    "nccl": "nccl",
}
#: A guide step that names a wheel's directory by a shell variable: CUDNN_PATH=$(dirname $(python -c "import
#: nvidia.cudnn;print(nvidia.cudnn.__file__)")) in TF 2.12-2.13's guide.
_GUIDE_VARIABLE = re.compile(r'^(?P<name>[A-Z][A-Z0-9_]*)=\$\(dirname \$\(python3? -c "import nvidia\.(?P<pkg>\w+);')
_TF_TOKEN = re.compile(r"\s+'?tensorflow(-gpu)?(==\S+)?'?(?=\s|$)")
#: The last CUDA of conda-forge's cudatoolkit package (CUDA 12 ships as cuda-* packages instead).
_CONDA_TOOLKIT_MAX_MAJOR = 11


@dataclass(frozen=True)
class Host:
    """What a fix depends on: the installed TensorFlow and its matrix row, the environment, the system."""

    tf: PackageInfo | None
    release: TfRelease | None
    env: Mapping[str, str]
    system: str
    container: str | None
    matrices: Matrices

    @property
    def conda(self) -> str | None:
        return self.env.get("CONDA_PREFIX") or None


@dataclass(frozen=True)
class Copy:
    """One candidate and whether the installed release's loader reaches it."""

    candidate: LibraryCandidate
    reached: bool
    why: str = ""  # why not, with the table row that says so

    @property
    def origins(self) -> tuple[str, ...]:
        return self.candidate.origins or (self.candidate.origin,)


def wheel_dir(name: str, path: str) -> str:
    """The nvidia/<dir>/lib a copy lives in, or the one its library's wheel would use (TensorRT's: its
    site-packages directory, tensorrt or tensorrt_libs)."""
    parent = posixpath.basename(posixpath.dirname(path))
    if name in TENSORRT_LIBRARIES and parent in TENSORRT_PIP_DIRS:
        return parent
    return pip_package(path) or PIP_DIRS.get(name, name)


def copies(lib: LibraryFacts, host: Host, *, other: bool = False) -> tuple[Copy, ...]:
    """Each candidate (or other-soname candidate) of `lib`, reached or not by the installed release."""
    search = host.matrices.rules.library_search
    version = host.tf.version if host.tf is not None else None
    if host.tf is not None and host.matrices.rules.nvidia_tensorflow.is_nvidia(host.tf.name):
        version = None  # library_search.toml's rows are the TensorFlow project's wheels; NVIDIA's was not read
    out = []
    for cand in lib.other_candidates if other else lib.candidates:
        origins = cand.origins or (cand.origin,)
        answers = [search.reach(version, origin, wheel_dir(lib.name, cand.path)) for origin in origins]
        reached = any(a.reached for a in answers)
        out.append(Copy(cand, reached, "" if reached else answers[0].why))
    return tuple(out)


def reached_loads(lib: LibraryFacts, host: Host, *, other: bool = False) -> tuple[LibraryLoad, ...]:
    """The loads of the files the installed release's loader can reach (a file counts once, however found)."""
    found = copies(lib, host, other=other)
    real = {c.candidate.path: c.candidate.realpath or c.candidate.path for c in found}
    reached = {real[c.candidate.path] for c in found if c.reached}
    loads = lib.other_loads if other else lib.loads
    return tuple(ld for ld in loads if real.get(ld.path, ld.path) in reached)


def described(copy: Copy) -> str:
    """ "/usr/local/cuda/lib64/libcudart.so.12 (cuda_home)"."""
    return f"{copy.candidate.path} ({', '.join(copy.origins)})"


# ---- the loader path ------------------------------------------------------------------------------------


def guide_variable(host: Host, package: str) -> tuple[str, str] | None:
    """(variable, assignment) when the release's install guide names wheel directory `package` by a variable."""
    if host.tf is None:
        return None
    guide = host.matrices.rules.tf_platforms.install_guide(_guide_version(host))
    for step in _steps(guide.command if guide is not None else ""):
        match = _GUIDE_VARIABLE.match(step)
        if match and match["pkg"] == package:
            return match["name"], step
    return None


def ld_path_line(directory: str, host: Host, package: str | None = None) -> str:
    """The LD_LIBRARY_PATH line that puts `directory` first, as the release's guide names it, and where to keep it."""
    steps = []
    rendered = directory
    if host.conda and _norm(directory) == _norm(posixpath.join(host.conda, "lib")):
        rendered = "$CONDA_PREFIX/lib"
    elif package is not None and (variable := guide_variable(host, package)) is not None:
        steps.append(variable[1])
        rendered = f"${variable[0]}/lib"
    steps.append(f"export LD_LIBRARY_PATH={rendered}:$LD_LIBRARY_PATH")
    return "; ".join(steps) + " " + _keep(host, len(steps))


def _keep(host: Host, lines: int) -> str:
    what = "both lines" if lines > 1 else "it"
    if host.conda:
        unset = "; the export alone finds the variable unset in a new shell" if lines > 1 else ""
        env_vars = "$CONDA_PREFIX/etc/conda/activate.d/env_vars.sh"
        return f"(keep {what} in {env_vars}, where TF's install guide put it{unset})"
    if host.container:
        return f"(in the image: {'the same lines in its entrypoint' if lines > 1 else 'ENV LD_LIBRARY_PATH=...'})"
    return f"(keep {what} in ~/.bashrc or /etc/profile.d)"


def unreached_fix(lib: LibraryFacts, copy: Copy, host: Host) -> str:
    """How the installed release gets to load a copy its loader does not search."""
    directory = posixpath.dirname(copy.candidate.path)
    package = pip_package(copy.candidate.path)
    if "pip" in copy.origins and package is not None and host.tf is not None:
        search = host.matrices.rules.library_search
        patch = search.patch_release_reaching_pip(host.tf.version, package)
        line = ld_path_line(directory, host, package)
        if patch is not None:
            return (
                f"pip install 'tensorflow[and-cuda]=={patch}' (the {patch} wheel searches site-packages/nvidia/"
                f"{package}/lib again), or keep {host.tf.version} and {line}"
            )
        return line
    line = ld_path_line(directory, host, package)
    if "cuda_home" in copy.origins:
        return (
            f"{line}, or register the directory with the loader: echo {directory} | sudo tee "
            "/etc/ld.so.conf.d/cuda.conf && sudo ldconfig"
        )
    return line


# ---- installing what is missing ---------------------------------------------------------------------------


def install_fix(name: str, soname: str, host: Host) -> str:
    """The install of the library version the installed TF needs, valid for its release and system."""
    tf, release = host.tf, host.release
    if name == "cuda":
        if host.system == WINDOWS:
            return "install the NVIDIA display driver for Windows (it puts nvcuda.dll in System32)"
        return "install the NVIDIA driver's user-space libraries (libcuda.so.1 ships with the driver)"
    if tf is None or release is None:
        return "install the CUDA libraries matching your TensorFlow (pip install 'tensorflow[and-cuda]')"
    cuda = f"{release.cuda.major}.{release.cuda.minor}"
    cudnn = f"{release.cudnn.major}.{release.cudnn.minor}"
    if host.system == WINDOWS:
        return (
            f"install CUDA {cuda} and cuDNN {cudnn} for CUDA {cuda} (NVIDIA's Windows installer and cuDNN archive) "
            f"and put their bin directories on %PATH%: {tf.name} {tf.version} asks for {soname}"
        )
    pins = host.matrices.and_cuda_pins(tf.version)
    fix = _pip_fix(name, pins, host) if pins else _guide_fix(host)
    if host.container:
        fix += f"; in a container, rather use an image that ships them (e.g. tensorflow/tensorflow:{tf.version}-gpu)"
    return fix


def _pip_fix(name: str, pins: Mapping[str, str], host: Host) -> str:
    assert host.tf is not None
    tf = host.tf.version
    wheel = PIP_WHEELS.get(name, name)
    wanted = [f"'{pkg}{spec}'" for pkg, spec in pins.items() if pkg.startswith(f"nvidia-{wheel}-cu")]
    command = f"pip install {' '.join(wanted)}" if wanted else f"pip install 'tensorflow[and-cuda]=={tf}'"
    command += f"   (or: pip install 'tensorflow[and-cuda]=={tf}')" if wanted else ""
    package = PIP_DIRS.get(name, name)
    search = host.matrices.rules.library_search
    if search.reach(tf, "pip", package).reached:
        return command
    patch = search.patch_release_reaching_pip(tf, package)
    if patch is not None:
        return (
            f"pip install 'tensorflow[and-cuda]=={patch}' (the {tf} wheel does not search site-packages/nvidia/"
            f"{package}/lib; {patch}'s does)"
        )
    where = f'$(python -c "import nvidia.{package} as m; print(m.__path__[0])")/lib'
    unsearched = f"the {tf} wheel does not search site-packages/nvidia/{package}/lib"
    return f"{command}, then {ld_path_line(where, host)} ({unsearched})"


def _guide_fix(host: Host) -> str:
    """TF's own guide for the release (its CUDA/cuDNN steps, not its TF install), else NVIDIA's packages."""
    assert host.tf is not None and host.release is not None
    release = host.release
    cuda = f"{release.cuda.major}.{release.cuda.minor}"
    cudnn = f"{release.cudnn.major}.{release.cudnn.minor}"
    what = f"install CUDA {cuda} / cuDNN {cudnn} for {host.tf.name} {host.tf.version}"
    guide = host.matrices.rules.tf_platforms.install_guide(_guide_version(host))
    conda = _conda_fix(host)
    if guide is not None:
        steps = [s for s in (_without_tensorflow(step) for step in _steps(guide.command)) if s]
        fix = f"{what} as TensorFlow's guide for {guide.tensorflow} did: {' && '.join(steps)}"
        return f"{fix}; or, in a conda env: {conda}" if guide.method == "system" and conda else fix
    system = (
        f"NVIDIA's packages: sudo apt-get install cuda-{release.cuda.major}-{release.cuda.minor} "
        f"libcudnn{release.cudnn.major}"
    )
    return f"{what}: {system}" + (f"; or, in a conda env: {conda}" if conda else "")


def _conda_fix(host: Host) -> str:
    """conda-forge's cudatoolkit and cudnn, with the LD_LIBRARY_PATH line where the release no longer searches
    $CONDA_PREFIX/lib; "" for a CUDA conda-forge ships no cudatoolkit for."""
    assert host.tf is not None and host.release is not None
    release = host.release
    if release.cuda.major > _CONDA_TOOLKIT_MAX_MAJOR:
        return ""
    command = (
        f"conda install -c conda-forge cudatoolkit={release.cuda.major}.{release.cuda.minor} "
        f"cudnn={release.cudnn.major}.{release.cudnn.minor}"
    )
    search = host.matrices.rules.library_search
    if not search.reach(host.tf.version, "conda").reached:
        command += " && export LD_LIBRARY_PATH=$CONDA_PREFIX/lib:$LD_LIBRARY_PATH"
    return command


def _guide_version(host: Host) -> str:
    """The version an install guide is looked up by: the matrix row's release (a nightly is its series')."""
    assert host.tf is not None
    return str(host.release.version) if host.release is not None else host.tf.version


def _steps(command: str) -> list[str]:
    """A guide's shell command split at `&&` and `;` outside quotes (python -c "import a;print(b)" stays whole)."""
    steps, current, quote, i = [], "", "", 0
    while i < len(command):
        ch = command[i]
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif command.startswith("&&", i) or ch == ";":
            steps.append(current)
            current, i = "", i + (2 if ch == "&" else 1)
            continue
        current += ch
        i += 1
    return [s.strip() for s in (*steps, current) if s.strip()]


def _without_tensorflow(step: str) -> str:
    """A guide step without its TensorFlow install (TF is installed already) or a driver install (the driver
    layer judges the driver)."""
    if "nvidia-driver-" in step:
        return ""
    if "pip install" not in step:
        return step
    rest = _TF_TOKEN.sub("", step)
    return "" if rest.rstrip().endswith("pip install") else rest


def _norm(path: str) -> str:
    return posixpath.normpath(path) if path else path


def version_of(load: LibraryLoad) -> Version:
    assert load.version is not None
    return Version(load.version)
