"""Host profiles: what a host is supposed to be (GPUs, driver, frameworks), as TOML data.

A profile is a built-in name (`matrices/profiles/<name>.toml`), a path to a TOML
file of the same shape, or `auto`, which reads the host's PCI devices and NVML
names and picks the built-in that matches (or `cpu` when there is no NVIDIA GPU).
Its `[frameworks]` table (gpuconform.expect.framework_needs) names the frameworks the host
must run; a profile without one means TensorFlow, as `[tensorflow]` says.
"""

from __future__ import annotations

import importlib.resources
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from packaging.specifiers import InvalidSpecifier
from packaging.specifiers import SpecifierSet

from gpuconform.expect.framework_needs import ANY
from gpuconform.expect.framework_needs import AUTO
from gpuconform.expect.framework_needs import FRAMEWORKS
from gpuconform.expect.framework_needs import FrameworkNeed
from gpuconform.expect.framework_needs import FrameworkTable
from gpuconform.expect.framework_needs import framework_needs
from gpuconform.expect.framework_needs import parse_frameworks
from gpuconform.facts import serde
from gpuconform.facts.errors import DataError
from gpuconform.facts.errors import did_you_mean
from gpuconform.facts.errors import join_choices
from gpuconform.facts.tomlio import read_toml

if TYPE_CHECKING:
    from gpuconform.expect.matrix import Matrices
    from gpuconform.facts.model import Facts
    from gpuconform.facts.model import PackagesFacts

#: More GPUs than this in one host is a typo, not a host.
MAX_GPUS = 64

TF_PACKAGES = FRAMEWORKS["tensorflow"]


@dataclass(frozen=True)
class GpuExpectation:
    """The GPUs a host must have."""

    count: int = 0
    model: str | None = None  # a key of matrices/gpus.toml ("t4"); any model when None
    compute_capability: str | None = None  # "7.5"; defaults to the model's
    min_memory_mib: int | None = None  # per GPU, as NVML reports it
    min_pcie_gen: int | None = None
    min_pcie_width: int | None = None
    persistence_mode: bool | None = None  # required state, or None for "report only"
    ecc: bool | None = None


@dataclass(frozen=True)
class TensorflowExpectation:
    """Constraints on the installed TensorFlow."""

    required: bool = True
    version: str | None = None  # a PEP 440 specifier, e.g. ">=2.16,<2.22"
    gpu_build: bool | None = None  # True: tensorflow-cpu is a failure; None: from the GPU count


@dataclass(frozen=True)
class DriverExpectation:
    """Constraints on the NVIDIA driver beyond what TF's CUDA implies."""

    min_version: str | None = None  # "535.104.05"
    max_version: str | None = None  # exclusive upper bound, e.g. to stay on a branch


@dataclass(frozen=True)
class ApplicationExpectation:
    """What the application on this host relies on: turns the matching known regressions of
    matrices/keras_preprocessing.toml (their `requirement` key) from expected failures into failures."""

    file_like_uploads: bool = False  # uploads reach load_img as file-like objects (FileStorage, BytesIO)
    image_data_generator: bool = False  # the code imports and uses ImageDataGenerator


@dataclass(frozen=True)
class Profile:
    """A host profile."""

    name: str
    description: str
    gpus: GpuExpectation = field(default_factory=GpuExpectation)
    tensorflow: TensorflowExpectation = field(default_factory=TensorflowExpectation)
    driver: DriverExpectation = field(default_factory=DriverExpectation)
    application: ApplicationExpectation = field(default_factory=ApplicationExpectation)
    source: str = ""  # the file it came from (filled by the loader, not read from TOML)
    chosen_by: str = ""  # for `auto`: why this profile was picked
    # The frameworks the host must run, resolved: the [frameworks] table, or without one
    # TensorFlow as [tensorflow] says (its version, "*" for any) when it is required. Any other
    # framework installed is checked too, its failures as warnings (expect.framework_needs).
    frameworks: FrameworkTable = (("tensorflow", ANY),)

    @property
    def expects_gpu(self) -> bool:
        """Whether this host is supposed to have at least one GPU."""
        return self.gpus.count > 0

    def framework_needs(self, packages: PackagesFacts) -> tuple[FrameworkNeed, ...]:
        """The frameworks this host's checks look at: required ones, and installed optional ones."""
        return framework_needs(self.frameworks, packages, self.source or self.name)


@dataclass(frozen=True)
class _ProfileFile:
    """The TOML shape of a profile file (`profile` holds name and description)."""

    profile: _Header
    gpus: GpuExpectation = field(default_factory=GpuExpectation)
    tensorflow: TensorflowExpectation = field(default_factory=TensorflowExpectation)
    driver: DriverExpectation = field(default_factory=DriverExpectation)
    application: ApplicationExpectation = field(default_factory=ApplicationExpectation)


@dataclass(frozen=True)
class _Header:
    name: str
    description: str


