"""Option aliases of the commands, and the session they set up: the one place an option is declared.

A command's signature names these (``json: JsonOpt = False``); an option used by one command only may
stay inline in that command's signature. The help text of every option is recorded in
tests/fixtures/cli_help/ (``python tests/make_cli_help_snapshot.py`` after an intended change)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer

# ---- every command ------------------------------------------------------------------------------
JsonOpt = Annotated[bool, typer.Option("--json", help="Print exactly one JSON object on stdout, nothing else.")]
SeedOpt = Annotated[int, typer.Option("--seed", help="Random seed (same seed, same result).")]
DeviceOpt = Annotated[str, typer.Option("--device", help="auto | cpu | cuda (auto picks CUDA when present).")]
VerifyOpt = Annotated[
    bool,
    typer.Option(
        "--verify",
        help="Decode every image of a folder before starting (default: headers only; an image that does not "
        "decode is skipped when read, counted and named).",
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logging on stderr.")]

# ---- tokkit data --------------------------------------------------------------------------------
SpecArg = Annotated[
    str, typer.Argument(help="An image folder, an HDF5 image store, or builtin:photos / builtin:shapes[:n=N,size=S].")
]

# ---- tokkit eval --------------------------------------------------------------------------------
TokenizerOpt = Annotated[Path, typer.Option("--tokenizer", "-t", help="A tokkit checkpoint directory.")]
DataOpt = Annotated[str, typer.Option("--data", "-d", help="Image folder, HDF5 image store or builtin:photos.")]
NumImagesOpt = Annotated[
    int | None, typer.Option("--num-images", "-n", min=1, help="Use the first N images (default: all).")
]
EvalImageSizeOpt = Annotated[
    int | None,
    typer.Option("--image-size", min=8, help="Side S of the S x S eval crops (default: the tokenizer's own size)."),
]
EvalBatchOpt = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Images per batch (results do not depend on it).")
]
FidFeaturesOpt = Annotated[
    str,
    typer.Option(
        "--fid-features",
        help="Feature space of the Frechet distance: inception (standard rFID), effnet-lite0 (offline) or any encoder.",
    ),
]
FidWeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights", help="Weights of the FID feature network (e.g. weights-inception-2015-12-05-6726825d.pth)."
    ),
]
LpipsWeightsOpt = Annotated[
    Path | None,
    typer.Option("--lpips-weights", help="torchvision AlexNet weights for LPIPS (alexnet-owt-7be5be79.pth)."),
]
OptionalTokenizerOpt = Annotated[
    Path | None, typer.Option("--tokenizer", "-t", help="A tokkit checkpoint directory (or give --latents).")
]
LatentsOpt = Annotated[
    Path | None,
    typer.Option("--latents", help="An (N, C, h, w) float .npy made elsewhere: the weight-free measures only."),
]
CropOpt = Annotated[
    str | None,
    typer.Option(
        "--crop",
        help="Eval preprocessing: center (resize shorter side + centre crop; the default) or adm "
        "(guided-diffusion's center_crop_arr, as LlamaGen and MAR evaluate ImageNet).",
    ),
]
RefStatsOpt = Annotated[
    Path | None,
    typer.Option(
        "--ref-stats",
        help="Reference statistics (.npz: tokkit eval stats, pytorch-fid mu/sigma, or an ADM batch arr_0): "
        "also report the Frechet distance against them (rfid_ref / gfid_ref).",
    ),
]
NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Recompute the real-image feature statistics.")]
SnrOpt = Annotated[str, typer.Option("--snr-db", help="Noise levels in dB, comma separated ('inf' = no noise).")]
SamplesOpt = Annotated[
    int, typer.Option("--samples", min=0, help="Sample N token maps from the probe, decode, report gFID.")
]
OrderOpt = Annotated[
    str | None,
    typer.Option(
        "--order",
        help="Probe order: raster, random (MAR) or next-scale (VAR; multi-scale tokenizers). "
        "Default: raster for discrete, next-scale for multi-scale, random for continuous.",
    ),
]
HeadOpt = Annotated[
    str | None,
    typer.Option(
        "--head",
        help="categorical (softmax over codes) or diffusion (MAR's per-token diffusion head on latents, or on a "
        "discrete tokenizer's pre-quantization features). Default: categorical, diffusion for continuous.",
    ),
]
ClassesOpt = Annotated[
    bool,
    typer.Option(
        "--classes",
        help="Class-conditional probe: labels from the first-level subfolders (or a store's labels); "
        "10%% label dropout, gFID with and without classifier-free guidance.",
    ),
]
SeedsOpt = Annotated[
    int,
    typer.Option(
        "--seeds",
        min=1,
        help="Train N probes (seeds SEED..SEED+N-1, each also its sampling seed) on the same tokens and real "
        "images: gFID per seed, its mean and std, KID pooled; paired decisions across tokenizers use them.",
    ),
]
LevelsOpt = Annotated[
    str,
    typer.Option(
        "--levels",
        help="Ladder levels: fractions of each image's tokens replaced by random codes (latent noise of that "
        "relative power for continuous tokenizers), comma separated, increasing.",
    ),
]
ProbeStepsOpt = Annotated[
    int | None, typer.Option("--probe-steps", min=1, help="Probe training steps (default: the fixed probe budget).")
]

# ---- tokkit extract, fit-kmeans, tokenize -------------------------------------------------------
EncoderOpt = Annotated[
    str | None,
    typer.Option(
        "--encoder",
        "-e",
        help="dinov2[-s|-b|-l|-g][-reg] (dinov2 = dinov2-b-reg), digit, timm:NAME, effnet-lite0, pixels, "
        "tokenizer:PATH. See 'tokkit list encoders'.",
    ),
]
InputDataOpt = Annotated[
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
EncoderImageSizeOpt = Annotated[
    int | None, typer.Option("--image-size", min=8, help="Input side (default: the encoder's).")
]
EncoderWeightsOpt = Annotated[
    str | None, typer.Option("--weights", help="Encoder weights file (else $TOKKIT_WEIGHTS_DIR, hub/torch cache).")
]
RandomInitOpt = Annotated[
    bool, typer.Option("--random-init", help="Random encoder weights (tests only; never a silent fallback).")
]
L2Opt = Annotated[bool, typer.Option("--l2-normalize", help="L2-normalise every feature vector.")]
ResumeOpt = Annotated[bool, typer.Option("--resume", help="Continue an interrupted run into the same file.")]
OverwriteOpt = Annotated[bool, typer.Option("--overwrite", help="Replace an existing file.")]
StoreBatchOpt = Annotated[int, typer.Option("--batch-size", "-b", min=1, help="Images per batch (and per commit).")]
FEATURES_HELP = (
    "Feature file: a store from tokkit extract, any HDF5 with a 'features' dataset (N, T, D) or (N, D), "
    "a .npy of that shape (memory-mapped), or a folder of .npy shards (name order)."
)
GridOpt = Annotated[
    str | None,
    typer.Option("--grid", help="HxW grid of feature files that record none (default: T when it is a square)."),
]

# ---- tokkit inspect -----------------------------------------------------------------------------
ReportOutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder for the PNG figures and report.html (nothing written without)."),
]
PartialOpt = Annotated[bool, typer.Option("--partial", help="Inspect the rows written so far of an incomplete store.")]


@contextlib.contextmanager
def session(
    seed: int = 0, verbose: bool = False, quiet_progress: bool = False, nested_bars: bool = False
) -> Iterator[None]:
    """Seed, log to stderr, draw progress bars on stderr for the duration of one command.

    ``nested_bars``: one display for a long pipeline; a finished inner bar is removed, the outermost stays."""
    from tokkit.device import seed_everything
    from tokkit.progress import use_reporter
    from tokkit_cli.console import RichReporter, setup_logging

    setup_logging(verbose)
    seed_everything(seed)
    disable = quiet_progress or os.environ.get("TOKKIT_NO_PROGRESS") == "1"
    with use_reporter(RichReporter(disable=disable, remove_finished=nested_bars)):
        yield
