"""Experiments: code that runs inside a PyTorch child process and returns JSON observations.

Each module here holds functions ``def name(torch) -> JSON-able`` run by
`gpuconform.frameworks.torch.experiments.child`, one child per batch.
"""
