"""Metrics: Frechet distance, reconstruction (PSNR/SSIM/LPIPS), codebook usage, stability, probe.

Torch-heavy modules load on first use so that ``tokkit list metrics`` stays fast.
``METRICS`` names every metric the evaluation commands report; each entry's factory returns the
library function that computes it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from tokkit.metrics.usage import code_counts, codebook_usage, usage_from_counts
from tokkit.registry import Registry

_LAZY = {
    "frechet_distance": "tokkit.metrics.frechet",
    "feature_stats": "tokkit.metrics.fid",
    "create_fid_features": "tokkit.metrics.fid",
    "real_image_stats": "tokkit.metrics.fid",
    "FeatureStats": "tokkit.metrics.fid",
    "psnr": "tokkit.metrics.recon",
    "ssim": "tokkit.metrics.recon",
    "LPIPSMetric": "tokkit.metrics.recon",
    "evaluate_recon": "tokkit.metrics.recon",
    "evaluate_stability": "tokkit.metrics.stability",
    "evaluate_generation": "tokkit.generation",
    "ProbeConfig": "tokkit.generation",
    "compare_tokenizers": "tokkit.metrics.compare",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'tokkit.metrics' has no attribute '{name}'")


METRICS: Registry[Callable[[], Callable[..., Any]]] = Registry("metric")


def _lazy(module: str, name: str) -> Callable[[], Callable[..., Any]]:
    def factory() -> Callable[..., Any]:
        return getattr(importlib.import_module(module), name)

    return factory


for _name, _module, _fn, _help in (
    ("psnr", "tokkit.metrics.recon", "psnr", "PSNR in dB on [0,1] RGB, data_range 1 (eval recon)"),
    ("ssim", "tokkit.metrics.recon", "ssim", "SSIM, Gaussian 11x11 window, per RGB channel, data_range 1 (eval recon)"),
    ("lpips", "tokkit.metrics.recon", "LPIPSMetric", "LPIPS v0.1, AlexNet trunk (eval recon)"),
    (
        "rfid",
        "tokkit.metrics.frechet",
        "frechet_distance",
        "Frechet distance real vs reconstructed, any feature network",
    ),
    ("usage", "tokkit.metrics.usage", "codebook_usage", "codebook utilization, perplexity, entropy, dead codes"),
    ("stability", "tokkit.metrics.stability", "evaluate_stability", "token change / cosine under noise, shift, flip"),
    ("probe", "tokkit.generation", "evaluate_generation", "generation probe (raster/random/next-scale): bits, gFID"),
    ("gfid", "tokkit.metrics.gfid", "generation_scores", "gFID, its real-data floor, rFID, held-out gFID"),
):
    METRICS.register(_name, _lazy(_module, _fn), help=_help)

__all__ = [
    "METRICS",
    "code_counts",
    "codebook_usage",
    "usage_from_counts",
    *_LAZY,
]
