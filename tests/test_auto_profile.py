"""`auto` picks the built-in for the GPUs found, and requires what is installed."""

from __future__ import annotations

from pathlib import Path

from gpuconform.expect.loading import load_matrices
from gpuconform.expect.profiles import Profile
from gpuconform.expect.profiles import auto_profile
from gpuconform.probes.described import expand
from gpuconform.probes.described import load_description

MATRICES = load_matrices()
T4 = '[[gpu]]\nmodel = "t4"\n[driver]\nversion = "550.54.15"\n'


def _auto(tmp_path: Path, text: str) -> Profile:
    (tmp_path / "host.toml").write_text(text)
    return auto_profile(expand(load_description(tmp_path / "host.toml"), MATRICES), MATRICES)


def test_a_gpu_host_with_tensorflow_gets_the_gpus_profile_requiring_tensorflow(tmp_path: Path) -> None:
    profile = _auto(tmp_path, T4 + '[tensorflow]\nversion = "2.21.0"\n')
    assert profile.name == "t4" and profile.tensorflow.required


def test_a_gpu_host_without_tensorflow_is_judged_on_its_gpus_and_driver(tmp_path: Path) -> None:
    # A CUDA container running other code: a missing TensorFlow is not this host's problem.
    profile = _auto(tmp_path, T4)
    assert profile.name == "t4"
    assert not profile.tensorflow.required
    assert "TensorFlow is not installed, so not required" in profile.chosen_by
