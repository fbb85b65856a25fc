"""``tokkit train vqgan-tiny --quantizer fsq|lfq|bsq``: trains, reports codebook usage, round-trips its
checkpoint; ``inspect codebook`` on an LFQ tokenizer; msvq refuses a non-VQ quantizer."""

from __future__ import annotations

import json

import pytest
import torch

from tokkit.io.checkpoint import load_tokenizer

COMMON = ["--data", "builtin:photos:n=8,size=16", "--image-size", "16", "--batch-size", "4", "--steps", "2",
          "--perceptual-weight", "0", "--set", "model.ch=8", "--set", "model.ch_mult=[1,2,2]",
          "--set", "model.z_channels=8", "--set", "eval_images=4", "--set", "num_samples=2",
          "--set", "sample_every=100", "--set", "ckpt_every=100"]  # fmt: skip
SIZES = {"fsq": 8 * 5 * 5 * 5, "lfq": 2**10, "bsq": 2**10}  # vqgan-tiny's defaults


@pytest.mark.parametrize("q", ["fsq", "lfq", "bsq"])
def test_train_reports_usage_and_round_trips(cli, tmp_path, q):
    r = cli("train", "vqgan-tiny", "--quantizer", q, "--out", tmp_path / "run", "--json", *COMMON)
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)
    tok = load_tokenizer(res["final_checkpoint"])
    assert tok.config.quantizer == q and tok.codebook_size == SIZES[q]
    lines = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any("usage" in str(k) for line in lines for k in line), lines[-1]
    x = torch.rand(2, 3, 16, 16)
    tb = tok.encode(x)
    assert tb.indices.shape == (2, 4, 4) and int(tb.indices.max()) < SIZES[q]
    assert torch.allclose(tok.decode(tb), tok.decode(type(tb)("discrete", quantized=tb.quantized)), atol=1e-5)
    if q == "lfq":
        from tokkit.analysis import inspect_codebook

        res = inspect_codebook(res["final_checkpoint"], data="builtin:photos:n=4,size=16", image_size=16)
        assert res.summary["codebook_size"] == SIZES[q] and res.summary["usage"] is not None


def test_quantizer_errors(cli, tmp_path):
    r = cli("train", "msvq-tiny", "--quantizer", "fsq", "--out", tmp_path / "m", *COMMON)
    assert r.exit_code == 2 and "VQ only" in r.stderr and r.stderr.count("\n") == 1
    r = cli("train", "vqgan-tiny", "--quantizer", "rvq", "--out", tmp_path / "v", *COMMON)
    assert r.exit_code == 2 and "choose one of vq, fsq, lfq, bsq" in r.stderr


def test_inspect_codebook_of_2_17_implicit_codes_uses_the_used_ones(tmp_path):
    from tests.train.conftest import MICRO
    from tokkit.analysis import inspect_codebook
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("vqgan-tiny", **dict(MICRO, z_channels=8), quantizer="bsq", lfq_bits=17)
    assert tok.codebook is None and tok.codebook_size == 2**17  # not enumerated
    save_checkpoint(tok, tmp_path / "ck")
    # no --out: the figures' UMAP costs ~15 s of numba compilation; tests/analysis covers the figures
    s = inspect_codebook(tmp_path / "ck", data="builtin:photos:n=4,size=16", image_size=16).summary
    assert s["codebook_size"] == 2**17 and 0 < s["codes_inspected"] <= 4 * 16 and s["usage"] is not None
    with pytest.raises(Exception, match="pass --data"):
        inspect_codebook(tmp_path / "ck", image_size=16)


def test_lfq_entropy_weight_is_its_own_setting():
    """vq's entropy_weight default (0) must not switch LFQ's entropy loss to another value: lfq_entropy_weight
    is used as given, 0 included."""
    from tokkit.tokenizers import create_tokenizer

    on = create_tokenizer("vqgan-tiny", quantizer="lfq")
    off = create_tokenizer("vqgan-tiny", quantizer="lfq", lfq_entropy_weight=0.0)
    assert on.quantizer.entropy_weight == 0.1 and off.quantizer.entropy_weight == 0.0
