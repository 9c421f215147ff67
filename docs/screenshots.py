"""Take the README's screenshots: docs/report.png and docs/fleet.png.

    python docs/screenshots.py

report.png is the HTML report of a simulated T4 host whose driver (470) is too old
for its TensorFlow 2.21 (the simulated-host harness of tests/simhost; needs gcc),
with the failing layers' check lists folded so the compatibility table shows.
fleet.png is the fleet page of 48 generated hosts (tests/fleetgen.py) with a
truncated and a foreign input among them. Both are rendered by headless chromium
(tests/chromium.py).
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.chromium import browser  # noqa: E402
from tests.chromium import find_chromium  # noqa: E402
from tests.fleetgen import generate  # noqa: E402
from tests.simhost.host import build_host  # noqa: E402
from tests.simhost.host import run_suite  # noqa: E402
from tests.simhost.spec import load_spec  # noqa: E402

WIDTH = 1200


def main() -> int:
    binary = find_chromium()
    if binary is None:
        print("chromium is not installed (Debian: apt-get install -y chromium)", file=sys.stderr)
        return 1
    work = Path(tempfile.mkdtemp(prefix="gpuconform-shots-"))
    host = build_host(load_spec(REPO / "tests/simhost/specs/driver_470_tf221.toml"), work / "host")
    run_suite(host, work, "--host-probe-timeout", "3", "--host-compat")
    generate(work / "fleet-results", 48, seed=3)
    (work / "fleet-results" / "gpu-00-0007" / "result.json").write_text('{"schema": "gpuconform-result", "sche')
    (work / "fleet-results" / "junit-by-mistake.json").write_text('{"testsuites": []}')
    subprocess.run(
        [sys.executable, "-m", "gpuconform", "fleet", "merge", str(work / "fleet-results"), "-o", str(work / "fleet"),
         "--title", "gpuconform fleet: lab-a T4 nodes", "--expect", "49"],
        check=False, capture_output=True,
    )
    with browser(binary) as b:
        page = b.new_page()
        page.open((work / "reports" / "report.html").as_uri(), width=WIDTH, height=900)
        bottom = page.evaluate(
            "(() => { document.querySelectorAll('[id^=gc-layer-][open]').forEach(d => d.open = false);"
            " const table = document.querySelector('#gc-compat');"
            " return Math.ceil(table.getBoundingClientRect().bottom + scrollY + 16); })()"
        )
        page.screenshot(REPO / "docs" / "report.png", height=bottom)
        page = b.new_page()
        page.open((work / "fleet" / "fleet.html").as_uri(), width=WIDTH, height=900)
        page.screenshot(REPO / "docs" / "fleet.png", height=2000)
    print(f"wrote {REPO / 'docs' / 'report.png'} and {REPO / 'docs' / 'fleet.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
