"""``inspect_codebook``: statistics, figures and an HTML page for one tokenizer checkpoint.

Discrete and multi-scale tokenizers: codebook norms, nearest-neighbour distances, near duplicates
and, with data, usage (overall and per scale), a gallery of the patches behind the most used
codes, and token maps. Continuous tokenizers have no codebook: latent statistics instead.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from tokkit.analysis import plots
from tokkit.analysis.codebook import codebook_stats, pca_colors, summary_stats, usage_details
from tokkit.analysis.embed import sample_rows, umap_embed
from tokkit.analysis.report import Section, check_out_dir, render_html, write_bytes_atomic
from tokkit.errors import DataError, UsageError
from tokkit.progress import task

log = logging.getLogger("tokkit.analysis")

KEEP_MAPS = 2048  # index maps kept in memory for the gallery and token maps (bounded memory)
KEEP_LATENT_VECTORS = 20000  # latent vectors kept for the continuous-case UMAP
KEEP_LATENT_VALUES = 200000  # latent values kept for the histogram


@dataclass
class InspectResult:
    """``summary``: the JSON object; ``files``: name -> path of what was written."""

    summary: dict[str, Any]
    files: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {**self.summary, "files": dict(self.files)}


@dataclass
class _Encoded:
    """What one pass over the data collects. ``maps[s]``: (n_keep, h_s, w_s) int32 per scale."""

    num_images: int
    rows: np.ndarray  # (n_keep,) source indices of the kept maps
    counts: list[np.ndarray] = field(default_factory=list)  # per scale, (K,) int64
    maps: list[np.ndarray] = field(default_factory=list)
    latent: dict[str, Any] | None = None


def _image_size(tok: Any, image_size: int | None) -> int:
    if image_size:
        return int(image_size)
    return getattr(tok, "native_image_size", None) or 256


def _encode_data(
    tok: Any, spec: str, image_size: int, batch_size: int, limit: int | None, device: torch.device, seed: int
) -> tuple[_Encoded, Any]:
    from tokkit.data import iter_batches, open_source

    source = open_source(spec)
    n = len(source) if limit is None else min(int(limit), len(source))
    if n <= 0:
        raise DataError(f"'{spec}' has no images to inspect")
    tok.token_shape(image_size)  # raises a clear UsageError when the size does not fit
    k = tok.codebook_size
    enc = _Encoded(num_images=n, rows=np.zeros(0, np.int64))
    rows: list[np.ndarray] = []
    kept: list[list[np.ndarray]] = []
    # continuous accumulators (float64 sums: stable over many images)
    lat: dict[str, Any] = {}
    rng = np.random.default_rng(seed)
    with task(f"Encoding {n} images", total=n) as t, torch.no_grad():
        for _, x, idx in iter_batches(source, image_size, batch_size, 0, n):
            tb = tok.encode(x.to(device))
            n_kept = sum(len(r) for r in rows)
            take = max(0, min(len(idx), KEEP_MAPS - n_kept))
            if tok.kind == "continuous":
                z = tb.latents
                if z is None:
                    raise DataError(f"tokenizer '{tok.architecture}' returned no latents for a continuous kind")
                _accumulate_latents(lat, z.detach().float().cpu(), rng)
                if take:
                    kept.append([z[:take].detach().float().cpu().numpy()])
            else:
                maps = tb.index_maps()
                if not enc.counts:
                    enc.counts = [np.zeros(k, np.int64) for _ in maps]
                for s, m in enumerate(maps):
                    arr = m.detach().cpu().numpy().astype(np.int64)
                    if arr.size and (arr.min() < 0 or arr.max() >= k):
                        raise DataError(f"tokenizer produced indices outside [0, {k}) at scale {s + 1}")
                    enc.counts[s] += np.bincount(arr.reshape(-1), minlength=k)
                if take:
                    kept.append([m[:take].detach().cpu().numpy().astype(np.int32) for m in maps])
            if take:
                rows.append(idx[:take].numpy().astype(np.int64))
            t.advance(len(idx))
    enc.rows = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    if kept:
        enc.maps = [np.concatenate([b[s] for b in kept]) for s in range(len(kept[0]))]
    if tok.kind == "continuous":
        enc.latent = _finish_latents(lat)
    return enc, source


def _accumulate_latents(acc: dict[str, Any], z: torch.Tensor, rng: np.random.Generator) -> None:
    """z: (B, C, h, w). Per-channel sums/min/max, vector norms, and bounded samples."""
    b, c, h, w = z.shape
    flat = z.permute(0, 2, 3, 1).reshape(-1, c).double()  # (B*h*w, C) latent vectors
    if not acc:
        acc.update(
            n=0, sum=torch.zeros(c, dtype=torch.float64), sumsq=torch.zeros(c, dtype=torch.float64),
            min=torch.full((c,), float("inf"), dtype=torch.float64),
            max=torch.full((c,), float("-inf"), dtype=torch.float64),
            norms=[], vectors=[], values=[], grid=[h, w], nonfinite=0,
        )  # fmt: skip
    finite = torch.isfinite(flat).all(1)
    acc["nonfinite"] += int((~finite).sum())
    flat = flat[finite]
    acc["n"] += flat.shape[0]
    acc["sum"] += flat.sum(0)
    acc["sumsq"] += (flat * flat).sum(0)
    if flat.shape[0]:
        acc["min"] = torch.minimum(acc["min"], flat.min(0).values)
        acc["max"] = torch.maximum(acc["max"], flat.max(0).values)
    acc["norms"].append(flat.norm(dim=1).float().numpy())
    have = sum(len(v) for v in acc["vectors"])
    if have < KEEP_LATENT_VECTORS and flat.shape[0]:
        pick = rng.choice(flat.shape[0], size=min(flat.shape[0], 64 * b, KEEP_LATENT_VECTORS - have), replace=False)
        acc["vectors"].append(flat[torch.from_numpy(np.sort(pick))].float().numpy())
    have_v = sum(len(v) for v in acc["values"])
    if have_v < KEEP_LATENT_VALUES:
        acc["values"].append(flat.reshape(-1)[: KEEP_LATENT_VALUES - have_v].float().numpy())


def _finish_latents(acc: dict[str, Any]) -> dict[str, Any]:
    n = max(acc["n"], 1)
    mean = acc["sum"] / n
    std = (acc["sumsq"] / n - mean * mean).clamp(min=0).sqrt()
    total = acc["sum"].sum() / (n * len(mean))
    total_std = float(np.sqrt(max(float(acc["sumsq"].sum() / (n * len(mean)) - total * total), 0.0)))
    return {
        "channels": len(mean),
        "grid": acc["grid"],
        "num_vectors": acc["n"],
        "nonfinite_vectors": acc["nonfinite"],
        "mean": float(total),
        "std": total_std,
        "min": float(acc["min"].min()),
        "max": float(acc["max"].max()),
        "per_channel": {
            "mean": mean.tolist(),
            "std": std.tolist(),
            "min": acc["min"].tolist(),
            "max": acc["max"].tolist(),
        },
        "_norms": np.concatenate(acc["norms"]) if acc["norms"] else np.zeros(0),
        "_vectors": np.concatenate(acc["vectors"]) if acc["vectors"] else np.zeros((0, len(mean))),
        "_values": np.concatenate(acc["values"]) if acc["values"] else np.zeros(0),
    }


def _load_images(source: Any, rows: list[int], image_size: int) -> dict[int, np.ndarray]:
    from tokkit.data.transforms import eval_crop

    out = {}
    for r in rows:
        img = source.read(int(r))
        out[int(r)] = (
            img
            if img.shape[0] == img.shape[1] == image_size
            else eval_crop(img, image_size, getattr(source, "crop", "center"))
        )
    return out


def _gallery(
    enc: _Encoded,
    counts: np.ndarray,
    source: Any,
    image_size: int,
    n_codes: int,
    per_code: int,
    seed: int,
    spatial: bool = True,
) -> tuple[bytes, list[int]]:
    """Patches of the finest scale under the most used codes, from distinct images; whole images for 1-D
    tokens (``spatial`` False), where a token is no image region."""
    maps = enc.maps[-1]  # (n_keep, h, w): finest scale
    _, h, w = maps.shape
    top = [int(c) for c in np.argsort(-counts, kind="stable")[:n_codes] if counts[c] > 0]
    rng = np.random.default_rng(seed)
    picks: dict[int, list[tuple[int, int, int]]] = {}
    for code in top:
        img_i, ii, jj = np.nonzero(maps == code)
        first = np.unique(img_i, return_index=True)[1]  # one occurrence per image
        if len(first) > per_code:
            first = np.sort(rng.choice(first, size=per_code, replace=False))
        picks[code] = [(int(img_i[q]), int(ii[q]), int(jj[q])) for q in first]
    needed = sorted({int(enc.rows[p[0]]) for ps in picks.values() for p in ps})
    images = _load_images(source, needed, image_size)
    ph, pw = (image_size / h, image_size / w) if spatial else (image_size, image_size)
    rows = []
    for code in top:
        patches = []
        for i, y, x in picks[code]:
            img = images[int(enc.rows[i])]
            if not spatial:
                patches.append(img)
                continue
            y0, y1 = int(round(y * ph)), max(int(round((y + 1) * ph)), int(round(y * ph)) + 1)
            x0, x1 = int(round(x * pw)), max(int(round((x + 1) * pw)), int(round(x * pw)) + 1)
            patches.append(img[y0:y1, x0:x1])
        rows.append((code, int(counts[code]), patches))
    what = None if spatial else "Whole images whose 1-D token row uses the most used codes"
    return plots.gallery_plot(rows, per_code, int(round(ph)), what), top


def _token_maps(
    tok: Any,
    enc: _Encoded,
    source: Any,
    image_size: int,
    colors: np.ndarray,
    n_samples: int,
    device: torch.device,
    seed: int,
) -> bytes:
    """Sample images beside their token maps (one per scale), colour = code vector via PCA -> RGB,
    and the reconstruction when the tokenizer can decode."""
    from tokkit.data.transforms import to_tensor, to_uint8

    n_keep = len(enc.rows)
    # a fixed-seed random sample: evenly spaced rows can all land on crops of one photo
    picks = np.sort(np.random.default_rng(seed).choice(n_keep, size=min(n_samples, n_keep), replace=False))
    images = _load_images(source, [int(enc.rows[p]) for p in picks], image_size)
    recon = None
    if tok.can_decode:
        x = torch.stack([to_tensor(images[int(enc.rows[p])]) for p in picks]).to(device)
        with torch.no_grad():
            try:
                recon = to_uint8(tok.decode(tok.encode(x)))
            except Exception as e:  # a decoder that cannot run here is not a reason to lose the report
                log.warning("reconstruction column skipped: %s", e)
    scales = len(enc.maps)
    rows = []
    for r, p in enumerate(picks):
        row = [images[int(enc.rows[p])]]
        if tok.kind == "continuous":
            z = enc.maps[0][p]  # (C, h, w)
            rgb = np.stack([z[c % z.shape[0]] for c in range(3)], -1)
            lo, hi = np.percentile(rgb, 1), np.percentile(rgb, 99)
            row.append(np.clip((rgb - lo) / max(hi - lo, 1e-8), 0, 1))
        else:
            for s in range(scales):
                row.append((colors[enc.maps[s][p]], enc.maps[s][p]))
        if recon is not None:
            row.append(recon[r])
        rows.append(row)
    if tok.kind == "continuous":
        titles = ["image", "latent channels 1-3 as RGB"]
        title = "Latent maps of sample images"
    elif scales > 1:
        titles = ["image"] + [f"scale {s + 1} ({enc.maps[s].shape[1]}x{enc.maps[s].shape[2]})" for s in range(scales)]
        title = "Token maps per scale (colour = code vector, PCA -> RGB: similar codes, similar colours)"
    else:
        titles = ["image", f"tokens ({enc.maps[0].shape[1]}x{enc.maps[0].shape[2]})"]
        title = "Token maps (colour = code vector, PCA -> RGB: similar codes, similar colours)"
    if recon is not None:
        titles.append("reconstruction")
    return plots.image_grid_plot(rows, titles, title)


@dataclass(frozen=True)
class _Run:
    """The settings one ``inspect_codebook`` call hands to its steps."""

    tok: Any
    checkpoint: str | Path
    data: str | None
    size: int
    batch_size: int
    limit: int | None
    dev: torch.device
    seed: int
    umap_sample: int
    samples: int
    out_dir: Path | None

    def encode(self) -> tuple[_Encoded, Any]:
        return _encode_data(self.tok, self.data, self.size, self.batch_size, self.limit, self.dev, self.seed)


def _base_summary(run: _Run) -> dict[str, Any]:
    """The keys every report has; ``token_grid`` with data (a clear UsageError when the size does not fit)."""
    tok, data, size = run.tok, run.data, run.size
    summary: dict[str, Any] = {
        "checkpoint": str(run.checkpoint),
        "architecture": tok.architecture,
        "kind": tok.kind,
        "data": data,
        "image_size": size if data else None,
        "num_images": None,
        "token_grid": None,
        "seed": run.seed,
    }
    if data is not None:
        shape = tok.token_shape(size)  # a clear UsageError when the size does not fit the tokenizer
        grid = [list(map(int, s)) for s in shape] if tok.kind == "multiscale" else list(map(int, shape))
        summary["token_grid"] = grid
    return summary


def _inspect_latents(run: _Run, summary: dict[str, Any]) -> dict[str, tuple[str, bytes]]:
    """Continuous tokenizer: latent statistics into ``summary``; the figures when writing a report."""
    if run.data is None:
        raise UsageError(
            f"'{run.checkpoint}' is a continuous tokenizer: it has no codebook to inspect",
            hint="pass --data to get statistics of its latents instead",
        )
    enc, source = run.encode()
    lat = enc.latent
    summary.update(
        codebook_size=None,
        dim=lat["channels"],
        norm=summary_stats(lat["_norms"]),
        nearest_neighbor=None,
        near_duplicates=None,
        usage=None,
        num_images=enc.num_images,
        note="continuous tokenizer: no codebook; latent statistics reported instead",
        latent={k: v for k, v in lat.items() if not k.startswith("_")},
    )
    return _latent_figures(run, enc, source) if run.out_dir is not None else {}


def _latent_figures(run: _Run, enc: _Encoded, source: Any) -> dict[str, tuple[str, bytes]]:
    lat, seed = enc.latent, run.seed
    figures: dict[str, tuple[str, bytes]] = {}
    figures["latents"] = (
        "Per-channel mean and spread of the latents, and the distribution of all latent values beside "
        "a standard normal (a KL-regularised VAE should sit close to it).",
        plots.channel_plot(
            np.asarray(lat["per_channel"]["mean"]), np.asarray(lat["per_channel"]["std"]), lat["_values"]
        ),
    )
    vec = lat["_vectors"]
    pick = sample_rows(len(vec), run.umap_sample, seed)
    emb = umap_embed(vec[pick], seed=seed)
    if emb is not None:
        figures["umap"] = (
            f"UMAP of {len(pick)} latent vectors sampled with seed {seed}, coloured by vector norm.",
            plots.embedding_plot(
                emb,
                np.linalg.norm(vec[pick], axis=1),
                "L2 norm",
                f"UMAP of {len(pick)} latent vectors (seed {seed})",
            ),
        )
    figures["tokens"] = (
        "Sample images, their latent maps (first three channels as RGB) and reconstructions.",
        _token_maps(run.tok, enc, source, run.size, np.zeros((1, 3)), run.samples, run.dev, seed),
    )
    return figures


# an implicit codebook too large to enumerate (LFQ/BSQ, 2^18 codes): its most used codes, at most this many
MAX_USED_CODES = 4096


def _used_codebook(run: _Run) -> tuple[torch.Tensor, np.ndarray, Any]:
    """Implicit codebook over MAX_ENUMERATED codes: (the used code vectors (U, D), most used first,
    capped at MAX_USED_CODES; their indices (U,); the encoded data)."""
    if run.data is None:
        raise UsageError(
            f"'{run.checkpoint}': its implicit codebook of {run.tok.codebook_size} codes is too large to "
            "enumerate; pass --data to inspect the codes the data uses"
        )
    enc = run.encode()
    counts = np.sum(enc[0].counts, axis=0)
    used = np.argsort(-counts, kind="stable")[: min(MAX_USED_CODES, int((counts > 0).sum()))]
    codes = run.tok.quantizer.index_to_codes(torch.from_numpy(used).to(run.dev))  # (U, D)
    return codes.detach().float().cpu(), used, enc


def _inspect_codes(run: _Run, summary: dict[str, Any], dup_tol: float) -> dict[str, tuple[str, bytes]]:
    """Discrete or multi-scale tokenizer: codebook statistics (and usage, with data) into ``summary``;
    the figures when writing a report."""
    used = encoded = None
    if run.tok.codebook is None:  # implicit LFQ/BSQ codebook: statistics over the used codes only
        codebook, used, encoded = _used_codebook(run)
    else:
        codebook = run.tok.codebook.detach().float().cpu()
    stats = codebook_stats(codebook, dup_tol=dup_tol)
    summary.update({k: v for k, v in stats.items() if not k.startswith("_")})
    if used is not None:
        summary.update(codebook_size=int(run.tok.codebook_size), codes_inspected=len(used))
    summary["usage"] = None
    enc = source = counts = None
    if run.data is not None:
        enc, source = encoded or run.encode()
        counts = np.sum(enc.counts, axis=0)
        summary["usage"] = _usage(enc, counts, run.tok.kind)
        summary["num_images"] = enc.num_images
    if run.out_dir is None:
        return {}
    figures = _codebook_figures(run, codebook, stats, counts if used is None else counts[used])
    if counts is not None:
        colors = pca_colors(codebook)
        if used is not None:  # (K, 3) by global index; unused codes never appear in token maps
            full = np.zeros((len(counts), colors.shape[1]), colors.dtype)
            full[used] = colors
            colors = full
        figures.update(_usage_figures(run, enc, source, counts, colors))
    return figures


def _usage(enc: _Encoded, counts: np.ndarray, kind: str) -> dict[str, Any]:
    usage = usage_details(counts)
    if kind == "multiscale":
        usage["per_scale"] = [
            {"scale": s + 1, "grid": list(enc.maps[s].shape[1:]), **usage_details(c, top=3)}
            for s, c in enumerate(enc.counts)
        ]
    return usage


def _codebook_figures(
    run: _Run, codebook: torch.Tensor, stats: dict[str, Any], counts: np.ndarray | None
) -> dict[str, tuple[str, bytes]]:
    """Norm / nearest-neighbour histograms and the UMAP of the code vectors (coloured by usage with data)."""
    seed = run.seed
    figures: dict[str, tuple[str, bytes]] = {}
    figures["codebook"] = (
        "Distribution of code vector norms and of each code's distance to its nearest other code "
        "(a spike near 0 means near-duplicate codes).",
        plots.histogram_plot(
            [
                (stats["_norms"], "L2 norm", "Code vector norms"),
                (stats["_nn_distance"], "L2 distance", "Nearest-neighbour distance between codes"),
            ]
        ),
    )
    k = codebook.shape[0]
    pick = sample_rows(k, run.umap_sample, seed)
    emb = umap_embed(codebook[pick].numpy(), seed=seed)
    if emb is not None:
        if counts is not None:
            values, label, dead = np.log10(counts[pick] + 1.0), "log10(uses + 1)", counts[pick] == 0
            what = "coloured by how often each code is used; grey crosses are dead codes"
        else:
            values, label, dead = stats["_norms"][pick], "L2 norm", None
            what = "coloured by code norm (pass --data to colour by usage)"
        sampled = f"{len(pick)} of {k} codes sampled with seed {seed}" if len(pick) < k else f"all {k} codes"
        figures["umap"] = (
            f"UMAP of the code vectors ({sampled}), {what}.",
            plots.embedding_plot(emb, values, label, f"UMAP of code vectors ({sampled})", dead),
        )
    return figures


def _usage_figures(
    run: _Run, enc: _Encoded, source: Any, counts: np.ndarray, colors: np.ndarray
) -> dict[str, tuple[str, bytes]]:
    """Sorted usage, the gallery of the most used codes, and token maps of sample images."""
    kind = run.tok.kind
    per_scale = enc.counts if kind == "multiscale" else None
    figures: dict[str, tuple[str, bytes]] = {}
    figures["usage"] = (
        "Codes sorted by how often they are used, as a fraction of all tokens on a log axis; the "
        "dashed line is perfectly uniform use. A steep drop means a few codes do most of the work.",
        plots.usage_plot(counts, per_scale, f"Codebook usage over {enc.num_images} images"),
    )
    spatial = run.tok.spatial_tokens
    figures["gallery"] = (
        "Each row: image patches (one per image) encoded to one of the most used codes. Coherent "
        "rows mean the code stands for a recognisable visual pattern."
        if spatial
        else "Each row: whole images (one per image) whose token row holds one of the most used codes "
        "(1-D tokens stand for no image region, so there is no patch to show).",
        _gallery(enc, counts, source, run.size, 12, 8, run.seed, spatial)[0],
    )
    figures["tokens"] = (
        "Sample images beside their token maps"
        + (" at every scale (coarse to fine)" if kind == "multiscale" else "")
        + "; each code is coloured by its vector (top 3 principal components as RGB), so regions "
        "with similar colours use similar codes.",
        _token_maps(run.tok, enc, source, run.size, colors, run.samples, run.dev, run.seed),
    )
    return figures


def _write_codebook_report(run: _Run, summary: dict[str, Any], figures: dict[str, tuple[str, bytes]]) -> dict[str, str]:
    """The PNGs and report.html in ``run.out_dir``; name -> path of each."""
    out_dir, data = run.out_dir, run.data
    files: dict[str, str] = {}
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (_, png) in figures.items():
        write_bytes_atomic(out_dir / f"{name}.png", png)
        files[name] = str(out_dir / f"{name}.png")
    page = render_html(
        f"Codebook report: {Path(run.checkpoint).name}",
        f"{run.tok.architecture} ({run.tok.kind}) from {run.checkpoint}"
        + (f"; data {data}, {summary['num_images']} images at {run.size}px" if data else "; no data given"),
        _codebook_sections(summary, figures),
    )
    write_bytes_atomic(out_dir / "report.html", page.encode("utf-8"))
    files["report"] = str(out_dir / "report.html")
    return files


def inspect_codebook(
    checkpoint: str | Path,
    data: str | None = None,
    out: str | Path | None = None,
    image_size: int | None = None,
    batch_size: int = 32,
    limit: int | None = None,
    umap_sample: int = 2000,
    dup_tol: float = 1e-2,
    samples: int = 4,
    seed: int = 0,
    device: str = "auto",
) -> InspectResult:
    """Inspect a tokenizer checkpoint; with ``data``, encode it for usage; with ``out``, write
    usage.png, umap.png, gallery.png, tokens.png (per-scale columns for multi-scale), codebook.png
    and report.html. Returns the JSON summary (keys codebook_size, dim, norm, nearest_neighbor,
    near_duplicates, usage; usage is None without data)."""
    from tokkit.device import resolve_device
    from tokkit.io.checkpoint import load_tokenizer

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if limit is not None and limit < 1:
        raise UsageError("--limit must be at least 1")
    out_dir = check_out_dir(out)
    dev = resolve_device(device)
    tok = load_tokenizer(checkpoint, device=dev)
    tok.eval()
    size = _image_size(tok, image_size)
    run = _Run(tok, checkpoint, data, size, batch_size, limit, dev, seed, umap_sample, samples, out_dir)
    summary = _base_summary(run)
    implicit = hasattr(getattr(tok, "quantizer", None), "index_to_codes")  # FSQ / LFQ / BSQ
    if tok.kind == "continuous" or (tok.codebook is None and not implicit):
        figures = _inspect_latents(run, summary)
    else:
        figures = _inspect_codes(run, summary, dup_tol)
    files = _write_codebook_report(run, summary, figures) if out_dir is not None else {}
    return InspectResult(summary, files)


def _stat_rows(d: dict[str, Any] | None) -> list[list[Any]]:
    return [[k, v] for k, v in (d or {}).items() if not isinstance(v, (dict, list))]


def _overview_section(s: dict[str, Any]) -> Section:
    return Section(
        "Overview",
        tables=[
            (
                "",
                [],
                [
                    ["checkpoint", s["checkpoint"]],
                    ["architecture", s["architecture"]],
                    ["kind", s["kind"]],
                    ["codebook size K", s["codebook_size"]],
                    ["code dimension" if s["codebook_size"] else "latent channels", s["dim"]],
                    ["data", s["data"] or "none (pass --data for usage)"],
                    ["images encoded", s["num_images"]],
                ],
            )
        ],
        note=s.get("note", ""),
    )


def _latent_section(s: dict[str, Any]) -> Section:
    lat = s["latent"]
    per = lat["per_channel"]
    return Section(
        "Latent statistics",
        tables=[
            ("all values", ["statistic", "value"], _stat_rows(lat)),
            ("latent vector L2 norm", ["statistic", "value"], _stat_rows(s["norm"])),
            (
                "per channel",
                ["channel", "mean", "std", "min", "max"],
                [[c, per["mean"][c], per["std"][c], per["min"][c], per["max"][c]] for c in range(len(per["mean"]))],
            ),
        ],
    )


def _code_vector_section(s: dict[str, Any]) -> Section:
    nd = s["near_duplicates"] or {}
    return Section(
        "Code vectors",
        tables=[
            ("L2 norm", ["statistic", "value"], _stat_rows(s["norm"])),
            ("nearest-neighbour distance", ["statistic", "value"], _stat_rows(s["nearest_neighbor"])),
            ("near duplicates", ["", ""], _stat_rows(nd)),
            (
                "closest pairs",
                ["code a", "code b", "distance"],
                [[p["a"], p["b"], p["distance"]] for p in nd.get("closest_pairs", [])],
            ),
        ],
    )


def _usage_section(u: dict[str, Any]) -> Section:
    tables = [
        ("usage", ["", ""], _stat_rows(u)),
        ("most used", ["code", "count", "fraction"], [[r["code"], r["count"], r["fraction"]] for r in u["most_used"]]),
        (
            "least used (of the used codes)",
            ["code", "count", "fraction"],
            [[r["code"], r["count"], r["fraction"]] for r in u["least_used"]],
        ),
    ]
    if "per_scale" in u:
        tables.append(
            (
                "per scale",
                ["scale", "grid", "utilization", "perplexity", "dead codes", "tokens"],
                [
                    [
                        p["scale"],
                        "x".join(map(str, p["grid"])),
                        p["utilization"],
                        p["perplexity"],
                        p["dead_codes"],
                        p["num_tokens"],
                    ]
                    for p in u["per_scale"]
                ],  # fmt: skip
            )
        )
    return Section("Usage", tables=tables)


def _figure_sections(s: dict[str, Any], figures: dict[str, tuple[str, bytes]]) -> list[Section]:
    sections = []
    for name in ["usage", "umap", "gallery", "tokens", "codebook", "latents"]:
        if name in figures:
            caption, png = figures[name]
            title = _FIG_TITLES[name]
            if name == "umap" and s["codebook_size"] is None:
                title = "UMAP of the latent vectors"
            sections.append(Section(title, figures=[(caption, png)]))
    return sections


def _codebook_sections(s: dict[str, Any], figures: dict[str, tuple[str, bytes]]) -> list[Section]:
    sections = [_overview_section(s)]
    if s["kind"] == "continuous" or s["codebook_size"] is None:
        sections.append(_latent_section(s))
    else:
        sections.append(_code_vector_section(s))
        if s["usage"] is not None:
            sections.append(_usage_section(s["usage"]))
    return sections + _figure_sections(s, figures)


_FIG_TITLES = {
    "usage": "Sorted usage",
    "umap": "UMAP of the code vectors",
    "gallery": "Gallery: what the most used codes look like",
    "tokens": "Token maps",
    "codebook": "Norms and nearest-neighbour distances",
    "latents": "Latent channels",
}
