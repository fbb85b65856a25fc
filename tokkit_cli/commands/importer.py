"""``tokkit import FAMILY SRC --out DIR``: a published tokenizer -> a tokkit checkpoint directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session


def command(
    family: Annotated[str | None, typer.Argument(help="var | llamagen | taming | ... (see --list).")] = None,
    src: Annotated[
        str | None, typer.Argument(help="The published file or folder (or a published name, downloaded when online).")
    ] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Checkpoint directory to write.")] = None,
    config: Annotated[
        str | None, typer.Option("--config", help="The family's config: a file, or a published name.")
    ] = None,
    encoder: Annotated[str | None, typer.Option("--encoder", "-e", help="Encoder preset (digit).")] = None,
    sample: Annotated[
        bool, typer.Option("--sample", help="KL families: encode samples the posterior instead of its mean.")
    ] = False,
    latent_stats: Annotated[
        Path | None, typer.Option("--latent-stats", help="va-vae: latents_stats.pt (per-channel mean/std).")
    ] = None,
    list_: Annotated[
        bool, typer.Option("--list", help="List the families, the files each expects, what each becomes.")
    ] = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Convert a published tokenizer checkpoint into a tokkit checkpoint directory.

    Writes config.json (published hyper-parameters, source sha256, upstream repository and commit) and
    model.safetensors; loss and discriminator weights are dropped. --list shows the families.

    Example: tokkit import var vae_ch160v4096z32.pth --out runs/var
    """
    from tokkit.errors import UsageError
    from tokkit_cli.render import show
    from tokkit_cli.render.importer import render_families, render_import

    if list_:
        show({"families": _family_rows()}, json, render_families)
        return
    if family is None or src is None or out is None:
        raise UsageError("give FAMILY SRC --out DIR (or --list)")
    from tokkit.importers import import_checkpoint

    options: dict[str, Any] = {"sample": True} if sample else {}
    if latent_stats is not None:
        options["latent_stats"] = latent_stats
    with session(seed):
        result = import_checkpoint(family, src, out, config=config, encoder=encoder, **options)
    show(result, json, render_import)


def _family_rows() -> list[dict[str, Any]]:
    """Each import family: its name, the files it expects, what it becomes, its published names."""
    from tokkit.importers import list_families

    return [{"family": f.name, "expects": f.expects, "becomes": f.becomes, "published_names": sorted(f.downloads)}
            for f in list_families()]  # fmt: skip
