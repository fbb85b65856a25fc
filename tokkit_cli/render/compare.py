"""``tokkit eval compare``: one column per tokenizer, one row per metric; the files written."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import fmt, interval, plus_minus, print_warnings


def _cell(row: dict[str, Any], c: str) -> str:
    """A value with its interval where the row has one: PSNR [lo, hi], gFID ± std (n seeds)."""
    v = fmt(row.get(c), 3)
    if c in ("psnr", "ssim", "lpips") and row.get(f"{c}_ci"):
        return f"{v} {interval(row[f'{c}_ci'], 3)}"
    if c == "gfid" and row.get("gfid_seeds"):
        return f"{v} {plus_minus(row.get('gfid_std'), 1, len(row['gfid_seeds']))}"
    return v


def render_decisions(decisions: list[dict[str, Any]]) -> None:
    """One row per pair and measure: the paired difference, its 95% interval and the verdict."""
    if not decisions:
        return
    table = Table(title="paired decisions (a - b; a verdict only where the 95% interval excludes 0)")
    for col in ("measure", "a", "b", "a - b", "95% interval", "verdict"):
        table.add_column(col, justify="right" if col in ("a - b", "95% interval") else "left")
    for d in decisions:
        verdict = d["verdict"] if d["verdict"] != "inconclusive" else d.get("text", "inconclusive")
        table.add_row(d["measure"], str(d["a"]), str(d["b"]), fmt(d["diff"], 4), interval(d["ci95"], 4), verdict)
    stdout.print(table)


def render_compare(result: dict[str, Any], data: str) -> None:
    """A dozen metrics fit a terminal better as rows: the table is transposed."""
    rows = result["rows"]
    table = Table(
        title=f"compare on {data} ({result['protocol']['num_images']} images, {result['protocol']['image_size']}px)"
    )
    table.add_column("metric")
    for row in rows:
        table.add_column(str(row["tokenizer"]), justify="right", overflow="fold")
    for c in result["columns_shown"]:
        if c != "tokenizer":
            table.add_row(c, *[_cell(row, c) for row in rows])
    stdout.print(table)
    render_decisions(result.get("decisions") or [])
    for name, path in result["files"].items():
        stdout.print(f"wrote {name}: {path}", markup=False)
    print_warnings(result)
