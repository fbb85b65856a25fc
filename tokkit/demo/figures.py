"""The demo's figures (PNG bytes): rFID vs gFID with the floor, DiGIT's Table 1 for this run's
tokenizers beside the published curves, code-usage curves, and image grids."""

from __future__ import annotations

from typing import Any

import numpy as np

from tokkit.analysis.plots import _finite, _plt, to_png

# DiGIT (Zhu et al., NeurIPS 2024) Table 1: ImageNet, DINOv2 ViT-B/14 k-means tokens vs a VQGAN,
# Gaussian pixel noise at SNR (dB). Published numbers, drawn for reference only.
DIGIT_SNR = (30, 25, 20, 15, 10, 5, 1)
DIGIT_TABLE1 = {
    "change": {
        "VQGAN": (0.187, 0.317, 0.487, 0.663, 0.805, 0.901, 0.948),
        "DiGIT": (0.114, 0.178, 0.260, 0.355, 0.457, 0.570, 0.687),
    },
    "cosine": {
        "VQGAN": (0.972, 0.949, 0.910, 0.853, 0.777, 0.682, 0.594),
        "DiGIT": (0.975, 0.960, 0.940, 0.916, 0.888, 0.855, 0.816),
    },
}


def stability_figure(results: list[dict[str, Any]]) -> bytes:
    """DiGIT Table 1 for this run: change rate, raw cosine, centred cosine and latent SNR against the
    pixel SNR, one curve per tokenizer; the published DiGIT/VQGAN curves in grey (ImageNet/DINOv2).

    ``results``: [{"row": row, "curves": stability_curves(...)}, ...]."""
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4), squeeze=False)
    panels = [
        ("change", "token change rate (lower = more stable)"),
        ("cosine", "raw cosine, clean vs noisy"),
        ("cosine_centred", "centred cosine (dataset mean removed)"),
        ("latent_snr_db", "latent SNR (dB): spread / change"),
    ]
    colors = plt.get_cmap("tab10")
    for ax, (key, label) in zip(axes[0], panels, strict=True):
        for ref, style in (("VQGAN", ":"), ("DiGIT", "--")):
            if key in DIGIT_TABLE1:
                ax.plot(DIGIT_SNR, DIGIT_TABLE1[key][ref], style, color="0.55", lw=1.5,
                        label=f"{ref} (published, ImageNet/DINOv2)")  # fmt: skip
        for i, res in enumerate(results):
            row, c = res["row"], res["curves"]
            if key == "change" and row["kind"] == "continuous":
                continue  # a relative latent change is not a token change rate
            xs, ys = _finite(c["snr_db"], c[key])
            ax.plot(xs, ys, "o-", color=colors(i % 10), ms=3.5, lw=1.6, label=row["tokenizer"])
            if key == "change" and row.get("change_random_codes") is not None:
                ax.axhline(row["change_random_codes"], color=colors(i % 10), lw=0.8, ls="-.", alpha=0.7)
            if key == "cosine" and row.get("cosine_random_pairs") is not None:
                ax.axhline(row["cosine_random_pairs"], color=colors(i % 10), lw=0.8, ls="-.", alpha=0.7)
        ax.set_xlabel("pixel SNR (dB)")
        ax.set_title(label, fontsize=10)
        ax.invert_xaxis()  # left to right: more noise
        ax.grid(alpha=0.3)
    axes[0, 1].legend(fontsize=7, loc="best")  # the raw-cosine panel shows every tokenizer and both references
    fig.suptitle("DiGIT Table 1 on this run (dash-dot: random-code / random-pair baselines; grey: published)",
                 fontsize=10)  # fmt: skip
    fig.tight_layout()
    return to_png(fig)


def usage_figure(results: list[dict[str, Any]]) -> bytes:
    """Sorted code frequencies per tokenizer (all scales pooled), with each uniform level 1/K."""
    plt = _plt()
    fig, ax = plt.subplots(1, 1, figsize=(6.5, 4.2))
    colors = plt.get_cmap("tab10")
    for i, res in enumerate(results):
        counts = res.get("counts") or []
        if not counts:
            continue
        total = np.sum(np.asarray(counts, np.float64), axis=0)
        k = len(total)
        freq = np.sort(total[total > 0])[::-1] / total.sum()
        dead = int((total == 0).sum())
        ax.plot(np.arange(1, len(freq) + 1), freq, color=colors(i % 10),
                label=f"{res['row']['tokenizer']} ({k - dead}/{k} codes used)")  # fmt: skip
        ax.axhline(1.0 / k, color=colors(i % 10), lw=0.7, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("code rank")
    ax.set_ylabel("fraction of tokens (dotted: uniform 1/K)")
    ax.set_title("codebook usage over the evaluation images", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return to_png(fig)


def images_figure(name: str, images: dict[str, np.ndarray]) -> bytes:
    """Columns: original, reconstruction, probe sample; one row per shown image."""
    from tokkit.analysis.plots import image_grid_plot

    cols = [k for k in ("originals", "reconstructions", "samples") if k in images]
    n = max(len(images[k]) for k in cols)
    rows = [[images[k][i] if i < len(images[k]) else None for k in cols] for i in range(n)]
    titles = {"originals": "original", "reconstructions": "reconstruction", "samples": "probe sample"}
    return image_grid_plot(rows, [titles[k] for k in cols], name)
