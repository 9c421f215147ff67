"""The pieces both HTML pages are built from: the host report section and the fleet page.

Plain strings, escaped where they are made: no template engine, no script or style
from elsewhere, so a page is one self-contained file that works offline and
on a phone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from html import escape
from typing import Any

from gpuconform.verdict.check import Finding

#: Colours per outcome class, layer status and verdict; text stays readable on each.
COLOURS = {
    "PASS": "#1a7f37",
    "FAIL": "#cf222e",
    "NONE": "#6e7781",
    "passed": "#1a7f37",
    "pass": "#1a7f37",
    "runs": "#1a7f37",
    "failed": "#cf222e",
    "fail": "#cf222e",
    "error": "#a40e26",
    "xpassed": "#cf222e",
    "warn": "#9a6700",
    "runs-minor-compat": "#4d7c0f",
    "needs-ptx-jit": "#9a6700",
    "driver-unknown": "#6e7781",
    "blocked": "#8250df",
    "not-applicable": "#6e7781",
    "not-run": "#afb8c1",
    "xfailed": "#6e7781",
    "driver-too-old": "#cf222e",
    "gpu-too-old": "#a40e26",
    "gpu-too-new": "#a40e26",
    "python-outside-range": "#bc4c00",
}

#: Scoped to .gc so it never restyles the page it is embedded in.
STYLE = """
.gc{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;color:#1f2328;
  max-width:1200px;margin:0 0 24px;overflow-wrap:break-word}
