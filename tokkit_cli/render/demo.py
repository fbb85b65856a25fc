"""``tokkit demo``: one row per tokenizer, the stages skipped, the page to open."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout

_COLUMNS = [("tokenizer", "tokenizer"), ("psnr", "PSNR"), ("rfid", "rFID"), ("gfid", "gFID"),
            ("change", "change"), ("cosine_centred", "centred cos"), ("latent_snr_db", "latent SNR dB")]  # fmt: skip


def demo_json(result: dict[str, Any]) -> dict[str, Any]:
    """What --json prints: the rows and the report's path."""
    return {"rows": result["rows"], "report": result["report"]}


def render_demo(result: dict[str, Any], quick: bool) -> None:
    """The demo's table; how many finished stages a rerun skipped; ``open OUT/index.html``."""
    table = Table(title=f"tokkit demo ({'quick' if quick else 'default'})")
    for _, head in _COLUMNS:
        table.add_column(head, justify="left" if head == "tokenizer" else "right")
    for row in result["rows"]:
        table.add_row(*["-" if row.get(k) is None else (f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]))
                        for k, _ in _COLUMNS])  # fmt: skip
    stdout.print(table)
    if result["skipped"]:
        stdout.print(f"skipped {len(result['skipped'])} finished stages", markup=False, style="dim")
    stdout.print(f"open {result['report']}", markup=False)
