"""``tokkit eval stats``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import (
    CropOpt,
    DeviceOpt,
    EvalBatchOpt,
    FidFeaturesOpt,
    FidWeightsOpt,
    JsonOpt,
    NoCacheOpt,
    NumImagesOpt,
    ResumeOpt,
    SeedOpt,
    SpecArg,
    session,
)


def command(
    data: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="The .npz to write (mu, sigma, n, protocol).")],
    num_images: NumImagesOpt = None,
    image_size: Annotated[int, typer.Option("--image-size", min=8, help="Side S of the S x S crops.")] = 256,
    batch_size: EvalBatchOpt = 32,
    fid_features: FidFeaturesOpt = "effnet-lite0",
    weights: FidWeightsOpt = None,
    crop: CropOpt = None,
    no_cache: NoCacheOpt = False,
    resume: ResumeOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Write reference feature statistics of DATA (pytorch-fid's npz layout plus tokkit's protocol).

    Read back with --ref-stats on eval recon (rfid_ref), eval generation and eval compare (gfid_ref).
    Under torchrun each process reads a share of the images; a killed run continues with --resume.

    Example: tokkit eval stats /data/imagenet/val --crop adm --fid-features inception --out val256.npz
    """
    from tokkit.metrics.ref_stats import write_ref_stats
    from tokkit_cli.render import show
    from tokkit_cli.render.stats import render_stats

    with session(seed):
        result = write_ref_stats(
            data,
            out,
            fid_features=fid_features,
            weights=weights,
            num_images=num_images,
            image_size=image_size,
            batch_size=batch_size,
            crop=crop,
            device=device,
            use_cache=not no_cache,
            resume=resume,
        )
    show(result, json, render_stats)
