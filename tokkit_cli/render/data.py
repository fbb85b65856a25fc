"""``tokkit data info`` and ``tokkit data pack``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.table import Table

from tokkit_cli.console import stdout
from tokkit_cli.render.common import print_skipped_paths


def render_info(result: dict[str, Any], spec: str) -> None:
    """Kind, image count, unreadable files, classes and size range; one line per unreadable file."""
    table = Table(title=f"data {spec}", show_header=False)
    table.add_row("kind", result["kind"])
    table.add_row("images", str(result["num_images"]) + ("" if result["verified"] else " (headers read)"))
    table.add_row("unreadable", str(result["num_unreadable"]))
    if result["num_classes"] is not None:
        table.add_row("classes (subfolders)", str(result["num_classes"]))
    table.add_row("smallest [H, W]", str(result["min_size"]))
    table.add_row("largest [H, W]", str(result["max_size"]))
    stdout.print(table)
    print_skipped_paths(result["unreadable"])


def render_pack(result: dict[str, Any], out: Path, image_size: int) -> None:
    """One line: what was written where; one line per unreadable file."""
    note = f" (resumed at {result['resumed_from']})" if result["resumed_from"] else ""
    stdout.print(
        f"wrote {result['num_images']} images of {image_size}x{image_size} to {out}{note}; "
        f"{result['num_unreadable']} unreadable skipped",
        markup=False,
    )
    print_skipped_paths(result["unreadable"])
