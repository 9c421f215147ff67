"""Expectations: what this host should be, computed once from the profile, the matrices and the facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion

from gpuconform.expect.profiles import Profile
from gpuconform.facts.model import Facts
from gpuconform.facts.model import PackageInfo

if TYPE_CHECKING:
    from gpuconform.expect.lookups import DriverRequirement
    from gpuconform.expect.lookups import TfLookup
    from gpuconform.expect.matrix import Matrices
    from gpuconform.expect.tables.gpus import GpuModel
    from gpuconform.expect.tables.tensorflow import TfRelease


@dataclass(frozen=True)
class Expectations:
    """Everything the suites compare facts against."""

    profile: Profile
    tensorflow: PackageInfo | None  # the installed distribution, if any
    tf_lookup: TfLookup | None  # its matrix lookup
    driver_requirement: DriverRequirement | None  # implied by TF's CUDA
    gpu_model: GpuModel | None  # the profile's model, from gpus.toml
    notes: tuple[str, ...] = ()  # e.g. "TF 2.22 is newer than the matrix"
    # Whether the installed TF is a CUDA build, and what says so (see `cuda_build_of`); None: not judged.
    tf_cuda_build: bool | None = None
    tf_cuda_build_source: str = ""
    # Every TensorFlow distribution installed that owns the `tensorflow` import package, the one import
    # finds first first; a Windows shim and the build it pulls in count once (tf_platforms.toml).
    tf_distributions: tuple[PackageInfo, ...] = ()

    @property
    def tf_release(self) -> TfRelease | None:
        """The matrix row that applies to the installed TF (newest row for an unknown newer TF)."""
        return self.tf_lookup.release if self.tf_lookup else None

    @property
    def tf_is_gpu_build(self) -> bool:
        """Whether the installed TF distribution can use a GPU at all."""
        if self.tensorflow is None:
            return False
        if self.tf_cuda_build is not None:
            return self.tf_cuda_build
        return not canonicalize_name(self.tensorflow.name).endswith("-cpu")

    @property
    def shadowing(self) -> bool:
        """Two or more TensorFlow distributions share the `tensorflow` package: one shadows the other."""
        return len(self.tf_distributions) > 1


def cuda_build_of(facts: Facts, matrices: Matrices) -> tuple[bool | None, str]:
    """Whether the installed TF is a CUDA build, and the evidence: the package's own build_info.py where it
    was read (a conda build named like a CUDA one can say no), else the distribution's era
    (tf_platforms.toml: before 2.1 plain `tensorflow` is the CPU build), else its name (`-cpu`)."""
    tf = facts.packages.tensorflow
    if tf is None:
        return None, ""
    if facts.packages.tensorflow_is_cuda_build is not None:
        said = facts.packages.tensorflow_is_cuda_build
        return said, f"the package's build_info.py (is_cuda_build = {said})"
    try:
        by_era = matrices.rules.tf_platforms.is_cuda_build(tf.name, tf.version)
    except InvalidVersion:
        by_era = None
    if by_era is not None:
        kind = "a CUDA build" if by_era else "the CPU-only build"
        return by_era, f"{tf.name} {tf.version} is {kind} (matrices/tf_platforms.toml)"
    cpu = canonicalize_name(tf.name).endswith("-cpu")
    return not cpu, f"the distribution name {tf.name}"


def tf_distributions(facts: Facts, matrices: Matrices) -> tuple[PackageInfo, ...]:
    """The installed TF distributions that each own the `tensorflow` package (a shim and its build count once)."""
    first = facts.packages.tensorflow
    found = facts.packages.tensorflow_distributions or ((first,) if first else ())
    platforms = matrices.rules.tf_platforms
    kept: list[PackageInfo] = []
    for dist in found:
        try:
            same = any(platforms.one_install((k.name, k.version), (dist.name, dist.version)) for k in kept)
        except InvalidVersion:
            same = False
        if not same:
            kept.append(dist)
    return tuple(kept)


def build_expectations(profile: Profile, facts: Facts, matrices: Matrices) -> Expectations:
    """Compute the expectations of one run."""
    tf = facts.packages.tensorflow
    lookup = matrices.tf_build(tf.version, facts.packages.tensorflow_cuda_version, tf.name) if tf is not None else None
    notes = []
    if lookup is not None and lookup.warning:
        notes.append(lookup.warning)
    requirement = None
    if lookup is not None and lookup.release is not None:
        requirement = matrices.driver_requirement(lookup.release.cuda)
    model = None
    if profile.gpus.model:
        model = matrices.gpu_family(profile.gpus.model)
    cuda_build, cuda_source = cuda_build_of(facts, matrices)
    distributions = tf_distributions(facts, matrices)
    return Expectations(
        profile, tf, lookup, requirement, model, tuple(notes), cuda_build, cuda_source, distributions
    )
