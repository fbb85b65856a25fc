"""probe-check: a ladder of tokenizers of known order, built by corrupting one tokenizer's tokens."""

from __future__ import annotations

import pytest
import torch

from tests.generation.conftest import DATA, TINY
from tokkit.errors import UsageError
from tokkit.generation.probe_check import corrupting_encode, probe_check
from tokkit.io.checkpoint import load_tokenizer


def _images(n=4, size=16):
    from tokkit.data import iter_batches, open_source

    return next(iter_batches(open_source(DATA), size, n))[1]


def test_corruption_replaces_the_asked_fraction_and_is_per_image_deterministic(ckpts):
    tok = load_tokenizer(ckpts["test-metrics-vq"])
    x = torch.cat([_images(8)] * 50)  # 400 images x 16 tokens: the fraction is well estimated
    clean = tok.encode(x).indices
    for level in (0.0, 0.3, 1.0):
        got = corrupting_encode(tok, level, seed=1)(x).indices
        changed = (got != clean).float().mean().item()
        # a replaced code equals the old one with probability 1/K
        assert changed == pytest.approx(level * (1 - 1 / tok.codebook_size), abs=0.03)
        assert got.min() >= 0 and got.max() < tok.codebook_size
    a = corrupting_encode(tok, 0.3, seed=1)(x[:3])
    b = corrupting_encode(tok, 0.3, seed=1)(x[1:3])  # another batch: the same images corrupt alike
    assert torch.equal(a.indices[1:], b.indices)
    assert not torch.equal(a.indices, corrupting_encode(tok, 0.3, seed=2)(x[:3]).indices)


def test_continuous_noise_has_the_relative_power_asked(ckpts):
    tok = load_tokenizer(ckpts["test-metrics-ae"])
    x = _images(8)
    z = tok.encode(x).latents
    zn = corrupting_encode(tok, 0.25, seed=0)(x).latents
    ratio = ((zn - z).pow(2).mean((1, 2, 3)) / z.var(dim=(1, 2, 3))).mean().item()
    assert ratio == pytest.approx(0.25, rel=0.35)


def test_multiscale_corrupts_every_scale(ckpts):
    tok = load_tokenizer(ckpts["test-metrics-msvq"])
    x = torch.cat([_images(8)] * 20)
    clean, got = tok.encode(x).index_maps(), corrupting_encode(tok, 0.5, seed=0)(x).index_maps()
    for c, g in zip(clean, got, strict=True):
        assert 0.3 < (c != g).float().mean().item() < 0.7


def test_probe_check_reports_the_ladder_and_restores_the_tokenizer(ckpts):
    tok = load_tokenizer(ckpts["test-metrics-vq"])
    r = probe_check(tok, DATA, levels=(0.0, 1.0), seeds=2, probe=TINY, samples=6, fid_features="test-pixfeat")
    assert r["levels"] == [0.0, 1.0] and len(r["gfid_mean"]) == 2 and r["pairs"] == 1
    assert 0 <= r["resolved_pairs"] <= 1 and set(r["measures"]) == {"gfid", "bits_per_token"}
    bits = r["measures"]["bits_per_token"]
    assert bits["mean"][1] > bits["mean"][0]  # uniform codes: the held-out entropy rises
    assert "encode" not in tok.__dict__  # the tokenizer is itself again
    with pytest.raises(UsageError, match="increasing"):
        probe_check(tok, DATA, levels=(0.5, 0.1), seeds=2, probe=TINY)
    with pytest.raises(UsageError, match="2 seeds"):
        probe_check(tok, DATA, seeds=1, probe=TINY)
