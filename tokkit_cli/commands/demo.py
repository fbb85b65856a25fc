"""``tokkit demo``: the whole study in one command, one progress display, one page to open."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session


def command(
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for checkpoints, results and index.html.")] = Path(
        "runs/demo"
    ),
    quick: Annotated[bool, typer.Option("--quick", help="A third of the budget (steps, images, samples).")] = False,
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
    from tokkit_cli.render import show
    from tokkit_cli.render.demo import demo_json, render_demo

    settings = dataclasses.replace(QUICK if quick else DEFAULT, seed=seed)
    if settings_file is not None:
        settings = settings_from_file(settings_file, settings)
    with session(seed, nested_bars=True):
        result = run_demo(out, settings, tokenizers=list(tokenizer or []), device=device)
    show(result, json, render_demo, quick, json_view=demo_json)
