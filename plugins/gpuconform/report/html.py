"""The host section of reports/report.html (pytest-html's page; registered only with pytest-html).

On top of pytest-html's own results table, the page gets: the verdict with its root
check and fix, a host card, a layer-by-layer table of outcome counts, each problem
with its four parts and the facts behind it, every check by layer with a link to
its facts, the "which TensorFlow releases can this host run" table, and the facts
tree itself. Everything is inline: the page fetches nothing.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING
from typing import Any

from gpuconform.facts import serde
from gpuconform.report.htmlparts import COLOURS
from gpuconform.report.htmlparts import SCRIPT
from gpuconform.report.htmlparts import STYLE
from gpuconform.report.htmlparts import badge
from gpuconform.report.htmlparts import card
from gpuconform.report.htmlparts import cell
from gpuconform.report.htmlparts import details
from gpuconform.report.htmlparts import esc
from gpuconform.report.htmlparts import finding_list
from gpuconform.report.htmlparts import json_block
from gpuconform.report.htmlparts import number
from gpuconform.report.htmlparts import problem_card
from gpuconform.report.htmlparts import row
from gpuconform.report.htmlparts import table
from gpuconform.verdict.check import same_fix
from gpuconform.verdict.judge import OUTCOMES
from gpuconform.verdict.judge import CheckOutcome
from gpuconform.verdict.judge import blocked_by_root
from gpuconform.verdict.judge import layer_summaries

if TYPE_CHECKING:
    from gpuconform.expect.compat import CompatTable
    from gpuconform.report.run import Run

#: Which top-level branches of the Facts tree each layer's checks read. The TensorFlow
#: layers also observe live experiments; their failures quote what those returned.
LAYER_FACTS = {
    "platform": ("platform", "packages"),
    "driver": ("driver",),
    "libraries": ("libraries",),
    "framework": ("packages", "driver", "libraries"),
    "placement": ("packages", "driver"),
    "memory": ("packages", "driver"),
    "preprocessing": ("packages",),
    "determinism": ("packages", "platform"),
}

#: pytest-html's page is made for wide screens (body min-width 800px, a 550px summary
#: column); these let it shrink to a phone and put the host section right under the title.
PYTEST_HTML_OVERRIDES = """
body{display:flex;flex-direction:column}
#title{order:-2}.summary{order:-1}
@media (max-width:800px){body{min-width:0!important;margin:8px}.summary__data,.summary__spacer{flex:1 1 auto}
#results-table,#environment{display:block;overflow-x:auto;max-width:100%}
.controls,.filters,.collapse{flex-wrap:wrap;white-space:normal}}
"""


def host_section(session: Run) -> str:
    """The whole gpuconform section of the page, as HTML."""
    from gpuconform.report.files import host_summary

    outcomes = list(session.outcomes.values())
    facts = serde.dump(session.facts)
    parts = [
        f"<style>{STYLE}{PYTEST_HTML_OVERRIDES}</style>",
        _verdict_banner(session),
        "<h2>Host</h2>",
        card([(label, value) for label, value in host_summary(session) if label != "verdict"]).replace(
            "class='gc-card'", "class='gc-card' id='gpuconform-host-summary'", 1
        ),
        "<h2>Layers</h2>",
        _layers_table(outcomes, session.settings.strict),
        _problems(session, outcomes, facts),
        _warnings(outcomes),
        "<h2>Checks by layer</h2>",
        _checks(outcomes, facts),
    ]
    if session.compat is not None:
        parts += ["<h2>Which TensorFlow releases can this host run?</h2>", compat_section(session.compat)]
    parts += ["<h2>Facts</h2>", _facts(facts, session), _as_of(session)]
    return f"<section id='gc' class='gc'>{''.join(parts)}<script>{SCRIPT}</script></section>"


def _as_of(session: Run) -> str:
    """Which data the verdict assumed: every table with its as-of date."""
    from gpuconform.expect.asof import as_of_line
    from gpuconform.expect.asof import tables_used

    return f"<p class='gc-muted' id='gc-matrices'>{esc(as_of_line(tables_used(session.matrices)))}</p>"


def _verdict_banner(session: Run) -> str:
    verdict = session.verdict
    if verdict is None:
        return "<div class='gc-banner'>host verdict: not computed</div>"
    colour = COLOURS.get(verdict.status, "#6e7781")
    lines = [f"<div class='gc-line' id='gc-verdict'>{esc(verdict.line())}</div>"]
    if verdict.check_id:
        root = esc(verdict.check_id)
        lines.append(f"<div>root check: <a href='#check-{root}'><code>{root}</code></a></div>")
    if verdict.fix:
        lines.append(f"<div id='gc-fix'>fix: <code>{esc(verdict.fix)}</code></div>")
    if verdict.blocked and verdict.check_id:
        lines.append(blocked_list(verdict.check_id, verdict.blocked, ident="gc-blocked"))
    if verdict.warnings and verdict.status == "PASS":
        lines.append(f"<div>{len(verdict.warnings)} warning(s): see below</div>")
    return f"<div class='gc-banner' style='--c:{colour}'>{''.join(lines)}</div>"


def _layers_table(outcomes: list[CheckOutcome], strict: bool) -> str:
    rows = []
    for s in layer_summaries(outcomes, strict):
        cells = [f"<td><a href='#gc-layer-{esc(s.layer)}'>{esc(s.layer)}</a></td>", f"<td>{badge(s.status)}</td>"]
        cells += [number(s.counts[kind]) for kind in OUTCOMES]
        cells.append(number(s.warnings))
        rows.append(row(cells))
    return table(["layer", "status", *OUTCOMES, "warnings"], rows, ident="gc-layers")


def _problems(session: Run, outcomes: list[CheckOutcome], facts: dict[str, Any]) -> str:
    problems = [o for o in outcomes if o.is_problem]
    if not problems:
        return ""
    verdict = session.verdict
    root = verdict.check_id if verdict else None
    problems.sort(key=lambda o: o.check_id != root)  # the root first, then in run order
    blocks = ["<h2>Problems</h2>"]
    fixes: dict[str, str] = {}
    for o in problems:
        title = f"{badge(o.kind)} <code>{esc(o.check_id)}</code>" + (" <b>root cause</b>" if o.check_id == root else "")
        if o.finding:
            body = finding_list(replace(o.finding, fix=same_fix(o.check_id, o.finding.fix, fixes)))
        else:
            body = f"<pre>{esc(o.message)}</pre>"
        body += details("facts behind this check", json_block(_layer_facts(facts, o.layer)))
        blocked = blocked_by_root(outcomes, o.check_id)
        if blocked:
            body += blocked_list(o.check_id, blocked)
        blocks.append(problem_card(o.kind, title, o.summary, body))
    return "".join(blocks)


def _warnings(outcomes: list[CheckOutcome]) -> str:
    warned = [(o, w) for o in outcomes for w in o.warnings]
    if not warned:
        return ""
    cards = [
        problem_card("warn", f"{badge('warn', 'warning')} <code>{esc(o.check_id)}</code>", w.summary, finding_list(w))
        for o, w in warned
    ]
    return "<h2>Warnings</h2>" + "".join(cards)


def blocked_list(root: str, blocked: tuple[str, ...], ident: str = "") -> str:
    """The checks a root check blocked: one collapsed line with the count, the list inside."""
    summary = f"{len(blocked)} {'check' if len(blocked) == 1 else 'checks'} blocked by {esc(root)}"
    items = "".join(f"<li><a href='#check-{esc(c)}'><code>{esc(c)}</code></a></li>" for c in blocked)
    return details(summary, f"<ul>{items}</ul>", ident=ident, cls="gc-blocked")


def _reason(o: CheckOutcome, ran: set[str]) -> str:
    """A check's reason cell: a blocked check links to its root, whose own row says why."""
    if o.kind == "blocked" and o.blocked_by in ran:
        root = esc(o.blocked_by)
        return f"<td>blocked by <a href='#check-{root}'><code>{root}</code></a></td>"
    return cell(o.reason or ("; ".join(w.summary for w in o.warnings)))


