"""Merge many hosts' results into one Fleet and write its reports."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from gpuconform.facts.tomlio import read_text
from gpuconform.fleet.inputs import HostResult
from gpuconform.fleet.inputs import Unusable
from gpuconform.fleet.inputs import find_results
from gpuconform.fleet.inputs import read_result
from gpuconform.fleet.outputs import HTML_NAME
from gpuconform.fleet.outputs import JSON_NAME
from gpuconform.fleet.outputs import JUNIT_NAME
from gpuconform.fleet.outputs import JunitWriter
from gpuconform.fleet.outputs import write_html
from gpuconform.fleet.outputs import write_json
from gpuconform.fleet.rollup import Fleet


def merge(
    paths: Sequence[Path],
    out_dir: Path,
    *,
    expected: int | None = None,
    expected_names: Sequence[str] = (),
    title: str = "gpuconform fleet",
) -> Fleet:
    """Read every result below `paths`, roll them up, and write fleet.html, fleet-junit.xml and fleet.json.

    An input that cannot be used is skipped with its reason (Fleet.skipped); only a report
    that cannot be written raises (OSError).
    """
    files, skipped = find_results(list(paths))
    fleet = Fleet(skipped=skipped, expected=expected, expected_names=tuple(expected_names))
    hosts: list[HostResult] = []
    with JunitWriter(out_dir / JUNIT_NAME) as junit:
        for path in files:
            try:
                host, data = read_result(path)
            except Unusable as exc:
                fleet.skipped.append(exc.skipped)
                continue
            junit.add(host, data)
            hosts.append(host)
        fleet.add_all(hosts)
        junit.close(fleet)
    write_json(fleet, out_dir / JSON_NAME)
    write_html(fleet, out_dir / HTML_NAME, title)
    return fleet


def output_problem(out_dir: Path) -> str | None:
    """Why the reports cannot go to `out_dir` (created if missing), or None when they can."""
    if os.path.lexists(out_dir) and not os.path.isdir(out_dir):
        return "exists and is not a directory"
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return f"cannot be created: {exc.strerror or exc}"
    if not os.access(out_dir, os.W_OK | os.X_OK):
        return "is not writable"
    return None


def read_host_list(path: Path) -> list[str]:
    """Host names, one a line; blank lines and '#' comments are ignored."""
    names = []
    for line in read_text(path).splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names
