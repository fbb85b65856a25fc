"""``tokkit import``: the imported checkpoint, or the families (--list)."""

from __future__ import annotations

from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout


def render_import(result: dict[str, Any]) -> None:
    """Architecture, parameters, source files with sha256, upstream commit, dropped weights, notes."""
    table = Table(title=f"imported {result['family']} -> {result['out']}", show_header=False)
    table.add_row("architecture", f"{result['architecture']} ({result['kind']})")
    table.add_row("parameters", f"{result['parameters']:,}")
    for f in result["source_files"]:
        table.add_row("source", f"{f['name']} sha256 {f['sha256'][:16]}…")
    table.add_row("upstream", f"{result['upstream']['repository']} @ {result['upstream']['commit']}")
    if result["dropped"]:
        table.add_row("dropped", ", ".join(result["dropped"][:4]) + (" ..." if len(result["dropped"]) > 4 else ""))
    for note in result["notes"]:
        table.add_row("note", note)
    stdout.print(table)


def render_families(result: dict[str, Any]) -> None:
    """One row per family: what it expects, what it becomes."""
    table = Table(title="import families")
    for col in ("family", "expects", "becomes"):
        table.add_column(col)
    for r in result["families"]:
        table.add_row(r["family"], r["expects"], r["becomes"])
    stdout.print(table)
