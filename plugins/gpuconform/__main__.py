"""`python -m gpuconform`: the command line (`gpuconform.cli`)."""

from __future__ import annotations

import sys

from gpuconform.cli import main

sys.exit(main())
