"""Print the tox sweep as tables: framework release x layer outcome, then the checks that differ.

    python tools/tox_summary.py                # reads reports/<env>/result.json for every env
    python tools/tox_summary.py path/to/reports --only 'tf2*'
    python tools/tox_summary.py --only 'torch*,jax*'   # several globs, comma-separated

Each tox env writes its reports to reports/<envname>/ (tox.ini). The first table has
one row per env: the TensorFlow, PyTorch and JAX it had, the verdict, then each layer's
status with its counts. Rows are grouped by the env's framework (the first of TensorFlow,
PyTorch, JAX it has: the TensorFlow envs, then the torch envs, then the jax envs) and
ordered by that framework's version. The second lists every check whose outcome is not the same in all
envs, so a release where a behaviour differs stands out with the check that says why.
Both are Markdown. Exit status 1 when no env has a result.json.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion
from packaging.version import Version

#: How counts are written in a cell, in this order; zero counts are left out.
COUNT_LABELS = (
    ("passed", "ok"),
    ("xfailed", "xfail"),
    ("not-applicable", "n/a"),
    ("blocked", "blocked"),
    ("failed", "FAILED"),
    ("error", "ERROR"),
    ("xpassed", "XPASS"),
)


@dataclass
class EnvResult:
    """What one tox env's reports say."""

    env: str
    tensorflow: str = "?"
    torch: str = "-"  # "torch 2.13.0+cpu", from facts.json's packages; "-": not installed
    jax: str = "-"  # "jax 0.10.2, jaxlib 0.10.2"
    keras: str = "?"
    verdict: str = "no result.json"
    layers: dict[str, str] = field(default_factory=dict)  # layer -> cell text
    checks: dict[str, str] = field(default_factory=dict)  # check id -> outcome class

    @property
    def sort_key(self) -> tuple[int, Version, str]:
        """The env's framework (TensorFlow, then PyTorch, then JAX: the first it has), then its version."""
        for rank, text in enumerate((self.tensorflow, self.torch, self.jax)):
            found = _version(text)
            if found is not None:
                return rank, found, self.env
        return len(FRAMEWORK_PACKAGES) + 1, Version("0"), self.env


#: The columns of the frameworks besides TensorFlow, and the distributions each shows (facts.json's packages).
FRAMEWORK_PACKAGES = {"torch": ("torch",), "jax": ("jax", "jaxlib")}


def _version(text: str) -> Version | None:
    """The version in 'tensorflow-cpu 2.21.0' or 'jax 0.10.2, jaxlib 0.10.2' (its first one); None without."""
    try:
        return Version(text.split(",")[0].split()[-1])
    except (InvalidVersion, IndexError):
        return None


def read_env(directory: Path) -> EnvResult:
    """The EnvResult of one reports/<env>/ directory (missing or broken files leave '?')."""
    result = EnvResult(directory.name)
    document = _json(directory / "result.json")
    if document is None:
        return result
    summary = {row.get("label"): row.get("value") for row in document.get("summary", [])}
    result.tensorflow = str(summary.get("tensorflow", "?"))
    verdict = document.get("verdict", {})
    result.verdict = str(verdict.get("line") or verdict.get("status") or "?")
    for layer in document.get("layers", []):
        result.layers[str(layer["layer"])] = cell(str(layer["status"]), layer.get("counts", {}))
    result.checks = {str(c["id"]): str(c["outcome"]) for c in document.get("checks", [])}
    packages = (_json(directory / "facts.json") or {}).get("packages", {})
    if not isinstance(packages, dict):
        packages = {}
    result.keras = _versions(packages, ("keras", "tf_keras", "keras_preprocessing")) or "?"
    others = {str(info.get("name")): info for info in packages.get("others", []) if isinstance(info, dict)}
    result.torch = _versions(others, FRAMEWORK_PACKAGES["torch"]) or "-"
    result.jax = _versions(others, FRAMEWORK_PACKAGES["jax"]) or "-"
    return result


def _versions(packages: dict[str, Any], names: Sequence[str]) -> str:
    """'keras 3.15.1, keras_preprocessing 1.1.2': each of `names` that has a version in `packages`."""
    found = [(name, packages.get(name)) for name in names]
    return ", ".join(
        f"{name} {info['version']}" for name, info in found if isinstance(info, dict) and "version" in info
    )


def _json(path: Path) -> Any:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def cell(status: str, counts: dict[str, int]) -> str:
    """'pass (43 ok, 6 xfail, 2 n/a)'."""
    parts = [f"{counts[key]} {label}" for key, label in COUNT_LABELS if counts.get(key)]
    return f"{status} ({', '.join(parts)})" if parts else status


def release_table(envs: Sequence[EnvResult]) -> str:
    """One row per env: TensorFlow, PyTorch, JAX, Keras, the verdict, and each layer's cell."""
    layers = list(dict.fromkeys(layer for e in envs for layer in e.layers))
    header = ["env", "TensorFlow", "PyTorch", "JAX", "Keras packages", "verdict", *layers]
    rows = [
        [e.env, e.tensorflow, e.torch, e.jax, e.keras, e.verdict, *(e.layers.get(layer, "-") for layer in layers)]
        for e in envs
    ]
    return markdown(header, rows)


def differences_table(envs: Sequence[EnvResult]) -> str:
    """One row per check whose outcome is not the same in every env that ran it."""
    ids = sorted({check for e in envs for check in e.checks})
    rows = []
    for check in ids:
        outcomes = [e.checks.get(check, "-") for e in envs]
        if len(set(outcomes)) > 1:
            rows.append([check, *outcomes])
    if not rows:
        return "Every check has the same outcome in every env."
    return markdown(["check", *(e.env for e in envs)], rows)


def markdown(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    def line(values: Sequence[str]) -> str:
        return "| " + " | ".join(v.replace("|", "\\|") for v in values) + " |"

    return "\n".join([line(header), line(["---"] * len(header)), *map(line, rows)])


def collect(reports: Path, only: str) -> list[EnvResult]:
    """The envs below `reports` whose names match `only` (globs, comma-separated), by framework and its
    version (`EnvResult.sort_key`)."""
    globs = [g.strip() for g in only.split(",") if g.strip()]
    dirs = (
        [d for d in sorted(reports.iterdir()) if d.is_dir() and any(fnmatch.fnmatch(d.name, g) for g in globs)]
        if reports.is_dir()
        else []
    )
    return sorted((read_env(d) for d in dirs), key=lambda e: e.sort_key)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reports", nargs="?", type=Path, default=Path("reports"), help="the reports directory")
    parser.add_argument("--only", default="*", help="globs of env names to include, comma-separated (default: all)")
    args = parser.parse_args(argv)
    envs = [e for e in collect(args.reports, args.only) if e.checks or e.layers]
    if not envs:
        print(f"no tox env reports (result.json) below {args.reports}", file=sys.stderr)
        return 1
    print("## Framework release x layer\n")
    print(release_table(envs))
    print("\n## Checks whose outcome differs between envs\n")
    print(differences_table(envs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
