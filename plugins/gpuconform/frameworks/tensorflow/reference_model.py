"""The reference model of the determinism layer as TensorFlow's checks use it: its children's experiments, tolerances.

The manifest, the goldens and how outputs are compared are every framework's
(`gpuconform.frameworks.reference`, re-exported here); the arrays are read only in the
TensorFlow child (`gpuconform.frameworks.tensorflow.experiments.determinism`). The goldens
were recorded on the CPU with TF_ENABLE_ONEDNN_OPTS=0 by `tools/make_reference_model.py`.
"""

from __future__ import annotations

from collections.abc import Sequence

from gpuconform.frameworks.reference import ENV_VAR
from gpuconform.frameworks.reference import FORMAT
from gpuconform.frameworks.reference import MANIFEST
from gpuconform.frameworks.reference import ArraySpec
from gpuconform.frameworks.reference import Mismatch
from gpuconform.frameworks.reference import Recording
from gpuconform.frameworks.reference import ReferenceModel
from gpuconform.frameworks.reference import Tolerance
from gpuconform.frameworks.reference import load_reference
from gpuconform.frameworks.reference import max_abs_diff
from gpuconform.frameworks.reference import mismatch
from gpuconform.frameworks.reference import reference_dir

__all__ = [
    "ENV_VAR",
    "FORMAT",
    "MANIFEST",
    "ArraySpec",
    "Mismatch",
    "Recording",
    "ReferenceModel",
    "Tolerance",
    "load_reference",
    "max_abs_diff",
    "mismatch",
    "reference_dir",
]

#: The experiments of `gpuconform.frameworks.tensorflow.experiments.determinism` the first child runs; the unseeded
#: random op goes first, before anything could set a seed.
FIRST_CHILD = (
    "unseeded_random_op",
    "environment",
    "repeat",
    "golden_cpu",
    "batch_invariance",
    "savedmodel_round_trip",
    "keras_round_trip",
    "edge_inputs",
    "wrong_shapes",
    "gpu_golden",
    "gpu_nondeterministic_op",
)
#: The second child's: just enough to compare its outputs with the first's, bit for bit.
SECOND_CHILD = ("environment", "golden_cpu")
NAN_ROW = 2  # the sample the edge-input experiment fills with NaNs
WRONG_SHAPES = {"spatial": (1, 13, 13, 3), "channels": (1, 12, 12, 1), "no_batch": (12, 12, 3)}


#: Golden outputs on the CPU, any release in the tox sweep (the outputs are probabilities in [0, 1]).
CPU = Tolerance(
    1e-5,
    1e-6,
    "fp32 on the CPU: with oneDNN off 2.12 to 2.21 reproduced the 2.21 goldens bit for bit on x86-64, and "
    "other CPUs may take other Eigen kernels (AVX2, AVX-512, Arm), which sum in another order; with oneDNN "
    "on (an AMX CPU, 2.21) the outputs were 6e-8 from them, 2 units in the last place",
)
#: A sample alone against the same sample in the batch, in one process.
BATCH = Tolerance(
    1e-5,
    1e-6,
    "not bitwise: Eigen's matrix multiply blocks the work by batch size, so sums are ordered differently",
)
#: Golden outputs on a GPU computing in full fp32 (TF32 off, or a GPU older than compute capability 8.0).
GPU = Tolerance(1e-4, 1e-5, "fp32 on a GPU: cuDNN and cuBLAS pick other algorithms and summation orders than the CPU")
#: Golden outputs on a GPU with TF32 on (TensorFlow's default since 2.4, effective from compute capability 8.0).
GPU_TF32 = Tolerance(
    1e-2,
    2e-3,
    "TF32 rounds the inputs of convolutions and matrix multiplies to a 10-bit mantissa "
    "(relative error about 1e-3 per product); tf.config.experimental.enable_tensor_float_32_execution(False) "
    "gives full fp32",
)
TF32_MIN_CC = (8, 0)


def gpu_tolerance(tf32_enabled: bool, compute_capability: Sequence[int]) -> Tolerance:
    """The golden tolerance for a GPU: TF32's only where it is on and the GPU has TF32 tensor cores."""
    return GPU_TF32 if tf32_enabled and tuple(compute_capability) >= TF32_MIN_CC else GPU


