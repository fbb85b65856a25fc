"""``tokkit eval recon``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import (
    CropOpt,
    DataOpt,
    DeviceOpt,
    EvalBatchOpt,
    EvalImageSizeOpt,
    FidFeaturesOpt,
    FidWeightsOpt,
    JsonOpt,
    LpipsWeightsOpt,
    NoCacheOpt,
    NumImagesOpt,
    RefStatsOpt,
    ResumeOpt,
    SeedOpt,
    TokenizerOpt,
    session,
)


def command(
    tokenizer: TokenizerOpt,
    data: DataOpt,
    num_images: NumImagesOpt = None,
    image_size: EvalImageSizeOpt = None,
    batch_size: EvalBatchOpt = 16,
    fid_features: FidFeaturesOpt = "effnet-lite0",
    weights: FidWeightsOpt = None,
    lpips_weights: LpipsWeightsOpt = None,
    no_cache: NoCacheOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    crop: CropOpt = None,
    ref_stats: RefStatsOpt = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also write the result JSON here; partial sums are kept beside it."),
    ] = None,
    resume: ResumeOpt = False,
    allow_gfid_ref: Annotated[
        bool,
        typer.Option("--allow-gfid-ref", help="Accept a generation reference batch (ADM arr_0) as --ref-stats."),
    ] = False,
    device: DeviceOpt = "auto",
) -> None:
    """Reconstruction quality: PSNR, SSIM, LPIPS, codebook usage and rFID.

    Reconstructs every image; the Frechet distance is computed in the --fid-features space
    (inception = the standard rFID). Real-image statistics are cached per data and protocol.
    Under torchrun each process measures a share of the images; the result is one process's.
    With --out, a killed run continues with --resume.

    Example: tokkit eval recon --tokenizer runs/vq/checkpoints/final --data builtin:photos --fid-features effnet-lite0
    """
    from tokkit.metrics.recon import evaluate_recon
    from tokkit_cli.render import show
    from tokkit_cli.render.recon import render_recon

    with session(seed):
        result = evaluate_recon(
            tokenizer,
            data,
            num_images=num_images,
            image_size=image_size,
            batch_size=batch_size,
            fid_features=fid_features,
            weights=weights,
            lpips_weights=lpips_weights,
            device=device,
            crop=crop,
            ref_stats=ref_stats,
            use_cache=not no_cache,
            out=out,
            resume=resume,
            allow_gfid_ref=allow_gfid_ref,
        )
    show(result, json, render_recon, tokenizer)
