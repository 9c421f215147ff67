"""Time the TensorFlow layers (framework, placement, memory) against a bare ``import tensorflow``.

    python benchmarks/bench_tf_layers.py [--repeat 3] [--profile cpu] [--workers 2]

Runs, interleaved so that load affects all alike:
- `import tensorflow` in a fresh interpreter (the reference: each layer's child pays it once);
- `pytest suites -m <layer>` for each layer alone;
- the three layers together, serially and with `-n WORKERS` (pytest-xdist).
Reports the median wall time of each (interpreter start, probing and reports
included), the ratio to the reference, and, for the combined serial run, the time
the checks of each layer took (the durations in reports/result.json).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LAYERS = ("framework", "placement", "memory")


def timed(argv: list[str], cwd: Path) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def layer_seconds(result: Path) -> dict[str, float]:
    """Seconds spent in each layer's checks (setup, call and teardown), from result.json."""
    totals: dict[str, float] = defaultdict(float)
    for check in json.loads(result.read_text())["checks"]:
        totals[check["layer"]] += float(check.get("duration") or 0.0)
    return dict(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--profile", default="cpu", help="--host-profile for the runs (default: cpu)")
    parser.add_argument("--workers", default="2", help="-n for the xdist run (default: 2)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="gpuconform-bench-tf-"))
    suite = [sys.executable, "-m", "pytest", str(REPO / "suites"), "-q", "-p", "no:cacheprovider"]
    suite += ["--host-profile", args.profile]
    everything = " or ".join(LAYERS)
    runs: dict[str, list[float]] = defaultdict(list)
    in_checks: dict[str, list[float]] = defaultdict(list)
    for _ in range(args.repeat):
        runs["import tensorflow"].append(timed([sys.executable, "-c", "import tensorflow"], work))
        for layer in LAYERS:
            runs[f"-m {layer}"].append(timed([*suite, "-m", layer, "--host-reports", "off"], work))
        runs["all three, serial"].append(timed([*suite, "-m", everything, "--host-reports", "serial"], work))
        for layer, seconds in layer_seconds(work / "serial" / "result.json").items():
            in_checks[layer].append(seconds)
        runs[f"all three, -n {args.workers}"].append(
            timed([*suite, "-m", everything, "-n", args.workers, "--host-reports", "off"], work)
        )
    reference = statistics.median(runs["import tensorflow"])
    print(f"profile {args.profile}; {args.repeat} run(s) each; wall time including interpreter start and probing")
    print(f"{'what':<26} {'median s':>9} {'ratio':>7}")
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"{name:<26} {median:>9.2f} {median / reference:>6.2f}x")
    print("time in each layer's checks (the serial run of all three):")
    for layer in LAYERS:
        print(f"  {layer:<24} {statistics.median(in_checks.get(layer) or [0.0]):>9.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
