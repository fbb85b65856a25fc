"""``tokkit eval compare``: one column per tokenizer, one row per metric; the files written."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import fmt, print_warnings


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
            table.add_row(c, *[fmt(row.get(c), 3) for row in rows])
    stdout.print(table)
    for name, path in result["files"].items():
        stdout.print(f"wrote {name}: {path}", markup=False)
    print_warnings(result)
