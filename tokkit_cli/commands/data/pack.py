"""``tokkit data pack``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import CropOpt, DeviceOpt, JsonOpt, OverwriteOpt, SeedOpt, SpecArg, VerifyOpt, session


def command(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="HDF5 file to write.")],
    image_size: Annotated[int, typer.Option("--image-size", min=8, help="Side S of the stored S x S images.")] = 256,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted pack of the same data.")] = False,
    overwrite: OverwriteOpt = False,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Images per HDF5 chunk and per commit.")] = 64,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    crop: CropOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Write an HDF5 image store (resize shorter side + center crop to S x S, uint8).

    Example: tokkit data pack builtin:photos --out photos.h5 --image-size 128
    """
    from tokkit.data.pack import pack_images
    from tokkit.errors import UsageError
    from tokkit_cli.render import show
    from tokkit_cli.render.data import render_pack

    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    with session(seed):
        result = pack_images(
            spec,
            out,
            image_size,
            resume=resume,
            overwrite=overwrite,
            chunk_rows=chunk,
            verify=verify,
            crop=crop or "center",
        ).to_dict()
    show(result, json, render_pack, out, image_size)
