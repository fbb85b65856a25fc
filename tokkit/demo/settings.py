"""What the demo trains and how it measures: one frozen dataclass, recorded in ``out/settings.json``.

One protocol for every tokenizer: the same training images and steps, the same image size, the
same evaluation images, noise levels, probe budget and feature space. Where the families allow, the
same token grid and codebook size: the k-means tokens (effnet-lite0 stride 8), vqgan-tiny and
vae-tiny (f8) all give an 8x8 grid at 64 px; the k-means, vqgan-tiny and msvq-tiny codebooks all
hold K=256 codes (msvq-tiny's preset 512 is overridden). vae-tiny is continuous (4 channels, no
codebook); msvq-tiny adds coarser scales (1, 2, 3, 4, 6 and 8: 130 tokens instead of 64).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# the trained families and the codebook-size field each takes
FAMILIES = ("vqgan-tiny", "vae-tiny", "msvq-tiny")
_SCALES = (1, 2, 3, 4, 6, 8, 12, 16)


@dataclass(frozen=True)
class DemoSettings:
    data: str = "builtin:photos"  # training images (tokenizers, k-means)
    eval_data: str = "builtin:photos:seed=1"  # evaluation: other crops of the same photographs
    image_size: int = 64
    encoder: str = "effnet-lite0"
    layer: str = "3"  # chosen from measurement: benchmarks/demo.md
    codebook_size: int = 256
    kmeans_sample: int | None = None  # points for k-means (None: K*256, faiss's default)
    families: tuple[str, ...] = FAMILIES
    train_steps: int = 300
    train_batch_size: int = 8
    eval_images: int = 128
    batch_size: int = 32
    snr_db: tuple[float, ...] = (30.0, 25.0, 20.0, 15.0, 10.0, 5.0, 1.0)
    probe_steps: int = 300
    samples: int = 64  # probe samples decoded for gFID
    seeds: int = 3  # probes per tokenizer (seeds seed..seed+seeds-1): gFID/KID per seed, paired decisions over seeds
    probe_check_levels: tuple[float, ...] = (0.0, 0.3, 0.6)  # the probe-check ladder on vqgan-tiny (() skips it)
    fid_features: str = "effnet-lite0"
    show_images: int = 6  # originals / reconstructions / samples shown per tokenizer
    umap_points: int = 1000  # codebook inspection: UMAP sample (fewer than 4 skips the UMAP)
    seed: int = 0
    extra_sets: dict[str, Any] = field(default_factory=dict)  # family -> extra model overrides (tests)

    @property
    def grid(self) -> int:
        """Side of the f8 token grid."""
        return self.image_size // 8

    @property
    def mid_snr(self) -> float:
        """The noise level the table and the verdict quote (15 dB when measured: DiGIT's middle column)."""
        return 15.0 if 15.0 in self.snr_db else sorted(self.snr_db)[len(self.snr_db) // 2]

    def model_overrides(self, family: str) -> dict[str, Any]:
        """Per-family model settings that give one token grid and one codebook size where possible."""
        out: dict[str, Any] = {}
        if family.startswith("vqgan") or family.startswith("msvq"):
            out["codebook_size"] = self.codebook_size
        if family.startswith("msvq"):
            out["patch_nums"] = [s for s in _SCALES if s < self.grid] + [self.grid]
        return {**out, **self.extra_sets.get(family, {})}

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["snr_db"] = list(self.snr_db)
        d["families"] = list(self.families)
        d["probe_check_levels"] = list(self.probe_check_levels)
        return d


DEFAULT = DemoSettings()
# --quick: the same study at a third of the budget (fewer steps, images, samples and seeds)
QUICK = dataclasses.replace(
    DEFAULT, train_steps=100, eval_images=64, probe_steps=120, samples=32, seeds=2, umap_points=500
)


def settings_from_file(path: str | Path, base: DemoSettings = DEFAULT) -> DemoSettings:
    """``base`` with the fields of a JSON object replaced (unknown fields are a usage error)."""
    import json

    from tokkit.errors import UsageError

    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise UsageError(f"cannot read demo settings '{path}': {e}") from e
    names = {f.name for f in dataclasses.fields(DemoSettings)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise UsageError(f"unknown demo setting '{unknown[0]}'; known: {', '.join(sorted(names))}")
    for key in ("snr_db", "families", "probe_check_levels"):
        if key in data:
            data[key] = tuple(data[key])
    return dataclasses.replace(base, **data)
