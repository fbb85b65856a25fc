"""Radial DCT spectra of latent maps: the band powers behind ``high_freq_share``.

For each image and channel, the orthonormal 2-D DCT-II of its (h, w) map (``scipy.fft.dctn(type=2,
norm="ortho")``); power = coefficient^2; coefficient (u, v) has radius r = sqrt((u/h)^2 + (v/w)^2) / sqrt(2)
and band min(floor(16 r), 15).

- linear (tokkit's ``high_freq_share``): the 16 band powers summed over images and channels, divided by
  their total; the share is the sum of bands 8-15.
- log (the published variant, Skorokhodov et al. 2025, arXiv 2502.14831): per-channel mean removed, DC
  dropped, s_b = log(1 + mean power of the coefficients of band b), s normalised to sum 1, share = bands
  8-15. Removing a map's mean changes only its DC coefficient (the DCT of a constant is pure DC), so with the
  DC dropped the mean removal is implied. The power is averaged over images and channels before the log.

Both come from one (h, w) map of power summed over images and channels, so a pass over the data keeps only
that map (``SpectrumAccumulator``), never the latents.
"""

from __future__ import annotations

from typing import Any

import numpy as np

NUM_BANDS = 16
HIGH_BANDS = slice(8, 16)


def band_index(h: int, w: int) -> np.ndarray:
    """(h, w) int array: the band of each DCT coefficient (u, v)."""
    u = np.arange(h)[:, None] / h
    v = np.arange(w)[None, :] / w
    r = np.sqrt(u**2 + v**2) / np.sqrt(2.0)
    return np.minimum(np.floor(NUM_BANDS * r).astype(np.int64), NUM_BANDS - 1)


def dct_power(maps: Any) -> np.ndarray:
    """(h, w) float64: the DCT-II power of ``maps`` (B, C, h, w), summed over images and channels."""
    from scipy.fft import dctn

    a = np.asarray(maps, dtype=np.float64)
    if a.ndim != 4:
        raise ValueError(f"maps must be (B, C, h, w), got shape {a.shape}")
    coef = dctn(a, type=2, norm="ortho", axes=(-2, -1))
    return (coef * coef).sum(axis=(0, 1))


def linear_bands(power: np.ndarray) -> np.ndarray:
    """(16,) band powers of a summed power map (h, w), divided by their total."""
    bands = np.bincount(band_index(*power.shape).ravel(), weights=power.ravel(), minlength=NUM_BANDS)
    total = bands.sum()
    return bands / total if total > 0 else np.full(NUM_BANDS, np.nan)


def log_bands(power: np.ndarray, count: int = 1) -> np.ndarray:
    """(16,) log spectrum of a summed power map (h, w) over ``count`` maps: DC dropped, log(1 + band-mean power),
    normalised to sum 1 (a band with no coefficient is 0)."""
    idx = band_index(*power.shape).ravel()
    p = power.ravel() / max(count, 1)
    keep = np.ones_like(p, dtype=bool)
    keep[0] = False  # the DC coefficient (u, v) = (0, 0)
    sums = np.bincount(idx[keep], weights=p[keep], minlength=NUM_BANDS)
    sizes = np.bincount(idx[keep], minlength=NUM_BANDS)
    s = np.where(sizes > 0, np.log1p(sums / np.maximum(sizes, 1)), 0.0)
    total = s.sum()
    return s / total if total > 0 else np.full(NUM_BANDS, np.nan)


def band_powers(maps: Any) -> np.ndarray:
    """(16,) linear band powers of ``maps`` (B, C, h, w), normalised to sum 1."""
    return linear_bands(dct_power(maps))


def band_powers_log(maps: Any) -> np.ndarray:
    """(16,) log spectrum (the published variant) of ``maps`` (B, C, h, w)."""
    a = np.asarray(maps)
    return log_bands(dct_power(a), a.shape[0] * a.shape[1])


def high_share(bands: np.ndarray) -> float | None:
    """The sum of bands 8-15 (None when the spectrum is undefined, e.g. all-zero maps)."""
    v = float(np.sum(bands[HIGH_BANDS]))
    return None if np.isnan(v) else v


class SpectrumAccumulator:
    """Streaming power map: add (B, C, h, w) batches; memory O(h w)."""

    def __init__(self) -> None:
        self.power: np.ndarray | None = None
        self.count = 0  # maps (images x channels) added

    def add(self, maps: Any) -> None:
        p = dct_power(maps)
        self.power = p if self.power is None else self.power + p
        self.count += int(np.shape(maps)[0]) * int(np.shape(maps)[1])

    def merge(self, other: SpectrumAccumulator) -> None:
        if other.power is not None:
            self.power = other.power.copy() if self.power is None else self.power + other.power
            self.count += other.count

    def result(self) -> dict[str, Any]:
        """{"spectrum", "high_freq_share", "spectrum_log", "high_freq_share_log"} (None before any add)."""
        if self.power is None:
            return {"spectrum": None, "high_freq_share": None, "spectrum_log": None, "high_freq_share_log": None}
        return spectrum_from_power(self.power, self.count)


def spectrum_from_power(power: np.ndarray, count: int) -> dict[str, Any]:
    lin, lg = linear_bands(power), log_bands(power, count)
    return {
        "spectrum": None if np.isnan(lin).any() else lin.tolist(),
        "high_freq_share": high_share(lin),
        "spectrum_log": None if np.isnan(lg).any() else lg.tolist(),
        "high_freq_share_log": high_share(lg),
    }


def white_noise_shares(h: int, w: int) -> dict[str, Any]:
    """The expected spectrum of white noise on an (h, w) grid: every DCT coefficient has the same expected
    power (the orthonormal DCT of iid noise is iid), so the linear shares are the fractions of coefficients
    per band and the log shares are equal over the non-empty non-DC bands."""
    return spectrum_from_power(np.ones((h, w)), 1)


__all__ = [
    "NUM_BANDS",
    "SpectrumAccumulator",
    "band_index",
    "band_powers",
    "band_powers_log",
    "dct_power",
    "high_share",
    "linear_bands",
    "log_bands",
    "spectrum_from_power",
    "white_noise_shares",
]
