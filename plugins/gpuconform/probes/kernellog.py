"""The kernel's messages about the GPU driver: read them where readable, keep the ones that matter.

Xid events ("NVRM: Xid (PCI:0000:3b:00): 79, pid=..., GPU has fallen off the bus.") and the reasons
the nvidia module did not load (Secure Boot: "Required key not available"; version magic; an API
mismatch after an upgrade without a reboot) are in the kernel log and nowhere else. The log is
read from /dev/kmsg without blocking (the records there now, never waiting for more); where that
is not allowed (dmesg_restrict, most containers) the log is recorded as not readable, which no
check takes for "no errors".
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterable
from pathlib import Path

from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import KernelLog
from gpuconform.facts.model import XidEvent
from gpuconform.facts.text import clean

#: Lines worth keeping: the driver's own, nouveau's, and the module loader's about signing.
RELEVANT = re.compile(
    r"NVRM|nvidia|nouveau|Xid|Required key not available|Key was rejected|module verification|"
    r"Lockdown:|disagrees about version|version magic|Unknown symbol|Loading of (?:unsigned )?module.* is rejected",
    re.IGNORECASE,
)
XID = re.compile(r"NVRM: Xid \((?:PCI:)?(?P<pci>[0-9A-Fa-f:.]+)\): (?P<code>\d{1,4}),? ?(?P<text>.*)")
#: Records read from /dev/kmsg at most (a busy host's ring buffer holds a few thousand).
MAX_RECORDS = 20_000
KMSG_DEVICE = (1, 11)  # the character device /dev/kmsg is on every Linux
MAX_LINES = 200
MAX_LINE = 500


def read_kernel_log(root: Path = Path("/")) -> KernelLog:
    """The relevant lines of the kernel log below `root`, or why they could not be read."""
    path = root / "dev" / "kmsg"
    try:
        records = _read_kmsg(path)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        if exc.errno in (errno.EPERM, errno.EACCES):
            reason += " (dmesg_restrict, or a container without CAP_SYSLOG)"
        return KernelLog("/dev/kmsg", ProbeError("kernel_log", "unreadable", f"/dev/kmsg cannot be read: {reason}"))
    lines = relevant_lines(records)
    return KernelLog("/dev/kmsg", None, lines, parse_xids(lines))


def relevant_lines(records: Iterable[str]) -> tuple[str, ...]:
    """The messages of `records` that are about the GPU driver, the newest `MAX_LINES`."""
    kept = [clean(_message(r))[:MAX_LINE] for r in records if RELEVANT.search(r)]
    return tuple(kept[-MAX_LINES:])


def parse_xids(lines: Iterable[str]) -> tuple[XidEvent, ...]:
    """The Xid events among `lines`."""
    events = []
    for line in lines:
        match = XID.search(line)
        if match:
            events.append(XidEvent(int(match["code"]), match["pci"], match["text"].strip()))
    return tuple(events)


def _message(record: str) -> str:
    # A /dev/kmsg record is "<prio>,<seq>,<usec>,<flags>;<message>"; dmesg lines pass unchanged.
    head, sep, message = record.partition(";")
    return message.strip() if sep and head.count(",") >= 3 else record.strip()


def _read_kmsg(path: Path) -> list[str]:
    info = os.stat(path)
    if stat.S_ISREG(info.st_mode):  # a recorded or simulated log (--host-root)
        from gpuconform.facts.reading import HOST_FILE_LIMIT
        from gpuconform.facts.reading import Unreadable
        from gpuconform.facts.reading import read_bytes

        try:
            return read_bytes(path, 8 * HOST_FILE_LIMIT).decode("utf-8", "replace").splitlines()
        except Unreadable as exc:
            raise OSError(errno.EINVAL, exc.reason) from None
    if not stat.S_ISCHR(info.st_mode) or (os.major(info.st_rdev), os.minor(info.st_rdev)) != KMSG_DEVICE:
        # Opening some devices acts on the hardware (a watchdog starts): only the real kmsg is opened.
        raise OSError(errno.EINVAL, "not the kernel log device (char 1:11) or a file")
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    records: list[str] = []
    try:
        while len(records) < MAX_RECORDS:
            try:
                chunk = os.read(fd, 8192)  # one record per read
            except BlockingIOError:
                break  # every record there now has been read
            except OSError as exc:
                if exc.errno == errno.EPIPE:  # the ring buffer overwrote the next record
                    continue
                raise
            if not chunk:
                break
            records.append(chunk.decode("utf-8", "replace"))
    finally:
        os.close(fd)
    return records
