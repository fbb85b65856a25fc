"""Paired decisions: verdicts, JSON shape, wording, directions and pairwise order."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tokkit.errors import DataError, UsageError
from tokkit.stats import (
    DECISION_KEYS,
    HIGHER_IS_BETTER,
    PairedResult,
    decide,
    describe,
    is_higher_better,
    paired_diff_ci,
    pairwise_decisions,
    seeds_needed,
)


def test_decided_higher_and_lower_is_better():
    d = decide("psnr", "A", "B", PairedResult(12.1, 8.9, 15.3, 2.6, 5))
    assert d == {
        "measure": "psnr", "a": "A", "b": "B", "diff": 12.1, "ci95": [8.9, 15.3], "verdict": "A", "n": 5,
        "needed": None,
    }  # fmt: skip
    assert tuple(d) == DECISION_KEYS
    assert describe(d) == "A better by 12.1 (95% CI 8.9..15.3, 5 seeds, paired)"
    d = decide("rfid", "A", "B", PairedResult(-3.0, -4.0, -2.0, 1.0, 128, method="bootstrap-percentile"))
    assert d["verdict"] == "A"
    assert describe(d, unit="images") == "A better by 3 (95% CI 2..4, 128 images, paired)"
    assert decide("psnr", "A", "B", PairedResult(-3.0, -4.0, -2.0, 1.0, 5))["verdict"] == "B"
    assert decide("lpips", "A", "B", PairedResult(0.02, 0.01, 0.03, 0.01, 5))["verdict"] == "B"


def test_inconclusive_says_how_many_would_resolve_it():
    a = np.array([30.2, 30.9, 29.7, 30.4, 31.0, 30.1])
    b = a - np.array([4.0, -3.0, 9.0, -2.5, 6.0, -4.1])
    r = paired_diff_ci(a, b)
    d = decide("psnr", "A", "B", r)
    assert d["verdict"] == "inconclusive" and r.lo < 0 < r.hi
    assert d["needed"] == seeds_needed(r.sd_diff, r.diff) and d["needed"] > d["n"]
    assert describe(d) == f"inconclusive (about {d['needed']} seeds would resolve {r.diff:.3g})"
    json.dumps(d)


def test_strict_exclusion_ties_and_undefined():
    assert decide("psnr", "A", "B", PairedResult(0.5, 0.0, 1.0, 1.0, 5))["verdict"] == "inconclusive"
    a = np.array([1.0, 2.0, 3.0])
    d = decide("ssim", "A", "B", paired_diff_ci(a, a))
    assert (d["verdict"], d["needed"], d["ci95"]) == ("inconclusive", None, [0.0, 0.0])
    assert describe(d) == "tie (identical)"
    d = decide("ssim", "A", "B", paired_diff_ci([0.9], [0.8]))
    assert (d["ci95"], d["needed"]) == ([None, None], None)
    assert describe(d) == "inconclusive (1 seed: no interval)"
    json.dumps(d)
    with pytest.raises(UsageError):
        decide("psnr", "A", "B", paired_diff_ci(a, a + 1, level=0.9))


def test_direction_table():
    for m in ("psnr", "ssim", "cosine", "centred_cosine", "latent_snr_db"):
        assert is_higher_better(m) is True
    for m in ("lpips", "rfid", "gfid", "kid", "change_rate"):
        assert is_higher_better(m) is False
    assert set(HIGHER_IS_BETTER) >= {"psnr", "ssim", "lpips", "rfid", "gfid", "kid"}
    with pytest.raises(UsageError, match="no direction known for measure 'sharpness'"):
        is_higher_better("sharpness")
    assert decide("sharpness", "A", "B", PairedResult(1.0, 0.5, 1.5, 0.5, 5), higher_is_better=True)["verdict"] == "A"


def test_pairwise_decisions_every_pair_in_order():
    rng = np.random.default_rng(0)
    base = rng.normal(30, 1, 6)
    values = {"x": base + 1.0, "y": base + rng.normal(0, 0.01, 6), "z": base + 1.0 + rng.normal(0, 3, 6)}
    ds = pairwise_decisions(values, "psnr")
    assert [(d["a"], d["b"]) for d in ds] == [("x", "y"), ("x", "z"), ("y", "z")]
    assert ds[0]["verdict"] == "x"
    assert ds[0] == decide("psnr", "x", "y", paired_diff_ci(values["x"], values["y"]))
    with pytest.raises(DataError):
        pairwise_decisions({"x": [1.0, 2.0], "y": [1.0]}, "psnr")
    custom = pairwise_decisions(values, "lpips", paired=lambda a, b: PairedResult(0.0, -1.0, 1.0, 1.0, 6))
    assert len(custom) == 3 and all(d["verdict"] == "inconclusive" for d in custom)
