"""``tokkit eval generation``."""

from __future__ import annotations

from tokkit_cli.options import (
    ClassesOpt,
    CropOpt,
    DataOpt,
    DeviceOpt,
    EvalBatchOpt,
    EvalImageSizeOpt,
    FidFeaturesOpt,
    FidWeightsOpt,
    HeadOpt,
    JsonOpt,
    NoCacheOpt,
    NumImagesOpt,
    OrderOpt,
    ProbeStepsOpt,
    RefStatsOpt,
    SamplesOpt,
    SeedOpt,
    SeedsOpt,
    TokenizerOpt,
    session,
)


def command(
    tokenizer: TokenizerOpt,
    data: DataOpt,
    order: OrderOpt = None,
    head: HeadOpt = None,
    classes: ClassesOpt = False,
    num_images: NumImagesOpt = None,
    image_size: EvalImageSizeOpt = None,
    batch_size: EvalBatchOpt = 16,
    samples: SamplesOpt = 0,
    probe_steps: ProbeStepsOpt = None,
    seeds: SeedsOpt = 1,
    fid_features: FidFeaturesOpt = "effnet-lite0",
    weights: FidWeightsOpt = None,
    no_cache: NoCacheOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    crop: CropOpt = None,
    ref_stats: RefStatsOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Downstream generation probe: how well a small generator learns the tokens, and its gFID.

    Trains one small transformer (same backbone, steps and batch for every order and head) on the
    training split: raster (causal), random (MAR masked) or next-scale (VAR), with a categorical or
    a diffusion head. Reports held-out bits per token/image (categorical) or the diffusion loss,
    and with --samples the gFID beside the real-data floor and the tokenizer's rFID.

    Example: tokkit eval generation -t runs/vq/checkpoints/final --data builtin:photos --order random --samples 64
    """
    from tokkit.generation import ProbeConfig, evaluate_generation
    from tokkit_cli.render import show
    from tokkit_cli.render.generation import render_generation

    config = ProbeConfig() if probe_steps is None else ProbeConfig(steps=probe_steps)
    with session(seed):
        result = evaluate_generation(
            tokenizer,
            data,
            num_images=num_images,
            image_size=image_size,
            batch_size=batch_size,
            probe=config,
            samples=samples,
            fid_features=fid_features,
            weights=weights,
            device=device,
            crop=crop,
            ref_stats=ref_stats,
            use_cache=not no_cache,
            seed=seed,
            order=order,
            head=head,
            classes=classes,
            seeds=seeds,
        )
    show(result, json, render_generation, tokenizer, fid_features, classes)
