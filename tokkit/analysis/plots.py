"""Figures for the inspection reports (matplotlib figures drawn by the Agg canvas: no display needed).

Every function returns PNG bytes; callers write them to disk and embed them in the HTML page.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any

import numpy as np


class _Figures:
    """The pyplot calls used here, on bare ``Figure`` objects drawn by the Agg canvas: no global
    backend switch (a notebook keeps its inline backend) and no figure registry to leak."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, figsize: tuple[float, float] | None = None, squeeze: bool = True):
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        FigureCanvasAgg(fig)
        return fig, fig.subplots(nrows, ncols, squeeze=squeeze)

    @staticmethod
    def get_cmap(name: str):
        import matplotlib

        return matplotlib.colormaps[name]


def _plt() -> _Figures:
    return _Figures()


def to_png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return buf.getvalue()


def _sorted_frequencies(counts: np.ndarray) -> tuple[np.ndarray, int]:
    counts = np.asarray(counts, np.float64)
    total = counts.sum()
    used = np.sort(counts[counts > 0])[::-1]
    return (used / total if total else used), int((counts == 0).sum())


def usage_plot(counts: np.ndarray, per_scale: Sequence[np.ndarray] | None = None, title: str = "") -> bytes:
    """Sorted code frequencies (rank on x, fraction of tokens on a log y axis), with the uniform
    level 1/K for reference; dead codes cannot sit on a log axis and are counted in the legend."""
    plt = _plt()
    k = len(counts)
    panels = 2 if per_scale else 1
    fig, axes = plt.subplots(1, panels, figsize=(6.5 * panels, 4.0), squeeze=False)
    ax = axes[0, 0]
    freq, dead = _sorted_frequencies(counts)
    ranks = np.arange(1, len(freq) + 1)
    ax.plot(ranks, freq, color="#1f77b4", lw=1.5, label=f"{len(freq)} used codes")
    ax.fill_between(ranks, freq, freq.min() if len(freq) else 1, color="#1f77b4", alpha=0.15)
    ax.axhline(1.0 / k, color="#d62728", ls="--", lw=1, label=f"uniform 1/K (K={k})")
    ax.set_yscale("log")
    ax.set_xlim(0, k + 1)
    ax.set_xlabel("code rank (most used first)")
    ax.set_ylabel("fraction of tokens (log)")
    ax.set_title(title or "Codebook usage, sorted")
    if dead:
        ax.axvspan(len(freq) + 0.5, k + 0.5, color="#999999", alpha=0.25, label=f"{dead} dead codes (never used)")
    ax.legend(loc="upper right", fontsize=8)
    ax.grid(True, which="both", alpha=0.25)
    if per_scale:
        ax2 = axes[0, 1]
        cmap = plt.get_cmap("viridis")
        for s, c in enumerate(per_scale):
            f, d = _sorted_frequencies(c)
            color = cmap(s / max(len(per_scale) - 1, 1))
            ax2.plot(np.arange(1, len(f) + 1), f, color=color, lw=1.2, label=f"scale {s + 1}: {len(f)} used")
        ax2.set_yscale("log")
        ax2.set_xscale("log")
        ax2.set_xlabel("code rank within the scale (log)")
        ax2.set_ylabel("fraction of the scale's tokens (log)")
        ax2.set_title("Per-scale usage (coarse -> fine)")
        ax2.legend(fontsize=7, ncol=2)
        ax2.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    return to_png(fig)


