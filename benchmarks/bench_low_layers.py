"""Time the driver + libraries layers against a bare ``python -c "import tensorflow"``.

    python benchmarks/bench_low_layers.py [--repeat 5]

Runs, side by side on this machine and interleaved so load affects both alike:
- `import tensorflow` in a fresh interpreter (the reference);
- `pytest suites -m "driver or libraries"` on this host (whatever it has);
- the same against a simulated healthy T4 with TF 2.21's libraries, where every
  probe does its full work (NVML child, one library-loading child, ten shims).
Reports the median wall time of each and the ratio to the reference.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def timed(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    from tests.simhost.host import build_host
    from tests.simhost.spec import load_spec

    work = Path(tempfile.mkdtemp(prefix="gpuconform-bench-"))
    sim = build_host(load_spec(REPO / "tests/simhost/specs/t4_healthy.toml"), work / "t4")
    suite = [
        sys.executable,
        "-m",
        "pytest",
        str(REPO / "suites"),
        "-q",
        "-p",
        "no:cacheprovider",
        "-m",
        "driver or libraries",
        "--host-reports",
        "off",
    ]
    runs: dict[str, list[float]] = {
        "import tensorflow": [],
        "driver+libraries, this host": [],
        "driver+libraries, simulated T4": [],
    }
    for _ in range(args.repeat):
        runs["import tensorflow"].append(timed([sys.executable, "-c", "import tensorflow"]))
        runs["driver+libraries, this host"].append(timed([*suite, "--host-profile", "t4"], cwd=work))
        runs["driver+libraries, simulated T4"].append(
            timed([*suite, "--host-profile", "t4", "--host-root", str(sim.root)], env=sim.env, cwd=work)
        )
    reference = statistics.median(runs["import tensorflow"])
    print(f"{'what':<34} {'median s':>9} {'ratio':>7}   ({args.repeat} runs each, wall time incl. interpreter start)")
    for name, times in runs.items():
        median = statistics.median(times)
        print(f"{name:<34} {median:>9.3f} {median / reference:>6.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
