"""How pytest was invoked: repair what an option value written as a separate word misled it into.

pytest chooses the rootdir and the ini file before it loads plugins from entry points, so at that
moment ``--host-profile /abs/lab.toml`` is an unknown flag followed by a test path: pytest anchors
the rootdir at ``/abs``, misses the project's ``pyproject.toml`` (testpaths, strict options,
addopts) and collects the wrong tree. ``--host-profile=/abs/lab.toml`` is fine. Once this plugin
is loaded, `repair_rootdir` makes the same choice again with our options known and, when it
differs, puts pytest's configuration where it would have been. Where this pytest's internals are
not the ones we know, it is a usage error that prints the command line written with ``=``.
"""

from __future__ import annotations

import copy
import inspect
import os
import shlex
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from gpuconform.plugin import settings as opts


def value_flags() -> frozenset[str]:
    """Our options that take a value (and so can be written as two words)."""
    return frozenset(o.flag for o in opts.OPTIONS if not o.is_flag)


def joined(args: Sequence[str]) -> list[str]:
    """`args` with each of our ``--opt VALUE`` pairs written as ``--opt=VALUE``."""
    flags = value_flags()
    out: list[str] = []
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in flags and i + 1 < len(args):
            out.append(f"{arg}={args[i + 1]}")
            i += 2
            continue
        out.append(arg)
        i += 1
    return out


def corrected_command(config: pytest.Config) -> str:
    """The command line the user typed, with our values joined to their options."""
    return shlex.join(["pytest", *joined([str(a) for a in config.invocation_params.args])])


def repair_rootdir(config: pytest.Config, args: list[str]) -> None:
    """Redo pytest's rootdir and ini file choice with our options known; fix `args` in place.

    Called from pytest_load_initial_conftests, before initial conftests load and before the
    command line is parsed for good, so everything decided from the ini file afterwards (test
    paths, markers, xfail_strict, filterwarnings, conftest cut-off) follows the repaired choice.
    """
    given = [str(a) for a in config.invocation_params.args]
    if not any(a in value_flags() for a in given):
        return
    env_addopts = shlex.split(os.environ.get("PYTEST_ADDOPTS", ""))
    parser = config._parser
    ns = parser.parse_known_args([*env_addopts, *given], namespace=copy.copy(config.option))
    try:
        rootpath, inipath, inicfg = _determine_setup(config, ns)
    except (ImportError, TypeError, AttributeError):
        raise _cannot_repair(config) from None
    if rootpath == config.rootpath and inipath == config.inipath:
        return
    ini_attr = "_inicfg" if "_inicfg" in vars(config) else "inicfg"
    if not all(hasattr(config, a) for a in ("_rootpath", "_inipath", "_inicache", ini_attr)):
        raise _cannot_repair(config)
    old_addopts = list(config.getini("addopts"))
    config._rootpath = rootpath
    config._inipath = inipath
    setattr(config, ini_attr, inicfg)
    config._inicache.clear()
    parser.extra_info["rootdir"] = str(rootpath)
    parser.extra_info["inifile"] = str(inipath)
    new_addopts = list(config.getini("addopts"))
    start = len(env_addopts)
    if args[start : start + len(old_addopts)] == old_addopts:
        del args[start : start + len(old_addopts)]
    args[start:start] = new_addopts
    config.pluginmanager.consider_preparse(new_addopts, exclude_only=False)
    known = parser.parse_known_args(args, namespace=copy.copy(config.option))
    if known.confcutdir is None:
        known.confcutdir = str(inipath.parent if inipath is not None else rootpath)
    config.known_args_namespace = known
    config._checkversion()
    configure_python_path = getattr(config, "_configure_python_path", None)
    if callable(configure_python_path):  # pytest 9; pytest 8 does it in a later hook
        configure_python_path()


def _determine_setup(config: pytest.Config, ns: Any) -> tuple[Path, Path | None, Any]:
    from _pytest.config import findpaths

    determine = findpaths.determine_setup
    kwargs: dict[str, Any] = {
        "inifile": ns.inifilename,
        "args": [str(a) for a in ns.file_or_dir],
        "rootdir_cmd_arg": ns.rootdir or None,
        "invocation_dir": config.invocation_params.dir,
    }
    if "override_ini" in inspect.signature(determine).parameters:
        kwargs["override_ini"] = ns.override_ini
    found = determine(**kwargs)
    return found[0], found[1], found[2]


def _cannot_repair(config: pytest.Config) -> pytest.UsageError:
    return pytest.UsageError(
        "a gpuconform option was given its value as a separate word, which this pytest takes for a "
        "test path when it chooses the rootdir and ini file; write each value with '=' instead:\n"
        f"  {corrected_command(config)}"
    )


#: Directories looked into for test files before giving up and assuming there are some.
MAX_DIRS_SCANNED = 2000


def run_installed_suites_if_nothing_named(config: pytest.Config, suites: Path) -> str | None:
    """Collect the installed suites when the run names nothing to collect; return a header note then.

    ``pytest --host-profile t4`` in a directory without our pyproject.toml names no test paths,
    and pytest would collect that directory: "no checks ran". When that directory holds no test
    files either, the run collects the installed checks instead. Given paths, ini testpaths and a
    directory of one's own tests are the user's choice and stay as they are (a note at the end
    then says which command runs the checks).
    """
    if getattr(config, "args_source", None) != pytest.Config.ArgsSource.INVOCATION_DIR:
        return None
    if _holds_test_files(config.invocation_params.dir, config):
        return None
    config.args = [str(suites)]
    config.args_source = pytest.Config.ArgsSource.ARGS
    return f"no test paths given: running the installed checks in {suites} (pytest --pyargs gpuconform.suites)"


def pin_terminal_summary(config: pytest.Config) -> bool:
    """Choose the short summary, whatever the user's ini says; True: gpuconform's grouped one.

    With -v, pytest's line for every outcome (-ra); with an -r the user typed, what it asks for.
    Otherwise pytest's short summary is off and the session prints the checks that did not
    pass grouped by layer and skip reason (`gpuconform.report.terminal`).
    """
    typed = [str(a) for a in config.invocation_params.args]
    if any(a.startswith("-r") or a == "--report-chars" or a.startswith("--report-chars=") for a in typed):
        return False
    if config.option.verbose > 0:
        config.option.reportchars = "a"
        return False
    config.option.reportchars = "N"  # none (pytest adds the warnings summary back itself)
    return True


def _holds_test_files(directory: Path, config: pytest.Config) -> bool:
    """Whether pytest would find test files below `directory` (python_files, norecursedirs)."""
    import fnmatch

    patterns = [str(p) for p in config.getini("python_files")]
    skip = [str(p) for p in config.getini("norecursedirs")]
    for scanned, (_, dirs, files) in enumerate(os.walk(directory)):
        if scanned >= MAX_DIRS_SCANNED:
            return True  # a big tree: leave it to pytest rather than guess
        if any(fnmatch.fnmatch(f, p) for f in files for p in patterns):
            return True
        dirs[:] = [d for d in dirs if not any(fnmatch.fnmatch(d, p) for p in skip)]
    return False
