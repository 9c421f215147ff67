"""Read TOML and JSON data files, turning every way they can be unusable into a DataError.

Every file goes through the one bounded reader (`gpuconform.facts.reading`), and every string in what
it holds through `gpuconform.facts.text.clean`, so that no report written from it can be invalid.
"""

from __future__ import annotations

import json
import sys
import typing
from pathlib import Path
from typing import Any

from gpuconform.facts.errors import DataError
from gpuconform.facts.reading import DATA_LIMIT
from gpuconform.facts.reading import Unreadable
from gpuconform.facts.reading import read_bytes
from gpuconform.facts.text import clean_tree

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

#: Data files larger than this are refused: no real profile, matrix or facts file comes close.
MAX_BYTES = DATA_LIMIT


def read_text(path: Path) -> str:
    """Return the UTF-8 text of `path`, or raise DataError saying why it cannot be read."""
    try:
        data = read_bytes(path, MAX_BYTES)
    except Unreadable as exc:
        raise DataError(str(path), "", exc.reason) from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(str(path), "", f"is not UTF-8 text (byte {exc.start})") from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse the TOML file at `path`."""
    text = read_text(path)
    try:
        return typing.cast(dict[str, Any], _cleaned(text, tomllib.loads(text)))
    except tomllib.TOMLDecodeError as exc:
        raise DataError(str(path), "", f"is not valid TOML: {exc}") from None
    except ValueError as exc:  # an integer beyond Python's int-to-str limit
        raise DataError(str(path), "", _number_problem(exc)) from None
    except RecursionError:
        raise DataError(str(path), "", "is nested too deeply to parse") from None


def read_json(path: Path) -> Any:
    """Parse the JSON file at `path`."""
    text = read_text(path)
    try:
        return _cleaned(text, json.loads(text))
    except json.JSONDecodeError as exc:
        raise DataError(str(path), "", f"is not valid JSON: {exc}") from None
    except ValueError as exc:  # an integer beyond Python's int-to-str limit
        raise DataError(str(path), "", _number_problem(exc)) from None
    except RecursionError:
        raise DataError(str(path), "", "is nested too deeply to parse") from None


def _cleaned(text: str, data: Any) -> Any:
    # Both formats refuse raw control characters in strings, so only an escape (\u0001, \udcff)
    # or a raw noncharacter can put one there: without either, the walk over the data is skipped.
    if "\\u" not in text and "\\U" not in text and "\ufffe" not in text and "\uffff" not in text:
        return data
    return clean_tree(data)


def _number_problem(exc: ValueError) -> str:
    limit = sys.get_int_max_str_digits() if hasattr(sys, "get_int_max_str_digits") else 4300
    return f"holds a number with more than {limit} digits, beyond any real value"
