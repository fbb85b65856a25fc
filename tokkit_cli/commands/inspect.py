"""``tokkit inspect codebook|features|tokens``: tables in the terminal, pictures and an HTML page in --out."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, session

app = typer.Typer(help="Look inside codebooks, latents, feature stores and token stores.", no_args_is_help=True)

OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Folder for the PNG figures and report.html (nothing written without)."),
]
PartialOpt = Annotated[bool, typer.Option("--partial", help="Inspect the rows written so far of an incomplete store.")]


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int) and not isinstance(v, bool):
        return f"{v:,}"
    return str(v)


def _stats_line(d: dict[str, Any] | None) -> str:
    if not d:
        return "-"
    return ", ".join(f"{k} {_fmt(v)}" for k, v in d.items() if not isinstance(v, (dict, list)))


def _print_files(files: dict[str, str]) -> None:
    from tokkit_cli.console import stdout

    if files:
        stdout.print("wrote: " + ", ".join(files.values()), markup=False)


@app.command("codebook")
def codebook(
    checkpoint: Annotated[Path, typer.Argument(help="A tokenizer checkpoint directory.")],
    data: Annotated[
        str | None, typer.Option("--data", "-d", help="Images to encode for usage, gallery and token maps.")
    ] = None,
    out: OutOpt = None,
    image_size: Annotated[
        int | None, typer.Option("--image-size", min=8, help="Encode at S x S (default: the tokenizer's, else 256).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Images per encode batch.")] = 32,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Encode at most N images.")] = None,
    umap_sample: Annotated[
        int, typer.Option("--umap-sample", min=4, help="Codes in the UMAP (fixed-seed sample when K is larger).")
    ] = 2000,
    dup_tol: Annotated[
        float, typer.Option("--dup-tol", min=0.0, help="Near duplicates: distance <= this x median code norm.")
    ] = 1e-2,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Codebook statistics, usage and pictures of a tokenizer checkpoint.

    Norms, nearest-neighbour distances between codes and near duplicates; with --data also
    utilization, perplexity, dead codes and the most/least used codes; with --out usage.png,
    umap.png, gallery.png, tokens.png, codebook.png and report.html. Continuous tokenizers get
    latent statistics instead (needs --data).

    Example: tokkit inspect codebook runs/km --data builtin:photos --out runs/km/report
    """
    from tokkit.analysis.codebook_report import inspect_codebook

    with session(seed):
        result = inspect_codebook(
            checkpoint,
            data=data,
            out=out,
            image_size=image_size,
            batch_size=batch_size,
            limit=limit,
            umap_sample=umap_sample,
            dup_tol=dup_tol,
            seed=seed,
            device=device,
        ).to_dict()
    if json:
        from tokkit_cli.console import print_json

        print_json(result)
        return
    _render_codebook(result)


def _render_codebook(r: dict[str, Any]) -> None:
    from rich.table import Table

    from tokkit_cli.console import stdout

    t = Table(title=f"inspect codebook {r['checkpoint']}", show_header=False)
    t.add_row("architecture", f"{r['architecture']} ({r['kind']})")
    if r["codebook_size"] is None:
        lat = r["latent"]
        stdout.print(f"[yellow]{r['note']}[/yellow]")
        t.add_row("latent channels", str(r["dim"]))
        t.add_row("latent grid", "x".join(map(str, lat["grid"])))
        t.add_row("images", _fmt(r["num_images"]))
        t.add_row(
            "values",
            f"mean {_fmt(lat['mean'])}, std {_fmt(lat['std'])}, min {_fmt(lat['min'])}, max {_fmt(lat['max'])}",
        )
        t.add_row("vector L2 norm", _stats_line(r["norm"]))
        stdout.print(t)
        ch = Table(title="per channel")
        for col in ("channel", "mean", "std", "min", "max"):
            ch.add_column(col, justify="right")
        per = lat["per_channel"]
        for c in range(len(per["mean"])):
            ch.add_row(str(c), *(_fmt(per[k][c]) for k in ("mean", "std", "min", "max")))
        stdout.print(ch)
        _print_files(r["files"])
        return
    nd = r["near_duplicates"] or {}
    t.add_row("codebook size K", _fmt(r["codebook_size"]))
    t.add_row("code dim", _fmt(r["dim"]))
    t.add_row("L2 norm", _stats_line(r["norm"]))
    t.add_row("nearest-neighbour distance", _stats_line(r["nearest_neighbor"]))
    if nd:
        pairs = ", ".join(f"{p['a']}~{p['b']} ({_fmt(p['distance'])})" for p in nd["closest_pairs"][:5])
        t.add_row(
            "near duplicates",
            f"{nd['pairs']} pairs, {nd['codes_with_duplicate']} codes within {_fmt(nd['threshold'])}"
            + (f": {pairs}" if pairs else ""),
        )
    u = r["usage"]
    if u is None:
        t.add_row("usage", "pass --data to measure usage")
    else:
        t.add_row("images", _fmt(r["num_images"]))
        t.add_row("tokens", _fmt(u["num_tokens"]))
        t.add_row("utilization", f"{u['utilization']:.1%}")
        t.add_row("perplexity", f"{_fmt(u['perplexity'])} (of K={r['codebook_size']})")
        t.add_row("entropy", f"{_fmt(u['entropy_bits'])} bits")
        t.add_row("dead codes", _fmt(u["dead_codes"]))
        t.add_row("most used", ", ".join(f"{c['code']} ({c['fraction']:.2%})" for c in u["most_used"][:5]))
        t.add_row("least used", ", ".join(f"{c['code']} ({c['count']})" for c in u["least_used"][:5]))
    stdout.print(t)
    if u is not None and "per_scale" in u:
        s = Table(title="per scale")
        for col in ("scale", "grid", "utilization", "perplexity", "dead codes", "tokens"):
            s.add_column(col, justify="right")
        for p in u["per_scale"]:
            s.add_row(
                str(p["scale"]), "x".join(map(str, p["grid"])), f"{p['utilization']:.1%}", _fmt(p["perplexity"]),
                _fmt(p["dead_codes"]), _fmt(p["num_tokens"]),
            )  # fmt: skip
        stdout.print(s)
    _print_files(r["files"])


