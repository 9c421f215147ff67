"""Root conftest: deliberately thin.

The plugin is installed (entry point `gpuconform`), not loaded from here; the
checks live in suites/, the project's own tests in tests/ (`pytest tests`).
"""
