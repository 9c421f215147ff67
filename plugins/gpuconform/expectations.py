"""Expectations: what this host should be, computed once from the profile, the matrices and the facts."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from gpuconform.facts import Facts
from gpuconform.facts import PackageInfo
from gpuconform.profiles import Profile

if TYPE_CHECKING:
    from gpuconform.matrix import DriverRequirement
    from gpuconform.matrix import GpuModel
    from gpuconform.matrix import Matrices
    from gpuconform.matrix import TfLookup
    from gpuconform.matrix import TfRelease


@dataclass(frozen=True)
class Expectations:
    """Everything the suites compare facts against."""

    profile: Profile
    tensorflow: PackageInfo | None  # the installed distribution, if any
    tf_lookup: TfLookup | None  # its matrix lookup
    driver_requirement: DriverRequirement | None  # implied by TF's CUDA
    gpu_model: GpuModel | None  # the profile's model, from gpus.toml
    notes: tuple[str, ...] = ()  # e.g. "TF 2.22 is newer than the matrix"

    @property
    def tf_release(self) -> TfRelease | None:
        """The matrix row that applies to the installed TF (newest row for an unknown newer TF)."""
        return self.tf_lookup.release if self.tf_lookup else None

    @property
    def tf_is_gpu_build(self) -> bool:
        """Whether the installed TF distribution can use a GPU at all."""
        return self.tensorflow is not None and self.tensorflow.name != "tensorflow-cpu"


def build_expectations(profile: Profile, facts: Facts, matrices: Matrices) -> Expectations:
    """Compute the expectations of one run."""
    tf = facts.packages.tensorflow
    lookup = matrices.tf_release(tf.version) if tf is not None else None
    notes = []
    if lookup is not None and lookup.warning:
        notes.append(lookup.warning)
    requirement = None
    if lookup is not None and lookup.release is not None:
        requirement = matrices.driver_requirement(lookup.release.cuda)
    model = None
    if profile.gpus.model:
        model = matrices.gpu_family(profile.gpus.model)
    return Expectations(profile, tf, lookup, requirement, model, tuple(notes))
