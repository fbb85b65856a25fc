"""Tables printed to a pipe (a CI log, `| cat`) never lose text: no cell is cut with an ellipsis."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from rich.panel import Panel
from rich.table import Table

from tokkit_cli.console import TokkitConsole, fold_tables


def _run_piped(*args: str, columns: str | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    if columns is not None:
        env["COLUMNS"] = columns
    proc = subprocess.run(
        [sys.executable, "-m", "tokkit_cli", *args], capture_output=True, text=True, env=env, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _cells_text(out: str) -> str:
    """The table's text with borders and line breaks removed (a folded word joins up again)."""
    return re.sub(r"[\s│┃┏┓┗┛┡┩━─┳┻╇╋┼┬┴├┤└┘┌┐]", "", out)


def test_import_list_piped_keeps_every_cell_whole():
    out = _run_piped("import", "--list")
    assert "…" not in out
    assert "diffusion_pytorch_model.safetensors" in out  # on one line at the piped width
    assert "--configFILE|sd-vae-ft-ema|sd-vae-ft-mse|sdxl-vae|sd3|flux1" in _cells_text(out)


def test_narrow_columns_fold_instead_of_cutting():
    out = _run_piped("import", "--list", columns="50")
    assert "…" not in out
    assert "diffusion_pyto" in out and "rch_model.safe" in out  # folded at 14 columns, nothing cut
    out = _run_piped("list", "tokenizers", columns="40")
    assert "…" not in out


def test_fold_tables_reaches_nested_tables():
    inner = Table("x")
    inner.add_row("a" * 200)
    outer = Table("y")
    outer.add_row(inner)
    fold_tables(Panel(outer))
    assert inner.columns[0].overflow == "fold" and outer.columns[0].overflow == "fold"
    console = TokkitConsole(width=30, record=True, file=open(os.devnull, "w"))  # noqa: SIM115
    console.print(Panel(outer))
    text = console.export_text()
    assert "…" not in text and text.count("a") == 200
