"""Which TensorFlow releases this host can run, predicted from the matrices and its facts.

Every release in `matrices/tensorflow.toml` gets the verdict it would get here (runs
natively, runs through minor-version compatibility, needs PTX JIT, unknown until the driver
is known, driver too old, GPU too old, GPU too new, Python outside range) and what to do to run it, so a team knows what
it can upgrade to before it tries; `tox -e tfXYZ[-gpu]` is how they confirm it.
The verdicts themselves are `Matrices.runnable_releases`, with one rule of
matrices/architectures.toml on top (`releases_for`): a release whose CUDA predates a GPU's
architecture cannot run it even where its PTX could be JIT-compiled, because that CUDA's
cuBLAS and cuDNN have no kernels for it (TF 2.3, CUDA 10.1, on an RTX 3090). This module
picks the facts to judge and turns the answers into a table and its fixes.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import replace

from packaging.version import Version

from gpuconform.expect.lookups import JIT_CACHE_HINT
from gpuconform.expect.lookups import VERDICTS
from gpuconform.expect.lookups import ReleaseVerdict
from gpuconform.expect.matrix import Matrices
from gpuconform.expect.profiles import Profile
from gpuconform.expect.tables.gpus import GpuModel
from gpuconform.expect.tables.reader import CC
from gpuconform.facts.model import Facts
from gpuconform.facts.unstated import driver_version_not_stated
from gpuconform.facts.versions import driver_branch
from gpuconform.facts.versions import format_cc
from gpuconform.facts.versions import parse_driver_version
from gpuconform.facts.versions import release_series

#: What a release gets on a GPU host whose driver version could not be read (not loaded, or garbage).
DRIVER_UNKNOWN = "unknown until the driver is known"
DRIVER_UNKNOWN_FIX = "load the NVIDIA driver (nvidia-smi must answer), then run gpuconform compat again"

#: Python minors to suggest from when a release's range excludes this host's.
_PYTHONS = tuple(f"3.{minor}" for minor in range(5, 16))


@dataclass(frozen=True)
class CompatRow:
    """One TensorFlow release and the verdict it would get on this host."""

    tensorflow: str  # "2.21.0"
    series: str  # "2.21"
    verdict: str  # one of matrix.VERDICTS
    runs: bool
    detail: str  # why, in full, from the matrices
    why: str  # why not (or with what caveat), in a few words; empty when it simply runs
    cuda: str
    cudnn: str
    python: str  # the release's Python range
    driver: str  # the driver it needs: ">= 525.60.13"
    installed: bool = False
    fix: str = ""  # how to get there; empty when nothing is needed
    prerelease: bool = False  # a release candidate's row: never offered as "the newest that runs"


@dataclass(frozen=True)
class CompatTable:
    """The prediction for every release, newest first, with what it was judged on."""

    basis: tuple[str, ...]  # the facts judged: "driver 470.82.01 (NVML)", ...
    notes: tuple[str, ...]  # what could not be judged, and why
    rows: tuple[CompatRow, ...]
    gpu: bool  # whether the profile expects GPUs (the tox envs to confirm with are -gpu ones)

    @property
    def newest_runnable(self) -> CompatRow | None:
        """The newest final release that runs here (a pre-release is listed, never recommended)."""
        return next((r for r in self.rows if r.runs and not r.prerelease), None)


def predict(facts: Facts, profile: Profile, matrices: Matrices) -> CompatTable:
    """Judge every TensorFlow release on this host's driver, GPUs and Python."""
    python = facts.platform.python_version
    basis = [f"Python {python} (the running interpreter)"]
    notes: list[str] = []
    driver: str | None = None
    gpus: dict[CC, GpuModel | None] = {}
    if not profile.expects_gpu:
        notes.append(f"profile {profile.name!r} expects no GPU: only the Python range is judged")
    else:
        nvml = facts.driver.nvml
        driver = nvml.driver_version or facts.driver.kernel_module_version
        if driver and not _readable_driver(driver):
            notes.append(f"the driver version {driver!r} cannot be read: the driver criterion was not judged")
            driver = None
        elif driver:
            where = "NVML" if nvml.driver_version else "/proc/driver/nvidia/version"
            basis.insert(0, f"driver {driver} ({where})")
        else:
            unstated = driver_version_not_stated(facts)
            notes.append(
                f"{unstated}: the driver criterion was not judged"
                if unstated
                else "the NVIDIA driver is not loaded: the driver criterion was not judged (see 'needs driver')"
            )
        gpus = _gpus(facts, matrices)
        for cc, model in gpus.items():
            basis.insert(-1, f"{model.name if model else 'GPU'}: compute capability {format_cc(cc)}")
        if not gpus:
            notes.append("no GPU's compute capability is known: kernel coverage was not judged")
    per_gpu = [releases_for(matrices, driver, cc, python) for cc in gpus] or [
        matrices.runnable_releases(driver, None, python)
    ]
    installed = facts.packages.tensorflow
    series = release_series(installed.version) if installed else None
    rows = []
    for answers in zip(*per_gpu):
        worst = max(answers, key=_badness)
        if profile.expects_gpu and driver is None and worst.runs:
            # Python and the GPU's kernels allow it, but whether the driver runs its CUDA is not known.
            unknown = f"the driver could not be read, so whether it runs CUDA {worst.release.cuda} is unknown"
            detail = f"{worst.detail}; {unknown}"
            worst = replace(worst, verdict="driver-unknown", detail=detail)
        rows.append(_row(worst, profile, gpus, matrices, series, driver))
    table_rows = tuple(rows)
    newest = next((r for r in table_rows if r.runs and not r.prerelease), None)
    rows_out = tuple(_fill_fallback(r, newest) for r in table_rows)
    return CompatTable(tuple(basis), tuple(notes), rows_out, profile.expects_gpu)


