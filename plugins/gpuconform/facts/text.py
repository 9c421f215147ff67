"""Text that every report can carry: one cleaning for strings from outside.

Hostnames, environment values, file contents and library answers can hold lone surrogates
(``GPUCONFORM_NODE_NAME=$'\\xff'`` decodes to ``"\\udcff"``), which no UTF-8 writer accepts, and
control characters that XML forbids (``\\u0001``), which make junit.xml unreadable. `clean`
replaces both with U+FFFD, the replacement character, and keeps everything else: tabs and
newlines, and any printable text in any script.

A framework's error can also run to many lines (TensorFlow's "in user code:" traceback, Keras's
bold ANSI text); `headline` makes one line of it for a summary or a verdict, `plain` drops the
colour codes from the whole text.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"

#: Characters XML 1.0 does not allow, and lone surrogates (U+D800-U+DFFF).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
#: ANSI escape sequences: colour and bold (Keras's error messages carry them), cursor moves.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
#: A Python traceback frame, as TensorFlow quotes them in its "in user code:" errors.
_FRAME = re.compile(r'^(\s*)File ".*", line \d+')
#: How long a headline may be: a summary, the verdict line.
HEADLINE = 300


def clean(text: str) -> str:
    """`text` with lone surrogates and XML-illegal control characters replaced by U+FFFD."""
    return _UNSAFE.sub(REPLACEMENT, text)


def clean_tree(value: Any) -> Any:
    """A parsed JSON/TOML value with `clean` applied to every string in it, keys included."""
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, dict):
        return {clean(k) if isinstance(k, str) else k: clean_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_tree(v) for v in value]
    return value


def plain(text: str) -> str:
    """`text` without ANSI escape sequences."""
    return _ANSI.sub("", text)


def headline(text: str, limit: int = HEADLINE) -> str:
    """A message of many lines as one: colour codes and traceback frames (each with the source line quoted
    under it) dropped, the other non-empty lines joined by " | ", shortened to `limit` characters."""
    kept: list[str] = []
    frame: str | None = None  # the indentation of the frame just read, whose source line may follow
    for line in plain(text).splitlines():
        indent = line[: len(line) - len(line.lstrip())]
        if frame is not None and len(indent) > len(frame) and line.strip():
            frame = None
            continue
        match = _FRAME.match(line)
        frame = match.group(1) if match else None
        if match is None and line.strip():
            kept.append(line.strip())
    joined = " | ".join(kept)
    return joined if len(joined) <= limit else joined[: limit - 3] + "..."