def embedding_plot(
    emb: np.ndarray,
    values: np.ndarray,
    value_label: str,
    title: str,
    dead: np.ndarray | None = None,
) -> bytes:
    """2-D embedding (n, 2) coloured by ``values``; points flagged ``dead`` drawn as grey crosses."""
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7.0, 6.0))
    alive = np.ones(len(emb), bool) if dead is None else ~dead
    size = float(np.clip(4000 / max(len(emb), 1), 2, 40))
    if dead is not None and dead.any():
        ax.scatter(
            emb[dead, 0], emb[dead, 1], s=size, c="#bbbbbb", marker="x", lw=0.6, label=f"dead ({int(dead.sum())})"
        )
        ax.legend(loc="best", fontsize=8)
    sc = ax.scatter(emb[alive, 0], emb[alive, 1], s=size, c=values[alive], cmap="viridis", lw=0, alpha=0.85)
    fig.colorbar(sc, ax=ax, label=value_label, shrink=0.85)
    ax.set_title(title, fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    fig.tight_layout()
    return to_png(fig)


def histogram_plot(panels: Sequence[tuple[np.ndarray, str, str]], title: str = "") -> bytes:
    """Side-by-side histograms: each panel is (values, x label, panel title)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 3.6), squeeze=False)
    for ax, (vals, xlabel, sub) in zip(axes[0], panels, strict=True):
        vals = np.asarray(vals, np.float64)
        vals = vals[np.isfinite(vals)]
        ax.hist(vals, bins=min(60, max(5, int(np.sqrt(max(len(vals), 1))))), color="#4c72b0", alpha=0.85)
        if len(vals):
            ax.axvline(np.median(vals), color="#d62728", ls="--", lw=1, label=f"median {np.median(vals):.4g}")
            ax.legend(fontsize=8)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("count")
        ax.set_title(sub, fontsize=10)
        ax.grid(True, alpha=0.25)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return to_png(fig)


def gallery_plot(
    rows: Sequence[tuple[int, int, list[np.ndarray]]], per_row: int, patch_px: int, title: str | None = None
) -> bytes:
    """One row per code: (code, count, patches (p, p, 3) uint8). The patches are laid into one mosaic
    image (nearest upscaling so that small patches stay readable, white gaps) drawn on a single axes:
    one axes per patch made a 16-code gallery cost ~2 s of layout."""
    plt = _plt()
    mosaic, centres = _patch_mosaic(rows, per_row)
    n = max(len(rows), 1)
    fig, ax = plt.subplots(figsize=(1.05 * per_row + 1.4, 1.1 * n + 0.6))
    ax.imshow(mosaic, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks(centres, [f"code {code}\n{count} uses" for code, count, _ in rows], fontsize=8)
    ax.tick_params(axis="y", length=0)
    for side in ax.spines.values():
        side.set_visible(False)
    ax.set_title(title or f"Image patches ({patch_px}x{patch_px} px) assigned to the most used codes", fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def _patch_mosaic(rows: Sequence[tuple[int, int, list[np.ndarray]]], per_row: int) -> tuple[np.ndarray, list[float]]:
    """(H, W, 3) uint8 mosaic of the rows' patches, each upscaled by an integer factor to >= 32 px,
    2-px white gaps; and the y centre of each row (for its label)."""
    patches = [np.asarray(q) for _, _, ps in rows for q in ps]
    p = max((q.shape[0] for q in patches), default=8)
    scale = max(1, -(-32 // p))  # ceil(32 / p)
    cell, gap = p * scale, 2
    n = max(len(rows), 1)
    out = np.full((n * (cell + gap) - gap, per_row * (cell + gap) - gap, 3), 255, np.uint8)
    for r, (_, _, ps) in enumerate(rows):
        for c, q in enumerate(ps[:per_row]):
            q = np.asarray(q)
            q = (q * 255).round().astype(np.uint8) if q.dtype != np.uint8 else q
            big = q.repeat(scale, 0).repeat(scale, 1)[:cell, :cell]
            y, x = r * (cell + gap), c * (cell + gap)
            out[y : y + big.shape[0], x : x + big.shape[1]] = big[..., :3]
    return out, [r * (cell + gap) + (cell - 1) / 2 for r in range(len(rows))]


def image_grid_plot(rows: Sequence[Sequence[Any]], col_titles: Sequence[str], title: str) -> bytes:
    """A grid of RGB images (H, W, 3) uint8 or float in [0, 1], one row per sample image; a cell
    may be (rgb (h, w, 3), code ids (h, w)) to label a small token map with its code ids."""
    plt = _plt()
    n, m = len(rows), len(col_titles)
    fig, axes = plt.subplots(n, m, figsize=(2.3 * m, 2.3 * n + 0.5), squeeze=False)
    for r in range(n):
        for c in range(m):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            cell = rows[r][c] if c < len(rows[r]) else None
            if isinstance(cell, tuple):  # (rgb map, code ids): ids written in the cells of small maps
                rgb, ids = cell
                ax.imshow(rgb, interpolation="nearest")
                h, w = ids.shape
                if max(h, w) <= 10:  # beyond that the numbers no longer fit in the cells
                    fs = max(5, min(9, int(48 / max(h, w))))
                    for i in range(h):
                        for j in range(w):
                            dark = float(np.mean(rgb[i, j])) < 0.5
                            ax.text(j, i, str(int(ids[i, j])), ha="center", va="center", fontsize=fs,
                                    color="white" if dark else "black")  # fmt: skip
            elif cell is not None:
                ax.imshow(cell, interpolation="nearest")
            if r == 0:
                ax.set_title(col_titles[c], fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def heatmap_plot(grid: np.ndarray, label: str, title: str, vmax: float | None = None) -> bytes:
    """A (h, w) map with a colour bar; values written in the cells when the map is small."""
    plt = _plt()
    h, w = grid.shape
    fig, ax = plt.subplots(figsize=(min(9, 2 + 0.45 * w), min(8, 1.5 + 0.45 * h)))
    im = ax.imshow(grid, cmap="magma", vmin=0, vmax=vmax, interpolation="nearest", aspect="auto")
    fig.colorbar(im, ax=ax, label=label)
    if h * w <= 256:
        for i in range(h):
            for j in range(w):
                v = grid[i, j]
                light = vmax is not None and v < 0.6 * vmax
                ax.text(j, i, f"{v:.1f}", ha="center", va="center", fontsize=6, color="white" if light else "black")
    if w <= 32:
        ax.set_xticks(range(w))
    if h <= 32:
        ax.set_yticks(range(h))
    ax.set_xlabel("token column")
    ax.set_ylabel("token row")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def channel_plot(mean: np.ndarray, std: np.ndarray, values: np.ndarray) -> bytes:
    """Continuous latents: per-channel mean +/- std, and the value histogram beside N(0, 1)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    c = np.arange(len(mean))
    axes[0].bar(c, mean, yerr=std, color="#4c72b0", alpha=0.8, capsize=2)
    axes[0].axhline(0, color="black", lw=0.6)
    if len(mean) <= 32:
        axes[0].set_xticks(c)
    axes[0].set_xlabel("latent channel")
    axes[0].set_ylabel("mean +/- std")
    axes[0].set_title("Per-channel latent statistics")
    v = np.asarray(values, np.float64)
    v = v[np.isfinite(v)]
    axes[1].hist(v, bins=80, density=True, color="#4c72b0", alpha=0.75, label="latent values")
    if len(v):
        xs = np.linspace(v.min(), v.max(), 200)
        axes[1].plot(xs, np.exp(-0.5 * xs**2) / np.sqrt(2 * np.pi), color="#d62728", lw=1.2, label="N(0, 1)")
    axes[1].set_title("Distribution of latent values (all channels)")
    axes[1].legend(fontsize=8)
    for ax in axes:
        ax.grid(True, alpha=0.25)
    fig.tight_layout()
    return to_png(fig)


def _finite(xs: list[Any], ys: list[Any]) -> tuple[list[float], list[float]]:
    pts = [(float(x), float(y)) for x, y in zip(xs, ys, strict=True) if x is not None and y is not None]
    pts = [(x, y) for x, y in pts if np.isfinite(x) and np.isfinite(y)]
    return [p[0] for p in pts], [p[1] for p in pts]


def fid_figure(rows: list[dict[str, Any]], features: str, subtitle: str = "") -> bytes:
    """rFID (x) against gFID (y), one labelled point per tokenizer, the real-data floor as a line. A row with
    per-seed gFIDs (``gfid_seeds``, >= 2) gets its 95% t-interval over the seeds as a vertical bar; rFID is
    one Frechet distance over the images and has no interval."""
    from tokkit.stats import mean_ci

    plt = _plt()
    fig, ax = plt.subplots(1, 1, figsize=(6.5, 4.6))
    floor = next((r["gfid_floor"] for r in rows if r.get("gfid_floor") is not None), None)
    skipped = []
    for r in rows:
        if r.get("rfid") is None or r.get("gfid") is None:
            why = str(r.get("gfid_reason") or ("no rFID" if r.get("rfid") is None else "no gFID")).split(":")[0]
            skipped.append(f"{r['tokenizer']} (n/a: {why})")
            continue
        lo, hi = mean_ci(r["gfid_seeds"]) if len(r.get("gfid_seeds") or []) >= 2 else (None, None)
        if lo is not None:
            ax.errorbar([r["rfid"]], [r["gfid"]], yerr=[[r["gfid"] - lo], [hi - r["gfid"]]], fmt="o", ms=6, capsize=4)
        else:
            ax.scatter([r["rfid"]], [r["gfid"]], s=45)
        ax.annotate(r["tokenizer"], (r["rfid"], r["gfid"]), textcoords="offset points", xytext=(5, 5), fontsize=9)
    if floor is not None:
        ax.axhline(floor, color="0.4", ls="--", lw=1)
        ax.annotate(f"real-data floor {floor:.3g}", (0.01, floor), xycoords=("axes fraction", "data"),
                    textcoords="offset points", xytext=(0, 4), fontsize=8, color="0.3")  # fmt: skip
    ax.set_xlabel(f"rFID ({features}), lower = better reconstruction")
    ax.set_ylabel(f"gFID ({features}), lower = better generation; bars: 95% over probe seeds")
    title = "reconstruction vs generation" + (f"\n{subtitle}" if subtitle else "")
    if skipped:
        title += "\nnot shown: " + ", ".join(skipped)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    return to_png(fig)
