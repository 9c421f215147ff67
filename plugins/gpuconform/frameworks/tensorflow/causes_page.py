"""docs/no-gpu-causes.md, generated from the causes `diagnose` weighs (a module of its own, so that it runs
with ``python -m`` without the framework's face having imported it first).

    python -m gpuconform.frameworks.tensorflow.causes_page > docs/no-gpu-causes.md
"""

from __future__ import annotations

import sys

from gpuconform.frameworks.tensorflow.diagnose import CAUSES


def catalogue() -> str:
    """docs/no-gpu-causes.md: every cause, in the order `diagnose` weighs them."""
    lines = [
        "# nvidia-smi works but TensorFlow sees no GPU: the causes",
        "",
        "Generated from `gpuconform.frameworks.tensorflow.diagnose.CAUSES`",
        "(`python -m gpuconform.frameworks.tensorflow.causes_page > docs/no-gpu-causes.md`).",
        "When TensorFlow lists fewer GPUs than NVML, `framework::tensorflow_sees_the_expected_gpus` names the",
        "first of these causes that the facts and TensorFlow's own log support, in this order (the order in",
        "which they stop TensorFlow), with the fix for that host; the last one says how to get TensorFlow's",
        "own account. Each cause is shown by a test (`tests/test_no_gpu_causes.py`).",
        "",
        "| # | cause | shown by | fix |",
        "|---|---|---|---|",
    ]
    for i, c in enumerate(CAUSES, 1):
        lines.append(f"| {i} | **{c.title}** (`{c.key}`) | {_cell(c.evidence)} | {_cell(c.fix)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


if __name__ == "__main__":
    sys.stdout.write(catalogue())
