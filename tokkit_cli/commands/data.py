"""``tokkit data info`` and ``tokkit data pack``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, VerifyOpt, session

app = typer.Typer(help="Look at image data and pack it into an HDF5 store.", no_args_is_help=True)

SpecArg = Annotated[
    str, typer.Argument(help="An image folder, an HDF5 image store, or builtin:photos / builtin:shapes[:n=N,size=S].")
]


@app.command("info")
def info(
    spec: SpecArg, verify: VerifyOpt = False, json: JsonOpt = False, seed: SeedOpt = 0, device: DeviceOpt = "auto"
) -> None:
    """Count images, name unreadable ones, report min/max size and the class count.

    A folder is read by headers only (fast at ImageNet scale); --verify decodes every file.

    Example: tokkit data info builtin:photos --json
    """
    from tokkit.data.pack import data_info

    with session(seed):
        result = data_info(spec, verify=verify).to_dict()
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    table = Table(title=f"data {spec}", show_header=False)
    table.add_row("kind", result["kind"])
    table.add_row("images", str(result["num_images"]) + ("" if result["verified"] else " (headers read)"))
    table.add_row("unreadable", str(result["num_unreadable"]))
    if result["num_classes"] is not None:
        table.add_row("classes (subfolders)", str(result["num_classes"]))
    table.add_row("smallest [H, W]", str(result["min_size"]))
    table.add_row("largest [H, W]", str(result["max_size"]))
    stdout.print(table)
    for path in result["unreadable"]:
        stdout.print(f"  skipped: {path}", markup=False)


@app.command("pack")
def pack(
    spec: SpecArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="HDF5 file to write.")],
    image_size: Annotated[int, typer.Option("--image-size", min=8, help="Side S of the stored S x S images.")] = 256,
    resume: Annotated[bool, typer.Option("--resume", help="Continue an interrupted pack of the same data.")] = False,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")] = False,
    chunk: Annotated[int, typer.Option("--chunk", min=1, help="Images per HDF5 chunk and per commit.")] = 64,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Write an HDF5 image store (resize shorter side + center crop to S x S, uint8).

    Example: tokkit data pack builtin:photos --out photos.h5 --image-size 128
    """
    from tokkit.data.pack import pack_images
    from tokkit.errors import UsageError

    if resume and overwrite:
        raise UsageError("--resume and --overwrite exclude each other")
    with session(seed):
        result = pack_images(
            spec, out, image_size, resume=resume, overwrite=overwrite, chunk_rows=chunk, verify=verify
        ).to_dict()
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from tokkit_cli.console import stdout

    note = f" (resumed at {result['resumed_from']})" if result["resumed_from"] else ""
    stdout.print(
        f"wrote {result['num_images']} images of {image_size}x{image_size} to {out}{note}; "
        f"{result['num_unreadable']} unreadable skipped",
        markup=False,
    )
    for path in result["unreadable"]:
        stdout.print(f"  skipped: {path}", markup=False)
