"""Read TOML and JSON data files, turning every way they can be unusable into a DataError."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from gpuconform.errors import DataError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python < 3.11 only
    import tomli as tomllib

#: Data files larger than this are refused: no real profile, matrix or facts file comes close.
MAX_BYTES = 16 * 1024 * 1024


def read_text(path: Path) -> str:
    """Return the UTF-8 text of `path`, or raise DataError saying why it cannot be read."""
    if not path.exists():
        raise DataError(str(path), "", "file does not exist")
    if path.is_dir():
        raise DataError(str(path), "", "is a directory, expected a file")
    try:
        size = path.stat().st_size
        if size > MAX_BYTES:
            raise DataError(str(path), "", f"is {size} bytes, larger than the {MAX_BYTES} allowed")
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DataError(str(path), "", f"is not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise DataError(str(path), "", f"cannot be read: {exc.strerror or exc}") from None


def read_toml(path: Path) -> dict[str, Any]:
    """Parse the TOML file at `path`."""
    text = read_text(path)
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise DataError(str(path), "", f"is not valid TOML: {exc}") from None
    except RecursionError:
        raise DataError(str(path), "", "is nested too deeply to parse") from None


def read_json(path: Path) -> Any:
    """Parse the JSON file at `path`."""
    text = read_text(path)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(str(path), "", f"is not valid JSON: {exc}") from None
    except RecursionError:
        raise DataError(str(path), "", "is nested too deeply to parse") from None
