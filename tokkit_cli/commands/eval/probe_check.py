"""``tokkit eval probe-check``."""

from __future__ import annotations

from tokkit_cli.options import (
    DataOpt,
    DeviceOpt,
    EvalBatchOpt,
    EvalImageSizeOpt,
    FidFeaturesOpt,
    FidWeightsOpt,
    JsonOpt,
    LevelsOpt,
    NumImagesOpt,
    ProbeStepsOpt,
    SamplesOpt,
    SeedOpt,
    SeedsOpt,
    TokenizerOpt,
    session,
)


def command(
    tokenizer: TokenizerOpt,
    data: DataOpt,
    levels: LevelsOpt = "0,0.1,0.3,0.6",
    seeds: SeedsOpt = 3,
    num_images: NumImagesOpt = None,
    image_size: EvalImageSizeOpt = None,
    batch_size: EvalBatchOpt = 16,
    samples: SamplesOpt = 0,
    probe_steps: ProbeStepsOpt = None,
    fid_features: FidFeaturesOpt = "effnet-lite0",
    weights: FidWeightsOpt = None,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Does this probe budget separate tokenizers known to differ? A ladder built from one tokenizer.

    Level p replaces a fraction p of each image's tokens by random codes (continuous latents: noise
    of relative power p); every level runs the same probe with the same seeds. Reports per measure
    (gFID with --samples, held-out bits per token or the diffusion loss) the Spearman correlation
    with the level and how many pairs of levels the paired intervals resolve, in order.

    Example: tokkit eval probe-check -t runs/vq/checkpoints/final --data builtin:photos --samples 64 --seeds 3
    """
    from tokkit.errors import UsageError
    from tokkit.generation import ProbeConfig
    from tokkit.generation.probe_check import probe_check
    from tokkit_cli.render import show
    from tokkit_cli.render.generation import render_probe_check

    try:
        ladder = [float(x) for x in levels.split(",") if x.strip()]
    except ValueError:
        raise UsageError(f"--levels takes comma-separated fractions, got '{levels}'") from None
    config = ProbeConfig() if probe_steps is None else ProbeConfig(steps=probe_steps)
    with session(seed):
        result = probe_check(
            tokenizer, data, levels=ladder, seeds=seeds, seed=seed, device=device, num_images=num_images,
            image_size=image_size, batch_size=batch_size, probe=config, samples=samples, fid_features=fid_features,
            weights=weights,
        )  # fmt: skip
    show(result, json, render_probe_check, tokenizer)
