"""`python -m gpuconform` (or `gpuconform`): the commands around the pytest plugin.

    gpuconform fleet merge reports/ other/result.json -o fleet/ --expect hosts.txt
    gpuconform compat [--facts reports/facts.json] [--profile t4] [--json]
    gpuconform checks [--ids]
    gpuconform profiles
    gpuconform profile capture [--facts reports/facts.json] > fleet.toml   # then: pytest --host-profile fleet.toml
    gpuconform summary reports/result.json >> "$GITHUB_STEP_SUMMARY"
    gpuconform facts from-spec host.toml -o host.json   # then: pytest --host-facts host.json
    gpuconform --version

The checks themselves run under pytest (`pytest --host-profile t4`). Exit codes follow
pytest's: 0 everything conforms, 1 something does not, 4 usage error.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import pytest

from gpuconform.facts.errors import DataError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INTERNAL = 3
EXIT_USAGE = 4


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error exits 4 as pytest's does (argparse's own is 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; return its exit code."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.run(args))
        sys.stdout.flush()  # here, so that a closed pipe is met inside the try, not at exit
        return code
    except DataError as exc:
        print(f"gpuconform: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:  # `gpuconform checks | head`: the reader has all it wanted
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - the interpreter closes it at exit
        return EXIT_OK
    except OSError as exc:
        print(f"gpuconform: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_INTERNAL
    except Exception as exc:  # no traceback reaches a user: say what broke and where to report it
        print(f"gpuconform: internal error: {type(exc).__name__}: {exc} (please report it)", file=sys.stderr)
        return EXIT_INTERNAL


def _build_parser() -> argparse.ArgumentParser:
    import gpuconform

    parser = _Parser(prog="gpuconform", description="GPU host conformance for TensorFlow: fleet roll-up and helpers")
    parser.add_argument("--version", action="version", version=f"gpuconform {gpuconform.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    fleet = commands.add_parser("fleet", help="work with the results of many hosts")
    fleet_commands = fleet.add_subparsers(dest="fleet_command", required=True, parser_class=_Parser)
    merge = fleet_commands.add_parser(
        "merge",
        help="merge result.json files (or directories holding them) into fleet.html, fleet-junit.xml, fleet.json",
    )
    merge.add_argument("paths", nargs="+", type=Path, metavar="RESULT_OR_DIR")
    merge.add_argument("-o", "--output", type=Path, default=Path("fleet"), help="output directory (default: fleet)")
    merge.add_argument(
        "--expect",
        metavar="N|FILE",
        help="how many hosts should have reported, or a file of host names (one a line): "
        "a host that sent no result fails the fleet",
    )
    merge.add_argument("--title", default="gpuconform fleet", help="the fleet page's title")
    merge.set_defaults(run=_fleet_merge)

    compat = commands.add_parser("compat", help="which TensorFlow releases this host (or a facts file) can run")
    compat.add_argument("--facts", type=Path, help="a recorded facts.json instead of probing this host")
    compat.add_argument("--profile", default="auto", help="host profile: a built-in name or a TOML file (default auto)")
    compat.add_argument("--root", type=Path, default=Path("/"), help="probe /sys, /proc, /dev below DIR")
    compat.add_argument("--probe-timeout", type=float, default=20.0, help="seconds per probe child (default 20)")
    compat.add_argument("--json", action="store_true", help="print the table as JSON")
    compat.set_defaults(run=_compat)

    checks = commands.add_parser(
        "checks", help="list every check, layer by layer: its stable id (layer::name) and what it checks"
    )
    checks.add_argument("--ids", action="store_true", help="print the ids alone, one a line (for scripts)")
    checks.set_defaults(run=_checks)

    profiles = commands.add_parser("profiles", help="list the built-in host profiles (as pytest --host-profile list)")
    profiles.set_defaults(run=_profiles)

    profile = commands.add_parser("profile", help="write host profiles")
    profile_commands = profile.add_subparsers(dest="profile_command", required=True, parser_class=_Parser)
    capture = profile_commands.add_parser(
        "capture",
        help="write a profile (TOML) of this known-good host, or of a facts.json, to check the rest of a fleet against",
    )
    capture.add_argument("--facts", type=Path, help="the good host's recorded facts.json instead of probing this one")
    capture.add_argument("--name", default="fleet", help="the profile's name (default fleet)")
    capture.add_argument("--root", type=Path, default=Path("/"), help="probe /sys, /proc, /dev below DIR")
    capture.add_argument("--probe-timeout", type=float, default=20.0, help="seconds per probe child (default 20)")
    capture.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    capture.set_defaults(run=_profile_capture)

    facts = commands.add_parser("facts", help="write Facts files")
    facts_commands = facts.add_subparsers(dest="facts_command", required=True, parser_class=_Parser)
    from_spec = facts_commands.add_parser(
        "from-spec", help="expand a compact host description (TOML) into a Facts file to replay with --host-facts"
    )
    from_spec.add_argument("description", type=Path, metavar="HOST_TOML")
    from_spec.add_argument("-o", "--output", type=Path, help="write here instead of standard output")
    from_spec.set_defaults(run=_facts_from_spec)

    summary = commands.add_parser("summary", help="a Markdown summary of a result.json (e.g. for $GITHUB_STEP_SUMMARY)")
    summary.add_argument("result", type=Path)
    summary.set_defaults(run=_summary)
    return parser


# ---- facts from a description ----------------------------------------------------------


def _facts_from_spec(args: argparse.Namespace) -> int:
    from gpuconform.expect.loading import load_matrices
    from gpuconform.probes.described import expand
    from gpuconform.probes.described import load_description
    from gpuconform.probes.host import facts_json

    return _emit(facts_json(expand(load_description(args.description), load_matrices())), args.output)


def _emit(text: str, output: Path | None) -> int:
    """Write a command's document to -o's file, or to stdout without one."""
    from gpuconform.report.staging import write_text

    if output is None:
        sys.stdout.write(text)
    else:
        write_text(output, text)
    return EXIT_OK


# ---- fleet merge ------------------------------------------------------------------------


def _fleet_merge(args: argparse.Namespace) -> int:
    from gpuconform.fleet.merge import merge
    from gpuconform.fleet.merge import output_problem
    from gpuconform.fleet.summary import one_line

    expected, names = _expectation(args.expect)
    problem = output_problem(args.output)
    if problem is not None:
        raise DataError(f"-o {args.output}", "", problem, "a directory, created if missing")
    try:
        fleet = merge(args.paths, args.output, expected=expected, expected_names=names, title=one_line(args.title))
    except OSError as exc:
        where = getattr(exc, "filename2", None) or exc.filename or args.output  # os.replace's target, not its temp
        message = f"gpuconform fleet: error: cannot write the fleet reports: {where}: {exc.strerror or exc}"
        print(one_line(message), file=sys.stderr)
        return EXIT_INTERNAL
    for warning in fleet.warnings:
        print(one_line(f"gpuconform fleet: warning: {warning}"), file=sys.stderr)
    for note in fleet.notes:
        print(one_line(f"gpuconform fleet: warning: {note}"), file=sys.stderr)
    for cause in fleet.ranked_causes():
        print(one_line(f"{len(cause.hosts)} host(s) at {cause.layer}: {cause.title}"))
        if cause.fix:
            print(one_line(f"  fix: {cause.fix}"))
    if fleet.missing:
        print(one_line(f"sent no result: {', '.join(fleet.missing)}"))
    out = args.output
    print(one_line(f"reports: {out / 'fleet.html'}, {out / 'fleet-junit.xml'}, {out / 'fleet.json'}"))
    print(one_line(fleet.line()))
    return EXIT_OK if fleet.ok else EXIT_FAILED


def _expectation(value: str | None) -> tuple[int | None, list[str]]:
    """--expect N or --expect FILE."""
    from gpuconform.fleet.merge import read_host_list

    if value is None:
        return None, []
    accepted = "a number of hosts, or a file of host names (one a line)"
    if re.fullmatch(r"[0-9]{1,9}", value):
        return int(value), []
    if re.fullmatch(r"[0-9]+", value) or not value.strip():
        raise DataError(f"--expect {value[:40]}", "", "is not a number of hosts a fleet can have", accepted)
    try:
        names = read_host_list(Path(value))
    except DataError as exc:
        raise DataError(f"--expect {exc.source}", "", exc.problem, accepted) from None
    return len(names), names


# ---- profiles ---------------------------------------------------------------------------


def _profiles(args: argparse.Namespace) -> int:
    from gpuconform.expect.loading import load_matrices
    from gpuconform.expect.profiles import builtin_listing

    print("\n".join(builtin_listing(load_matrices())))
    return EXIT_OK


def _profile_capture(args: argparse.Namespace) -> int:
    from gpuconform.expect.capture import capture_profile
    from gpuconform.expect.loading import load_matrices
    from gpuconform.probes.host import probe_host
    from gpuconform.probes.host import replay_facts

    matrices = load_matrices()
    facts = replay_facts(args.facts) if args.facts else probe_host(matrices, args.root, args.probe_timeout)
    return _emit(capture_profile(facts, matrices, args.name), args.output)


# ---- compat -----------------------------------------------------------------------------


def _compat(args: argparse.Namespace) -> int:
    from gpuconform.expect.compat import predict
    from gpuconform.expect.compat import render_text
    from gpuconform.expect.loading import load_matrices
    from gpuconform.expect.profiles import resolve_profile
    from gpuconform.facts.serde import dump
    from gpuconform.probes.host import probe_host
    from gpuconform.probes.host import replay_facts

    matrices = load_matrices()
    facts = replay_facts(args.facts) if args.facts else probe_host(matrices, args.root, args.probe_timeout)
    profile = resolve_profile(args.profile, facts, matrices, Path.cwd())
    table = predict(facts, profile, matrices)
    if args.json:
        print(json.dumps(dump(table), indent=2))
    else:
        print(f"profile {profile.name}: {profile.description}")
        print("\n".join(render_text(table)))
    return EXIT_OK


# ---- checks -----------------------------------------------------------------------------


class _Collector:
    """A pytest plugin that records each collected check's stable id and one-line description."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.descriptions: list[str] = []

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        from gpuconform.plugin.session import check_id_of
        from gpuconform.plugin.session import layer_of

        for item in items:
            layer = layer_of(item)
            if layer is not None:
                self.ids.append(check_id_of(item.nodeid, layer))
                self.descriptions.append(check_description(item))


