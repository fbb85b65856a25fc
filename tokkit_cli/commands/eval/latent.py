"""``tokkit eval latent``."""

from __future__ import annotations

from tokkit_cli.options import (
    CropOpt,
    DeviceOpt,
    EvalBatchOpt,
    EvalImageSizeOpt,
    FidFeaturesOpt,
    FidWeightsOpt,
    InputDataOpt,
    JsonOpt,
    LatentsOpt,
    NumImagesOpt,
    OptionalTokenizerOpt,
    SeedOpt,
    session,
)


def command(
    tokenizer: OptionalTokenizerOpt = None,
    data: InputDataOpt = None,
    latents: LatentsOpt = None,
    num_images: NumImagesOpt = None,
    image_size: EvalImageSizeOpt = None,
    batch_size: EvalBatchOpt = 16,
    fid_features: FidFeaturesOpt = "effnet-lite0",
    weights: FidWeightsOpt = None,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    crop: CropOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Latent diagnostics: statistics and suggested scale, DCT spectrum, equivariance, interpolation FD.

    Each diagnostic is printed beside its baseline (RGB and white noise for the spectrum, the plain
    reconstruction for equivariance, rFID for the interpolation FD). --latents FILE.npy takes latents
    made elsewhere and gives the weight-free measures only.

    Example: tokkit eval latent --tokenizer runs/vae/checkpoints/final --data builtin:photos -n 256
    """
    from tokkit.errors import UsageError
    from tokkit.metrics.latent import evaluate_latent
    from tokkit_cli.render import show
    from tokkit_cli.render.latent import render_latent

    if (tokenizer is None) == (latents is None):
        raise UsageError("give exactly one of --tokenizer or --latents")
    if tokenizer is not None and data is None:
        raise UsageError("--tokenizer needs --data")
    with session(seed):
        result = evaluate_latent(tokenizer, data, latents, num_images=num_images, image_size=image_size,
                                 batch_size=batch_size, fid_features=fid_features, weights=weights,
                                 device=device, seed=seed, crop=crop)  # fmt: skip
    show(result, json, render_latent, tokenizer or latents)
