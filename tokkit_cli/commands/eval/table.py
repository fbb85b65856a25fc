"""``tokkit eval table``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session


def command(
    results: Annotated[
        list[Path], typer.Argument(help="Saved results: eval recon / generation / compare --json, or demo folders.")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Also write the table: .md, .csv (raw numbers) or .html.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Also draw rFID vs gFID (.png; bars: 95% over probe seeds).")
    ] = None,
    allow_mixed: Annotated[
        bool, typer.Option("--allow-mixed", help="Put results of different protocols side by side (as columns).")
    ] = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",  # the common options of every command; nothing here runs on a device
) -> None:
    """One table from saved results; refuses results measured under different protocols.

    Compared: data fingerprint, number of images, image size, crop, feature network. Rows of one checkpoint
    (a recon and a generation result) are merged; intervals are kept beside their figures.

    Example: tokkit eval table runs/a_recon.json runs/a_gen.json runs/b_compare.json --out table.md --plot fid.png
    """
    from tokkit.metrics.table import build_table, write_plot, write_table
    from tokkit_cli.render import show
    from tokkit_cli.render.table import render_results_table

    with session(seed):
        table = build_table(results, allow_mixed=allow_mixed)
        if out is not None:
            table["out"] = str(write_table(table, out))
        if plot is not None:
            table["plot"] = str(write_plot(table, plot))
    show(table, json, render_results_table)
