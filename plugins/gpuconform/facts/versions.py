"""Parse and decode the version numbers a GPU host reports.

Every function here is pure and refuses junk with a ValueError whose message quotes the
bad input and says what was expected; nothing else escapes. Probes feed these functions
text and integers from files, NVML and shared libraries, so "junk" is a normal input.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable

from packaging.specifiers import SpecifierSet
from packaging.version import InvalidVersion
from packaging.version import Version

#: NVIDIA driver versions have 2 or 3 components ("570.26", "550.54.15"); 4 leaves room for
#: vendor builds. More than that is not a driver version.
MAX_DRIVER_COMPONENTS = 4
#: Driver branches are three digits today; anything above this is junk, not a future branch.
MAX_DRIVER_MAJOR = 9999
#: No component of a real driver version has more digits than this ("418.152.00" has 3).
MAX_COMPONENT_DIGITS = 6
#: Longest input worth parsing: real inputs are a few dozen characters.
MAX_TEXT = 256

_DRIVER_RE = re.compile(r"\d+(?:\.\d+)*")
_CC_DOTTED_RE = re.compile(r"(\d{1,2})\.(\d)")
# "sm_75", "compute_90", "sm_100", and the arch-specific "sm_90a" / family "sm_100f" forms.
_CC_ARCH_RE = re.compile(r"(?:sm|compute)_(\d{1,2})(\d)[af]?")


class DriverVersion(Version):
    """A driver version that prints as NVIDIA writes it.

    packaging normalises "470.82.01" to "470.82.1", which no one would recognise in a
    message or find in NVIDIA's tables; this subclass compares like any Version but keeps
    the original text for str().
    """

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._text = text

    def __str__(self) -> str:
        return self._text

    def __repr__(self) -> str:
        return f"<DriverVersion({self._text!r})>"


class WrittenSpecifierSet(SpecifierSet):
    """A SpecifierSet that prints as the matrix writes it (">=3.10,<3.14"), not re-sorted."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self._text = text

    def __str__(self) -> str:
        return self._text


def _text_arg(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be text, got {type(text).__name__} {_short(text)}")
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what} is {len(text)} characters long, expected a short version string")
    return text.strip()


def _int_arg(value: object, what: str) -> int:
    # bool is an int subclass; True is never a version.
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{what} must be an integer, got {type(value).__name__} {_short(value)}")
    return value