def releases_for(matrices: Matrices, driver: str | None, cc: CC, python: str | None) -> list[ReleaseVerdict]:
    """`Matrices.runnable_releases` for one GPU, newest first, with the architecture rule applied: PTX-only
    coverage from a CUDA older than the first toolkit for the GPU's architecture is "gpu-too-new"."""
    out = []
    for answer in matrices.runnable_releases(driver, cc, python):
        row = None
        if answer.coverage is not None and answer.coverage.kind == "ptx":
            row = matrices.rules.architectures.cuda_predates(answer.release.cuda, cc)
        if row is None:
            out.append(answer)
            continue
        problem = (
            f"CUDA {answer.release.cuda} of TF {answer.release.series} predates compute capability {format_cc(cc)} "
            f"({row.name}: first CUDA {row.min_cuda}): its cuBLAS and cuDNN have no kernels for this GPU"
        )
        problems = (*answer.problems, problem)
        verdict = "gpu-too-new" if answer.runs else answer.verdict
        out.append(replace(answer, verdict=verdict, detail="; ".join(problems), problems=problems))
    return out


def render_text(table: CompatTable) -> list[str]:
    """The table as terminal lines: one per release, then the newest release that runs."""
    lines = ["judged on: " + "; ".join(table.basis)]
    lines += [f"note: {n}" for n in table.notes]
    header = ("TF", "verdict", "needs driver", "CUDA", "cuDNN", "Python")
    cells = [header] + [
        (
            r.tensorflow + (" (pre-release)" if r.prerelease else "") + (" *" if r.installed else ""),
            r.verdict,
            r.driver,
            r.cuda,
            r.cudnn,
            r.python,
        )
        for r in table.rows
    ]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    for row, r in zip(cells, (None, *table.rows)):
        text = "  ".join(cell.ljust(w) for cell, w in zip(row, widths))
        why = "" if r is None or r.runs else r.why
        lines.append(f"{text}  {why}".rstrip())
    newest = table.newest_runnable
    if newest is None and any(r.verdict == "driver-unknown" for r in table.rows):
        lines.append(f"which release runs here is {DRIVER_UNKNOWN}: {DRIVER_UNKNOWN_FIX}")
    elif newest is None:
        lines.append("no TensorFlow release in the matrix runs on this host as it is")
    else:
        lines.append(f"newest release that runs here: {newest.tensorflow}" + (f": {newest.fix}" if newest.fix else ""))
        lines.append(f"confirm before you upgrade: {tox_env(newest.series, table.gpu)}")
    lines.append("(* installed)")
    return lines


def _readable_driver(text: str) -> bool:
    try:
        parse_driver_version(text)
    except ValueError:
        return False
    return True


def tox_env(series: str, gpu: bool) -> str:
    """The tox command that runs the suite under a release series (see tox.ini)."""
    return f"tox -e tf{series.replace('.', '')}" + ("-gpu" if gpu else "")


def _gpus(facts: Facts, matrices: Matrices) -> dict[CC, GpuModel | None]:
    """Each distinct compute capability on the host: from NVML, else from the PCI ids."""
    found: dict[CC, GpuModel | None] = {}
    for gpu in facts.driver.nvml.gpus:
        model = matrices.gpu_by_name(gpu.name)
        cc = gpu.compute_capability or (model.compute_capability if model else None)
        if cc is not None:
            found.setdefault(tuple(cc), model)  # type: ignore[arg-type]
    if not found:
        for dev in facts.driver.pci_devices:
            model = matrices.gpu_by_pci_id(dev.device_id) if dev.vendor_id == 0x10DE else None
            if model is not None:
                found.setdefault(model.compute_capability, model)
    return found


def _badness(answer: ReleaseVerdict) -> tuple[bool, int]:
    # A release that fails on any GPU fails on the host; among equals, the later verdict is worse.
    return (not answer.runs, VERDICTS.index(answer.verdict))


