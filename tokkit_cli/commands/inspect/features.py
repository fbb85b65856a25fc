"""``tokkit inspect features``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, PartialOpt, ReportOutOpt, SeedOpt, session


def command(
    store: Annotated[
        Path,
        typer.Argument(
            help="A feature store from 'tokkit extract', any HDF5 with 'features', a .npy or a folder of .npy shards."
        ),
    ],
    out: ReportOutOpt = None,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows sampled (fixed seed) for the statistics.")] = 1024,
    grid: Annotated[str | None, typer.Option("--grid", help="HxW grid of a feature file that records none.")] = None,
    umap_sample: Annotated[int, typer.Option("--umap-sample", min=4, help="Feature vectors in the UMAP.")] = 2000,
    partial: PartialOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Shape, dtype, completeness and norm statistics of a feature store.

    --out adds a UMAP of a fixed-seed sample of feature vectors, a norm histogram and report.html.

    Example: tokkit inspect features feats.h5 --out feats_report
    """
    from tokkit.analysis.store_report import inspect_features
    from tokkit_cli.render import show
    from tokkit_cli.render.inspect import render_features

    with session(seed):
        r = inspect_features(
            store, out=out, sample_rows_max=rows, umap_sample=umap_sample, seed=seed, partial=partial, grid=grid
        )
        r = r.to_dict()
    show(r, json, render_features, store)