@app.command("features")
def features(
    store: Annotated[
        Path,
        typer.Argument(
            help="A feature store from 'tokkit extract', any HDF5 with 'features', a .npy or a folder of .npy shards."
        ),
    ],
    out: OutOpt = None,
    rows: Annotated[int, typer.Option("--rows", min=1, help="Rows sampled (fixed seed) for the statistics.")] = 1024,
    grid: Annotated[str | None, typer.Option("--grid", help="HxW grid of a feature file that records none.")] = None,
    umap_sample: Annotated[int, typer.Option("--umap-sample", min=4, help="Feature vectors in the UMAP.")] = 2000,
    partial: PartialOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Shape, dtype, completeness and norm statistics of a feature store.

    --out adds a UMAP of a fixed-seed sample of feature vectors, a norm histogram and report.html.

    Example: tokkit inspect features feats.h5 --out feats_report
    """
    from tokkit.analysis.store_report import inspect_features

    with session(seed):
        r = inspect_features(
            store, out=out, sample_rows_max=rows, umap_sample=umap_sample, seed=seed, partial=partial, grid=grid
        )
        r = r.to_dict()
    if json:
        from tokkit_cli.console import print_json

        print_json(r)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    c = r["completeness"]
    t = Table(title=f"inspect features {store}", show_header=False)
    t.add_row("shape (N, T, D)", " x ".join(map(str, r["shape"])))
    t.add_row("dtype", r["dtype"])
    t.add_row("file kind", r["source_kind"])
    t.add_row("encoder / layer", f"{r['encoder']} / {r['layer']}" if r["encoder"] else "unknown (not from tokkit)")
    t.add_row("image size / grid", f"{r['image_size']} / {r['grid']}")
    t.add_row("rows written", f"{c['committed']:,} of {c['num_rows']:,}" + ("" if c["complete"] else " (INCOMPLETE)"))
    t.add_row(f"L2 norm ({r['sample']['rows']} rows)", _stats_line(r["norm"]))
    t.add_row("non-finite vectors", _fmt(r["nonfinite_vectors"]))
    stdout.print(t)
    _print_files(r["files"])


@app.command("tokens")
def tokens(
    store: Annotated[Path, typer.Argument(help="An HDF5 token store written by 'tokkit tokenize'.")],
    out: OutOpt = None,
    partial: PartialOpt = False,
    json: JsonOpt = False,
    seed: SeedOpt = 0,
    device: DeviceOpt = "auto",
) -> None:
    """Code usage over a token store and the per-position entropy map.

    Entropy in bits of the code distribution at each grid position across images; --out writes
    usage.png, entropy.png and report.html.

    Example: tokkit inspect tokens tokens.h5 --out tokens_report
    """
    from tokkit.analysis.store_report import inspect_tokens

    with session(seed):
        r = inspect_tokens(store, out=out, partial=partial).to_dict()
    if json:
        from tokkit_cli.console import print_json

        print_json(r)
        return
    from rich.table import Table

    from tokkit_cli.console import stdout

    u, e = r["usage"], r["position_entropy_bits"]
    t = Table(title=f"inspect tokens {store}", show_header=False)
    t.add_row("token maps", f"{r['num_rows']:,} of grid {'x'.join(map(str, r['grid']))}")
    t.add_row("tokenizer", str(r["tokenizer"]))
    t.add_row("codebook size K", _fmt(r["codebook_size"]))
    t.add_row("utilization", f"{u['utilization']:.1%}")
    t.add_row("perplexity", _fmt(u["perplexity"]))
    t.add_row("dead codes", _fmt(u["dead_codes"]))
    t.add_row("most used", ", ".join(f"{c['code']} ({c['fraction']:.2%})" for c in u["most_used"][:5]))
    t.add_row(
        "per-position entropy",
        f"mean {_fmt(e['mean'])}, min {_fmt(e['min'])}, max {_fmt(e['max'])} bits (at most {_fmt(e['max_possible'])})",
    )
    stdout.print(t)
    _print_files(r["files"])
