"""Experiments: code that runs inside a TensorFlow child process and returns JSON observations.

Each module here holds functions ``def name(tf) -> JSON-able`` run by
`gpuconform.frameworks.tensorflow.experiments.child`, one child per batch (TensorFlow's device
configuration is one-shot per process, so experiments that configure devices
differently run in different children). The parent side is `gpuconform.frameworks.children`.
"""
