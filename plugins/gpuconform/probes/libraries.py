"""The libraries probe: which CUDA user-space libraries TF would dlopen, where, in which versions.

For each soname the installed TF asks for (see `sonames.toml`), it lists every
file TF's search order could reach, then loads each distinct file in a child
process and asks the library its own version (`cudaRuntimeGetVersion`,
`cudnnGetVersion`, ...). File names and package metadata are never trusted for
versions: a renamed or mislabelled library is exactly what the suite is for.

Search order (origin in brackets), following tf-behaviors §5.1-5.2:

1. pip wheels: ``<entry>/nvidia/*/lib`` for each `sys_path` entry, which covers
   ``nvidia/cu13/lib`` too, and TensorRT's ``<entry>/tensorrt`` and ``<entry>/tensorrt_libs`` ("pip");
2. each directory of ``LD_LIBRARY_PATH`` ("LD_LIBRARY_PATH");
3. ``$CONDA_PREFIX/lib`` ("conda");
4. the ld cache, ``<root>/etc/ld.so.cache`` read with ``ldconfig -p -C`` ("ldcache");
5. the default directories ``/lib64``, ``/usr/lib64``, ``/lib/<triplet>``,
   ``/usr/lib/<triplet>`` under `root` ("system");
6. ``/usr/local/cuda/lib64``, ``/usr/local/cuda/lib`` and ``/usr/local/cuda/targets/*/lib``
   under `root`
   ("cuda_home"): dlopen itself never looks there, so a library found only
   here is one the suite can tell the user to put on the loader path.

Note that glibc searches ``LD_LIBRARY_PATH`` before the caller's DT_RUNPATH, so
when both hold a soname the loader takes the ``LD_LIBRARY_PATH`` copy; the suite
judges which copy wins from these candidates, this probe only lists them.

A directory reached twice (``/lib`` → ``/usr/lib`` on merged-/usr systems, a pip
wheel's directory also on ``LD_LIBRARY_PATH``) is searched once, under the origin
that reached it first; a candidate there records every origin that reaches it
(`LibraryCandidate.origins`, in search order), and so does a file the ld cache names
in a directory searched already. Which of those origins the installed TF's own loader
really searches is the suite's question (matrices/library_search.toml). Two markers
are added to what reached a copy: "compat" for a cuda-compat directory
(``/usr/local/cuda/compat``, ``/usr/local/cuda-X.Y/compat``, a ``cuda-compat``
package) and "wsl" for WSL's driver directory ``/usr/lib/wsl/lib``. A libcuda copy
records its driver build, the suffix of the file it resolves to
(``libcuda.so.550.54.15``; the container toolkit reads compat versions the same way).
Distinct directory entries
that resolve to one file (``libcudnn.so.9`` → ``libcudnn.so.9.3.0``, or a
symlink in ``/usr/lib`` to a pip file) all stay candidates with the same
`realpath`, and that file is loaded once.

Files of the same library under another soname (``libcudnn.so.8`` where TF wants
``.so.9``) are reported in `LibraryFacts.other_candidates` / `other_loads`: TF
never opens them, but they explain the commonest broken host and tell what a
host without TF could run.

All files load in one process, as in TF: a library whose DT_NEEDED soname is
already loaded from another directory (libcublas.so.12 needing libcublasLt.so.12)
gets that copy, so a version is the library's own but its dependencies may not be
the ones beside it.

Time bound: one child normally. A library that kills its child (SIGSEGV, SIGABRT,
exit) or hangs is recorded with that error and a fresh child loads the rest, so
one bad library never hides the others. Every child runs under `timeout`, and the
whole probe stops starting children once ``3 × timeout`` have passed since it
began (so two hanging libraries each get the full timeout and the rest still get
theirs); libraries still untried then are recorded with kind "not-tried". The
probe therefore returns within about ``3 × timeout`` seconds.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Mapping
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.version import Version

from gpuconform.expect.tables.sonames import Wanted
from gpuconform.expect.tables.sonames import load_sonames
from gpuconform.facts.base import ProbeError
from gpuconform.facts.model import LibrariesFacts
from gpuconform.facts.model import LibraryCandidate
from gpuconform.facts.model import LibraryFacts
from gpuconform.facts.model import LibraryLoad
from gpuconform.facts.versions import decode_cuda_int
from gpuconform.facts.versions import decode_cudnn_int
from gpuconform.facts.versions import decode_nccl_int
from gpuconform.probes.child import ChildResult
from gpuconform.probes.child import child_env
from gpuconform.probes.child import run_python
from gpuconform.probes.libload_child import VERSION_SYMBOLS
from gpuconform.probes.libsearch import LDCONFIG_TIMEOUT
from gpuconform.probes.libsearch import PROBE
from gpuconform.probes.libsearch import SearchPath
from gpuconform.probes.libsearch import find_candidates

#: The whole probe returns within this many timeouts (see the module docstring).
BUDGET_TIMEOUTS = 3

_CHILD = ("-m", "gpuconform.probes.libload_child")


def probe_libraries(
    cuda: Version | None,
    cudnn_major: int | None,
    basis: str,
    *,
    root: Path = Path("/"),
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
    sys_path: Sequence[str] | None = None,
    tensorrt: Sequence[Wanted] = (),
) -> LibrariesFacts:
    """Find and load the libraries TF would dlopen for `cuda` and `cudnn_major`.

    `cuda` and `cudnn_major` come from the installed TF's matrix row; None (no TF)
    means the newest family in the table (CUDA 12, cuDNN 9). `env` is the
    environment of the process under test (default: ours) and supplies
    ``LD_LIBRARY_PATH``, ``CONDA_PREFIX`` and ``PYTHONPATH``; `sys_path` defaults to
    that ``PYTHONPATH`` plus this interpreter's site-packages. `root` re-roots the
    ld cache, the system directories and /usr/local/cuda, not the pip or
    environment paths, which belong to the live process.

    `tensorrt` are the TensorRT libraries to look for (libnvinfer.so.<major> of the release's TF-TRT,
    matrices/tensorrt.toml): found, and their other majors, the same way, in `LibrariesFacts.tensorrt`.

    Observations never raise: what could not be observed is a ProbeError in the
    facts. Only an unusable shipped ``sonames.toml`` raises (DataError).
    """
    deadline = time.monotonic() + BUDGET_TIMEOUTS * timeout
    table = load_sonames()
    wanted = table.wanted(cuda or table.default_cuda, cudnn_major or table.default_cudnn_major)
    if wanted is None:
        return LibrariesFacts(
            basis=basis,
            error=ProbeError(
                PROBE,
                "unknown-cuda",
                f"no soname row for CUDA {cuda} in {table.source} (as of {table.as_of})",
            ),
        )
    environ = dict(env) if env is not None else dict(os.environ)
    search = SearchPath.build(root, environ, sys_path, min(LDCONFIG_TIMEOUT, timeout))
    found = [find_candidates(table, want, search) for want in (*wanted, *tensorrt)]

    loader = _Loader()
    for want, (candidates, others) in zip((*wanted, *tensorrt), found):
        loader.add(want.name, candidates)
        loader.add(want.name, others)
    loader.run(timeout, deadline, child_env(environ))

    facts = tuple(
        LibraryFacts(
            name=want.name,
            soname=want.soname,
            required=want.required,
            candidates=tuple(candidates),
            loads=loader.loads(want.name, candidates),
            other_candidates=tuple(others),
            other_loads=loader.loads(want.name, others),
        )
        for want, (candidates, others) in zip((*wanted, *tensorrt), found)
    )
    return LibrariesFacts(
        basis=basis,
        libraries=facts[: len(wanted)],
        search_path=search.described(),
        error=search.error or loader.error,
        tensorrt=facts[len(wanted) :],
    )


# ---- loading ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Item:
    id: int
    kind: str
    path: str  # the first candidate path that reaches the file


class _Loader:
    """Loads each distinct (library, file) once, in as few children as crashes allow."""

    def __init__(self) -> None:
        self.items: list[_Item] = []
        self._by_file: dict[tuple[str, str], int] = {}
        self.results: dict[int, LibraryLoad] = {}
        self.error: ProbeError | None = None

    def add(self, kind: str, candidates: Sequence[LibraryCandidate]) -> None:
        for cand in candidates:
            key = (kind, cand.realpath or cand.path)
            if key not in self._by_file:
                self._by_file[key] = len(self.items)
                self.items.append(_Item(len(self.items), kind, cand.path))

    def loads(self, kind: str, candidates: Sequence[LibraryCandidate]) -> tuple[LibraryLoad, ...]:
        """One load per distinct file among `candidates`, in candidate order."""
        ids = dict.fromkeys(self._by_file[(kind, c.realpath or c.path)] for c in candidates)
        return tuple(self.results[i] for i in ids)

    def run(self, timeout: float, deadline: float, env: Mapping[str, str]) -> None:
        pending = list(self.items)
        while pending:
            left = deadline - time.monotonic()
            if left <= 0:
                self._not_tried(pending, timeout)
                return
            request = {"items": [{"id": i.id, "kind": i.kind, "path": i.path} for i in pending]}
            # The full bound each time (the budget only stops new children), so that what a
            # message says of a hang does not depend on how long the others took.
            result = run_python(_CHILD, timeout=timeout, env=env, stdin=json.dumps(request))
            started, opened, done = _parse(result.stdout)
            for item in pending:
                if item.id in done:
                    self.results[item.id] = _load(item, done[item.id])
            pending = [i for i in pending if i.id not in done]
            if not pending:
                return
            failure = result.error(PROBE)
            culprit = next((i for i in pending if i.id == started), None)
            if failure is None or culprit is None:
                # The child ended cleanly without answering, or died before its first library:
                # a fresh child would do the same, so say so for everything left.
                why = failure or ProbeError(PROBE, "invalid-output", "the load child ended without answering")
                self.error = ProbeError(PROBE, why.kind, f"library load child failed: {why.message}")
                for item in pending:
                    self.results[item.id] = LibraryLoad(path=item.path, loaded=False, error=why)
                return
            self.results[culprit.id] = _crashed(culprit, failure, culprit.id in opened, result)
            pending = [i for i in pending if i.id != culprit.id]

    def _not_tried(self, pending: Sequence[_Item], timeout: float) -> None:
        budget = BUDGET_TIMEOUTS * timeout
        message = f"not loaded: the probe's {budget:.0f} s budget went to libraries that hung"
        for item in pending:
            self.results[item.id] = LibraryLoad(
                path=item.path, loaded=False, error=ProbeError(PROBE, "not-tried", message)
            )


def _parse(stdout: str) -> tuple[int | None, set[int], dict[int, dict[str, Any]]]:
    """The last started id, the opened ids and the finished answers in a child's output."""
    started: int | None = None
    opened: set[int] = set()
    done: dict[int, dict[str, Any]] = {}
    for line in stdout.splitlines():
        try:
            message = json.loads(line)
        except ValueError:
            continue  # a half-written last line from a killed child
        if not isinstance(message, dict) or not isinstance(message.get("id"), int):
            continue
        event = message.get("gpuconform")
        if event == "start":
            started = message["id"]
        elif event == "opened":
            opened.add(message["id"])
        elif event == "done":
            done[message["id"]] = message
    return started, opened, done


