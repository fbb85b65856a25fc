"""``tokkit extract``, ``tokkit fit-kmeans``, ``tokkit tokenize``: the DiGIT-style discriminative tokenizer."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, Any

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, VerifyOpt, session

EncoderOpt = Annotated[
    str | None,
    typer.Option(
        "--encoder",
        "-e",
        help="dinov2[-s|-b|-l|-g][-reg] (dinov2 = dinov2-b-reg), digit, timm:NAME, effnet-lite0, pixels, "
        "tokenizer:PATH. See 'tokkit list encoders'.",
    ),
]
DataOpt = Annotated[
    str | None, typer.Option("--data", "-d", help="Image folder, HDF5 image store, or builtin:photos / builtin:shapes.")
]
LayerOpt = Annotated[
    str | None,
    typer.Option(
        "--layer",
        help="last | digit (block 10 of 12 + final norm) | N (block N from 1) | -N (from the end) | N:raw "
        "(no final norm); for pixels: the patch size.",
    ),
]
ImageSizeOpt = Annotated[int | None, typer.Option("--image-size", min=8, help="Input side (default: the encoder's).")]
WeightsOpt = Annotated[
    str | None, typer.Option("--weights", help="Encoder weights file (else $TOKKIT_WEIGHTS_DIR, hub/torch cache).")
]
RandomInitOpt = Annotated[
    bool, typer.Option("--random-init", help="Random encoder weights (tests only; never a silent fallback).")
]
L2Opt = Annotated[bool, typer.Option("--l2-normalize", help="L2-normalise every feature vector.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run into the same file.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")]
BatchOpt = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per batch (and per commit).")]
FEATURES_HELP = (
    "Feature file: a store from tokkit extract, any HDF5 with a 'features' dataset (N, T, D) or (N, D), "
    "a .npy of that shape (memory-mapped), or a folder of .npy shards (name order)."
)
GridOpt = Annotated[
    str | None,
    typer.Option("--grid", help="HxW grid of feature files that record none (default: T when it is a square)."),
]


def _emit(result: dict[str, Any], json: bool, title: str, rows: list[tuple[str, Any]]) -> None:
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    table = Table(title=title, show_header=False)
    for k, v in rows:
        table.add_row(k, str(v))
    stdout.print(table)


def _skipped(r: dict[str, Any]) -> str:
    names = r.get("skipped") or []
    return f"{r.get('num_skipped', 0)}" + (
        f": {', '.join(names[:3])}" + (" ..." if len(names) > 3 else "") if names else ""
    )


def extract(
    out: Annotated[Path, typer.Option("--out", "-o", help="Feature store (.h5) to write.")],
    data: Annotated[
        str, typer.Option("--data", "-d", help="Image folder, HDF5 image store, or builtin:photos / builtin:shapes.")
    ],
    encoder: EncoderOpt = "effnet-lite0",
    layer: LayerOpt = None,
    image_size: ImageSizeOpt = None,
    dtype: Annotated[str, typer.Option("--dtype", help="float16 | float32")] = "float16",
    precision: Annotated[
        str, typer.Option("--precision", help="fp32 | bf16 (encoder under bfloat16 autocast, for GPUs).")
    ] = "fp32",
    l2_normalize: L2Opt = False,
    weights: WeightsOpt = None,
    random_init: RandomInitOpt = False,
    batch_size: BatchOpt = 32,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Encode every image into an HDF5 feature store: features (N, T, D), image_index, grid.

    Streams batch by batch (memory flat in N); --resume continues a killed run to the same bytes.
    Under torchrun each process encodes a contiguous share of the batches; the store is the
    single-process one.

    Example: tokkit extract --encoder effnet-lite0 --data builtin:photos --out feats.h5
    """
    from tokkit.encoders.extract import extract_features

    with session(seed):
        r = extract_features(
            encoder or "effnet-lite0",
            data,
            out,
            layer=layer,
            image_size=image_size,
            batch_size=batch_size,
            dtype=dtype,
            l2_normalize=l2_normalize,
            weights=weights,
            random_init=random_init,
            resume=resume,
            overwrite=overwrite,
            device=device,
            verify=verify,
            precision=precision,
        ).to_dict()
    if int(os.environ.get("RANK", "0")) != 0:  # one answer per torchrun job, from rank 0
        return
    _emit(
        r,
        json,
        f"features -> {out}",
        [
            ("encoder", f"{r['encoder']} (layer {r['layer']})"),
            ("images", r["num_images"]),
            ("grid x dim", f"{r['grid'][0]}x{r['grid'][1]} x {r['dim']}"),
            ("image size", r["image_size"]),
            ("dtype", r["dtype"]),
            ("resumed from", r["resumed_from"]),
            ("images/s", f"{r['images_per_second']:.1f}"),
            ("skipped (unreadable)", _skipped(r)),
        ],
    )


