"""Experiments: code that runs inside a Keras 3 child process, under one backend, and returns JSON observations.

Each module here holds functions ``def name(keras) -> JSON-able`` run by
`gpuconform.frameworks.keras.experiments.child`, one child per batch; the backend is the
child's `KERAS_BACKEND`, set before keras imports.
"""
