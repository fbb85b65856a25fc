"""``tokkit fit-kmeans``: a k-means codebook over encoder features -> a k-means tokenizer checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from tokkit_cli.options import (
    FEATURES_HELP,
    DeviceOpt,
    EncoderImageSizeOpt,
    EncoderOpt,
    EncoderWeightsOpt,
    GridOpt,
    InputDataOpt,
    JsonOpt,
    L2Opt,
    LayerOpt,
    RandomInitOpt,
    SeedOpt,
    StoreBatchOpt,
    VerifyOpt,
    session,
)


def command(
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Codebook size K.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint directory to write.")],
    encoder: EncoderOpt = None,
    data: InputDataOpt = None,
    features: Annotated[
        Path | None,
        typer.Option(
            "--features",
            "-f",
            help=FEATURES_HELP + " Instead of --data; with features from elsewhere, "
            "--encoder (and --layer/--image-size/--weights) names the encoder they came from.",
        ),
    ] = None,
    grid: GridOpt = None,
    layer: LayerOpt = None,
    image_size: EncoderImageSizeOpt = None,
    l2_normalize: L2Opt = False,
    weights: EncoderWeightsOpt = None,
    random_init: RandomInitOpt = False,
    niter: Annotated[int, typer.Option("--niter", min=0, help="Lloyd iterations (at most).")] = 20,
    tol: Annotated[
        float | None,
        typer.Option(
            "--tol",
            min=0.0,
            help="Stop when the objective's relative change between iterations is at most this "
            "(default 1e-7: faiss 1.15's rule, stop once it no longer changes; 0: run every iteration).",
        ),
    ] = None,
    sample: Annotated[
        int | None,
        typer.Option("--sample", min=1, help="Points used (default K*256; all when fewer). Always reported."),
    ] = None,
    init: Annotated[str, typer.Option("--init", help="kmeans++ (greedy, on a subsample) | random")] = "kmeans++",
    init_sample: Annotated[
        int | None, typer.Option("--init-sample", min=1, help="Points for k-means++ (default min(128*K, 131072)).")
    ] = None,
    spherical: Annotated[bool, typer.Option("--spherical", help="Unit-norm centroids after every update.")] = False,
    backend: Annotated[str, typer.Option("--backend", help="faiss | torch (torch runs under torchrun)")] = "faiss",
    gpu: Annotated[bool, typer.Option("--gpu", help="faiss-gpu when present, else the torch backend on CUDA.")] = False,
    batch_size: StoreBatchOpt = 32,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 1234,
    device: DeviceOpt = "auto",
) -> None:
    """Fit a k-means codebook over encoder features and write a k-means tokenizer checkpoint.

    --features also takes features written elsewhere (np.save, h5py, DiGIT's .npy shards).

    Example: tokkit fit-kmeans --encoder effnet-lite0 --k 256 --data builtin:photos --out runs/km
    """
    from tokkit.clustering.fit import fit_kmeans
    from tokkit_cli.render import show
    from tokkit_cli.render.kmeans import fit_json, render_fit

    with session(seed):
        r = fit_kmeans(
            k, out, encoder=encoder, data=data, features=features, layer=layer, image_size=image_size,
            l2_normalize=l2_normalize, weights=weights, random_init=random_init, niter=niter, tol=tol, sample=sample,
            init=init, spherical=spherical, seed=seed, backend=backend, gpu=gpu, device=device,
            batch_size=batch_size, init_sample=init_sample, grid=grid, verify=verify,
        )  # fmt: skip
    show(r, json, render_fit, out, json_view=fit_json)
