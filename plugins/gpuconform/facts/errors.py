"""Errors for bad input: each names the file, the key, what was found and what is accepted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class DataError(ValueError):
    """A profile, matrix or facts file that cannot be used.

    The plugin turns it into a pytest usage error (exit code 4).
    """

    def __init__(self, source: str, key: str, problem: str, accepted: str | None = None) -> None:
        self.source = source
        self.key = key
        self.problem = problem
        self.accepted = accepted
        super().__init__(str(self))

    def __str__(self) -> str:
        where = f"{self.source}: {self.key}" if self.key else self.source
        text = f"{where}: {self.problem}"
        if self.accepted:
            text += f" (accepted: {self.accepted})"
        return text


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """Return " did you mean 'x'?" for a near miss, or an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else ""


def join_choices(choices: Iterable[str]) -> str:
    """Format a list of accepted names for an error message."""
    return ", ".join(sorted(choices))
