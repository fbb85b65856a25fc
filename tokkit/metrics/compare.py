"""``eval compare``: recon, stability and generation for several tokenizers under one protocol.

Writes ``compare.csv`` (one row per tokenizer and probe order), ``compare.json`` (rows + every full
result with its protocol) and ``recon_vs_generation.png`` (gFID against rFID, the real-data floor
drawn, one labelled point per row; probe bits/token beside it, a per-kind diagnostic). Each tokenizer
runs its kind's default probe unless ``orders`` names the orders to study; with several orders an
``order_study.png`` bar chart (gFID per order, floor and rFID drawn) is written too.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from tokkit.errors import UsageError
from tokkit.io.files import write_bytes_atomic
from tokkit.threads import thread_settings

SHOWN = [
    "tokenizer",
    "kind",
    "codebook_size",
    "tokens_per_image",
    "psnr",
    "ssim",
    "lpips",
    "rfid",
    "utilization",
    "perplexity",
    "change@{mid}dB",
    "shift_1px",
    "flip_back",
    "jpeg_q75",
    "order",
    "head",
    "bits_per_token",
    "diffusion_loss",
    "rfid_probe",
    "gfid",
    "gfid_floor",
    "gfid_heldout",
]


def _labels(paths: Sequence[Path]) -> list[str]:
    """Short unique names: the run directory for RUN/checkpoints/final, else the folder name;
    a longer path suffix only where names collide."""
    generic = {"final", "last", "checkpoints", "checkpoint", ""}

    def name(p: Path) -> str:
        parts = p.resolve().parts
        return next((q for q in reversed(parts) if q not in generic), p.name or str(p))

    labels = [name(p) for p in paths]
    for depth in range(2, 8):
        dup = {x for x in labels if labels.count(x) > 1}
        if not dup:
            break
        labels = [
            "/".join(Path(p).resolve().parts[-depth:]) if x in dup else x for p, x in zip(paths, labels, strict=True)
        ]
    return labels


def _png(fig: Any, path: Path) -> None:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=120)
    plt.close(fig)
    write_bytes_atomic(path, buf.getvalue())


def rfid_axis_labels(features: str) -> dict[str, str]:
    """The two rFIDs a comparison reports, each named by its protocol: the probe's (held-out
    reconstructions vs the training split, the same reference as gFID) and ``eval recon``'s
    (reconstructions vs their own originals)."""
    return {
        "rfid_probe": f"probe rFID ({features}): held-out reconstructions vs training images",
        "rfid": f"recon rFID ({features}): reconstructions vs their originals",
    }


def recon_vs_generation_figure(rows: list[dict[str, Any]], features: str) -> Any:
    """Left: gFID vs the probe's rFID (same reference set), floor dashed, y = x dotted.
    Right: probe bits/token vs eval recon's rFID. Returns the matplotlib figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    labels = rfid_axis_labels(features)
    panels = [("gfid", "rfid_probe", f"gFID ({features})  (lower = better generation)"),
              ("bits_per_token", "rfid", "probe held-out bits/token (per-kind diagnostic)")]  # fmt: skip
    for ax, (key, x_key, ylabel) in zip(axes, panels, strict=True):
        skipped = []
        for r in rows:
            x, y = r.get(x_key), r.get(key)
            if key == "bits_per_token" and r.get("order") == "random":
                skipped.append(f"{r['tokenizer']} (masked CE, not an NLL)")
                continue
            if x is None or y is None:
                if x is None:
                    why = "no decoder" if r.get("rfid") is None and r.get("rfid_probe") is None else f"no {x_key}"
                else:
                    why = "no samples" if key == "gfid" else f"{r.get('head')} head"
                skipped.append(f"{r['tokenizer']} ({why})")
                continue
            ax.scatter([x], [y], s=40)
            ax.annotate(r["tokenizer"], (x, y), textcoords="offset points", xytext=(5, 5), fontsize=9)
        if key == "gfid":
            floors = sorted({r["gfid_floor"] for r in rows if r.get("gfid_floor") is not None})
            for i, f in enumerate(floors):
                ax.axhline(f, ls="--", color="gray", lw=1, label="real-data floor" if i == 0 else None)
            xs = [v for r in rows for v in (r.get("rfid_probe"), r.get("gfid")) if v is not None]
            if xs:
                ax.plot([0, max(xs)], [0, max(xs)], ls=":", color="lightgray", lw=1, label="gFID = rFID")
            if floors or xs:
                ax.legend(fontsize=8, loc="best")
        ax.set_xlabel(labels[x_key] + "  (lower = better)", fontsize=9)
        ax.set_ylabel(ylabel)
        title = "reconstruction vs " + ("generation (gFID)" if key == "gfid" else "probe likelihood")
        if skipped:
            title += f"\nnot shown: {', '.join(skipped)}"
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def _plot(rows: list[dict[str, Any]], path: Path, features: str) -> None:
    _png(recon_vs_generation_figure(rows, features), path)


