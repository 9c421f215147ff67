"""Lower a child's share of the CPU, so that the run's longest chain of children gets the CPU first.

Only the standard library is used: a zygote calls this before it imports its framework, and each
child it forks calls it again in its own new session.

Nice values alone do not order processes of different sessions on Linux where
``/proc/sys/kernel/sched_autogroup_enabled`` is 1 (the default of most distributions): each session
is one scheduling group, the groups share the CPU equally, and a process's nice value counts only
against the others in its own session (sched(7), "The autogroup feature"). Every gpuconform child
runs in a session of its own (a hang is killed with whatever it spawned), so a lower share needs
the session's autogroup nice value too (``/proc/self/autogroup``, writable by the session's own
processes, raising it only). Both are set, so the order holds with autogroups on or off.
"""

from __future__ import annotations

import contextlib
import os

#: The file that holds this process's session group and its nice value ("/autogroup-42 nice 10").
AUTOGROUP = "/proc/self/autogroup"


def lower(amount: int) -> None:
    """Run this process, and what it forks, `amount` nice levels lower (0: unchanged)."""
    if amount <= 0:
        return
    with contextlib.suppress(OSError):
        os.nice(amount)
    lower_session(amount)


def lower_session(amount: int) -> None:
    """Set the autogroup nice value of the session this process leads to `amount` (not where it leads none).

    A process that only joined a session (a child left in the parent's) would lower the parent's
    whole session with it, pytest's own process included.
    """
    if amount <= 0 or os.getsid(0) != os.getpid():
        return
    with contextlib.suppress(OSError), open(AUTOGROUP, "w", encoding="ascii") as group:  # not Linux: no such file
        group.write(str(amount))


def session_nice() -> int:
    """The autogroup nice value of this process's session (0 where there is none to read)."""
    try:
        with open(AUTOGROUP, encoding="ascii") as group:
            return int(group.read().split()[-1])
    except (OSError, ValueError, IndexError):
        return 0
