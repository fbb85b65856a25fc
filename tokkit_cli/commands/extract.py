"""``tokkit extract``: images -> an HDF5 feature store (the first step of the DiGIT-style tokenizer)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import (
    CropOpt,
    DeviceOpt,
    EncoderImageSizeOpt,
    EncoderOpt,
    EncoderWeightsOpt,
    JsonOpt,
    L2Opt,
    LayerOpt,
    OverwriteOpt,
    RandomInitOpt,
    ResumeOpt,
    SeedOpt,
    StoreBatchOpt,
    VerifyOpt,
    session,
)


def command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Feature store (.h5) to write.")],
    data: Annotated[
        str, typer.Option("--data", "-d", help="Image folder, HDF5 image store, or builtin:photos / builtin:shapes.")
    ],
    encoder: EncoderOpt = "effnet-lite0",
    layer: LayerOpt = None,
    image_size: EncoderImageSizeOpt = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float16 | float32")] = "float16",
    precision: Annotated[
        str, typer.Option("--precision", help="fp32 | bf16 (encoder under bfloat16 autocast, for GPUs).")
    ] = "fp32",
    l2_normalize: L2Opt = False,
    weights: EncoderWeightsOpt = None,
    random_init: RandomInitOpt = False,
    batch_size: StoreBatchOpt = 32,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    crop: CropOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Encode every image into an HDF5 feature store: features (N, T, D), image_index, grid.

    Streams batch by batch (memory flat in N); --resume continues a killed run to the same bytes.
    Under torchrun each process encodes a contiguous share of the batches; the store is the
    single-process one.

    Example: tokkit extract --encoder effnet-lite0 --data builtin:photos --out feats.h5
    """
    from tokkit.encoders.extract import extract_features
    from tokkit_cli.render import show
    from tokkit_cli.render.features import render_extract

    with session(seed):
        r = extract_features(
            encoder or "effnet-lite0",
            data,
            out,
            layer=layer,
            image_size=image_size,
            batch_size=batch_size,
            dtype=dtype,
            l2_normalize=l2_normalize,
            weights=weights,
            random_init=random_init,
            resume=resume,
            overwrite=overwrite,
            device=device,
            crop=crop,
            verify=verify,
            precision=precision,
        ).to_dict()
    show(r, json, render_extract, out)
