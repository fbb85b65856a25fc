"""The generation probe: keys, determinism, learning something, continuous tokenizers, samples."""

from __future__ import annotations

import math

import pytest
import torch

from tokkit.metrics.probe import ProbeConfig, evaluate_generation, evaluate_probe, flatten_tokens, unflatten_tokens

DATA = "builtin:shapes:n=20,size=16"
KEYS = {"val_nll", "bits_per_token", "top1_accuracy", "gfid", "probe", "protocol"}
SMALL = ProbeConfig(d_model=32, n_layer=1, n_head=2, steps=25, batch_size=8)


def test_probe_keys_budget_and_determinism(ckpts):
    a = evaluate_generation(ckpts["test-metrics-vq"], DATA, probe=SMALL, seed=1)
    assert set(a) == KEYS and a["gfid"] is None
    p = a["probe"]
    assert p["config"]["steps"] == 25 and p["budget"]["tokens_seen"] == 25 * 8 * 16
    assert p["num_train"] == 16 and p["num_val"] == 4 and p["sequence_length"] == 16
    assert a["bits_per_token"] == pytest.approx(a["val_nll"] / math.log(2))
    assert 0 <= a["top1_accuracy"] <= 1
    assert p["train_loss_last"] < p["train_loss_first"]  # it learns
    b = evaluate_generation(ckpts["test-metrics-vq"], DATA, probe=SMALL, seed=1, batch_size=7)
    assert a["val_nll"] == pytest.approx(b["val_nll"], rel=1e-5)  # tokenizing batch size does not matter


def test_nll_of_a_known_model_is_exact():
    """A probe whose logits are all equal scores exactly ln K per token."""
    from tokkit.metrics.probe import ProbeTransformer

    model = ProbeTransformer(8, 5, SMALL)
    torch.nn.init.zeros_(model.head.weight)
    torch.nn.init.zeros_(model.head.bias)
    seq = torch.randint(0, 8, (6, 5))
    r = evaluate_probe(model.eval(), seq, 4, torch.device("cpu"))
    assert r["val_nll"] == pytest.approx(math.log(8), rel=1e-12)


def test_multiscale_order_and_round_trip(ckpts):
    from tokkit.io.checkpoint import load_tokenizer

    tok = load_tokenizer(ckpts["test-metrics-msvq"])
    t = tok.encode(torch.rand(3, 3, 16, 16) * 2 - 1)
    seq = flatten_tokens(t)
    assert seq.shape == (3, 1 + 4 + 16) and torch.equal(seq[:, 0], t.indices[0].reshape(3))
    back = unflatten_tokens(seq, [(1, 1), (2, 2), (4, 4)], "multiscale")
    assert all(torch.equal(a, b) for a, b in zip(back.index_maps(), t.index_maps(), strict=True))


def test_samples_give_a_gfid_and_continuous_is_not_defined(ckpts):
    r = evaluate_generation(ckpts["test-metrics-msvq"], DATA, probe=SMALL, samples=6, fid_features="test-pixfeat")
    assert r["gfid"] is not None and r["gfid"] > 0
    assert r["protocol"]["gfid"]["num_samples"] == 6
    assert any("gFID" in w for w in r["protocol"]["warnings"])  # 6 samples, 96-d features
    c = evaluate_generation(ckpts["test-metrics-ae"], DATA, probe=SMALL, samples=4)
    assert set(c) == KEYS and c["val_nll"] is None and c["gfid"] is None
    assert c["probe"]["defined"] is False and "continuous" in c["probe"]["reason"]
