"""One bounded reader for every file the suite reads: profiles, facts, matrices, fleet inputs, host files.

A file that is not a regular file is refused before it is opened: a FIFO would block the read
forever, ``/dev/zero`` never ends, and opening some devices acts on the hardware. A link is
followed only to a regular file; a link to a FIFO or a device is refused with what it points
at. Regular files are read up to a limit and refused beyond it, whatever their size claims
(procfs files report 0 bytes). Every refusal is an `Unreadable` with a reason a user can act on.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

#: Data files (profiles, facts, matrices, results) larger than this are refused.
DATA_LIMIT = 16 * 1024 * 1024
#: Host files (sysfs attributes, /proc/modules, os-release) larger than this are refused.
HOST_FILE_LIMIT = 1024 * 1024


class Unreadable(Exception):
    """A file that cannot or must not be read; `reason` completes "<path> ..."."""

    def __init__(self, path: Path, reason: str, kind: str) -> None:
        self.path = path
        self.reason = reason
        self.kind = kind  # "missing", "not-a-file", "too-large", "unreadable"
        super().__init__(f"{path}: {reason}")


def read_bytes(path: Path, limit: int = DATA_LIMIT) -> bytes:
    """The bytes of the regular file at `path`, at most `limit` of them; else raise Unreadable."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise Unreadable(path, _missing(path), "missing") from None
    except OSError as exc:
        raise Unreadable(path, f"cannot be read: {exc.strerror or exc}", "unreadable") from None
    _require_regular(path, info.st_mode)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(path, f"cannot be read: {exc.strerror or exc}", "unreadable") from None
    try:
        _require_regular(path, os.fstat(fd).st_mode)  # what was opened, not what was looked at
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1024 * 1024, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise Unreadable(path, f"cannot be read: {exc.strerror or exc}", "unreadable") from None
    finally:
        os.close(fd)
    if size > limit:
        raise Unreadable(path, f"is larger than the {limit} bytes allowed", "too-large")
    return b"".join(chunks)


def read_host_text(path: Path, limit: int = HOST_FILE_LIMIT) -> str:
    """A host file (sysfs, procfs, /etc) as text; undecodable bytes become U+FFFD."""
    from gpuconform.facts.text import clean

    return clean(read_bytes(path, limit).decode("utf-8", errors="replace"))


def _require_regular(path: Path, mode: int) -> None:
    if stat.S_ISREG(mode):
        return
    what = _kind(mode)
    if stat.S_ISDIR(mode):
        raise Unreadable(path, "is a directory, expected a file", "not-a-file")
    if os.path.islink(path):
        raise Unreadable(path, f"is a link to {os.path.realpath(path)}, {what}; expected a regular file", "not-a-file")
    raise Unreadable(path, f"is {what}, expected a regular file", "not-a-file")


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISDIR(mode):
        return "a directory"
    return "not a regular file"


def _missing(path: Path) -> str:
    if os.path.islink(path):
        return f"is a link to {os.readlink(path)}, which does not exist"
    return "file does not exist"
