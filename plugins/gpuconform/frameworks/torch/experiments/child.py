"""Entry point of a PyTorch child: run named experiments, print one JSON line per result.

    python -m gpuconform.frameworks.torch.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.torch.experiments.child --zygote

See `gpuconform.frameworks.child_main`; the second form imports torch once and forks a child per batch.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from typing import Any

from gpuconform.frameworks.child_main import main


def warm(torch: Any) -> None:
    """What a zygote of a CPU-only build imports for its children: `torch._inductor.config`, which
    `torch.use_deterministic_algorithms` imports (with torch._dynamo, about 1 s of CPU) in each
    determinism child. A CUDA or ROCm build's zygote imports torch alone: nothing may initialise
    the GPU before a fork, and what torch._inductor imports was not checked on one."""
    if getattr(torch.version, "cuda", None) is None and getattr(torch.version, "hip", None) is None:
        with contextlib.suppress(Exception):  # a child that needs it meets the same failure itself
            importlib.import_module("torch._inductor.config")


if __name__ == "__main__":
    package = __package__ or "gpuconform.frameworks.torch.experiments"
    raise SystemExit(main(sys.argv[1:], "torch", package, warm=warm))
