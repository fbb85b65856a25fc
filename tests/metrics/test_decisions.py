"""eval compare's paired decisions: a tokenizer against an identical copy of itself differs by
exactly 0 on every paired measure (inconclusive), and a codebook fitted to the images against the
untrained one (random codes) wins on PSNR, rFID and gFID with intervals that exclude 0 (gFID in a 24-d
feature space from 51 training images and 48 samples per seed, so that the Frechet distance is full rank)."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from tests.generation.conftest import TINY
from tokkit.metrics.compare import compare_tokenizers
from tokkit.stats import DECISION_KEYS

DATA = "builtin:shapes:n=15,size=16"


def _compare(tmp_path, paths, seeds=2):
    return compare_tokenizers([str(p) for p in paths], DATA, tmp_path / "cmp", samples=6, probe=TINY, seeds=seeds,
                              fid_features="test-pixfeat", snr_db=(20.0,))  # fmt: skip


def test_identical_copies_differ_by_exactly_zero(ckpts, tmp_path):
    a = ckpts["test-metrics-vq"]
    b = tmp_path / "copy"
    shutil.copytree(a, b)
    r = _compare(tmp_path, [a, b])
    measures = {d["measure"] for d in r["decisions"]}
    # LPIPS: no AlexNet offline; stability at the quoted 20 dB, per image
    assert measures == {"psnr", "ssim", "rfid", "gfid", "kid", "change_rate", "cosine", "centred_cosine",
                        "latent_snr_db"}  # fmt: skip
    for d in r["decisions"]:
        assert set(DECISION_KEYS) <= set(d) and d["diff"] == 0 and d["ci95"] == [0, 0], d
        assert d["verdict"] == "inconclusive" and d["needed"] is None and "tie" in d["text"]
    assert r["rows"][0]["gfid_seeds"] == r["rows"][1]["gfid_seeds"] and len(r["rows"][0]["gfid_seeds"]) == 2


def test_fitted_codebook_beats_random_codes_with_intervals_that_exclude_zero(ckpts, tmp_path):
    from tokkit.data import iter_batches, open_source
    from tokkit.io.checkpoint import load_tokenizer, save_checkpoint

    data = "builtin:shapes:n=64,size=16"
    untrained = ckpts["test-metrics-vq"]
    tok = load_tokenizer(untrained)
    _, x, _ = next(iter_batches(open_source(data), 16, 64))
    patches = tok._features(x).flatten(2).transpose(1, 2).reshape(-1, tok.codes.shape[1])  # (N*hw, 3p^2)
    with torch.no_grad():  # "training": codes are real patches, spread over the data
        tok.codes[:] = patches[torch.linspace(0, len(patches) - 1, len(tok.codes)).long()]
    good = save_checkpoint(tok, tmp_path / "fitted")
    r = compare_tokenizers([str(good), str(untrained)], data, tmp_path / "cmp", samples=48, probe=TINY, seeds=3,
                           fid_features="test-pixfeat-coarse", snr_db=(20.0,))  # fmt: skip
    by = {d["measure"]: d for d in r["decisions"]}
    good_label, bad_label = r["rows"][0]["tokenizer"], r["rows"][1]["tokenizer"]
    assert bad_label == "test-metrics-vq" and not any(row["rank_deficient"] for row in r["rows"])
    for m in ("psnr", "rfid", "gfid", "kid"):
        d = by[m]
        assert d["verdict"] == good_label, d
        lo, hi = d["ci95"]
        assert (lo > 0) if m == "psnr" else (hi < 0), d  # a - b: higher PSNR, lower FD/KID for the good one
    assert by["gfid"]["n"] == 3 and by["gfid"]["unit"] == "seeds"
    assert r["rows"][0]["psnr_ci"][0] > r["rows"][1]["psnr_ci"][1]  # the per-row intervals do not overlap


@pytest.mark.parametrize("seeds", [1])
def test_one_seed_has_no_seed_interval(ckpts, tmp_path, seeds):
    r = _compare(tmp_path, [ckpts["test-metrics-vq"], ckpts["test-metrics-ae"]], seeds=seeds)
    g = {d["measure"]: d for d in r["decisions"]}
    assert g["gfid"]["ci95"] == [None, None] and g["gfid"]["verdict"] == "inconclusive"
    assert r["rows"][0]["gfid_std"] is None


def test_per_image_stability_values_average_to_the_reported_figures(ckpts):
    """The per-image arrays behind the stability decisions: their means are the reported change rate
    and cosines (every image has the same positions), one value per image."""
    from tokkit.metrics.stability import evaluate_stability

    seen_features = False
    for name in ("test-metrics-vq", "test-metrics-msvq", "test-metrics-ae"):
        arrays: dict = {}
        r = evaluate_stability(ckpts[name], DATA, snr_db=(10.0,), arrays_out=arrays)
        seen_features |= r["cosine_features"][0] is not None
        v = arrays["snr=10"]
        assert len(v["change_rate"]) == 15 and len(v["cosine"]) == 15
        assert v["change_rate"].mean() == pytest.approx(r["token_change_rate"][0], rel=1e-9)
        assert v["cosine"].mean() == pytest.approx(r["cosine_quantized"][0], rel=1e-9)
        assert v["centred_cosine"].mean() == pytest.approx(r["cosine_quantized_centred"][0], rel=1e-9)
        assert set(arrays) == {"snr=10", "shift_1px", "flip_back", "jpeg_q75"}
        if r["cosine_features"][0] is None:
            assert not any(k.startswith("features_") for k in v)
            continue
        # the pre-quantization features (what the demo's rows quote), per image
        assert v["features_cosine"].mean() == pytest.approx(r["cosine_features"][0], rel=1e-9)
        assert v["features_centred_cosine"].mean() == pytest.approx(r["cosine_features_centred"][0], rel=1e-9)
        assert len(v["features_latent_snr_db"]) == 15 and np.isfinite(v["features_latent_snr_db"]).all()
    assert seen_features