def _checks(outcomes: list[CheckOutcome], facts: dict[str, Any]) -> str:
    ran = {o.check_id for o in outcomes}
    blocks = []
    for s in layer_summaries(outcomes):
        mine = [o for o in outcomes if o.layer == s.layer]
        if not mine:
            continue
        rows = [
            row(
                [
                    f"<td id='check-{esc(o.check_id)}'><code>{esc(o.check_id.split('::', 1)[1])}</code></td>",
                    f"<td>{badge(o.kind)}</td>",
                    _reason(o, ran),
                    f"<td><a class='gc-facts' href='#{_facts_anchor(facts, o.layer)}'>facts</a></td>",
                ]
            )
            for o in mine
        ]
        counts = ", ".join(f"{n} {kind}" for kind, n in s.counts.items() if n)
        summary = f"{badge(s.status)} <b>{esc(s.layer)}</b> <span class='gc-muted'>{esc(counts)}</span>"
        body = table(["check", "outcome", "reason", "facts"], rows)
        blocks.append(details(summary, body, open_=s.status in ("fail", "error", "warn"), ident=f"gc-layer-{s.layer}"))
    return "".join(blocks)


def compat_section(compat: CompatTable) -> str:
    """The compatibility table (also used by `python -m gpuconform compat --html`)."""
    rows = [
        row(
            [
                cell(r.tensorflow + (" (installed)" if r.installed else ""), "gc-nw"),
                f"<td>{badge(r.verdict)}</td>",
                cell(r.driver, "gc-nw"),
                cell(r.cuda, "gc-nw"),
                cell(r.cudnn, "gc-nw"),
                cell(r.python, "gc-nw"),
                f"<td title='{esc(r.detail)}'>{esc(r.why or r.detail)}</td>",
                f"<td><code>{esc(r.fix)}</code></td>" if r.fix else "<td></td>",
            ],
            cls="gc-mine" if r.installed else "",
        )
        for r in compat.rows
    ]
    notes = "".join(f"<p class='gc-muted'>{esc(n)}</p>" for n in compat.notes)
    basis = f"<p>judged on: {esc('; '.join(compat.basis))}</p>"
    headers = ["TensorFlow", "verdict", "needs driver", "CUDA", "cuDNN", "Python", "why", "to run it"]
    return basis + notes + table(headers, rows, ident="gc-compat")


def _facts(facts: dict[str, Any], session: Run) -> str:
    source = session.settings.facts_file or "this run's probes"
    note = f"From {source}; the same tree is in facts.json (replay it with --host-facts)."
    blocks = [f"<p class='gc-muted'>{esc(note)}</p>"]
    for key, value in facts.items():
        blocks.append(details(f"<code>{esc(key)}</code>", json_block(value), ident=f"gc-facts-{key}"))
    return "".join(blocks)


def _facts_anchor(facts: dict[str, Any], layer: str) -> str:
    keys = _layer_keys(facts, layer)
    return f"gc-facts-{keys[0]}" if keys else "gc-facts-host"


def _layer_keys(facts: dict[str, Any], layer: str) -> list[str]:
    keys = [k for k in LAYER_FACTS.get(layer, (layer,)) if k in facts]
    return keys or [k for k in facts if k not in ("host", "schema_version")]


def _layer_facts(facts: dict[str, Any], layer: str) -> dict[str, Any]:
    return {k: facts[k] for k in _layer_keys(facts, layer)}

