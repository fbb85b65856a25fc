"""``tokkit extract`` and ``tokkit tokenize``: what a store writer wrote (feature store, token store)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tokkit_cli.render.common import key_value_table, skipped


def render_extract(r: dict[str, Any], out: Path) -> None:
    """Encoder, images, grid x dim, dtype, resume point, throughput and unreadable images."""
    key_value_table(
        f"features -> {out}",
        [
            ("encoder", f"{r['encoder']} (layer {r['layer']})"),
            ("images", r["num_images"]),
            ("grid x dim", f"{r['grid'][0]}x{r['grid'][1]} x {r['dim']}"),
            ("image size", r["image_size"]),
            ("dtype", r["dtype"]),
            ("resumed from", r["resumed_from"]),
            ("images/s", f"{r['images_per_second']:.1f}"),
            ("skipped (unreadable)", skipped(r)),
        ],
    )


def render_tokenize(r: dict[str, Any], out: Path) -> None:
    """Images, grid, codebook size, utilization, perplexity, resume point and unreadable images."""
    key_value_table(
        f"tokens -> {out}",
        [
            ("images", r["num_images"]),
            ("grid", r["grid"] if r["grid"] else r["tokens_per_image"]),
            ("codebook size", r["codebook_size"]),
            ("utilization", f"{r['utilization']:.3f}"),
            ("perplexity", f"{r['perplexity']:.1f}"),
            ("resumed from", r["resumed_from"]),
            ("images skipped (unreadable)", skipped(r)),
            ("seconds", f"{r['seconds']:.1f}"),
        ],
    )
