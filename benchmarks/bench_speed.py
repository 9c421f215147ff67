"""The speed targets, as ratios against reference commands run side by side on this machine.

    python benchmarks/bench_speed.py [--repeat 3]

| measured | reference | target |
|---|---|---|
| driver+libraries layers (pytest -m "driver or libraries") | python -c "import tensorflow" | < 0.4x |
| the whole suite, cpu profile, every layer | the seeds' manual check (import TF, list GPUs) | < 4x |
| the whole suite with -n 2 | the whole suite, serial | reported |
| fleet merge of 10,000 generated results | - | < 10 s |

Runs are interleaved (reference, measured, reference, ...) so machine load hits both alike;
medians of wall time, interpreter start included. Reports are turned off for the suite runs.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

from bench_low_layers import timed  # the same stopwatch for every benchmark

REPO = Path(__file__).resolve().parents[1]
# `-p no:hypothesispytest`: the dev environment's Hypothesis plugin imports all of Hypothesis
# (about 0.9 s) in every run; hosts under test do not have it (it is a dev extra).
SUITE = [
    sys.executable,
    "-m",
    "pytest",
    str(REPO / "suites"),
    "-q",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:hypothesispytest",
    "--host-reports",
    "off",
]
IMPORT_TF = [sys.executable, "-c", "import tensorflow"]
MANUAL_CHECK = [sys.executable, "-c", "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"]


def compare(name: str, measured: list[str], reference: list[str], repeat: int, cwd: Path) -> tuple[float, float]:
    ours, theirs = [], []
    for _ in range(repeat):
        theirs.append(timed(reference, cwd=cwd))
        ours.append(timed(measured, cwd=cwd))
    return statistics.median(ours), statistics.median(theirs)


def fleet_merge_seconds(repeat: int, work: Path) -> float:
    sys.path.insert(0, str(REPO))
    from tests.fleetgen import generate  # the generator the fleet tests use

    results = work / "fleet"
    generate(results, 10_000)
    runs = []
    for _ in range(repeat):
        out = work / f"merged-{len(runs)}"
        runs.append(
            timed([sys.executable, "-m", "gpuconform", "fleet", "merge", str(results), "-o", str(out)], cwd=work)
        )
    return statistics.median(runs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="gpuconform-speed-"))
    rows = []
    low, tf_import = compare(
        "low", [*SUITE, "--host-profile", "t4", "-m", "driver or libraries"], IMPORT_TF, args.repeat, work
    )
    rows.append(("driver+libraries layers", low, "import tensorflow", tf_import, 0.4))
    whole, manual = compare("whole", [*SUITE, "--host-profile", "cpu"], MANUAL_CHECK, args.repeat, work)
    rows.append(("whole suite, cpu profile", whole, "manual GPU check", manual, 4.0))
    parallel, serial = compare(
        "xdist", [*SUITE, "--host-profile", "cpu", "-n", "2"], [*SUITE, "--host-profile", "cpu"], args.repeat, work
    )
    rows.append(("whole suite, -n 2", parallel, "whole suite, serial", serial, None))
    print(f"{'measured':<28} {'s':>7}   {'reference':<22} {'s':>7} {'ratio':>7}  target")
    for name, ours, ref_name, ref, target in rows:
        ratio = ours / ref
        verdict = "" if target is None else ("met" if ratio < target else "NOT met") + f" (< {target}x)"
        print(f"{name:<28} {ours:>7.2f}   {ref_name:<22} {ref:>7.2f} {ratio:>6.2f}x  {verdict}")
    merge = fleet_merge_seconds(args.repeat, work)
    met = "met" if merge < 10 else "NOT met"
    print(f"{'fleet merge, 10,000 hosts':<28} {merge:>7.2f}   {'-':<22} {'':>7} {'':>7}  {met} (< 10 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
