"""``tokkit eval stability``."""

from __future__ import annotations

from tokkit_cli.options import (
    CropOpt,
    DataOpt,
    DeviceOpt,
    EvalBatchOpt,
    EvalImageSizeOpt,
    JsonOpt,
    NumImagesOpt,
    SeedOpt,
    SnrOpt,
    TokenizerOpt,
    session,
)


def command(
    tokenizer: TokenizerOpt,
    data: DataOpt,
    snr_db: SnrOpt = "30,25,20,15,10,5,1",
    num_images: NumImagesOpt = None,
    image_size: EvalImageSizeOpt = None,
    batch_size: EvalBatchOpt = 16,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    crop: CropOpt = None,
    device: DeviceOpt = "auto",
) -> None:
    """Latent stability (DiGIT): how much the tokens change under small perturbations.

    Token change rate and cosine similarity (quantized vectors and pre-quantization features),
    clean vs perturbed, under Gaussian pixel noise at SNR levels in dB, a 1-pixel shift, a
    flip-and-back and JPEG quality 75. Beside them the measures a collapsed latent cannot fake:
    the centred cosine (dataset mean removed), the latent SNR in dB, and the baselines (random
    pairs of positions; random codes with the same usage).

    Example: tokkit eval stability --tokenizer runs/vq/checkpoints/final --data builtin:photos --snr-db 30,20,10
    """
    from tokkit.metrics.stability import evaluate_stability, parse_snr_list
    from tokkit_cli.render import show
    from tokkit_cli.render.stability import render_stability

    levels = parse_snr_list(snr_db)
    with session(seed):
        result = evaluate_stability(
            tokenizer,
            data,
            num_images=num_images,
            image_size=image_size,
            batch_size=batch_size,
            snr_db=levels,
            seed=seed,
            device=device,
            crop=crop,
        )
    show(result, json, render_stability, tokenizer)
