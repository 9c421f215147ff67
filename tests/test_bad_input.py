"""The bad-input catalogue: every broken profile, facts or matrix file is a usage error (exit 4) naming
the file, the key and what is accepted, never a traceback. docs/bad-input.md is generated from this
table (`python -m tests.test_bad_input > docs/bad-input.md`) and a test keeps it in sync.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from gpuconform.plugin.keys import suites_dir
from tests.catalogue import render

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "bad-input.md"
GOOD_PROFILE = '[profile]\nname = "p"\ndescription = "d"\n[gpus]\ncount = 0\n'


@dataclass(frozen=True)
class BadInput:
    kind: str  # profile, facts or matrix
    defect: str
    write: Callable[[Path], Path]  # writes the bad input under a directory, returns what to pass
    words: tuple[str, ...]  # the message must contain each (after the file path)


def _file(name: str, data: bytes) -> Callable[[Path], Path]:
    def write(base: Path) -> Path:
        (base / name).write_bytes(data)
        return base / name

    return write


def _directory(name: str) -> Callable[[Path], Path]:
    def write(base: Path) -> Path:
        (base / name).mkdir()
        return base / name

    return write


def _matrix(edit: Callable[[Path], None]) -> Callable[[Path], Path]:
    def write(base: Path) -> Path:
        target = base / "matrices"
        shutil.copytree(REPO / "matrices", target)
        edit(target / "tensorflow.toml")
        return target

    return write


def _replace(old: str, new: str) -> Callable[[Path], None]:
    def edit(path: Path) -> None:
        text = path.read_text()
        assert old in text
        path.write_text(text.replace(old, new, 1))

    return edit


def _as_directory(path: Path) -> None:
    path.unlink()
    path.mkdir()


DEEP_TOML = b'[profile]\nname = "p"\ndescription = ' + b"[" * 5000 + b"]" * 5000 + b"\n"
DEEP_JSON = b"[" * 100_000 + b"]" * 100_000
CASES: list[BadInput] = [
    BadInput(
        "profile",
        "wrong type",
        _file("p.toml", b'[profile]\nname="p"\ndescription="d"\n[gpus]\ncount="one"\n'),
        ("gpus.count: expected integer, got string",),
    ),
    BadInput(
        "profile",
        "huge value",
        _file("p.toml", b'[profile]\nname="p"\ndescription="d"\n[gpus]\ncount=1000000000\n'),
        ("gpus.count: 1000000000 is out of range", "accepted: 0 to 64"),
    ),
    BadInput("profile", "deep nesting", _file("p.toml", DEEP_TOML), ("nested too deeply",)),
    BadInput(
        "profile",
        "unknown key",
        _file("p.toml", b'[profile]\nname="p"\ndescription="d"\n[gpus]\ncuont=1\n'),
        ("gpus.cuont: unknown key; did you mean 'count'?", "accepted:"),
    ),
    BadInput(
        "profile",
        "unknown framework",
        _file("p.toml", b'[profile]\nname="p"\ndescription="d"\n[frameworks]\npytorch=">=2.6"\n'),
        ("frameworks.pytorch: unknown framework 'pytorch'; did you mean 'torch'?", "accepted: jax, tensorflow, torch"),
    ),
    BadInput(
        "profile",
        "bad specifier",
        _file("p.toml", b'[profile]\nname="p"\ndescription="d"\n[frameworks]\ntorch="2.6+"\n'),
        ("frameworks.torch: '2.6+' is not a version specifier", "accepted: a PEP 440 specifier", "'auto'"),
    ),
    BadInput("profile", "not UTF-8", _file("p.toml", b'[profile]\nname = "\xff\xfe"\n'), ("is not UTF-8 text",)),
    BadInput("profile", "a directory", _directory("p.toml"), ("is a directory, expected a file",)),
    BadInput("profile", "missing path", lambda base: base / "nope.toml", ("file does not exist",)),
    BadInput("profile", "truncated", _file("p.toml", b'[profile]\nname = "p'), ("is not valid TOML",)),
    BadInput("facts", "wrong type", _file("f.json", b'{"host": 1}'), ("host: expected a table, got integer",)),
    BadInput("facts", "huge file", _file("f.json", b" " * (17 * 1024 * 1024)), ("larger than the", "allowed")),
    BadInput("facts", "deep nesting", _file("f.json", DEEP_JSON), ("nested too deeply",)),
    BadInput(
        "facts",
        "unknown key",
        _file("f.json", b'{"hots": {}}'),
        ("hots: unknown key; did you mean 'host'?", "accepted:"),
    ),
    BadInput("facts", "not UTF-8", _file("f.json", b'{"host": "\xff"}'), ("is not UTF-8 text",)),
    BadInput("facts", "a directory", _directory("f.json"), ("expected a file, not a directory",)),
    BadInput("facts", "missing path", lambda base: base / "nope.json", ("expected an existing file",)),
    BadInput("facts", "truncated", _file("f.json", b'{"host": {"hostname": "a"'), ("is not valid JSON",)),
    BadInput(
        "matrix",
        "wrong type",
        _matrix(_replace('cuda = "12.5.1"', "cuda = 12.5")),
        ("tensorflow.toml: release[0].cuda: expected a string, got number",),
    ),
    BadInput(
        "matrix",
        "huge value",
        _matrix(_replace('version = "2.21.0"', 'version = "2.' + "9" * 5000 + '"')),
        ("tensorflow.toml: release[", "].version: '2.9999", "... is not a version"),
    ),
    BadInput(
        "matrix",
        "unknown key",
        _matrix(_replace('cuda = "12.5.1"', 'cuda = "12.5.1"\ncdua = "x"')),
        ("tensorflow.toml: release[0].cdua: unknown key", "did you mean 'cuda'?"),
    ),
    BadInput(
        "matrix",
        "not UTF-8",
        _matrix(lambda p: p.write_bytes(p.read_bytes() + b"\n# \xff\n")),
        ("tensorflow.toml", "is not UTF-8 text"),
    ),
    BadInput("matrix", "a directory", _matrix(_as_directory), ("tensorflow.toml", "is a directory")),
    BadInput("matrix", "missing file", _matrix(lambda p: p.unlink()), ("tensorflow.toml", "does not exist")),
    BadInput("matrix", "truncated", _matrix(lambda p: p.write_text(p.read_text()[:200])), ("tensorflow.toml",)),
]
FLAG = {"profile": "--host-profile", "facts": "--host-facts", "matrix": "--host-matrices"}


def catalogue() -> str:
    """The Markdown table of docs/bad-input.md."""
    lines = [
        "# Bad-input catalogue",
        "",
        "Generated from `tests/test_bad_input.py` (`python -m tests.test_bad_input > docs/bad-input.md`);",
        "one test per row. Each row: pytest exits 4 (usage error), prints no traceback, and the message",
        "names the file, the key and what is accepted.",
        "",
        "| # | input | defect | passed with | the message says |",
        "|---|---|---|---|---|",
    ]
    for i, case in enumerate(CASES, 1):
        words = "; ".join(f"`{w}`" for w in case.words)
        lines.append(f"| {i} | {case.kind} | {case.defect} | `{FLAG[case.kind]}` | {words} |")
    lines += render("bad-input", len(CASES) + 1)
    return "\n".join(lines) + "\n"


def test_the_catalogue_in_the_docs_matches_the_tests() -> None:
    assert DOC.read_text() == catalogue(), "regenerate with: python -m tests.test_bad_input > docs/bad-input.md"


@pytest.mark.parametrize("case", CASES, ids=[f"{c.kind}-{c.defect}" for c in CASES])
def test_bad_input_is_a_usage_error_naming_file_and_key(case: BadInput, pytester: pytest.Pytester) -> None:
    target = case.write(pytester.path)
    args = [str(suites_dir()), "-m", "platform", "-p", "no:cacheprovider", FLAG[case.kind], str(target)]
    if case.kind != "profile":
        args += ["--host-profile", "cpu"]
    result = pytester.runpytest_subprocess(*args, timeout=300)
    output = result.stdout.str() + result.stderr.str()
    assert result.ret == 4, output[-2000:]
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-2000:]
    error = next(line for line in result.stderr.lines if line.startswith("ERROR:"))
    assert str(target.name) in error
    for word in case.words:
        assert word in error, error


if __name__ == "__main__":
    sys.stdout.write(catalogue())
