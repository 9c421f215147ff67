"""Text that every report can carry: one cleaning for strings from outside.

Hostnames, environment values, file contents and library answers can hold lone surrogates
(``GPUCONFORM_NODE_NAME=$'\\xff'`` decodes to ``"\\udcff"``), which no UTF-8 writer accepts, and
control characters that XML forbids (``\\u0001``), which make junit.xml unreadable. `clean`
replaces both with U+FFFD, the replacement character, and keeps everything else: tabs and
newlines, and any printable text in any script.
"""

from __future__ import annotations

import re
from typing import Any

REPLACEMENT = "\ufffd"

#: Characters XML 1.0 does not allow, and lone surrogates (U+D800-U+DFFF).
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


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
