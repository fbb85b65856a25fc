"""``tokkit eval recon|stability|generation|compare``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session

app = typer.Typer(
    help="Evaluate tokenizers: reconstruction, latent stability, downstream generation, side by side.",
    no_args_is_help=True,
)

TokenizerOpt = Annotated[Path, typer.Option("--tokenizer", "-t", help="A tokkit checkpoint directory.")]
DataOpt = Annotated[str, typer.Option("--data", "-d", help="Image folder, HDF5 image store or builtin:photos.")]
NumImagesOpt = Annotated[
    int | None, typer.Option("--num-images", "-n", min=1, help="Use the first N images (default: all).")
]
ImageSizeOpt = Annotated[
    int | None,
    typer.Option("--image-size", min=8, help="Side S of the S x S eval crops (default: the tokenizer's own size)."),
]
BatchOpt = Annotated[
    int, typer.Option("--batch-size", "-b", min=1, help="Images per batch (results do not depend on it).")
]
FeaturesOpt = Annotated[
    str,
    typer.Option(
        "--fid-features",
        help="Feature space of the Frechet distance: inception (standard rFID), effnet-lite0 (offline) or any encoder.",
    ),
]
WeightsOpt = Annotated[
    Path | None,
    typer.Option(
        "--weights", help="Weights of the FID feature network (e.g. weights-inception-2015-12-05-6726825d.pth)."
    ),
]
LpipsWeightsOpt = Annotated[
    Path | None,
    typer.Option("--lpips-weights", help="torchvision AlexNet weights for LPIPS (alexnet-owt-7be5be79.pth)."),
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
StepsOpt = Annotated[
    int | None, typer.Option("--probe-steps", min=1, help="Probe training steps (default: the fixed probe budget).")
]


def _fmt(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def _short(reason: str | None) -> str:
    """The first clause of a reason (the full text is in --json)."""
    return (reason or "").split(" (")[0]


def _warnings(result: dict[str, Any]) -> None:
    from tokkit_cli.console import stdout

    for w in result.get("protocol", {}).get("warnings", []):
        stdout.print(f"warning: {w}", style="yellow", markup=False)


def _kind(p: dict[str, Any]) -> str | None:
    return p.get("tokenizer", {}).get("kind")


def _print_protocol(p: dict[str, Any]) -> None:
    from tokkit_cli.console import stdout

    tok = p.get("tokenizer", {})
    stdout.print(
        f"protocol: {p.get('num_images')} images of {p.get('data')} at {p.get('image_size')}px "
        f"({p.get('transform')}); tokenizer {tok.get('architecture')} ({tok.get('kind')}) {tok.get('path') or ''}",
        markup=False,
        style="dim",
    )


@app.command("recon")
def recon(
    tokenizer: TokenizerOpt,
    data: DataOpt,
    num_images: NumImagesOpt = None,
    image_size: ImageSizeOpt = None,
    batch_size: BatchOpt = 16,
    fid_features: FeaturesOpt = "effnet-lite0",
    weights: WeightsOpt = None,
    lpips_weights: LpipsWeightsOpt = None,
    no_cache: NoCacheOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Reconstruction quality: PSNR, SSIM, LPIPS, codebook usage and rFID.

    Reconstructs every image; the Frechet distance is computed in the --fid-features space
    (inception = the standard rFID). Real-image statistics are cached per data and protocol.

    Example: tokkit eval recon --tokenizer runs/vq/checkpoints/final --data builtin:photos --fid-features effnet-lite0
    """
    from tokkit.metrics.recon import evaluate_recon

    with session(seed):
        result = evaluate_recon(
            tokenizer,
            data,
            num_images=num_images,
            image_size=image_size,
            batch_size=batch_size,
            fid_features=fid_features,
            weights=weights,
            lpips_weights=lpips_weights,
            device=device,
            use_cache=not no_cache,
        )
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    p = result["protocol"]
    table = Table(title=f"reconstruction: {tokenizer}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("how")
    table.add_row("PSNR (dB)", _fmt(result["psnr"], 2), "RGB, [0,1], data_range 1")
    table.add_row("SSIM", _fmt(result["ssim"]), "Gaussian 11x11, sigma 1.5, per channel")
    lpips_how = "AlexNet v0.1" if result["lpips"] is not None else "unavailable: " + _short(p["lpips"]["reason"])
    table.add_row("LPIPS", _fmt(result["lpips"]), lpips_how)
    table.add_row(f"rFID ({result['rfid_features']})", _fmt(result["rfid"], 3), p["rfid"]["features"]["implementation"])
    u = result["usage"]
    if u is None:
        table.add_row("usage", "-", "continuous tokenizer: no codebook")
    else:
        table.add_row(
            "utilization", _fmt(u["utilization"]), f"{u['codebook_size'] - u['dead_codes']}/{u['codebook_size']} codes"
        )
        table.add_row("perplexity", _fmt(u["perplexity"], 1), f"entropy {u['entropy_bits']:.3f} bits")
        for s in u.get("per_scale", []):
            table.add_row(
                f"  scale {s['scale']}",
                _fmt(s["utilization"]),
                f"{s['utilization_of_reachable']:.3f} of reachable, perplexity {s['perplexity']:.1f}",
            )
    stdout.print(table)
    _print_protocol(p)
    _warnings(result)


@app.command("stability")
def stability(
    tokenizer: TokenizerOpt,
    data: DataOpt,
    snr_db: SnrOpt = "30,25,20,15,10,5,1",
    num_images: NumImagesOpt = None,
    image_size: ImageSizeOpt = None,
    batch_size: BatchOpt = 16,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
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
        )
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    p = result["protocol"]
    change = "latent rel. change" if "latent" in p["change_measure"] else "token change rate"
    b = result["baselines"]
    rp, rpc = b["cosine_random_pairs"], b["cosine_random_pairs_centred"]
    # two narrow tables (quantized vectors / latents, then pre-quantization features) fit a terminal
    panels = [
        ("quantized" if _kind(p) != "continuous" else "latents", "quantized", "latent"),
        ("pre-quantization features", "features", "feature"),
    ]
    for title, key, snr in panels:
        if all(v is None for v in result[f"cosine_{key}"]):
            continue
        table = Table(title=f"stability of the {title}: {tokenizer}")
        table.add_column("perturbation", no_wrap=True)
        heads = ([change] if key == "quantized" else []) + ["cosine", "centred cosine", "SNR dB"]
        for h in heads:
            table.add_column(h, justify="right")

        def cells(r: dict[str, Any], i: int | None, key: str = key, snr: str = snr) -> list[str]:
            get = (lambda k: r[k][i]) if i is not None else (lambda k: r[k])
            first = [_fmt(get("token_change_rate"))] if key == "quantized" else []
            return first + [
                _fmt(get(f"cosine_{key}")),
                _fmt(get(f"cosine_{key}_centred")),
                _fmt(get(f"{snr}_snr_db"), 2),
            ]

        for i, s in enumerate(result["snr_db"]):
            table.add_row(f"noise {s:g} dB", *cells(result, i))
        for name, r in result["perturbations"].items():
            table.add_row(name, *cells(r, None))
        base = [_fmt(b["token_change_random_codes"])] if key == "quantized" else []
        table.add_row("baseline: random", *base, _fmt(rp[key]), _fmt(rpc[key]), "")
        stdout.print(table)
    _print_protocol(p)
    stdout.print(
        "baseline row: cosines between random pairs of positions from different images"
        + (
            "; change rate of random codes drawn with the same usage"
            if b["token_change_random_codes"] is not None
            else ""
        )
        + "; centred = dataset mean vector removed; SNR dB = 10 log10(spread of clean latents / mean squared change)",
        markup=False,
        style="dim",
    )
    stdout.print(f"{change}: {p['change_measure']}", markup=False, style="dim")
    _warnings(result)


@app.command("generation")
def generation(
    tokenizer: TokenizerOpt,
    data: DataOpt,
    order: OrderOpt = None,
    head: HeadOpt = None,
    classes: ClassesOpt = False,
    num_images: NumImagesOpt = None,
    image_size: ImageSizeOpt = None,
    batch_size: BatchOpt = 16,
    samples: SamplesOpt = 0,
    probe_steps: StepsOpt = None,
    fid_features: FeaturesOpt = "effnet-lite0",
    weights: WeightsOpt = None,
    no_cache: NoCacheOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
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
            use_cache=not no_cache,
            seed=seed,
            order=order,
            head=head,
            classes=classes,
        )
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    probe = result["probe"]
    why = probe.get("not_defined", {})
    feats = probe.get("gfid_protocol", {}).get("features", {}).get("spec", fid_features)
    table = Table(title=f"generation probe ({result['order']}, {result['head']} head): {tokenizer}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("how")
    rows = [
        (f"gFID ({feats})", "gfid", 3, "samples vs training images"),
        ("gFID, guided", "gfid_guided", 3, f"classifier-free guidance w = {probe['config']['cfg_scale']}"),
        ("gFID vs held-out", "gfid_heldout", 3, "samples vs held-out images (memorisation check)"),
        ("floor", "gfid_floor", 3, "held-out real vs training images"),
        ("rFID", "rfid", 3, "held-out reconstructions vs training images"),
        ("bits per token", "bits_per_token", 4, probe.get("measure", "")),
        ("bits per image", "bits_per_image", 1, "bits per token x tokens"),
        ("diffusion loss", "diffusion_loss", 4, "held-out eps-MSE"),
    ]
    for name, key, digits, how in rows:
        if key == "gfid_guided" and not classes:
            continue
        v = result[key]
        table.add_row(name, _fmt(v, digits), how if v is not None else why.get(key, "-"))
    for scale, bits in (probe.get("bits_per_scale") or {}).items():
        table.add_row(f"  scale {scale}", _fmt(bits, 4), "bits per token of this scale")
    stdout.print(table)
    cfg, b = probe["config"], probe["budget"]
    stdout.print(
        f"probe: {cfg['n_layer']} layers x {cfg['d_model']} wide, {cfg['steps']} steps x {cfg['batch_size']} sequences "
        f"of {probe['sequence_length']} tokens ({probe['order']}, {probe['tokens_from']}), {b['parameters']:,} "
        f"parameters (head {b['head_parameters']:,}), ~{b['train_flops_approx']:.2g} FLOPs; "
        f"{probe['num_train']} train / {probe['num_val']} held-out images",
        markup=False,
        style="dim",
    )
    _print_protocol(result["protocol"])
    _warnings(result)


@app.command("compare")
def compare(
    tokenizers: Annotated[list[Path], typer.Argument(help="Checkpoint directories to compare.")],
    data: DataOpt,
    out: Annotated[Path, typer.Option("--out", "-o", help="Folder for compare.csv, compare.json and the plot.")],
    num_images: NumImagesOpt = None,
    image_size: ImageSizeOpt = None,
    batch_size: BatchOpt = 16,
    snr_db: SnrOpt = "30,25,20,15,10,5,1",
    samples: SamplesOpt = 0,
    probe_steps: StepsOpt = None,
    orders: Annotated[
        str | None,
        typer.Option("--orders", help="Probe orders to run for each tokenizer, comma separated (an order study)."),
    ] = None,
    head: HeadOpt = None,
    classes: ClassesOpt = False,
    fid_features: FeaturesOpt = "effnet-lite0",
    weights: WeightsOpt = None,
    lpips_weights: LpipsWeightsOpt = None,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Recon, stability and generation for several tokenizers under one protocol.

    Writes a table, compare.csv, compare.json and recon_vs_generation.png (gFID vs rFID with
    the real-data floor drawn; probe bits/token beside it). Each tokenizer runs its kind's
    default probe; --orders raster,random,next-scale runs an order study (order_study.png).

    Example: tokkit eval compare runs/vq/checkpoints/final runs/kmeans --data builtin:photos --out compare/
    """
    from tokkit.generation import ProbeConfig
    from tokkit.metrics.compare import compare_tokenizers
    from tokkit.metrics.stability import parse_snr_list

    levels = parse_snr_list(snr_db)
    config = ProbeConfig() if probe_steps is None else ProbeConfig(steps=probe_steps)
    with session(seed):
        result = compare_tokenizers(
            tokenizers,
            data,
            out,
            num_images=num_images,
            image_size=image_size,
            batch_size=batch_size,
            snr_db=levels,
            samples=samples,
            probe=config,
            fid_features=fid_features,
            weights=weights,
            lpips_weights=lpips_weights,
            device=device,
            seed=seed,
            orders=[o.strip() for o in orders.split(",") if o.strip()] if orders else None,
            head=head,
            classes=classes,
        )
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    rows = result["rows"]
    cols = result["columns_shown"]
    table = Table(
        title=f"compare on {data} ({result['protocol']['num_images']} images, {result['protocol']['image_size']}px)"
    )
    # one column per tokenizer: a dozen metrics fit a terminal better as rows
    table.add_column("metric")
    for row in rows:
        table.add_column(str(row["tokenizer"]), justify="right", overflow="fold")
    for c in cols:
        if c != "tokenizer":
            table.add_row(c, *[_fmt(row.get(c), 3) for row in rows])
    stdout.print(table)
    for name, path in result["files"].items():
        stdout.print(f"wrote {name}: {path}", markup=False)
    for w in result["protocol"].get("warnings", []):
        stdout.print(f"warning: {w}", style="yellow", markup=False)
