"""``tokkit inspect codebook``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, ReportOutOpt, SeedOpt, session


def command(
    checkpoint: Annotated[Path, typer.Argument(help="A tokenizer checkpoint directory.")],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Images to encode for usage, gallery and token maps.")
    ] = None,
    out: ReportOutOpt = None,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=8, help="Encode at S x S (default: the tokenizer's, else 256).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per encode batch.")] = 32,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Encode at most N images.")] = None,
    umap_sample: Annotated[
        int, typer.Option("--umap-sample", min=4, help="Codes in the UMAP (fixed-seed sample when K is larger).")
    ] = 2000,
    dup_tol: Annotated[
        float, typer.Option("--dup-tol", min=0.0, help="Near duplicates: distance <= this x median code norm.")
    ] = 1e-2,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Codebook statistics, usage and pictures of a tokenizer checkpoint.

    Norms, nearest-neighbour distances between codes and near duplicates; with --data also
    utilization, perplexity, dead codes and the most/least used codes; with --out usage.png,
    umap.png, gallery.png, tokens.png, codebook.png and report.html. Continuous tokenizers get
    latent statistics instead (needs --data).

    Example: tokkit inspect codebook runs/km --data builtin:photos --out runs/km/report
    """
    from tokkit.analysis.codebook_report import inspect_codebook
    from tokkit_cli.render import show
    from tokkit_cli.render.inspect import render_codebook

    with session(seed):
        result = inspect_codebook(
            checkpoint,
            data=data,
            out=out,
            image_size=image_size,
            batch_size=batch_size,
            limit=limit,
            umap_sample=umap_sample,
            dup_tol=dup_tol,
            seed=seed,
            device=device,
        ).to_dict()
    show(result, json, render_codebook)