def fit_kmeans(
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="Codebook size K.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Checkpoint directory to write.")],
    encoder: EncoderOpt = None,
    data: DataOpt = None,
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
    image_size: ImageSizeOpt = None,
    l2_normalize: L2Opt = False,
    weights: WeightsOpt = None,
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
    batch_size: BatchOpt = 32,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 1234,
    device: DeviceOpt = "auto",
) -> None:
    """Fit a k-means codebook over encoder features and write a k-means tokenizer checkpoint.

    --features also takes features written elsewhere (np.save, h5py, DiGIT's .npy shards).

    Example: tokkit fit-kmeans --encoder effnet-lite0 --k 256 --data builtin:photos --out runs/km
    """
    from tokkit.clustering.fit import fit_kmeans as run

    with session(seed):
        r = run(
            k,
            out,
            encoder=encoder,
            data=data,
            features=features,
            layer=layer,
            image_size=image_size,
            l2_normalize=l2_normalize,
            weights=weights,
            random_init=random_init,
            niter=niter,
            tol=tol,
            sample=sample,
            init=init,
            spherical=spherical,
            seed=seed,
            backend=backend,
            gpu=gpu,
            device=device,
            batch_size=batch_size,
            init_sample=init_sample,
            grid=grid,
            verify=verify,
        )
    if int(os.environ.get("RANK", "0")) != 0:  # one answer per torchrun job, from rank 0
        return
    keys = (
        "k",
        "dim",
        "num_points",
        "niter",
        "iterations",
        "tol",
        "objective",
        "objective_history",
        "history_seconds",
        "seconds",
        "backend",
        "init",
        "empty_clusters_fixed",
        "num_skipped",
        "skipped",
    )
    if json:
        _emit({key: r[key] for key in keys}, True, "", [])
        return
    _emit(
        r,
        False,
        f"k-means -> {out}",
        [
            ("K x dim", f"{r['k']} x {r['dim']}"),
            ("points used", f"{r['num_points']} of {r['points_available']}"),
            ("init", f"{r['init']} (on {r['init_sample']} points)"),
            ("backend", f"{r['backend']} ({r['device']})"),
            ("iterations", f"{r['iterations']} of {r['niter']} (tol {r['tol']:g})"),
            ("objective (mean sq. L2)", f"{r['objective']:.6g}"),
            ("first -> last", f"{r['objective_history'][0]:.6g} -> {r['objective_history'][-1]:.6g}"),
            ("empty clusters fixed", r["empty_clusters_fixed"]),
            ("images skipped (unreadable)", _skipped(r)),
            ("seconds", f"{r['seconds']:.1f}"),
        ],
    )


def tokenize(
    tokenizer: Annotated[
        Path, typer.Option("--tokenizer", "-t", help="Tokenizer checkpoint directory (k-means; with --data also a VQ).")
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="Token store (.h5) to write.")],
    data: DataOpt = None,
    features: Annotated[
        Path | None, typer.Option("--features", "-f", help=FEATURES_HELP + " Instead of --data.")
    ] = None,
    grid: GridOpt = None,
    batch_size: BatchOpt = 32,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=8, help="With --data: encode at S x S (default: the tokenizer's).")
    ] = None,
    resume: ResumeOpt = False,
    overwrite: OverwriteOpt = False,
    verify: VerifyOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Turn images or a feature store into a token store: tokens (N, h, w), exact nearest centroid.

    --data also takes a single-scale discrete tokenizer (a VQGAN, trained or imported).

    Example: tokkit tokenize --tokenizer runs/km --data builtin:photos --out tokens.h5
    """
    from tokkit.clustering.tokenize import tokenize as run

    with session(seed):
        r = run(
            tokenizer,
            out,
            data=data,
            features=features,
            batch_size=batch_size,
            resume=resume,
            overwrite=overwrite,
            device=device,
            image_size=image_size,
            grid=grid,
            verify=verify,
        ).to_dict()
    if int(os.environ.get("RANK", "0")) != 0:  # one answer per torchrun job, from rank 0
        return
    _emit(
        r,
        json,
        f"tokens -> {out}",
        [
            ("images", r["num_images"]),
            ("grid", r["grid"] if r["grid"] else r["tokens_per_image"]),
            ("codebook size", r["codebook_size"]),
            ("utilization", f"{r['utilization']:.3f}"),
            ("perplexity", f"{r['perplexity']:.1f}"),
            ("resumed from", r["resumed_from"]),
            ("images skipped (unreadable)", _skipped(r)),
            ("seconds", f"{r['seconds']:.1f}"),
        ],
    )