#: How the words a check's name writes in lower case are spelt in a sentence.
_SPELLING = {
    "gpu": "GPU", "gpus": "GPUs", "cpu": "CPU", "nvidia": "NVIDIA", "pci": "PCI", "pcie": "PCIe", "cuda": "CUDA",
    "cudnn": "cuDNN", "tensorflow": "TensorFlow", "tensorfloat32": "TensorFloat-32", "xla": "XLA", "api": "API",
    "keras": "Keras", "pil": "PIL",
}


def check_description(item: pytest.Item) -> str:
    """A check's one-line description: its docstring's first line, else its name read as a sentence
    (the names are written to read as one: `gpu_count_matches_the_profile`)."""
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    if doc:
        return doc.splitlines()[0].strip()
    words = getattr(item, "originalname", item.name).removeprefix("test_").split("_")
    sentence = " ".join(_SPELLING.get(w, w) for w in words)
    return sentence if words[0] in _SPELLING else sentence[:1].upper() + sentence[1:]  # cuDNN stays cuDNN


def collect_checks() -> tuple[int, list[tuple[str, str]], str]:
    """Collect the suites (probing nothing beyond what a run does); return pytest's code, the
    (id, description) of every check in layer order, and pytest's output."""
    from gpuconform.plugin.keys import suites_dir
    from gpuconform.verdict.judge import LAYERS

    collector = _Collector()
    output = io.StringIO()
    argv = [str(suites_dir()), "--collect-only", "-q", "-p", "no:cacheprovider", "--host-reports", "off"]
    with contextlib.redirect_stdout(output):
        code = pytest.main(argv, plugins=[collector])
    checks = list(zip(collector.ids, collector.descriptions))
    # In layer order, lowest first; within a layer, the suite's own order (sorted() is stable).
    checks = sorted(checks, key=lambda c: LAYERS.index(c[0].split("::")[0]))
    return int(code), checks, output.getvalue()


def _checks(args: argparse.Namespace) -> int:
    code, checks, output = collect_checks()
    if code != 0:
        print(output, file=sys.stderr)
        return EXIT_USAGE if code == pytest.ExitCode.USAGE_ERROR else EXIT_FAILED
    if args.ids:
        print("\n".join(check_id for check_id, _ in checks))
        return EXIT_OK
    # Aligned, but a long parametrized id does not push every description off the screen.
    width = min(max((len(check_id) for check_id, _ in checks), default=0), 64)
    print("\n".join(f"{check_id.ljust(width)}  {text}" for check_id, text in checks))
    return EXIT_OK


# ---- summary ----------------------------------------------------------------------------


def _summary(args: argparse.Namespace) -> int:
    from gpuconform.fleet.summary import markdown_summary
    from gpuconform.fleet.summary import read_summary_result

    data = read_summary_result(args.result)
    print(markdown_summary(data))
    return EXIT_OK if data["verdict"]["status"] == "PASS" else EXIT_FAILED
