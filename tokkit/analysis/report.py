"""One self-contained HTML page: tables plus figures embedded as data URIs (no external files,
no scripts), so the page can be mailed or archived on its own."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokkit.io.files import write_bytes_atomic  # noqa: F401  (re-exported: the report writers use it)

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1100px;
color:#222;padding:0 1rem;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;border-bottom:1px solid #ddd;padding-bottom:.2rem;
margin-top:2rem}
.sub{color:#666;margin-top:0}.note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5rem .8rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.92rem}
td,th{border:1px solid #ddd;padding:.25rem .6rem;text-align:left}th{background:#f4f4f4}
td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1rem 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{color:#555;font-size:.9rem;margin-top:.3rem}
.tables{display:flex;flex-wrap:wrap;gap:1.5rem;align-items:flex-start}
.tablebox{max-width:100%;min-width:0;overflow-x:auto}
"""


@dataclass
class Section:
    """A heading with optional explanatory text, tables and figures."""

    title: str
    text: str = ""
    tables: list[tuple[str, list[str], list[list[Any]]]] = field(default_factory=list)  # (caption, header, rows)
    figures: list[tuple[str, bytes]] = field(default_factory=list)  # (caption, png bytes)
    note: str = ""


def _cell(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return f"<td>{html.escape(str(v))}</td>"
    if isinstance(v, int):
        return f'<td class="num">{v:,}</td>'
    if isinstance(v, float):
        return f'<td class="num">{v:.4g}</td>'
    return f"<td>{html.escape(str(v))}</td>"


def render_html(title: str, subtitle: str, sections: list[Section]) -> str:
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="sub">{html.escape(subtitle)}</p>',
    ]
    for s in sections:
        parts.append(f"<h2>{html.escape(s.title)}</h2>")
        if s.note:
            parts.append(f'<p class="note">{html.escape(s.note)}</p>')
        if s.text:
            parts.append(f"<p>{html.escape(s.text)}</p>")
        if s.tables:
            parts.append('<div class="tables">')
            for caption, header, rows in s.tables:
                if not rows:  # an empty table says nothing
                    continue
                parts.append('<div class="tablebox"><table>')  # a wide table scrolls in its own box
                if caption:
                    parts.append(f"<caption><b>{html.escape(caption)}</b></caption>")
                if header:
                    parts.append("<tr>" + "".join(f"<th>{html.escape(h)}</th>" for h in header) + "</tr>")
                for row in rows:
                    parts.append("<tr>" + "".join(_cell(v) for v in row) + "</tr>")
                parts.append("</table></div>")
            parts.append("</div>")
        for caption, png in s.figures:
            data = base64.b64encode(png).decode("ascii")
            alt = html.escape(caption.split(".")[0])
            parts.append(
                f'<figure><img alt="{alt}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(caption)}</figcaption></figure>"
            )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def check_out_dir(out: str | Path | None) -> Path | None:
    """Fail before any work when ``out`` cannot be a folder."""
    if out is None:
        return None
    out = Path(out)
    if out.exists() and not out.is_dir():
        from tokkit.errors import UsageError

        raise UsageError(f"--out '{out}' is a file", hint="give a folder for the figures and report.html")
    return out
