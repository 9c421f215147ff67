"""What a conformance run prints for people: the checks that did not pass, and the verdict block.

pytest's ``-ra`` prints one SKIPPED line per check, at the line that raised the skip, with a
blocked check's reason as long as its chain: sixty lines above the verdict that nobody reads.
By default a run prints instead each check that failed or could not check, under its layer,
then each skip reason once with the number of checks it covers: a blocked check is counted under
the root check that blocked it, a not-applicable one under its reason. ``-v``, ``-rA`` or any
``-r`` the user types brings pytest's own lines back (`gpuconform.plugin.invocation`).
"""

from __future__ import annotations

from collections.abc import Iterable

from gpuconform.verdict.judge import CheckOutcome
from gpuconform.verdict.judge import Verdict
from gpuconform.verdict.judge import layer_rank
from gpuconform.verdict.judge import layer_summaries

#: The title of the section (printed only when a check did not pass).
TITLE = "checks that did not pass"
#: How pytest itself names these outcomes in its short summary.
WORDS = {"failed": "FAILED", "error": "ERROR", "xpassed": "XPASS"}
#: The order the grouped skips are printed in: what a failure hid, then what is known, then the rest.
GROUPS = ("blocked", "xfailed", "not-applicable")
#: The last line of the section: how to see every check again.
DETAIL_HINT = "each check with its own reason: pytest -rA (or -v)"


def not_passed(outcomes: Iterable[CheckOutcome], strict: bool = False) -> list[str]:
    """The section's lines: problems by layer, then skips grouped by reason (empty: all passed)."""
    ordered = sorted(outcomes, key=lambda o: layer_rank(o.layer))
    statuses = {s.layer: s.status for s in layer_summaries(ordered, strict)}
    lines: list[str] = []
    shown: set[str] = set()
    for layer in statuses:
        problems = [o for o in ordered if o.layer == layer and o.is_problem]
        if problems:
            lines.append(f"{layer}: {statuses[layer]}")
        for o in problems:
            lines.append(f"  {WORDS.get(o.kind, o.kind.upper())} {o.nodeid or o.check_id} - {o.reason or o.outcome}")
            shown.add(o.check_id)
    grouped = skip_groups(ordered, shown)
    if grouped:
        lines += [*grouped, DETAIL_HINT]
    return lines


def skip_groups(ordered: list[CheckOutcome], shown: Iterable[str] = ()) -> list[str]:
    """One line per skip reason: how many checks it covers, and where they are.

    Blocked checks group by their root check; its reason is left out when the root is among
    `shown` (its own line says it). Not-applicable checks group by their reason's text, and the
    parameters of one check whose reasons differ only by the parameter (one per library) make one
    line. Known regressions (xfailed) are counted: each one's workaround is long, and -rx prints it.
    """
    said = set(shown)
    groups: dict[tuple[str, str], list[CheckOutcome]] = {}
    for o in ordered:
        if o.kind == "blocked":
            key = o.blocked_by or o.skip_reason
        elif o.kind == "xfailed":
            key = ""
        elif o.kind == "not-applicable":
            key = o.skip_reason
        else:
            continue
        groups.setdefault((o.kind, key), []).append(o)
    lines = []
    for (kind, key), members in sorted(_by_check(groups).items(), key=lambda g: GROUPS.index(g[0][0])):
        n = len(members)
        reason = members[0].skip_reason
        if kind == "blocked":
            head = f"{n} {_checks(n)} blocked by {key}" if key in said else f"{n} {_checks(n)} {reason}"
        elif kind == "xfailed":
            head = f"{n} known {_regressions(n)} (xfailed), each with its workaround: pytest -rx"
        elif len({o.skip_reason for o in members}) > 1:
            head = f"{n} {reason}; {n - 1} more like it"
        else:
            head = f"{n} {reason}"
        lines.append(f"{head} [{_where(members)}]")
    return lines


def _by_check(groups: dict[tuple[str, str], list[CheckOutcome]]) -> dict[tuple[str, str], list[CheckOutcome]]:
    """`groups` with the one-check not-applicable groups of one parametrized check merged."""
    merged: dict[tuple[str, str], list[CheckOutcome]] = {}
    for (kind, key), members in groups.items():
        alone = kind == "not-applicable" and len(members) == 1 and "[" in members[0].nodeid
        if alone:
            key = "\0" + members[0].nodeid.partition("[")[0]  # not a reason: a reason has no NUL
        merged.setdefault((kind, key), []).extend(members)
    return merged


def layers_line(outcomes: Iterable[CheckOutcome], strict: bool = False) -> str:
    """Each layer that ran with its status, lowest first: the verdict block's first line."""
    summaries = [s for s in layer_summaries(outcomes, strict) if s.status != "not-run"]
    return "layers: " + ", ".join(f"{s.layer} {s.status}" for s in summaries)


def verdict_details(verdict: Verdict, most: int = 5) -> list[str]:
    """The lines printed above the verdict line: root check, fix, what it blocked, what else failed."""
    if verdict.status != "FAIL":
        return []
    lines = [f"root check: {verdict.check_id}"]
    if verdict.fix:
        lines.append(f"fix: {verdict.fix}")
    if verdict.blocked:
        shown = ", ".join(verdict.blocked[:most]) + (", ..." if len(verdict.blocked) > most else "")
        lines.append(f"blocked by it: {len(verdict.blocked)} check(s): {shown}")
    for check_id, reason in verdict.also[:most]:
        lines.append(f"also failing: {check_id}: {reason}")
    if len(verdict.also) > most:
        lines.append(f"also failing: {len(verdict.also) - most} more (see reports/result.json)")
    return lines


def _where(members: list[CheckOutcome]) -> str:
    if len(members) == 1:
        return members[0].nodeid or members[0].check_id
    checks = {o.nodeid.partition("[")[0] for o in members}
    if len(checks) == 1 and all(o.nodeid.endswith("]") for o in members):
        params = ",".join(o.nodeid.partition("[")[2][:-1] for o in members)
        return f"{checks.pop()}[{params}]"
    counts: dict[str, int] = {}
    for o in members:
        counts[o.layer] = counts.get(o.layer, 0) + 1
    return ", ".join(f"{layer} {n}" for layer, n in counts.items())


def _checks(n: int) -> str:
    return "check" if n == 1 else "checks"


def _regressions(n: int) -> str:
    return "regression" if n == 1 else "regressions"
