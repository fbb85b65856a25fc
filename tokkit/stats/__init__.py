"""Uncertainty for comparisons: intervals, paired differences, sample sizes and decisions.

numpy at import time; scipy.stats is loaded on the first interval. No torch.

- ``mean_ci``: Student-t interval of a mean;
- ``paired_diff_ci`` / ``paired_bootstrap``: a paired difference a - b with its interval
  (``PairedResult``), per seed or per image; the bootstrap for set statistics (rFID, gFID, KID);
- ``seeds_needed``: paired units that would resolve a difference with a given power;
- ``decide`` / ``describe`` / ``pairwise_decisions``: "A beats B" only where the 95% paired interval
  excludes 0, else "inconclusive" with the number of units that would resolve it.
"""

from __future__ import annotations

from tokkit.stats.decide import (
    DECISION_KEYS,
    HIGHER_IS_BETTER,
    decide,
    describe,
    is_higher_better,
    pairwise_decisions,
)
from tokkit.stats.intervals import PairedResult, mean_ci, paired_bootstrap, paired_diff_ci
from tokkit.stats.power import seeds_needed

__all__ = [
    "DECISION_KEYS",
    "HIGHER_IS_BETTER",
    "PairedResult",
    "decide",
    "describe",
    "is_higher_better",
    "mean_ci",
    "paired_bootstrap",
    "paired_diff_ci",
    "pairwise_decisions",
    "seeds_needed",
]
