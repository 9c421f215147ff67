"""Command-line options, their ini twins and environment variables, resolved once per run.

Precedence: command line > environment variable > ini file > default. Each value
is validated where it enters, and a bad one is a usage error that names the flag,
ini key or variable it came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from typing import Callable

import pytest

GROUP = "gpuconform"
GROUP_DESC = "GPU host conformance (gpuconform)"

REPORT_FORMATS = ("junit", "html", "facts", "result")


@dataclass(frozen=True)
class Option:
    """One setting: its flag, ini key, environment variable, help text and default."""

    flag: str
    ini: str
    env: str
    help: str
    default: str | None
    metavar: str | None = None
    is_flag: bool = False


PROFILE = Option(
    "--host-profile",
    "host_profile",
    "GPUCONFORM_PROFILE",
    "Host profile: a built-in name (see --host-profile=list) or a path to a TOML file. "
    "Default 'auto' picks the built-in matching this host's GPUs, or 'cpu'",
    "auto",
    "NAME|PATH",
)
FACTS = Option(
    "--host-facts",
    "host_facts",
    "GPUCONFORM_FACTS",
    "Replay a recorded Facts file (e.g. reports/facts.json) instead of probing this host",
    None,
    "FILE",
)
ROOT = Option(
    "--host-root",
    "host_root",
    "GPUCONFORM_ROOT",
    "Read /sys, /proc, /dev and CUDA install trees below DIR instead of /",
    "/",
    "DIR",
)
MATRICES = Option(
    "--host-matrices",
    "host_matrices",
    "GPUCONFORM_MATRICES",
    "Read the compatibility matrices from DIR (a copy of matrices/ you updated) instead of the shipped ones",
    "",
    "DIR",
)
REPORTS = Option(
    "--host-reports",
    "host_reports",
    "GPUCONFORM_REPORTS",
    "Directory for junit.xml, report.html, facts.json and result.json; 'off' writes none",
    "reports",
    "DIR",
)
FORMATS = Option(
    "--host-report-formats",
    "host_report_formats",
    "GPUCONFORM_REPORT_FORMATS",
    "Comma-separated reports to write: " + ",".join(REPORT_FORMATS),
    ",".join(REPORT_FORMATS),
    "LIST",
)
TIMEOUT = Option(
    "--host-probe-timeout",
    "host_probe_timeout",
    "GPUCONFORM_PROBE_TIMEOUT",
    "Seconds a probe child process (NVML, library loading) may run before it is killed",
    "20",
    "SECONDS",
)
TF_TIMEOUT = Option(
    "--host-tf-timeout",
    "host_tf_timeout",
    "GPUCONFORM_TF_TIMEOUT",
    "Seconds a TensorFlow child process may run (first use of a GPU may JIT-compile kernels for minutes)",
    "300",
    "SECONDS",
)
GPU_PER_WORKER = Option(
    "--host-gpu-per-worker",
    "host_gpu_per_worker",
    "GPUCONFORM_GPU_PER_WORKER",
    "With pytest-xdist on a multi-GPU host, pin each worker to one GPU (CUDA_VISIBLE_DEVICES)",
    "false",
    is_flag=True,
)
COMPAT = Option(
    "--host-compat",
    "host_compat",
    "GPUCONFORM_COMPAT",
    "Print and report every TensorFlow release with the verdict it would get on this host",
    "false",
    is_flag=True,
)
STRICT = Option(
    "--host-strict",
    "host_strict",
    "GPUCONFORM_STRICT",
    "Fail the host verdict on warnings too (for CI gates)",
    "false",
    is_flag=True,
)

OPTIONS = (PROFILE, FACTS, ROOT, MATRICES, REPORTS, FORMATS, TIMEOUT, TF_TIMEOUT, GPU_PER_WORKER, COMPAT, STRICT)


@dataclass(frozen=True)
class Settings:
    """The resolved settings of one run."""

    profile: str
    profile_source: str  # "option --host-profile", "environment variable GPUCONFORM_PROFILE", ...
    facts_file: Path | None
    root: Path
    matrices_dir: Path | None  # None: the matrices shipped with gpuconform
    reports_dir: Path | None  # None: reports are off
    report_formats: frozenset[str]
    probe_timeout: float
    tf_timeout: float
    strict: bool
    gpu_per_worker: bool
    compat: bool
    explicit: frozenset[str]  # flags given on the command line


def add_options(parser: pytest.Parser) -> None:
    """Register every option and its ini twin."""
    group = parser.getgroup(GROUP, GROUP_DESC)
    for opt in OPTIONS:
        dest = _dest(opt)
        help_text = f"{opt.help} (ini: {opt.ini}, env: {opt.env})"
        if opt.is_flag:
            group.addoption(opt.flag, action="store_true", default=None, dest=dest, help=help_text)
            # A string, parsed by _boolean: pytest's own bool parsing raises a bare ValueError.
            parser.addini(opt.ini, opt.help, default=opt.default)
        else:
            group.addoption(opt.flag, default=None, dest=dest, metavar=opt.metavar, help=help_text)
            parser.addini(opt.ini, opt.help, default=opt.default)


def given_on_command_line(config: pytest.Config) -> frozenset[str]:
    """The flags of ours that the user passed explicitly."""
    return frozenset(o.flag for o in OPTIONS if config.getoption(_dest(o)) is not None)


def lists_profiles(config: pytest.Config) -> bool:
    """Whether the profile asked for is `list` (in any case): describe the built-ins, check nothing."""
    return str(_raw(config, PROFILE)).strip().lower() == "list"


def resolve(config: pytest.Config) -> Settings:
    """Resolve every setting by precedence and validate it; bad values raise UsageError."""
    base = config.invocation_params.dir
    facts = _raw(config, FACTS)
    reports = str(_raw(config, REPORTS)).strip()
    matrices = str(_raw(config, MATRICES)).strip()
    return Settings(
        profile=str(_raw(config, PROFILE)).strip(),
        profile_source=source(config, PROFILE),
        facts_file=_existing_file(config, FACTS, base) if facts else None,
        root=_directory(config, ROOT, base),
        matrices_dir=_directory(config, MATRICES, base) if matrices else None,
        reports_dir=None if reports.lower() in ("off", "none") else base / reports,
        report_formats=_formats(config),
        probe_timeout=_number(config, TIMEOUT, lambda v: 0 < v <= 3600, "a number of seconds in (0, 3600]"),
        tf_timeout=_number(config, TF_TIMEOUT, lambda v: 0 < v <= 86400, "a number of seconds in (0, 86400]"),
        strict=_boolean(config, STRICT),
        gpu_per_worker=_boolean(config, GPU_PER_WORKER),
        compat=_boolean(config, COMPAT),
        explicit=given_on_command_line(config),
    )


def _dest(opt: Option) -> str:
    return opt.flag.lstrip("-").replace("-", "_")


def _raw(config: pytest.Config, opt: Option) -> Any:
    """The value by precedence. An empty variable or ini value counts as unset (CI templates
    write `VAR=` for "not set"); an empty value typed on the command line is refused."""
    value = config.getoption(_dest(opt))
    if value is not None:
        if isinstance(value, str) and not value.strip():
            default = f" (default: {opt.default})" if opt.default else ""
            raise _bad(config, opt, value, f"a value; leave the option out for its default{default}")
        return value
    if os.environ.get(opt.env, "").strip():
        return os.environ[opt.env]
    ini = config.getini(opt.ini)
    if isinstance(ini, str) and not ini.strip():
        return opt.default if opt.default is not None else ""
    return ini


def source(config: pytest.Config, opt: Option) -> str:
    """Where the value of `opt` came from, as error messages name it."""
    if config.getoption(_dest(opt)) is not None:
        return f"option {opt.flag}"
    if os.environ.get(opt.env, "").strip():
        return f"environment variable {opt.env}"
    if str(config.getini(opt.ini)).strip() and config.getini(opt.ini) != opt.default:
        return f"ini key {opt.ini} in {config.inipath or 'the config file'}"
    return source_of_default(opt)


def source_of_default(opt: Option) -> str:
    """What `source` says of a value nobody set."""
    return f"the default of {opt.flag}"


def _bad(config: pytest.Config, opt: Option, value: Any, accepted: str) -> pytest.UsageError:
    return pytest.UsageError(f"{source(config, opt)}: invalid value {value!r}; expected {accepted}")


def _number(config: pytest.Config, opt: Option, ok: Callable[[float], bool], accepted: str) -> float:
    raw = _raw(config, opt)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise _bad(config, opt, raw, accepted) from None
    if not ok(value):
        raise _bad(config, opt, raw, accepted)
    return value


def _boolean(config: pytest.Config, opt: Option) -> bool:
    raw = _raw(config, opt)
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise _bad(config, opt, raw, "true or false")


def _formats(config: pytest.Config) -> frozenset[str]:
    raw = str(_raw(config, FORMATS))
    names = {part.strip() for part in raw.split(",") if part.strip()}
    unknown = sorted(names - set(REPORT_FORMATS))
    if unknown or not names:
        accepted = f"a comma-separated subset of {','.join(REPORT_FORMATS)} (--host-reports off for none)"
        raise _bad(config, FORMATS, raw, accepted)
    return frozenset(names)


def _existing_file(config: pytest.Config, opt: Option, base: Path) -> Path:
    path = base / str(_raw(config, opt))
    if not path.exists():
        raise _bad(config, opt, str(path), "an existing file")
    if path.is_dir():
        raise _bad(config, opt, str(path), "a file, not a directory")
    return path


def _directory(config: pytest.Config, opt: Option, base: Path) -> Path:
    path = base / str(_raw(config, opt))
    if not path.is_dir():
        raise _bad(config, opt, str(path), "an existing directory")
    return path
