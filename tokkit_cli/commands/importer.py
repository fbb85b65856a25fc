"""``tokkit import FAMILY SRC --out DIR``: a published tokenizer -> a tokkit checkpoint directory."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session


def import_command(
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

    if list_:
        return _render_list(json)
    if family is None or src is None or out is None:
        raise UsageError("give FAMILY SRC --out DIR (or --list)")
    from tokkit.importers import import_checkpoint

    options: dict[str, Any] = {"sample": True} if sample else {}
    with session(seed):
        result = import_checkpoint(family, src, out, config=config, encoder=encoder, **options)
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    table = Table(title=f"imported {result['family']} -> {result['out']}", show_header=False)
    table.add_row("architecture", f"{result['architecture']} ({result['kind']})")
    table.add_row("parameters", f"{result['parameters']:,}")
    for f in result["source_files"]:
        table.add_row("source", f"{f['name']} sha256 {f['sha256'][:16]}…")
    table.add_row("upstream", f"{result['upstream']['repository']} @ {result['upstream']['commit']}")
    if result["dropped"]:
        table.add_row("dropped", ", ".join(result["dropped"][:4]) + (" ..." if len(result["dropped"]) > 4 else ""))
    for note in result["notes"]:
        table.add_row("note", note)
    stdout.print(table)


def _render_list(json: bool) -> None:
    from tokkit.importers import list_families

    rows = [{"family": f.name, "expects": f.expects, "becomes": f.becomes, "published_names": sorted(f.downloads)}
            for f in list_families()]  # fmt: skip
    if json:
        from tokkit_cli.console import print_json

        print_json({"families": rows})
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    table = Table(title="import families")
    for col in ("family", "expects", "becomes"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["family"], r["expects"], r["becomes"])
    stdout.print(table)