def _crashed(item: _Item, failure: ProbeError, opened: bool, result: ChildResult) -> LibraryLoad:
    symbol = VERSION_SYMBOLS.get(item.kind, "its version function")
    phase = f"while calling {symbol}" if opened else "during dlopen"
    if result.timed_out:
        what = f"no answer {phase} within {result.bound}"
    elif result.signal_name:
        what = f"killed by {result.signal_name} {phase}"
    else:
        what = f"the process exited with status {result.returncode} {phase}"
    said = [line for line in result.stderr.strip().splitlines() if line.strip()][-3:]
    tail = (": " + " | ".join(said)) if said else ""
    return LibraryLoad(
        path=item.path,
        loaded=opened,
        error=ProbeError(PROBE, failure.kind, f"{item.path}: {what}{tail}"),
    )


def _load(item: _Item, answer: Mapping[str, Any]) -> LibraryLoad:
    raw = answer.get("raw") if isinstance(answer.get("raw"), int) else None
    prop = answer.get("property")
    error = answer.get("error")
    problem = ProbeError(PROBE, str(error["kind"]), str(error["message"])) if isinstance(error, dict) else None
    version: str | None = None
    if isinstance(prop, list) and len(prop) == 3:
        version = ".".join(str(p) for p in prop)
    elif raw is not None:
        try:
            version = _decode(item.kind, raw)
        except ValueError as exc:
            # A library answering 0 or junk is loaded but unversioned; say why, keep the raw value.
            problem = ProbeError(PROBE, "undecodable-version", f"{item.path}: {exc}")
    return LibraryLoad(
        path=item.path,
        loaded=bool(answer.get("loaded")),
        version=version,
        raw_version=raw,
        error=problem,
        cuda_major=_cuda_major(answer.get("cuda")),
    )


