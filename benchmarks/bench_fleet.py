"""Time `gpuconform fleet merge` on generated results of a large fleet.

    python benchmarks/bench_fleet.py [--hosts 10000] [--repeat 3] [--budget 10]

Generates --hosts result.json files (tests/fleetgen.py: each as large as a real run's,
every stable check id and the compatibility table; 14% of hosts fail in seven ways) into a
temporary directory, then runs the real command, `python -m gpuconform fleet merge DIR
-o OUT`, --repeat times in fresh interpreters (the first run reads a warm page cache
too: generating the files just wrote them). Prints each wall time and the median, and
exits 1 when the median is over --budget seconds.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--budget", type=float, default=10.0, help="seconds the median may take")
    args = parser.parse_args()

    from tests.fleetgen import generate

    work = Path(tempfile.mkdtemp(prefix="gpuconform-bench-fleet-"))
    try:
        started = time.perf_counter()
        paths = generate(work / "results", args.hosts)
        size = sum(p.stat().st_size for p in paths)
        print(f"generated {len(paths)} results ({size / 2**20:.0f} MiB) in {time.perf_counter() - started:.1f} s")
        times = []
        for n in range(args.repeat):
            out = work / f"fleet-{n}"
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "gpuconform", "fleet", "merge", str(work / "results"), "-o", str(out)],
                capture_output=True,
                text=True,
                check=False,
            )
            times.append(time.perf_counter() - started)
            merged = json.loads((out / "fleet.json").read_text())
            assert merged["totals"]["hosts"] == args.hosts, proc.stderr[-2000:]
            print(f"run {n + 1}: {times[-1]:.2f} s  ({proc.stdout.strip().splitlines()[-1]})")
        median = statistics.median(times)
        print(f"fleet merge of {args.hosts} hosts: median {median:.2f} s (budget {args.budget:.0f} s)")
        return 0 if median <= args.budget else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
