"""Compile small C shims into shared libraries with the system C compiler, cached by content."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest


def compiler() -> str | None:
    """Return the C compiler to use, or None when the machine has none."""
    for name in (os.environ.get("CC"), "cc", "gcc", "clang"):
        if name and shutil.which(name):
            return name
    return None


def require_compiler() -> str:
    """Skip the calling test cleanly when no C compiler exists."""
    cc = compiler()
    if cc is None:
        pytest.skip("simulated hosts need a C compiler (cc, gcc or clang) to build shim libraries")
    return cc


def build_shared(source: str, out: Path, soname: str | None = None, cache: Path | None = None) -> Path:
    """Compile C `source` into the shared library `out` (with `soname`), reusing a cached build."""
    cc = require_compiler()
    flags = ["-shared", "-fPIC", "-O1", "-w"]
    if soname:
        flags.append(f"-Wl,-soname,{soname}")
    digest = hashlib.sha256((source + "\0" + " ".join(flags)).encode()).hexdigest()[:20]
    cache = cache or Path(os.environ.get("GPUCONFORM_SHIM_CACHE", "/tmp/gpuconform-shims"))
    cache.mkdir(parents=True, exist_ok=True)
    built = cache / f"{digest}.so"
    if not built.exists():
        src = cache / f"{digest}.c"
        src.write_text(source)
        tmp = cache / f"{digest}.{os.getpid()}.tmp"
        subprocess.run([cc, *flags, "-o", str(tmp), str(src), "-lpthread"], check=True, capture_output=True)
        os.replace(tmp, built)
    out.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(built, out)
    return out