def builtin_dir() -> Path:
    """The directory of the built-in profiles (inside the installed package)."""
    return Path(str(importlib.resources.files("gpuconform.matrices") / "profiles"))


def builtin_names() -> list[str]:
    """The names of the built-in profiles, plus `auto`."""
    return sorted([p.stem for p in builtin_dir().glob("*.toml")] + ["auto"])


#: What `auto` does, as the list of profiles shows it (it has no file to hold a description).
AUTO_DESCRIPTION = "pick the built-in matching this host's GPUs, or 'cpu' without an NVIDIA GPU (the default)"

def builtin_listing(matrices: Matrices) -> list[str]:
    """One line per built-in profile, `name  description`: what `--host-profile list` and
    `gpuconform profiles` print."""
    names = builtin_names()
    width = max(len(n) for n in names)
    lines = []
    for name in names:
        path = builtin_dir() / f"{name}.toml"
        text = AUTO_DESCRIPTION if name == "auto" else load_profile(path, matrices).description
        lines.append(f"{name.ljust(width)}  {text}")
    return lines


def builtin_name(spec: str) -> str | None:
    """The built-in profile (or `auto`) that `spec` names, ignoring case ("T4" is t4); None when none."""
    key = spec.strip().lower()
    return key if key in builtin_names() else None


def load_profile(path: Path, matrices: Matrices) -> Profile:
    """Load and validate a profile file; any problem is a DataError naming file and key."""
    data = dict(read_toml(path))
    table = parse_frameworks(data.pop("frameworks"), str(path)) if "frameworks" in data else None
    raw = serde.load(_ProfileFile, data, str(path))
    tensorflow = _tensorflow_of(raw.tensorflow, table, data.get("tensorflow", {}), str(path))
    profile = Profile(
        name=raw.profile.name,
        description=raw.profile.description,
        gpus=raw.gpus,
        tensorflow=tensorflow,
        driver=raw.driver,
        application=raw.application,
        source=str(path),
        frameworks=table if table is not None else _legacy_frameworks(tensorflow),
    )
    _validate(profile, str(path), matrices)
    return profile


def _legacy_frameworks(tensorflow: TensorflowExpectation) -> FrameworkTable:
    """A profile without [frameworks]: TensorFlow when [tensorflow] requires it, as before."""
    return (("tensorflow", tensorflow.version or ANY),) if tensorflow.required else ()


def _tensorflow_of(
    tf: TensorflowExpectation, table: FrameworkTable | None, written: dict[str, object], source: str
) -> TensorflowExpectation:
    """[tensorflow] as the TensorFlow checks read it, made to agree with a [frameworks] table."""
    if table is None:
        return tf
    spec = dict(table).get("tensorflow")
    if written.get("required") is True and spec in (None, AUTO):
        raise DataError(
            source,
            "tensorflow.required",
            "is true, but [frameworks] does not require TensorFlow" + (" (it says 'auto')" if spec else ""),
            "tensorflow = '*' (or a specifier) in [frameworks], or tensorflow.required removed",
        )
    if spec in (None, AUTO, ANY):
        return replace(tf, required=spec == ANY)
    if tf.version is not None and SpecifierSet(tf.version) != SpecifierSet(spec):
        raise DataError(
            source,
            "frameworks.tensorflow",
            f"{spec!r} differs from tensorflow.version {tf.version!r}",
            "the TensorFlow version in one of the two places",
        )
    return replace(tf, required=True, version=spec)


def resolve_profile(
    spec: str, facts: Facts, matrices: Matrices, base: Path, source: str = "option --host-profile"
) -> Profile:
    """Turn `--host-profile` into a Profile: a built-in name (in any case), a path, or `auto`.

    `source` is where the value came from, as error messages name it.
    """
    candidate = base / spec
    looks_like_path = "/" in spec or spec.endswith(".toml")
    names = builtin_names()
    # A path is taken as written; a file named like a built-in but for case ("T4") is the user's own.
    name = None if looks_like_path or (spec not in names and candidate.is_file()) else builtin_name(spec)
    if name == "auto":
        return auto_profile(facts, matrices)
    if name is not None:
        return load_profile(builtin_dir() / f"{name}.toml", matrices)
    if looks_like_path or candidate.is_file():
        return load_profile(candidate, matrices)
    raise DataError(
        source,
        "",
        f"unknown profile {spec!r}{did_you_mean(spec.lower(), names)}",
        f"a path to a TOML file or one of the built-ins: {join_choices(names)} (--host-profile list describes them)",
    )