def _plot_orders(rows: list[dict[str, Any]], path: Path, features: str) -> None:
    """Bar chart: gFID per (tokenizer, order), with each tokenizer's floor and probe rFID drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5, 1.2 * len(rows) + 2), 4.5))
    xs = range(len(rows))
    ax.bar(xs, [r.get("gfid") or 0 for r in rows], color="tab:blue", label="gFID")
    for i, r in enumerate(rows):
        if r.get("gfid") is None:
            ax.annotate("n/a", (i, 0), ha="center", va="bottom", fontsize=8)
        for key, style, lab in (("gfid_floor", "--", "floor"), ("rfid_probe", ":", "rFID")):
            if r.get(key) is not None:
                ax.hlines(r[key], i - 0.4, i + 0.4, colors="k", linestyles=style, label=lab if i == 0 else None)
    ax.set_xticks(list(xs), [f"{r['tokenizer']}\n{r['order']}/{r['head']}" for r in rows], fontsize=8)
    ax.set_ylabel(f"gFID ({features})")
    ax.set_title("order study: same backbone, steps and batch for every order", fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3, axis="y")
    fig.tight_layout()
    _png(fig, path)


def _row(label: str, path: Path, rec: dict, stab: dict, gen: dict) -> dict[str, Any]:
    tok = rec["protocol"]["tokenizer"]
    u = rec["usage"] or {}
    row: dict[str, Any] = {
        "tokenizer": label,
        "checkpoint": str(path),
        "architecture": tok["architecture"],
        "kind": tok["kind"],
        "codebook_size": tok["codebook_size"],
        "tokens_per_image": gen["probe"].get("sequence_length"),
        "psnr": rec["psnr"],
        "ssim": rec["ssim"],
        "lpips": rec["lpips"],
        "rfid": rec["rfid"],
        "psnr_ci": rec.get("psnr_ci"),
        "ssim_ci": rec.get("ssim_ci"),
        "lpips_ci": rec.get("lpips_ci"),
        "kid_recon": rec.get("kid"),
        "kid_recon_std": rec.get("kid_std"),
        "rank_deficient": rec.get("rank_deficient"),
        "utilization": u.get("utilization"),
        "perplexity": u.get("perplexity"),
    }
    for s, c, q in zip(stab["snr_db"], stab["token_change_rate"], stab["cosine_quantized"], strict=True):
        row[f"change@{s:g}dB"] = c
        row[f"cos_q@{s:g}dB"] = q
    for name, r in stab["perturbations"].items():
        row[name] = r["token_change_rate"]
    row["order"] = gen["order"]
    row["head"] = gen["head"]
    row["val_nll"] = gen["val_nll"]
    row["bits_per_token"] = gen["bits_per_token"]
    row["bits_per_image"] = gen["bits_per_image"]
    row["top1_accuracy"] = gen["top1_accuracy"]
    row["diffusion_loss"] = gen["diffusion_loss"]
    row["rfid_probe"] = gen["rfid"]  # the probe protocol's rFID: held-out reconstructions vs the training split
    row["gfid"] = gen["gfid"]
    row["gfid_std"] = gen.get("gfid_std")
    row["gfid_seeds"] = gen.get("gfid_seeds")
    row["kid"] = gen.get("kid")
    row["kid_std"] = gen.get("kid_std")
    row["gfid_guided"] = gen.get("gfid_guided")
    if "gfid_ref" in gen:  # only with --ref-stats: other tables keep their columns
        row["gfid_ref"] = gen["gfid_ref"]
    row["gfid_floor"] = gen["gfid_floor"]
    row["gfid_heldout"] = gen["gfid_heldout"]
    return row


@dataclass
class _Setup:
    """Everything fixed before the first measurement: one protocol for every tokenizer."""

    paths: list[Path]
    toks: list[Any]
    source: Any
    image_size: int
    order_list: list[str | None]
    feats: Any  # the FID feature network, shared
    lpips_metric: tuple[Any, str | None]  # (metric, reason) from create_lpips, shared
    device: torch.device
    ref_stats: Any = None  # --ref-stats: every generation probe also reports gfid_ref against it


def _common_image_size(toks: list[Any], source: Any, image_size: int | None) -> int:
    """``image_size``, else the one size every tokenizer defaults to; each tokenizer must take it."""
    from tokkit.metrics import _common as C

    if image_size is None:
        sizes = {C.resolve_image_size(t, source, None) for t in toks}
        if len(sizes) > 1:
            raise UsageError(
                f"the tokenizers default to different image sizes {sorted(sizes)}: one protocol needs one",
                hint="pass --image-size",
            )
        image_size = sizes.pop()
    for t in toks:
        C.resolve_image_size(t, source, image_size)  # every tokenizer must take this size
    return image_size


def _load_all(
    tokenizers: Sequence[str | Path],
    data: Any,
    image_size: int | None,
    orders: Sequence[str] | None,
    head: str | None,
    fid_features: str | Any,
    weights: str | Path | None,
    lpips_weights: str | Path | None,
    device: str | torch.device,
    crop: str | None = None,
) -> _Setup:
    """Load every tokenizer and check size and orders first: a bad path or order fails before hours of work."""
    from tokkit.device import resolve_device
    from tokkit.generation.pipeline import resolve_probe
    from tokkit.metrics import _common as C
    from tokkit.metrics.fid import create_fid_features
    from tokkit.metrics.recon import create_lpips

    if not tokenizers:
        raise UsageError("give at least one tokenizer checkpoint to compare")
    paths = [Path(t) for t in tokenizers]
    dev = resolve_device(device) if isinstance(device, str) else device
    source = C.resolve_source(data, crop)
    toks = [C.resolve_tokenizer(p, dev) for p in paths]
    size = _common_image_size(toks, source, image_size)
    order_list: list[str | None] = list(dict.fromkeys(orders)) if orders else [None]
    for t in toks:  # an order that does not fit a tokenizer fails before any work
        for o in order_list:
            resolve_probe(t, o, head)
    feats = create_fid_features(fid_features, weights, dev) if isinstance(fid_features, str) else fid_features
    lpips_metric = create_lpips(dev, lpips_weights)  # once, shared by every tokenizer
    return _Setup(paths, toks, source, size, order_list, feats, lpips_metric, dev)


def _measure_recon(
    tok: Any, setup: _Setup, common: dict[str, Any], seed: int, use_cache: bool, arrays: dict[str, Any]
) -> dict[str, Any]:
    """``arrays`` is filled with the per-image values and features the paired decisions resample."""
    from tokkit.device import seed_everything
    from tokkit.metrics.recon import evaluate_recon

    seed_everything(seed)
    return evaluate_recon(
        tok,
        setup.source,
        fid_features=setup.feats,
        lpips_metric=setup.lpips_metric,
        use_cache=use_cache,
        allow_no_decoder=True,
        arrays_out=arrays,
        **common,
    )


LATENT_COLUMNS = ("high_freq_share", "high_freq_share_log", "rgb_high_freq_share", "equivariance_scale_0.5",
                  "identity_psnr", "interp_fid", "interp_rfid", "suggested_scale", "config_scale")  # fmt: skip
# diagnostics correlated with the probe's gFID (lower interp_fid, higher equivariance PSNR: expected better)
CORRELATED = ("high_freq_share", "high_freq_share_log", "equivariance_scale_0.5", "interp_fid", "rfid")


def _measure_latent(tok: Any, setup: _Setup, common: dict[str, Any], seed: int) -> dict[str, Any]:
    """``eval latent`` under the comparison's protocol (same images, size and feature network)."""
    from tokkit.device import seed_everything
    from tokkit.metrics.latent import evaluate_latent

    seed_everything(seed)
    return evaluate_latent(tok, setup.source, fid_features=setup.feats, seed=seed, **common)


