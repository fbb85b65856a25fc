"""``tokkit demo``: the whole study in one command, one progress display, one page to open."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session


def demo_command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for checkpoints, results and index.html.")] = Path(
        "runs/demo"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="A third of the budget (under 5 minutes on 2 cores).")] = False,
    tokenizer: Annotated[
        list[Path] | None,
        typer.Option("--tokenizer", "-t", help="Also evaluate this checkpoint (repeatable), e.g. an imported one."),
    ] = None,
    settings_file: Annotated[
        Path | None, typer.Option("--settings", hidden=True, help="JSON of DemoSettings fields (tests: tiny sizes).")
    ] = None,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train, evaluate and compare four tokenizers on builtin:photos; write OUT/index.html.

    A k-means tokenizer over effnet-lite0 features with its pixel decoder, vqgan-tiny, vae-tiny
    and msvq-tiny at one image size, under one protocol (recon, stability sweep, generation probe
    with gFID), plus codebook inspection and a verdict on DiGIT's ordering computed from the
    numbers. Offline. A rerun after a kill skips the finished stages.

    Example: tokkit demo --quick --out runs/demo-quick
    """
    import dataclasses

    from tokkit.demo import DEFAULT, QUICK, run_demo
    from tokkit.demo.settings import settings_from_file

    settings = dataclasses.replace(QUICK if quick else DEFAULT, seed=seed)
    if settings_file is not None:
        settings = settings_from_file(settings_file, settings)
    with session(seed, nested_bars=True):
        result = run_demo(out, settings, tokenizers=list(tokenizer or []), device=device)
    if json:
        from tokkit_cli.console import print_json

        print_json({"rows": result["rows"], "report": result["report"]})
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    table = Table(title=f"tokkit demo ({'quick' if quick else 'default'})")
    cols = [("tokenizer", "tokenizer"), ("psnr", "PSNR"), ("rfid", "rFID"), ("gfid", "gFID"),
            ("change", "change"), ("cosine_centred", "centred cos"), ("latent_snr_db", "latent SNR dB")]  # fmt: skip
    for _, head in cols:
        table.add_column(head, justify="left" if head == "tokenizer" else "right")
    for row in result["rows"]:
        table.add_row(*["-" if row.get(k) is None else (f"{row[k]:.3g}" if isinstance(row[k], float) else str(row[k]))
                        for k, _ in cols])  # fmt: skip
    stdout.print(table)
    if result["skipped"]:
        stdout.print(f"skipped {len(result['skipped'])} finished stages", markup=False, style="dim")
    stdout.print(f"open {result['report']}", markup=False)
