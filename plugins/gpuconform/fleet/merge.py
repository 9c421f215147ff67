"""Merge many hosts' results into one Fleet and write its reports."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

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
    """Read every result below `paths`, roll them up, and write fleet.html, fleet-junit.xml and fleet.json."""
    files, warnings = find_results(list(paths))
    fleet = Fleet(warnings=warnings, expected=expected, expected_names=tuple(expected_names))
    newest: dict[str, HostResult] = {}
    with JunitWriter(out_dir / JUNIT_NAME) as junit:
        for path in files:
            try:
                host, data = read_result(path)
            except Unusable as exc:
                fleet.warnings.append(str(exc))
                continue
            junit.add(host, data)
            kept = newest.get(host.hostname)
            if kept is not None:
                # A node run twice (a retried Job pod, a re-queued Slurm task): the newer run wins.
                older, host = sorted((kept, host), key=lambda h: (h.finished_at, h.path))
                fleet.notes.append(f"{host.hostname}: results in {older.path} and {host.path}; kept the newer one")
            newest[host.hostname] = host
        for host in newest.values():
            fleet.add(host)
        junit.close(fleet.hosts)
    write_json(fleet, out_dir / JSON_NAME)
    write_html(fleet, out_dir / HTML_NAME, title)
    return fleet


def read_host_list(path: Path) -> list[str]:
    """Host names, one a line; blank lines and '#' comments are ignored."""
    from gpuconform.tomlio import read_text

    names = []
    for line in read_text(path).splitlines():
        name = line.split("#", 1)[0].strip()
        if name:
            names.append(name)
    return names
