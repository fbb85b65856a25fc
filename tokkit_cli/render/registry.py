"""``tokkit list``: one table per registry."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout


def render_registries(result: dict[str, list[dict[str, Any]]]) -> None:
    """A ``name | what it is`` table for each registry kind."""
    for k, rows in result.items():
        table = Table(title=k)
        table.add_column("name")
        table.add_column("what it is")
        for row in rows:
            table.add_row(row["name"], row["help"])
        stdout.print(table)
