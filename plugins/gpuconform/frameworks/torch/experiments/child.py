"""Entry point of a PyTorch child: run named experiments, print one JSON line per result.

    python -m gpuconform.frameworks.torch.experiments.child MODULE NAME [NAME ...]
    python -m gpuconform.frameworks.torch.experiments.child --zygote

See `gpuconform.frameworks.child_main`; the second form imports torch once and forks a child per batch.
"""

from __future__ import annotations

import sys

from gpuconform.frameworks.child_main import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:], "torch", __package__ or "gpuconform.frameworks.torch.experiments"))