def latent_columns(lat: dict[str, Any]) -> dict[str, Any]:
    """The row keys of one ``evaluate_latent`` result (a per-channel config scale becomes its list)."""
    eq = lat.get("equivariance_psnr") or {}
    return {
        "high_freq_share": lat["high_freq_share"],
        "high_freq_share_log": lat["high_freq_share_log"],
        "rgb_high_freq_share": lat["rgb_high_freq_share"],
        "equivariance_scale_0.5": eq.get("scale_0.5"),
        "identity_psnr": lat.get("identity_psnr"),
        "interp_fid": lat.get("interp_fid"),
        "interp_rfid": lat.get("rfid"),
        "suggested_scale": lat["suggested_scale"],
        "config_scale": lat["config_scale"],
    }


CORRELATION_WARNING = (
    "Spearman correlations over {n} tokenizers: weak evidence (with few tokenizers a high |rho| happens by chance; "
    "the published ones are over 13 VAEs at ImageNet scale)"
)


def diagnostic_correlations(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Spearman rho (scipy.stats.spearmanr) of each diagnostic with the probe's gFID across the rows that have
    both; None under 3 tokenizers. {"n_tokenizers", "warning", "spearman": {key: {"rho", "p", "n"}}}."""
    from scipy.stats import spearmanr

    if len(rows) < 3:
        return None
    out: dict[str, Any] = {}
    for key in CORRELATED:
        pairs = [(r[key], r["gfid"]) for r in rows if r.get(key) is not None and r.get("gfid") is not None]
        if len(pairs) < 3:
            out[key] = {"rho": None, "p": None, "n": len(pairs)}
            continue
        res = spearmanr([a for a, _ in pairs], [b for _, b in pairs])
        rho, p = float(res.statistic), float(res.pvalue)
        out[key] = {"rho": None if rho != rho else rho, "p": None if p != p else p, "n": len(pairs)}
    return {"n_tokenizers": len(rows), "warning": CORRELATION_WARNING.format(n=len(rows)), "spearman": out}


def _measure_stability(
    tok: Any, setup: _Setup, common: dict[str, Any], snr_db: Sequence[float], seed: int, arrays: dict[str, Any]
) -> dict[str, Any]:
    """``arrays`` is filled with the per-image values at the quoted (middle) noise level."""
    from tokkit.metrics.stability import evaluate_stability

    per_image: dict[str, Any] = {}
    out = evaluate_stability(tok, setup.source, snr_db=snr_db, seed=seed, arrays_out=per_image, **common)
    arrays.update(per_image.get(f"snr={sorted(snr_db)[len(snr_db) // 2]:g}", {}))
    return out


def _measure_generation(
    tok: Any, setup: _Setup, common: dict[str, Any], probe: Any, samples: int, seed: int, use_cache: bool,
    head: str | None, classes: bool, seeds: int,
) -> dict[str | None, dict[str, Any]]:  # fmt: skip
    """One generation probe per order: {order or None: result}."""
    from tokkit.device import seed_everything
    from tokkit.generation import evaluate_generation

    gens = {}
    for o in setup.order_list:
        seed_everything(seed)
        gens[o] = evaluate_generation(tok, setup.source, probe=probe, samples=samples, fid_features=setup.feats,
                                      use_cache=use_cache, seed=seed, order=o, head=head, classes=classes,
                                      seeds=seeds, ref_stats=setup.ref_stats, **common)  # fmt: skip
    return gens


def _add_warnings(warnings: list[str], label: str, parts: Sequence[dict[str, Any]]) -> None:
    """Each part's protocol warnings, prefixed with the tokenizer's label, once."""
    for part in parts:
        warnings += [f"{label}: {w}" for w in part["protocol"].get("warnings", []) if f"{label}: {w}" not in warnings]


def _compare_protocol(
    setup: _Setup, data: Any, n_used: Any, snr_db: Sequence[float], probe: Any, samples: int,
    head: str | None, classes: bool, seed: int, seeds: int, warnings: list[str],
) -> dict[str, Any]:  # fmt: skip
    from tokkit.metrics import _common as C

    return {
        "data": getattr(setup.source, "spec", str(data)),
        "num_images": n_used,
        "image_size": setup.image_size,
        "transform": C.transform_name(setup.source),
        **C.fingerprints(setup.source, n_used if isinstance(n_used, int) else None, setup.feats),
        "fid_features": setup.feats.describe(),
        "snr_db": list(snr_db),
        "probe": dataclasses.asdict(probe),
        "samples": samples,
        "orders": [o for o in setup.order_list if o] or "each kind's default",
        "head": head or "each order's default",
        "classes": classes,
        "seed": seed,
        "seeds": list(range(seed, seed + seeds)),
        "decisions": "paired: t interval over per-image (PSNR/SSIM/LPIPS) or per-seed (gFID, KID) differences; "
        "rFID by a paired bootstrap over images; a verdict only where the 95% interval excludes 0",
        "device": str(setup.device),
        "threads": thread_settings(),
        "warnings": warnings,
    }


def _write_outputs(
    out: Path, protocol: dict[str, Any], rows: list[dict[str, Any]], results: dict[str, Any], setup: _Setup,
    fid_features: Any, decisions: list[dict[str, Any]], extra: dict[str, Any] | None = None,
) -> tuple[dict[str, Any], list[str]]:  # fmt: skip
    """compare.csv, compare.json and the plots in ``out`` (by rank 0 alone under torchrun). Returns (the summary
    written to JSON, the CSV columns)."""
    from tokkit.metrics.shards import is_main_process

    files = {"csv": out / "compare.csv", "json": out / "compare.json", "plot": out / "recon_vs_generation.png"}
    if len(setup.order_list) > 1:
        files["order_plot"] = out / "order_study.png"
    columns = list(dict.fromkeys(k for r in rows for k in r))
    summary = {"protocol": protocol, "rows": rows, "decisions": decisions, "results": results,
               "files": {k: str(v) for k, v in files.items()}, **(extra or {})}  # fmt: skip
    if not is_main_process():
        return summary, columns
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for r in rows:
        writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
    write_bytes_atomic(files["csv"], buf.getvalue().encode())
    write_bytes_atomic(files["json"], (json.dumps(_strict(summary), indent=2) + "\n").encode())
    features = getattr(setup.feats, "spec", str(fid_features))
    _plot(rows, files["plot"], features)
    if "order_plot" in files:
        _plot_orders(rows, files["order_plot"], features)
    return summary, columns


def compare_tokenizers(
    tokenizers: Sequence[str | Path],
    data: Any,
    out: str | Path,
    num_images: int | None = None,
    image_size: int | None = None,
    batch_size: int = 16,
    snr_db: Sequence[float] = (30.0, 25.0, 20.0, 15.0, 10.0, 5.0, 1.0),
    samples: int = 0,
    probe: Any = None,
    fid_features: str | Any = "effnet-lite0",
    weights: str | Path | None = None,
    lpips_weights: str | Path | None = None,
    device: str | torch.device = "cpu",
    seed: int = 0,
    use_cache: bool = True,
    orders: Sequence[str] | None = None,
    head: str | None = None,
    classes: bool = False,
    seeds: int = 3,
    crop: str | None = None,
    ref_stats: str | Path | None = None,
) -> dict[str, Any]:
    """Evaluate every checkpoint with one protocol and write the comparison files into ``out``.

    ``seeds``: probe seeds per tokenizer (the same seeds, real images and sampling seeds for all);
    ``decisions`` in the result: one paired decision per pair of tokenizers and measure
    (``tokkit.metrics.decisions``; single-order comparisons).

    ``orders``: probe orders to run for every tokenizer (default: each kind's default probe);
    ``head``: the probe head for all of them (default: each order's default for the kind)."""
    from tokkit.generation import ProbeConfig

    setup = _load_all(tokenizers, data, image_size, orders, head, fid_features, weights, lpips_weights, device, crop)
    setup.ref_stats = ref_stats
    probe = probe or ProbeConfig()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)

    labels = _labels(setup.paths)
    rows, results, warnings = [], {}, []
    arrays: dict[str, dict[str, Any]] = {}  # per tokenizer: per-image values and features, for decisions
    stab_arrays: dict[str, dict[str, Any]] = {}  # per tokenizer: per-image stability at the quoted SNR
    common = {"num_images": num_images, "image_size": setup.image_size, "batch_size": batch_size}
    common["device"] = setup.device
    for label, path, tok in zip(labels, setup.paths, setup.toks, strict=True):
        rec = _measure_recon(tok, setup, common, seed, use_cache, arrays.setdefault(label, {}))
        stab = _measure_stability(tok, setup, common, snr_db, seed, stab_arrays.setdefault(label, {}))
        gens = _measure_generation(tok, setup, common, probe, samples, seed, use_cache, head, classes, seeds)
        lat = _measure_latent(tok, setup, common, seed)
        _add_warnings(warnings, label, (rec, stab, *gens.values(), lat))
        for gen in gens.values():
            name = label if len(setup.order_list) == 1 else f"{label} [{gen['order']}]"
            rows.append({**_row(name, path, rec, stab, gen), **latent_columns(lat)})
        first = next(iter(gens.values()))
        results[label] = {"checkpoint": str(path), "recon": rec, "stability": stab, "generation": first, "latent": lat}
        if len(setup.order_list) > 1:
            results[label]["generation_by_order"] = {g["order"]: g for g in gens.values()}

    n_used = rows and results[labels[0]]["recon"]["protocol"]["num_images"]
    protocol = _compare_protocol(setup, data, n_used, snr_db, probe, samples, head, classes, seed, seeds, warnings)
    decisions = _decisions(labels, arrays, stab_arrays, results, setup, seed)
    extra = {"diagnostic_correlations": diagnostic_correlations(rows)}
    summary, columns = _write_outputs(out, protocol, rows, results, setup, fid_features, decisions, extra)
    mid = sorted(snr_db)[len(snr_db) // 2]
    shown = [c.format(mid=f"{mid:g}") for c in SHOWN]
    return {**summary, "columns_shown": [c for c in shown if c in columns or c == "tokenizer"]}


def _decisions(
    labels: list[str], arrays: dict[str, Any], stab_arrays: dict[str, Any], results: dict[str, Any], setup: _Setup,
    seed: int,
) -> list[dict[str, Any]]:  # fmt: skip
    """Paired decisions between every two tokenizers (one probe order: the rows are the tokenizers)."""
    from tokkit.metrics.decisions import compare_decisions

    if len(setup.order_list) != 1:
        return []
    gens = {k: results[k]["generation"] for k in labels}
    kinds = {k: results[k]["recon"]["protocol"]["tokenizer"]["kind"] for k in labels}
    return compare_decisions(labels, arrays, gens, seed=seed, stability_arrays=stab_arrays, kinds=kinds)


def _strict(x: Any) -> Any:
    """NaN/inf -> null so that compare.json is strict JSON."""
    import math

    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {str(k): _strict(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_strict(v) for v in x]
    return x
