"""Whose sonames the libraries probe looks for: the installed TensorFlow's build (its matrix row, or NVIDIA's
release of nvidia-tensorflow), with the line that says so."""

from __future__ import annotations

from packaging.version import Version

from gpuconform.expect.matrix import Matrices


def library_basis(
    name: str, version: str, built_cuda: str | None, matrices: Matrices
) -> tuple[Version | None, int | None, str]:
    """(CUDA, cuDNN major, basis) of an installed CUDA build of TensorFlow; (None, None, why) where no row says."""
    release = matrices.tf_build(version, built_cuda, name).release
    if release is not None:
        built = f"built with CUDA {release.cuda}, cuDNN {release.cudnn_major}"
        return release.cuda, release.cudnn_major, f"{name} {version} ({built})"
    nvidia = matrices.rules.nvidia_tensorflow.build(name, version)
    if nvidia is not None and nvidia.cuda is not None and nvidia.cudnn is not None:
        return nvidia.cuda, nvidia.cudnn.major, f"{name} {version} ({nvidia.built_with()})"
    return None, None, f"{name} {version} is not in the matrix: the sonames of the newest families"