def _short(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# --- NVIDIA driver -------------------------------------------------------------------------------


def parse_driver_version(text: str) -> DriverVersion:
    """Parse an NVIDIA driver version such as "550.54.15", "418.152.00" or "570.26"."""
    stripped = _text_arg(text, "driver version")
    if not stripped:
        raise ValueError("driver version is empty")
    if not _DRIVER_RE.fullmatch(stripped):
        raise ValueError(
            f"not a driver version: {stripped!r} (expected dot-separated numbers like '550.54.15')"
        )
    parts = stripped.split(".")
    if len(parts) > MAX_DRIVER_COMPONENTS:
        raise ValueError(
            f"not a driver version: {stripped!r} has {len(parts)} components, "
            f"at most {MAX_DRIVER_COMPONENTS} expected"
        )
    if any(len(p) > MAX_COMPONENT_DIGITS for p in parts):
        raise ValueError(f"not a driver version: {stripped!r} has an absurdly long component")
    major = int(parts[0])
    if not 1 <= major <= MAX_DRIVER_MAJOR:
        raise ValueError(
            f"not a driver version: {stripped!r} has branch {major}, "
            f"expected 1 to {MAX_DRIVER_MAJOR}"
        )
    return DriverVersion(stripped)


def driver_branch(version: Version | str) -> int:
    """The driver branch ("R550") of a driver version: its first component."""
    v = parse_driver_version(version) if isinstance(version, str) else version
    return v.release[0]


def parse_nvidia_proc_version(text: str) -> str | None:
    """The driver version in the text of /proc/driver/nvidia/version, or None if absent.

    Both the proprietary line ("NVRM version: NVIDIA UNIX x86_64 Kernel Module  550.54.15  ...")
    and the open-module line ("... Open Kernel Module for x86_64  570.86.15  Release Build ...")
    carry the version as the first dotted-number word, so no per-format regex is needed.
    """
    if not isinstance(text, str):
        raise ValueError(
            f"/proc/driver/nvidia/version text must be text, got {type(text).__name__}"
        )
    for line in text.splitlines():
        if not line.lstrip().startswith("NVRM version:"):
            continue
        for word in line.split():
            if _DRIVER_RE.fullmatch(word) and "." in word:
                try:
                    return str(parse_driver_version(word))
                except ValueError:
                    continue
    return None


# --- integers reported by the CUDA, cuDNN and NCCL libraries -------------------------------------


def decode_cuda_int(value: int) -> Version:
    """Decode a CUDA version integer (cudaRuntimeGetVersion, cuDriverGetVersion): 12040 -> 12.4.

    The encoding is 1000 * major + 10 * minor.
    """
    v = _int_arg(value, "CUDA version integer")
    if v <= 0:
        raise ValueError(f"CUDA version integer {v} is not positive")
    if v % 10 != 0:
        raise ValueError(
            f"CUDA version integer {v} does not end in 0 (expected 1000*major + 10*minor)"
        )
    major, minor = v // 1000, (v % 1000) // 10
    if not 1 <= major <= 99:
        raise ValueError(f"CUDA version integer {v} decodes to major {major}, expected 1 to 99")
    return Version(f"{major}.{minor}")


def encode_cuda_int(version: Version) -> int:
    """The integer cudaRuntimeGetVersion returns for `version` (inverse of decode_cuda_int)."""
    major, minor = (list(version.release) + [0])[:2]
    return 1000 * major + 10 * minor


def decode_cudnn_int(value: int) -> Version:
    """Decode cudnnGetVersion(): 8906 -> 8.9.6, 90300 -> 9.3.0.

    cuDNN 9 changed the encoding from 1000*major + 100*minor + patch to
    10000*major + 100*minor + patch, so the value itself says which one applies.
    """
    v = _int_arg(value, "cuDNN version integer")
    if v <= 0:
        raise ValueError(f"cuDNN version integer {v} is not positive")
    if v >= 90000:
        major, minor, patch = v // 10000, (v // 100) % 100, v % 100
        if major > 99:
            raise ValueError(
                f"cuDNN version integer {v} decodes to major {major}, expected 1 to 99"
            )
    elif 1000 <= v < 9000:
        major, minor, patch = v // 1000, (v // 100) % 10, v % 100
    else:
        raise ValueError(
            f"cuDNN version integer {v} is not a cuDNN version "
            "(expected 1000*major + 100*minor + patch below 9000, "
            "or 10000*major + 100*minor + patch from 90000)"
        )
    return Version(f"{major}.{minor}.{patch}")


def encode_cudnn_int(version: Version) -> int:
    """The integer cudnnGetVersion() returns for `version` (inverse of decode_cudnn_int)."""
    major, minor, patch = (list(version.release) + [0, 0])[:3]
    if major >= 9:
        return 10000 * major + 100 * minor + patch
    return 1000 * major + 100 * minor + patch


def decode_nccl_int(value: int) -> Version:
    """Decode ncclGetVersion(): 22707 -> 2.27.7, 2708 -> 2.7.8.

    NCCL_VERSION(X, Y, Z) is X*1000 + Y*100 + Z when X <= 2 and Y <= 8, else X*10000 + Y*100 + Z.
    """
    v = _int_arg(value, "NCCL version integer")
    if v <= 0:
        raise ValueError(f"NCCL version integer {v} is not positive")
    if v >= 10000:
        major, minor, patch = v // 10000, (v // 100) % 100, v % 100
        if major > 99:
            raise ValueError(f"NCCL version integer {v} decodes to major {major}, expected 1 to 99")
    else:
        major, minor, patch = v // 1000, (v // 100) % 10, v % 100
        # The short encoding only exists for X <= 2 and Y <= 8; anything else is not a code.
        if not (1 <= major <= 2 and minor <= 8):
            raise ValueError(
                f"NCCL version integer {v} is not an NCCL version "
                "(X*1000 + Y*100 + Z is only used for X <= 2 and Y <= 8)"
            )
    return Version(f"{major}.{minor}.{patch}")


def encode_nccl_int(version: Version) -> int:
    """The integer ncclGetVersion() returns for `version` (inverse of decode_nccl_int)."""
    major, minor, patch = (list(version.release) + [0, 0])[:3]
    if major <= 2 and minor <= 8:
        return 1000 * major + 100 * minor + patch
    return 10000 * major + 100 * minor + patch


# --- compute capability --------------------------------------------------------------------------


def parse_cc(value: str | tuple[int, int]) -> tuple[int, int]:
    """Parse a compute capability: "7.5", "sm_75", "compute_90", "sm_100", (7, 5) -> (major, minor).

    The arch-specific suffixes of "sm_90a" / "sm_100f" are accepted and dropped: they name
    the same compute capability.
    """
    if isinstance(value, tuple):
        ints = all(isinstance(p, int) and not isinstance(p, bool) for p in value)
        if len(value) != 2 or not ints:
            raise ValueError(f"compute capability must be two integers, got {_short(value)}")
        major, minor = value
    else:
        text = _text_arg(value, "compute capability")
        match = _CC_DOTTED_RE.fullmatch(text) or _CC_ARCH_RE.fullmatch(text.lower())
        if match is None:
            raise ValueError(
                f"not a compute capability: {text!r} (expected '7.5', 'sm_75' or 'compute_90')"
            )
        major, minor = int(match.group(1)), int(match.group(2))
    if not (1 <= major <= 99 and 0 <= minor <= 9):
        raise ValueError(
            f"compute capability {major}.{minor} is out of range (major 1 to 99, minor 0 to 9)"
        )
    return (major, minor)


def format_cc(cc: tuple[int, int]) -> str:
    """(7, 5) -> "7.5"."""
    return f"{cc[0]}.{cc[1]}"


def parse_release(text: str) -> Version:
    """Parse a PEP 440 version of a package, Python or a library ("3.11.7", "9.3.0", "2.1.0.post1")."""
    stripped = _text_arg(text, "version")
    try:
        return Version(stripped)
    except (InvalidVersion, ValueError):
        raise ValueError(f"not a version: {stripped!r} (expected numbers like '3.11.7')") from None


def parse_date(text: str) -> datetime.date:
    """Parse a calendar date ("2022-03-14")."""
    stripped = _text_arg(text, "date")
    try:
        return datetime.date.fromisoformat(stripped)
    except ValueError:
        raise ValueError(f"not a date: {stripped!r} (expected YYYY-MM-DD, e.g. '2022-03-14')") from None


def check_bits(bits: int) -> Callable[[int], int]:
    """A parser accepting integers that fit in `bits` unsigned bits (PCI ids, class codes)."""

    def check(value: int) -> int:
        if not 0 <= _int_arg(value, "identifier") < (1 << bits):
            raise ValueError(f"{value:#x} does not fit in {bits} bits" if value >= 0 else f"{value} is negative")
        return value

    return check


# --- TensorFlow ----------------------------------------------------------------------------------


def parse_tf_version(text: str) -> Version:
    """Parse a TensorFlow version ("2.19.1", "2.15.0.post1", "2.18.0rc0", "2.17.0-rc1")."""
    stripped = _text_arg(text, "TensorFlow version")
    if not stripped:
        raise ValueError("TensorFlow version is empty")
    try:
        version = Version(stripped)
    except (InvalidVersion, ValueError):
        raise ValueError(f"not a TensorFlow version: {stripped!r}") from None
    if version.epoch != 0 or len(version.release) > MAX_DRIVER_COMPONENTS:
        raise ValueError(f"not a TensorFlow version: {stripped!r}")
    if any(part > 10**6 for part in version.release):
        raise ValueError(f"not a TensorFlow version: {stripped!r} has an absurd component")
    return version


def release_series(version: Version | str) -> str:
    """The "major.minor" series of a release: "2.19.1" -> "2.19"."""
    v = parse_tf_version(version) if isinstance(version, str) else version
    major, minor = (list(v.release) + [0])[:2]
    return f"{major}.{minor}"
