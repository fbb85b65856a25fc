"""``tokkit train ARCH --data D --out RUN``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session


def command(
    architecture: Annotated[
        str,
        typer.Argument(
            help="A registered trainable tokenizer (vqgan, vqgan-tiny, vqgan-f16, vae, vae-tiny, msvq, msvq-tiny, "
            "msvq-var) or kmeans-decoder (needs --tokenizer)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Run directory (config, metrics, samples, checkpoints).")],
    data: Annotated[
        str | None, typer.Option("--data", help="Training images: a folder, an .h5 image store, builtin:photos.")
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="YAML file of settings (over the variant's preset).")
    ] = None,
    steps: Annotated[int | None, typer.Option("--steps", min=1, help="Optimizer steps.")] = None,
    batch_size: Annotated[int | None, typer.Option("--batch-size", min=1, help="Images per step per process.")] = None,
    image_size: Annotated[int | None, typer.Option("--image-size", min=8, help="Training image side.")] = None,
    lr: Annotated[float | None, typer.Option("--lr", help="Peak learning rate.")] = None,
    perceptual_weight: Annotated[
        float | None, typer.Option("--perceptual-weight", help="LPIPS weight (0 trains without LPIPS weights).")
    ] = None,
    tokenizer: Annotated[
        str | None, typer.Option("--tokenizer", help="kmeans-decoder: the k-means tokenizer checkpoint directory.")
    ] = None,
    quantizer: Annotated[
        str | None,
        typer.Option(
            "--quantizer",
            help="vqgan*: vq | fsq | lfq | bsq (model.quantizer). FSQ levels model.fsq_levels (default "
            "[8,8,8,5,5,5], 64000 codes; vqgan-tiny [8,5,5,5], 1000), LFQ/BSQ bits model.lfq_bits (default 18; "
            "vqgan-tiny 10). msvq: vq only.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option("--set", help="key=value over everything else (repeatable); model.FIELD for the tokenizer."),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the run in --out from checkpoints/last.")] = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Train a tokenizer (VQGAN, KL-VAE, VAR multi-scale VQ) or a pixel decoder for k-means tokens.

    Settings: variant preset < --config YAML < flags < --set. Writes RUN/config.json, metrics.jsonl,
    samples/*.png, checkpoints/last (resumable) and checkpoints/final (load with tokkit.load_tokenizer).
    Runs under torchrun (one writer, per-rank data shards).

    Example: tokkit train vqgan-tiny --data builtin:photos --out runs/vq --steps 300
    """
    from tokkit.train import resolve_config, train
    from tokkit_cli.render import show
    from tokkit_cli.render.train import render_train

    flags = dict(
        steps=steps,
        batch_size=batch_size,
        image_size=image_size,
        lr=lr,
        perceptual_weight=perceptual_weight,
        data=data,
        tokenizer=tokenizer,
        seed=seed,
    )
    with session(seed):
        sets = _quantizer_sets(architecture, quantizer) + list(set_ or [])
        cfg = resolve_config(architecture, config_file=config, flags=flags, sets=sets)
        result = train(cfg, out, resume=resume, device=device).to_dict()
    if result["final_checkpoint"] is None:  # a non-writing torchrun rank: rank 0 reports
        return
    show(result, json, render_train, architecture, resume)


def _quantizer_sets(architecture: str, quantizer: str | None) -> list[str]:
    """``--quantizer`` as the first ``--set`` (so explicit ``--set`` entries win); msvq is VQ only."""
    from tokkit.errors import UsageError
    from tokkit.tokenizers.vqgan import QUANTIZERS

    if quantizer is None:
        return []
    if quantizer not in QUANTIZERS:
        raise UsageError(f"--quantizer '{quantizer}': choose one of {', '.join(QUANTIZERS)}")
    if architecture.startswith("msvq"):
        if quantizer != "vq":
            raise UsageError(f"--quantizer {quantizer}: msvq's residual multi-scale quantizer is VQ only")
        return []
    return [f"model.quantizer={quantizer}"]
