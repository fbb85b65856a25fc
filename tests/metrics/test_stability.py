"""Stability: zero perturbation is exactly no change; brute-force agreement; batch-size independence."""

from __future__ import annotations

import math

import pytest
import torch

from tokkit.errors import UsageError
from tokkit.metrics.stability import add_noise, evaluate_stability, parse_snr_list, shift_1px

DATA = "builtin:shapes:n=10,size=16"
KEYS = {"snr_db", "token_change_rate", "cosine_quantized", "cosine_features", "perturbations", "protocol"}


def test_zero_perturbation_changes_nothing(ckpts):
    for name in ("test-metrics-vq", "test-metrics-msvq", "test-metrics-ae"):
        r = evaluate_stability(ckpts[name], DATA, snr_db=[math.inf], perturbations=[])
        assert set(r) == KEYS
        assert r["token_change_rate"] == [0.0]
        assert r["cosine_quantized"] == [pytest.approx(1.0, abs=1e-12)]
        assert r["cosine_features"] == [pytest.approx(1.0, abs=1e-12)]


def test_noise_has_the_requested_snr():
    x = torch.rand(4, 3, 64, 64) * 2 - 1
    y = add_noise(x, torch.arange(4), 20.0, seed=0, level=0)
    unclipped = (x.abs() < 0.5).expand_as(x)  # far from the clip boundary
    noise = (y - x)[unclipped]
    expected_sigma = math.sqrt(float(x.double().pow(2).mean()) / 100)
    assert float(noise.std()) == pytest.approx(expected_sigma, rel=0.05)
    assert torch.equal(y, add_noise(x, torch.arange(4), 20.0, seed=0, level=0))  # seeded per image


def test_change_rate_matches_brute_force_and_is_monotone(ckpts):
    from tokkit.data import iter_batches, open_source
    from tokkit.io.checkpoint import load_tokenizer

    tok = load_tokenizer(ckpts["test-metrics-vq"])
    r = evaluate_stability(tok, DATA, snr_db=[30, 5], perturbations=["shift_1px", "flip_back", "jpeg_q75"])
    _, x, idx = next(iter_batches(open_source(DATA), 16, 10))
    with torch.no_grad():
        clean = tok.encode(x)
        noisy = tok.encode(add_noise(x, idx, 5.0, 0, 1))
        shifted = tok.encode(shift_1px(x))
        flipped = tok.encode(x.flip(-1))
    assert r["token_change_rate"][1] == pytest.approx(float((clean.indices != noisy.indices).float().mean()))
    assert r["perturbations"]["shift_1px"]["token_change_rate"] == pytest.approx(
        float((clean.indices != shifted.indices).float().mean())
    )
    assert r["perturbations"]["flip_back"]["token_change_rate"] == pytest.approx(
        float((clean.indices != flipped.indices.flip(-1)).float().mean())
    )
    cos = torch.nn.functional.cosine_similarity(clean.quantized, noisy.quantized, dim=1).mean()
    assert r["cosine_quantized"][1] == pytest.approx(float(cos), rel=1e-5)
    assert r["token_change_rate"][0] <= r["token_change_rate"][1]
    assert 0 < r["perturbations"]["jpeg_q75"]["token_change_rate"] < 1


def test_batch_size_independent_and_deterministic(ckpts):
    a = evaluate_stability(ckpts["test-metrics-msvq"], DATA, snr_db=[20, 10], batch_size=10, seed=3)
    b = evaluate_stability(ckpts["test-metrics-msvq"], DATA, snr_db=[20, 10], batch_size=3, seed=3)
    assert a["token_change_rate"] == b["token_change_rate"]
    assert a["cosine_quantized"] == pytest.approx(b["cosine_quantized"], rel=1e-6)
    assert a["perturbations"]["jpeg_q75"] == pytest.approx(b["perturbations"]["jpeg_q75"], rel=1e-6)
    c = evaluate_stability(ckpts["test-metrics-msvq"], DATA, snr_db=[20, 10], batch_size=10, seed=4)
    assert c["token_change_rate"] != a["token_change_rate"]  # the seed drives the noise


def test_continuous_reports_latent_relative_change(ckpts):
    r = evaluate_stability(ckpts["test-metrics-ae"], DATA, snr_db=[30, 1], perturbations=["flip_back"])
    assert "latent relative change" in r["protocol"]["change_measure"]
    assert 0 < r["token_change_rate"][0] < r["token_change_rate"][1]
    # average pooling commutes with the flip: flip-and-back leaves the latents unchanged
    assert r["perturbations"]["flip_back"]["token_change_rate"] == pytest.approx(0.0, abs=1e-6)


def test_bad_arguments():
    assert parse_snr_list("30, 20,inf") == [30.0, 20.0, math.inf]
    with pytest.raises(UsageError, match="not a number"):
        parse_snr_list("30,loud")
    with pytest.raises(UsageError, match="unknown perturbation"):
        evaluate_stability("unused", DATA, perturbations=["rotate"])
