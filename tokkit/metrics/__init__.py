"""Metrics: Frechet distance, reconstruction (PSNR/SSIM/LPIPS), codebook usage, stability, probe."""

from tokkit.metrics.usage import code_counts, codebook_usage, usage_from_counts

__all__ = ["code_counts", "codebook_usage", "usage_from_counts"]