def _row(
    answer: ReleaseVerdict,
    profile: Profile,
    gpus: dict[CC, GpuModel | None],
    matrices: Matrices,
    installed: str | None,
    driver: str | None,
) -> CompatRow:
    release = answer.release
    req = answer.requirement
    needs = f">= {_driver_floor(answer)}" if req is not None and profile.expects_gpu else "-"
    is_installed = installed is not None and installed == release.series
    return CompatRow(
        tensorflow=str(release.version),
        series=release.series,
        verdict=answer.verdict,
        runs=answer.runs,
        detail=answer.detail,
        why=_why(answer, driver),
        cuda=str(release.cuda),
        cudnn=str(release.cudnn),
        python=str(release.python),
        driver=needs,
        installed=is_installed,
        fix=_fix(answer, profile, gpus, matrices, is_installed),
        prerelease=release.prerelease,
    )


def _driver_floor(answer: ReleaseVerdict) -> str:
    """The oldest driver that runs the release here."""
    req = answer.requirement
    assert req is not None
    # Minor-version compatibility does not cover PTX JIT: then the toolkit's own driver is the floor.
    jit = answer.coverage is not None and answer.coverage.kind == "ptx"
    return str(req.full if jit or req.minor_compat is None else req.minor_compat)


def _why(answer: ReleaseVerdict, driver: str | None) -> str:
    if answer.verdict == "driver-unknown":
        return DRIVER_UNKNOWN
    if answer.verdict == "runs-minor-compat" and answer.requirement is not None:
        return f"through CUDA minor-version compatibility (full support from driver {answer.requirement.full})"
    if answer.verdict == "needs-ptx-jit" and answer.coverage is not None:
        return f"kernels JIT-compiled from {answer.coverage.arch} PTX on first use (slow start)"
    if answer.runs:
        return ""
    if answer.verdict == "driver-too-old" and answer.requirement is not None and driver:
        floor = _driver_floor(answer)
        return f"driver {driver} is R{driver_branch(driver)}; needs {floor} or newer (R{driver_branch(floor)}+)"
    return answer.problems[0] if answer.problems else answer.detail


def _fix(
    answer: ReleaseVerdict, profile: Profile, gpus: dict[CC, GpuModel | None], matrices: Matrices, installed: bool
) -> str:
    release = answer.release
    if answer.verdict == "driver-unknown":
        return DRIVER_UNKNOWN_FIX
    if answer.verdict == "python-outside-range":
        fitting = [p for p in _PYTHONS if release.python.contains(Version(p), prereleases=True)]
        return f"use a Python in {release.python}" + (f", e.g. python{fitting[-1]} -m venv .venv" if fitting else "")
    if answer.verdict == "driver-too-old" and answer.requirement is not None:
        full = answer.requirement.full
        want = driver_branch(_driver_floor(answer))
        capped = [m for m in gpus.values() if m is not None and m.last_driver_branch and m.last_driver_branch < want]
        if capped:
            m = capped[0]
            return (
                f"no driver runs it on this GPU: R{m.last_driver_branch} is the last branch for {m.architecture} "
                f"({m.name}) and CUDA {release.cuda} needs R{want}+"
            )
        return f"sudo apt install nvidia-driver-{driver_branch(full)} (driver >= {full}), then reboot"
    if answer.verdict == "gpu-too-old":
        return f"TensorFlow {release.series} has no kernels for this GPU"  # the newest runnable is added later
    if answer.verdict == "gpu-too-new":
        return f"TensorFlow {release.series} is built with CUDA {release.cuda}, which predates this GPU"
    if installed:
        return ""
    # A pre-release matches only an exact pin (or --pre): "==2.22.*" would not install 2.22.0rc0.
    pin = f"=={release.version}" if release.prerelease else f"=={release.series}.*"
    tf = f"{release.package}{pin}"
    if profile.expects_gpu and matrices.and_cuda_pins(str(release.version)):
        tf = f"tensorflow[and-cuda]{pin}"
    elif not profile.expects_gpu and release.version >= Version("2.1"):
        tf = f"tensorflow-cpu{pin}"
    command = f"pip install '{tf}'"
    if profile.expects_gpu and not matrices.and_cuda_pins(str(release.version)):
        command += f" with CUDA {release.cuda} and cuDNN {release.cudnn} installed"
    if answer.verdict == "needs-ptx-jit":
        command += f"; {JIT_CACHE_HINT}"
    return command


def _fill_fallback(row: CompatRow, newest: CompatRow | None) -> CompatRow:
    """Point a release that cannot run here at the newest one that can."""
    if row.runs or newest is None or row.verdict == "python-outside-range":
        return row
    return replace(row, fix=f"{row.fix}; or stay on TensorFlow {newest.tensorflow}, the newest that runs here")