def _cuda_major(cudart: Any) -> int | None:
    # cudnnGetCudartVersion(): the CUDART_VERSION the library was built with (12050).
    if not isinstance(cudart, int):
        return None
    try:
        return decode_cuda_int(cudart).major
    except ValueError:
        return None


def _decode(kind: str, raw: int) -> str | None:
    """The dotted version of a version integer; ValueError when it is not one."""
    if kind in ("cuda", "cudart"):
        return str(decode_cuda_int(raw))  # 1000*major + 10*minor; no patch
    if kind == "cudnn":
        return str(decode_cudnn_int(raw))  # 8906 -> 8.9.6, 90300 -> 9.3.0
    if kind == "nccl":
        return str(decode_nccl_int(raw))  # 2804 -> 2.8.4, 22105 -> 2.21.5
    if kind == "nvinfer":
        # getInferLibVersion(): NV_TENSORRT_VERSION, M*1000+m*100+p up to TensorRT 8, M*10000+m*100+p from 10.
        if raw <= 0:
            raise ValueError(f"TensorRT version integer {raw} is not positive")
        unit = 10000 if raw >= 100000 else 1000
        return f"{raw // unit}.{raw % unit // 100}.{raw % 100}"
    if kind == "cublasLt":
        # Like CUBLAS_VERSION: M*1000+m*100+p up to 11.6, M*10000+m*100+p from 11.9 on.
        if raw <= 0:
            raise ValueError(f"cuBLASLt version integer {raw} is not positive")
        unit = 10000 if raw >= 100000 else 1000
        return f"{raw // unit}.{raw % unit // 100}.{raw % 100}"
    return None
