"""``tokkit eval table``."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout


def render_results_table(table: dict[str, Any]) -> None:
    """The rows with their intervals, the shared protocol (or the fields that differ) and the file written."""
    from tokkit.metrics.table import cell, header

    t = Table(title="results")
    for k in table["columns"]:
        t.add_column(header(k))
    for r in table["rows"]:
        t.add_row(*[cell(r, k) for k in table["columns"]])
    stdout.print(t)
    if table["mixed"]:
        stdout.print(f"mixed protocols (--allow-mixed): {', '.join(table['mixed'])} differ")
    else:
        stdout.print("protocol: " + ", ".join(f"{k}={v}" for k, v in table["protocol"].items()))
    if table.get("out"):
        stdout.print(f"wrote {table['out']}")
