"""The speed targets, as ratios against reference commands run side by side on this machine.

    python benchmarks/bench_speed.py [--repeat 5] [--only default,cold,...]

| row | measured | reference | target |
|---|---|---|---|
| low | driver+libraries layers (pytest -m "driver or libraries") | python -c "import tensorflow" | < 0.4x |
| default | `pytest --host-profile cpu`: every layer, reports on | the seeds' manual check (TF lists GPUs) | <= 2x (*) |
| cold | both again with no cached bytecode (a fresh PYTHONPYCACHEPREFIX) | - | reported |
| xdist | the default run with -n 2 | the default run | reported |
| fleet | fleet merge of 10,000 generated results | - | < 10 s |

(*) <= 2.5x where torch or jax is installed too: the run checks them as well, their children beside
TensorFlow's.

Runs are interleaved (reference, measured, reference, ...) so machine load hits both alike;
medians of wall time, interpreter start included, after one untimed run of each. Both commands
run with Python's bytecode as an installation has it: pip compiles a wheel's modules when it
installs them (TensorFlow's, and gpuconform's from a wheel), and pytest caches the suites it
rewrites on its first run. So the benchmark compiles gpuconform's modules and the suites first
(an editable checkout has no bytecode until something writes it) and runs both commands without
PYTHONDONTWRITEBYTECODE or PYTHONPYCACHEPREFIX, which some shells set (the children gpuconform
starts never write bytecode; they read what is there). The cold row shows what compiling
Python's bytecode costs a first run (TensorFlow's own modules, in every child, before the import
is cached); what a first run after install pays for reading TensorFlow's libraries from disk is
not measured (it needs the page cache dropped, which needs root).
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata
import importlib.util
import os
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
]
DEFAULT = [*SUITE, "--host-profile", "cpu"]  # reports on: what a user runs
IMPORT_TF = [sys.executable, "-c", "import tensorflow"]
MANUAL_CHECK = [sys.executable, "-c", "import tensorflow as tf; print(tf.config.list_physical_devices('GPU'))"]


#: Variables that keep Python from reading or writing bytecode where an installation has it.
NO_BYTECODE = ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")


def installed_bytecode() -> dict[str, str]:
    """The environment to time in, once gpuconform's modules and the suites have their bytecode, as installed."""
    spec = importlib.util.find_spec("gpuconform")
    package = list(spec.submodule_search_locations or []) if spec is not None else []
    for where in [*package, str(REPO / "suites")]:
        compileall.compile_dir(where, quiet=1)
    return {k: v for k, v in os.environ.items() if k not in NO_BYTECODE}


def compare(
    measured: list[str], reference: list[str], repeat: int, cwd: Path, cold: bool = False
) -> tuple[float, float]:
    """Medians of `repeat` interleaved runs; `cold`: each run with an empty bytecode cache of its own."""
    base = installed_bytecode()
    if not cold:
        for argv in (reference, measured):  # the first run writes what pytest caches (its rewritten suites)
            timed(argv, env=base, cwd=cwd)
    ours, theirs = [], []
    for i in range(repeat):
        for argv, times, who in ((reference, theirs, "ref"), (measured, ours, "ours")):
            env = base
            if cold:
                env = {**base, "PYTHONPYCACHEPREFIX": str(cwd / f"pycache-{who}-{i}")}
            times.append(timed(argv, env=env, cwd=cwd))
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


ROWS = ("low", "default", "cold", "xdist", "fleet")


def frameworks_besides_tensorflow() -> list[str]:
    """The other frameworks the default run checks here (installed: their distribution metadata)."""
    found = []
    for name in ("torch", "jax"):
        try:
            found.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--only", default=",".join(ROWS), help=f"rows to run, of {', '.join(ROWS)}")
    args = parser.parse_args()
    only = set(args.only.split(","))
    work = Path(tempfile.mkdtemp(prefix="gpuconform-speed-"))
    rows = []
    if "low" in only:
        low_layers = [*SUITE, "--host-reports", "off", "--host-profile", "t4", "-m", "driver or libraries"]
        low, tf_import = compare(low_layers, IMPORT_TF, args.repeat, work)
        rows.append(("driver+libraries layers", low, "import tensorflow", tf_import, 0.4))
    if "default" in only:
        others = frameworks_besides_tensorflow()
        whole, manual = compare(DEFAULT, MANUAL_CHECK, args.repeat, work)
        if others:
            print(f"the default run checks {', '.join(others)} too")
        name = "default run, reports on" + (", +" + "+".join(o.split()[0] for o in others) if others else "")
        rows.append((name, whole, "manual GPU check", manual, 2.5 if others else 2.0))
    if "cold" in only:
        whole, manual = compare(DEFAULT, MANUAL_CHECK, args.repeat, work, cold=True)
        rows.append(("default run, no bytecode", whole, "manual, no bytecode", manual, None))
    if "xdist" in only:
        parallel, serial = compare([*DEFAULT, "-n", "2"], DEFAULT, args.repeat, work)
        rows.append(("default run, -n 2", parallel, "default run, serial", serial, None))
    print(f"{'measured':<28} {'s':>7}   {'reference':<22} {'s':>7} {'ratio':>7}  target")
    for name, ours, ref_name, ref, target in rows:
        ratio = ours / ref
        verdict = "" if target is None else ("met" if ratio <= target else "NOT met") + f" (<= {target}x)"
        print(f"{name:<28} {ours:>7.2f}   {ref_name:<22} {ref:>7.2f} {ratio:>6.2f}x  {verdict}")
    if "fleet" in only:
        merge = fleet_merge_seconds(args.repeat, work)
        met = "met" if merge < 10 else "NOT met"
        print(f"{'fleet merge, 10,000 hosts':<28} {merge:>7.2f}   {'-':<22} {'':>7} {'':>7}  {met} (< 10 s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
