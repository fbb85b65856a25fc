"""``tokkit inspect tokens``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, PartialOpt, ReportOutOpt, SeedOpt, session


def command(
    store: Annotated[Path, typer.Argument(help="An HDF5 token store written by 'tokkit tokenize'.")],
    out: ReportOutOpt = None,
    partial: PartialOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Code usage over a token store and the per-position entropy map.

    Entropy in bits of the code distribution at each grid position across images; --out writes
    usage.png, entropy.png and report.html.

    Example: tokkit inspect tokens tokens.h5 --out tokens_report
    """
    from tokkit.analysis.store_report import inspect_tokens
    from tokkit_cli.render import show
    from tokkit_cli.render.inspect import render_tokens

    with session(seed):
        r = inspect_tokens(store, out=out, partial=partial).to_dict()
    show(r, json, render_tokens, store)
