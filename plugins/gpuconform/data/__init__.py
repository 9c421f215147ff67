"""Data shipped with gpuconform: the determinism layer's reference model (`reference_model.json` and `.bin`).

Regenerate with `tools/make_reference_model.py`; read by `gpuconform.frameworks.tensorflow.reference_model`
(the manifest and goldens) and `gpuconform.frameworks.tensorflow.experiments.determinism` (the arrays).
"""
