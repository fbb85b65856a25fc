"""``tokkit tokenize``: images or a feature store -> an HDF5 token store."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import (
    FEATURES_HELP,
    DeviceOpt,
    GridOpt,
    InputDataOpt,
    JsonOpt,
    OverwriteOpt,
    ResumeOpt,
    SeedOpt,
    StoreBatchOpt,
    VerifyOpt,
    session,
)


def command(
    tokenizer: Annotated[
        Path, typer.Option("--tokenizer", "-t", help="Tokenizer checkpoint directory (k-means; with --data also a VQ).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Token store (.h5) to write.")],
    data: InputDataOpt = None,
    features: Annotated[
        Path | None, typer.Option("--features", "-f", help=FEATURES_HELP + " Instead of --data.")
    ] = None,
    grid: GridOpt = None,
    batch_size: StoreBatchOpt = 32,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=8, help="With --data: encode at S x S (default: the tokenizer's).")
    ] = None,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Turn images or a feature store into a token store: tokens (N, h, w), exact nearest centroid.

    --data also takes a single-scale discrete tokenizer (a VQGAN, trained or imported).

    Example: tokkit tokenize --tokenizer runs/km --data builtin:photos --out tokens.h5
    """
    from tokkit.clustering.tokenize import tokenize
    from tokkit_cli.render import show
    from tokkit_cli.render.features import render_tokenize

    with session(seed):
        r = tokenize(
            tokenizer,
            out,
            data=data,
            features=features,
            batch_size=batch_size,
            resume=resume,
            overwrite=overwrite,
            device=device,
            image_size=image_size,
            grid=grid,
            verify=verify,
        ).to_dict()
    show(r, json, render_tokenize, out)
