"""Reports are complete or absent, never wrong: stale files go at the start, new ones arrive whole.

Our own reports (facts.json, result.json) are written to a temporary file and renamed over the
target (`atomic_file`). junit.xml and report.html are written by pytest's junitxml and by
pytest-html, which open their path and write into it: through a link planted there, and leaving
half a file when the disk fills. So their paths are pointed at a staging file beside the target,
their writers are guarded so that a write error becomes a named report error instead of a
traceback, and once they have written, the staging file is finished (host properties, viewport)
and renamed over the target. At the start of a run, the reports a previous run left in the
directory are removed, so that a run that ends early never leaves them looking current.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from dataclasses import field
from pathlib import Path
from typing import Any
from typing import BinaryIO

import pytest

#: Every file name a run writes into its reports directory.
REPORT_FILES = ("junit.xml", "report.html", "facts.json", "result.json")


@dataclass(eq=False)
class Staged:
    """A report another plugin writes: where it writes (staging) and where it belongs (target)."""

    name: str  # "junit.xml", for messages
    target: Path
    staging: Path
    failed: bool = False


@dataclass(eq=False)
class Staging:
    """The staged reports of one run and the errors met while writing them."""

    run_id: str
    reports: dict[str, Staged] = field(default_factory=dict)  # by format: "junit", "html"
    errors: list[str] = field(default_factory=list)

    def stage(self, fmt: str, target: Path) -> Path:
        """Return the staging path to hand the writer of `target` instead of `target`."""
        target = Path(os.path.abspath(target))
        staging = target.parent / f".{target.name}.{self.run_id}.part"
        self.reports[fmt] = Staged(target.name, target, staging)
        return staging

    def guard_writers(self, config: pytest.Config) -> None:
        """Make a write error in junitxml's or pytest-html's sessionfinish a report error, not a crash,
        and keep their "generated ..." line quiet about a report that was not written."""
        owners = {"junit": _junitxml_plugin(config), "html": _html_plugin(config)}
        hooks = config.pluginmanager.hook
        for fmt, owner in owners.items():
            staged = self.reports.get(fmt)
            if owner is None or staged is None:
                continue
            for impl in hooks.pytest_sessionfinish.get_hookimpls():
                if impl.plugin is owner:
                    impl.function = self._guarded(impl.function, staged)  # type: ignore[misc]
            for impl in hooks.pytest_terminal_summary.get_hookimpls():
                if impl.plugin is owner:
                    impl.function = _unless_failed(impl.function, staged)  # type: ignore[misc]

    def _guarded(self, write: Callable[..., Any], staged: Staged) -> Callable[..., Any]:
        @functools.wraps(write)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            try:
                return write(*args, **kwargs)
            except (OSError, UnicodeError) as exc:
                self.fail(staged, exc)
                return None

        return guarded

    def fail(self, staged: Staged, exc: BaseException) -> None:
        """Record that a report could not be written, and leave no part of it behind."""
        staged.failed = True
        self.errors.append(f"could not write {staged.name}: {describe(exc)}")
        with contextlib.suppress(OSError):
            staged.staging.unlink()

    def publish(self, fmt: str, finish: Callable[[str], str]) -> bool:
        """Finish a staged report (`finish` maps its text to the final text) and rename it into place.

        Returns whether the report is now at its target. Idempotent: a report already
        published, failed or never staged is left as it is.
        """
        staged = self.reports.get(fmt)
        if staged is None or staged.failed or not staged.staging.exists():
            return False
        try:
            text = finish(staged.staging.read_text(encoding="utf-8"))
            write_text(staged.target, text)
        except Exception as exc:  # a report we cannot finish must still not end the run
            self.fail(staged, exc)
            return False
        with contextlib.suppress(OSError):
            staged.staging.unlink()
        return True

    def abandon(self) -> None:
        """Remove staging files nobody published (the run ended before its writers did)."""
        for staged in self.reports.values():
            with contextlib.suppress(OSError):
                staged.staging.unlink()


def remove_stale_reports(directory: Path, keep: Path | None = None) -> None:
    """Remove the reports a previous run left in `directory` (files or links; never a directory).

    `keep` is a file this run reads (the facts it replays), left in place even if it is one of them.
    """
    for name in REPORT_FILES:
        path = directory / name
        if keep is not None and is_same_file(path, keep):
            continue
        if path.is_symlink() or path.is_file():
            path.unlink()
        elif path.exists():
            raise pytest.UsageError(
                f"--host-reports: {path} is in the way of a report and is not a file; "
                "remove it or choose another directory with --host-reports DIR"
            )


def is_same_file(a: Path, b: Path) -> bool:
    """Whether two paths name the same existing file."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def describe(exc: BaseException) -> str:
    """An OSError as its reason ("No space left on device"), anything else as its text."""
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


def write_text(path: Path, text: str) -> None:
    """Write a report atomically, readable as any file the user creates (a fleet collects them)."""
    with atomic_file(path) as handle:
        handle.write(text.encode("utf-8"))


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file that replaces `path` only when the with-block ends without an error.

    The rename replaces whatever `path` is, a link included, and never writes through it;
    a crash or a full disk leaves the previous content (or nothing), never half a report.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
        # mkstemp makes the file private (0600); a report is as readable as the umask allows.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _unless_failed(say: Callable[..., Any], staged: Staged) -> Callable[..., Any]:
    @functools.wraps(say)
    def said(*args: Any, **kwargs: Any) -> Any:
        return None if staged.failed else say(*args, **kwargs)

    return said


def _junitxml_plugin(config: pytest.Config) -> object | None:
    from _pytest.junitxml import xml_key

    return config.stash.get(xml_key, None)


def _html_plugin(config: pytest.Config) -> object | None:
    try:
        from pytest_html.basereport import BaseReport
    except ImportError:
        return None
    return next((p for p in config.pluginmanager.get_plugins() if isinstance(p, BaseReport)), None)


def point_writers_at_targets(config: pytest.Config, staging: Staging) -> None:
    """After publishing, make junitxml's and pytest-html's "generated ..." lines name the real files."""
    junit, html = _junitxml_plugin(config), _html_plugin(config)
    if junit is not None and "junit" in staging.reports:
        junit.logfile = str(staging.reports["junit"].target)  # type: ignore[attr-defined]
    if html is not None and "html" in staging.reports:
        html._report_path = staging.reports["html"].target  # type: ignore[attr-defined]