.gc-banner,.gc-problem,.gc-card,.gc>p{overflow-wrap:anywhere}
.gc td.gc-nw{white-space:nowrap}
.gc h2{font-size:18px;margin:20px 0 8px;color:#1f2328}
.gc h3{font-size:15px;margin:12px 0 6px;color:#1f2328}
.gc code,.gc pre{font:12px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;background:#f6f8fa;
  border-radius:4px;overflow-wrap:anywhere;white-space:pre-wrap}
.gc code{padding:1px 4px}
.gc pre{padding:8px;max-height:480px;overflow:auto}
.gc-banner{border-left:6px solid var(--c);background:#f6f8fa;padding:10px 14px;border-radius:4px}
.gc-banner .gc-line{font-size:17px;font-weight:600;color:var(--c);overflow-wrap:anywhere}
.gc-badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;background:var(--c);
  font-size:12px;font-weight:600;white-space:nowrap}
.gc-card{display:grid;grid-template-columns:repeat(auto-fit,minmax(15em,1fr));gap:6px 16px;margin:8px 0}
.gc-card div{border-bottom:1px solid #eaeef2;padding:2px 0;overflow-wrap:anywhere}
.gc-card b{display:block;font-size:11px;text-transform:uppercase;color:#656d76;font-weight:600}
.gc-scroll{overflow-x:auto;max-width:100%}
.gc table{border-collapse:collapse;margin:4px 0}
.gc th,.gc td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
.gc th{background:#f6f8fa}
.gc td.gc-num{text-align:right;font-variant-numeric:tabular-nums}
.gc td.gc-zero{color:#afb8c1}
.gc tr.gc-mine td{background:#fff8c5}
.gc-problem{border:1px solid #d0d7de;border-left:6px solid var(--c);border-radius:4px;padding:8px 12px;margin:8px 0}
.gc-problem dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:6px 0}
.gc-problem dt{font-weight:600;color:#656d76}
.gc-problem dd{margin:0;overflow-wrap:anywhere}
.gc details{margin:4px 0}
.gc summary{cursor:pointer}
.gc .gc-muted{color:#656d76}
@media (max-width:700px){.gc-problem dl{grid-template-columns:1fr}.gc-problem dt{margin-top:4px}}
"""

#: Opens the <details> a facts link points at (without it the link still scrolls there).
SCRIPT = """
document.addEventListener('click',function(e){var a=e.target.closest&&e.target.closest('a.gc-facts');
if(!a)return;var d=document.getElementById(a.getAttribute('href').slice(1));if(d){d.open=true;}});
"""


def esc(value: object) -> str:
    """Text as HTML."""
    return escape(str(value), quote=True)


def badge(kind: str, text: str | None = None) -> str:
    """A coloured label for an outcome class, a layer status, a verdict or a compat verdict."""
    colour = COLOURS.get(kind, "#6e7781")
    return f"<span class='gc-badge gc-{esc(kind)}' style='--c:{colour}'>{esc(text or kind)}</span>"


def table(headers: Iterable[str], rows: Iterable[str], ident: str = "") -> str:
    """A table of rows made by `row`, in a wrapper that scrolls sideways on a narrow screen."""
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    id_attr = f" id='{esc(ident)}'" if ident else ""
    body = "".join(rows)
    return f"<div class='gc-scroll'><table{id_attr}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>"


def row(cells: Iterable[str], cls: str = "") -> str:
    """One table row of cells made by `cell`, `number` or by hand (already HTML)."""
    return f"<tr class='{esc(cls)}'>{''.join(cells)}</tr>" if cls else f"<tr>{''.join(cells)}</tr>"


def cell(value: object, cls: str = "") -> str:
    """One escaped table cell."""
    return f"<td class='{cls}'>{esc(value)}</td>" if cls else f"<td>{esc(value)}</td>"


def number(value: int) -> str:
    """A count cell; zero is greyed so the non-zero counts stand out."""
    return f"<td class='gc-num{' gc-zero' if not value else ''}'>{value}</td>"


def card(rows: Iterable[tuple[str, str]]) -> str:
    """Label/value pairs laid out as a responsive grid."""
    return "<div class='gc-card'>" + "".join(f"<div><b>{esc(k)}</b>{esc(v)}</div>" for k, v in rows) + "</div>"


def details(summary: str, body: str, *, open_: bool = False, ident: str = "", cls: str = "") -> str:
    """A collapsible block; `summary` and `body` are already HTML."""
    id_attr = f" id='{esc(ident)}'" if ident else ""
    cls_attr = f" class='{esc(cls)}'" if cls else ""
    return f"<details{id_attr}{cls_attr}{' open' if open_ else ''}><summary>{summary}</summary>{body}</details>"


def json_block(data: Any) -> str:
    """Pretty JSON in a <pre>."""
    return f"<pre>{esc(json.dumps(data, indent=2, sort_keys=False))}</pre>"


def finding_list(finding: Finding) -> str:
    """The four parts of a finding as a definition list (empty parts left out)."""
    parts = (
        ("expected", finding.expected),
        ("found", finding.found),
        ("from", finding.source),
        ("why", finding.why),
        ("fix", finding.fix),
    )
    items = "".join(f"<dt>{esc(k)}</dt><dd>{_code_if_command(k, v)}</dd>" for k, v in parts if v)
    return f"<dl>{items}</dl>"


def problem_card(kind: str, title: str, heading: str, body: str) -> str:
    """A bordered block for one problem: `title` and `body` are HTML, `heading` is text."""
    colour = COLOURS.get(kind, "#cf222e")
    return f"<div class='gc-problem' style='--c:{colour}'><div>{title}</div><h3>{esc(heading)}</h3>{body}</div>"


def _code_if_command(label: str, value: str) -> str:
    return f"<code>{esc(value)}</code>" if label == "fix" else esc(value)


def environment_table(metadata: dict[str, Any]) -> dict[str, Any]:
    """pytest-metadata's dict as pytest-html's Environment table may safely take it.

    pytest-html's script puts each value into the page with innerHTML (`<div>${value}</div>`,
    a dict's or list's items as `<li>${key}: ${item}</li>`) and only the top-level key with
    textContent, so every string below the top level is escaped here; the key is left as is.
    """
    return {key: _environment_cell(value) for key, value in metadata.items()}


def _environment_cell(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, dict):
        return {esc(k): _environment_item(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_environment_item(v) for v in value]
    return esc(value)


def _environment_item(value: Any) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)):
        return esc(json.dumps(value, default=str))  # the script would show [object Object]
    return esc(value)


def page(title: str, body: str) -> str:
    """A whole self-contained page (the fleet page; the host report is pytest-html's)."""
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        f"<title>{esc(title)}</title><style>body{{margin:16px}}{STYLE}</style></head>"
        f"<body><main class='gc'>{body}</main><script>{SCRIPT}</script></body></html>\n"
    )


VIEWPORT = "<meta name='viewport' content='width=device-width,initial-scale=1'>"


def with_viewport(text: str) -> str:
    """pytest-html's page, made to scale on a phone: the viewport tag must sit in <head>."""
    if "name='viewport'" in text or 'name="viewport"' in text:
        return text
    return re.sub(r"<head>", f"<head>{VIEWPORT}", text, count=1)