def auto_profile(facts: Facts, matrices: Matrices) -> Profile:
    """Pick the built-in matching the host's GPUs (PCI ids first: they need no driver).

    `auto` requires what is installed: on a host without TensorFlow (a CUDA container running
    other code, a bare node) a missing TensorFlow is not the host's problem, and the checks
    judge the GPU, driver and libraries it does have.
    """
    profile = _auto_profile(facts, matrices)
    profile = replace(profile, frameworks=tuple((name, AUTO) for name in FRAMEWORKS))
    if facts.packages.tensorflow is None and profile.tensorflow.required:
        profile = replace(profile, tensorflow=replace(profile.tensorflow, required=False))
        profile = replace(profile, chosen_by=f"{profile.chosen_by}; TensorFlow is not installed, so not required")
    return profile


def _auto_profile(facts: Facts, matrices: Matrices) -> Profile:
    pci = [d for d in facts.driver.pci_devices if d.vendor_id == 0x10DE]
    nvml_gpus = facts.driver.nvml.gpus
    count = max(len(pci), len(nvml_gpus))
    cpu = load_profile(builtin_dir() / "cpu.toml", matrices)
    if count == 0:
        return replace(cpu, chosen_by="auto: no NVIDIA GPU on the PCI bus or in NVML")
    models = [matrices.gpu_by_pci_id(d.device_id) for d in pci]
    models += [matrices.gpu_by_name(g.name) for g in nvml_gpus]
    model = next((m for m in models if m is not None), None)
    seen = ", ".join([f"PCI {d.address} device 0x{d.device_id:04x}" for d in pci] + [g.name for g in nvml_gpus])
    if model is not None:
        for name in builtin_names():
            if name == "auto":
                continue
            profile = load_profile(builtin_dir() / f"{name}.toml", matrices)
            if profile.gpus.model and model.answers_to(profile.gpus.model):
                gpus = replace(profile.gpus, count=count)
                return replace(profile, gpus=gpus, chosen_by=f"auto: {count} GPU(s) found ({seen})")
    # An NVIDIA GPU no built-in describes: still a GPU host, so GPU checks apply.
    gpus = GpuExpectation(
        count=count,
        model=model.key if model else None,
        compute_capability=model.compute_capability_text if model else None,
    )
    label = model.names[0] if model else "unknown NVIDIA GPU"
    return Profile(
        name=f"auto-{model.key if model else 'nvidia'}",
        description=f"{count} x {label} (no built-in profile matches; generic GPU profile)",
        gpus=gpus,
        chosen_by=f"auto: {count} GPU(s) found ({seen}), no built-in profile for this model",
        source="auto",
    )


def _validate(profile: Profile, source: str, matrices: Matrices) -> None:
    gpus = profile.gpus
    if not 0 <= gpus.count <= MAX_GPUS:
        raise DataError(source, "gpus.count", f"{gpus.count} is out of range", f"0 to {MAX_GPUS}")
    if gpus.model is not None:
        keys = matrices.gpu_keys()
        families = sorted({k.split("-")[0] for k in keys})
        if gpus.model not in keys and gpus.model not in families:
            raise DataError(
                source,
                "gpus.model",
                f"unknown GPU model {gpus.model!r}{did_you_mean(gpus.model, keys + families)}",
                "a key of matrices/gpus.toml: " + join_choices(keys),
            )
    if gpus.compute_capability is not None:
        from gpuconform.facts.versions import parse_cc

        try:
            parse_cc(gpus.compute_capability)
        except ValueError:
            raise DataError(
                source,
                "gpus.compute_capability",
                f"{gpus.compute_capability!r} is not a compute capability",
                "'X.Y', e.g. '7.5'",
            ) from None
    for key, value, upper in (
        ("gpus.min_memory_mib", gpus.min_memory_mib, 4 * 1024 * 1024),
        ("gpus.min_pcie_gen", gpus.min_pcie_gen, 7),
        ("gpus.min_pcie_width", gpus.min_pcie_width, 32),
    ):
        if value is not None and not 0 < value <= upper:
            raise DataError(source, key, f"{value} is out of range", f"1 to {upper}")
    if profile.tensorflow.version is not None:
        try:
            SpecifierSet(profile.tensorflow.version)
        except InvalidSpecifier:
            raise DataError(
                source,
                "tensorflow.version",
                f"{profile.tensorflow.version!r} is not a version specifier",
                "a PEP 440 specifier such as '>=2.16,<2.22'",
            ) from None
    from gpuconform.facts.versions import parse_driver_version

    for key, text in (
        ("driver.min_version", profile.driver.min_version),
        ("driver.max_version", profile.driver.max_version),
    ):
        if text is not None:
            try:
                parse_driver_version(text)
            except ValueError:
                raise DataError(source, key, f"{text!r} is not a driver version", "e.g. '535.104.05'") from None
    low, high = profile.driver.min_version, profile.driver.max_version
    if low is not None and high is not None and parse_driver_version(low) >= parse_driver_version(high):
        raise DataError(
            source,
            "driver.min_version",
            f"{low!r} is not below driver.max_version {high!r} (an exclusive bound): no driver satisfies both",
            "a min_version lower than max_version, or one of them removed",
        )
