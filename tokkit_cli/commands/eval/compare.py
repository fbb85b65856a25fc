"""``tokkit eval compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import (
    ClassesOpt,
    CropOpt,
    DataOpt,
    DeviceOpt,
    EvalBatchOpt,
    EvalImageSizeOpt,
    FidFeaturesOpt,
    FidWeightsOpt,
    HeadOpt,
    JsonOpt,
    LpipsWeightsOpt,
    NumImagesOpt,
    ProbeStepsOpt,
    RefStatsOpt,
    SamplesOpt,
    SeedOpt,
    SeedsOpt,
    SnrOpt,
    session,
)


def command(
    tokenizers: Annotated[list[Path], typer.Argument(help="Checkpoint directories to compare.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for compare.csv, compare.json and the plot.")],
    num_images: NumImagesOpt = None,
    image_size: EvalImageSizeOpt = None,
    batch_size: EvalBatchOpt = 16,
    snr_db: SnrOpt = "30,25,20,15,10,5,1",
    samples: SamplesOpt = 0,
    probe_steps: ProbeStepsOpt = None,
    seeds: SeedsOpt = 3,
    orders: Annotated[
        str | None,
        typer.Option("--orders", help="Probe orders to run for each tokenizer, comma separated (an order study)."),
    ] = None,
    head: HeadOpt = None,
    classes: ClassesOpt = False,
    fid_features: FidFeaturesOpt = "effnet-lite0",
    weights: FidWeightsOpt = None,
    lpips_weights: LpipsWeightsOpt = None,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    crop: CropOpt = None,
    ref_stats: RefStatsOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Recon, stability and generation for several tokenizers under one protocol.

    Writes a table, compare.csv, compare.json and recon_vs_generation.png (gFID vs rFID with
    the real-data floor drawn; probe bits/token beside it). Each tokenizer runs its kind's
    default probe with the same --seeds; every pair of tokenizers gets a paired decision per
    measure (better only where the 95% interval excludes 0, else inconclusive with the seeds or
    images that would resolve it). --orders raster,random,next-scale runs an order study.

    Example: tokkit eval compare runs/vq/checkpoints/final runs/kmeans --data builtin:photos --out compare/
    """
    from tokkit.generation import ProbeConfig
    from tokkit.metrics.compare import compare_tokenizers
    from tokkit.metrics.stability import parse_snr_list
    from tokkit_cli.render import show
    from tokkit_cli.render.compare import render_compare

    with session(seed):
        result = compare_tokenizers(
            tokenizers,
            data,
            out,
            num_images=num_images,
            image_size=image_size,
            batch_size=batch_size,
            snr_db=parse_snr_list(snr_db),
            samples=samples,
            probe=ProbeConfig() if probe_steps is None else ProbeConfig(steps=probe_steps),
            fid_features=fid_features,
            weights=weights,
            lpips_weights=lpips_weights,
            device=device,
            crop=crop,
            ref_stats=ref_stats,
            seed=seed,
            orders=[o.strip() for o in orders.split(",") if o.strip()] if orders else None,
            head=head,
            classes=classes,
            seeds=seeds,
        )
    show(result, json, render_compare, data)
