"""Experiments: code that runs inside a JAX child process and returns JSON observations.

Each module here holds functions ``def name(jax) -> JSON-able`` run by
`gpuconform.frameworks.jax.experiments.child`, one child per batch.
"""
