"""The child side of a zygote: a process that imported its framework once and forks a child per batch.

    parent -> zygote (stdin):  {"id": 3, "module": "memory", "names": [...], "env": {...},
                                "stdout": "/tmp/.../3.out", "stderr": "/tmp/.../3.err",
                                "guest": null}  (or another framework's experiments package)
    zygote -> parent (stdout): {"ready": {"TF_ENABLE_ONEDNN_OPTS": "0"}}  (imported: what its switches are)
                               {"id": 3, "pid": 4242}            (forked)
                               {"pid": 4242, "returncode": -9}  (exited: a negative signal, as subprocess says)

Each forked child is what a fresh ``python -m <experiments>.child MODULE NAME...`` would be once
its framework has imported: the framework only imported, no device initialised, so the one-shot
device configuration (visible devices, memory growth, logical devices) is still open to it. Before
its experiments run it gets its own session (the parent kills a hang with everything it spawned),
the kernel's death signal (it dies with the zygote, and the zygote with the parent), its own
stdout and stderr files, the request's environment added to its own (variables the framework
reads only once a device initialises, `gpuconform.frameworks.base.Framework.after_import`), and
fresh random seeds, as a new interpreter would have. A zygote started at a lower CPU priority
(`gpuconform.probes.priority`) gives its children the same: its nice value passes with the fork,
its session's autogroup value is set again in the child's new session.

Before the first fork the zygote freezes what its import allocated out of the garbage collector's
reach (`gc.freeze`, as the gc documentation advises for a parent that forks without exec): a
collection in a child would otherwise walk, and so copy, every page of the framework's objects.
What a child allocates itself is collected as in any interpreter.

Only the standard library (and that stdlib-only module) is imported here; the zygote's main loop
has one thread, so a fork never copies a lock another thread holds.
"""

from __future__ import annotations

import gc
import json
import os
import random
import select
import signal
import sys
from collections.abc import Callable
from typing import Any

from gpuconform.probes.priority import lower_session
from gpuconform.probes.priority import session_nice

#: How often the zygote looks for children that have exited while it waits for requests.
POLL_SECONDS = 0.02
#: prctl(2): the signal the kernel sends a process when its parent exits.
PR_SET_PDEATHSIG = 1


def serve(run: Callable[[str, list[str], str | None], None], switches: dict[str, str] | None = None) -> int:
    """Say `switches` (the import-time switches in effect), then answer requests on stdin until it closes.

    Each request forks a child that calls `run(module, names, guest)` (`gpuconform.frameworks.child_main.run`).
    """
    nice = session_nice()
    gc.freeze()
    _say({"ready": switches or {}})
    stdin = sys.stdin.fileno()
    buffered = b""
    children: set[int] = set()
    while True:
        _reap(children)
        ready, _, _ = select.select([stdin], [], [], POLL_SECONDS)
        if not ready:
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:
            return 0  # the parent is done (or gone): our children die with us
        *lines, buffered = (buffered + chunk).split(b"\n")
        for line in lines:
            if line.strip():
                request = json.loads(line)
                pid = os.fork()
                if pid == 0:
                    _child(request, run, nice)  # never returns
                children.add(pid)
                _say({"id": request["id"], "pid": pid})


def _reap(children: set[int]) -> None:
    for pid in list(children):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            children.discard(pid)
            code = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
            _say({"pid": pid, "returncode": code})


def _say(message: dict[str, Any]) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _child(request: dict[str, Any], run: Callable[[str, list[str], str | None], None], nice: int) -> None:
    code = 1
    try:
        os.setsid()
        lower_session(nice)
        _die_with_parent()
        for fd, key, mode in ((1, "stdout", os.O_WRONLY), (2, "stderr", os.O_WRONLY | os.O_APPEND)):
            target = os.open(request[key], mode)
            os.dup2(target, fd)
            os.close(target)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        os.environ.update(request["env"])
        _reseed()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        guest = request.get("guest")
        run(str(request["module"]), [str(n) for n in request["names"]], None if guest is None else str(guest))
        code = 0
    except BaseException:  # noqa: BLE001 - whatever happened, this child must not return into the loop
        import traceback

        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _die_with_parent() -> None:
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        return
    if os.getppid() == 1:  # the zygote died before the death signal was armed
        os._exit(1)


def _reseed() -> None:
    """Seed the process-wide generators anew: a fork inherits its parent's, a fresh interpreter would not."""
    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed(int.from_bytes(os.urandom(4), "little"))
