"""evaluate_generation end to end: keys, defaults per kind, determinism, eval-batch independence,
every order and head on real (tiny, untrained) tokenizers, class conditioning, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from tests.generation.conftest import DATA, TINY
from tokkit.errors import UsageError
from tokkit.generation import ProbeConfig, evaluate_generation

KEYS = {"order", "head", "gfid", "gfid_guided", "gfid_floor", "gfid_heldout", "rfid", "bits_per_token",
        "bits_per_image", "diffusion_loss", "val_nll", "top1_accuracy", "probe", "protocol",
        "seeds", "gfid_seeds", "gfid_mean", "gfid_std", "kid", "kid_std", "kid_std_kind", "kid_seeds", "n_real",
        "n_gen", "feature_dim", "per_seed"}  # fmt: skip


def _run(tok, **kw):
    kw.setdefault("probe", TINY)
    return evaluate_generation(tok, DATA, fid_features="test-pixfeat", **kw)


def test_defaults_per_kind_keys_and_budget(ckpts):
    a = _run(ckpts["test-metrics-vq"], seed=1)
    assert set(a) == KEYS and (a["order"], a["head"]) == ("raster", "categorical")
    p = a["probe"]
    assert p["budget"]["tokens_seen"] == 8 * 8 * 16 and p["num_train"] == 12 and p["num_val"] == 3
    assert a["bits_per_token"] == pytest.approx(a["val_nll"] / math.log(2))
    assert a["bits_per_image"] == pytest.approx(a["bits_per_token"] * 16)
    assert a["gfid"] is None and "--samples 0" in p["not_defined"]["gfid"] and a["diffusion_loss"] is None
    c = _run(ckpts["test-metrics-ae"])
    assert (c["order"], c["head"]) == ("random", "diffusion") and c["bits_per_token"] is None
    assert c["diffusion_loss"] > 0 and c["probe"]["normalisation"]["scale_factor"] > 0
    assert "likelihood" in c["probe"]["not_defined"]["bits_per_token"]
    m = _run(ckpts["test-metrics-msvq"])
    assert m["order"] == "next-scale" and set(m["probe"]["bits_per_scale"]) == {"1x1", "2x2", "4x4"}


def test_deterministic_and_independent_of_batch_sizes(ckpts):
    """Same seed -> same numbers; tokenizing and evaluation batch sizes do not change them."""
    for order, head in (("raster", "categorical"), ("random", "categorical"), ("raster", "diffusion")):
        a = _run(ckpts["test-metrics-vq"], order=order, head=head, samples=4, seed=3)
        b = _run(ckpts["test-metrics-vq"], order=order, head=head, samples=4, seed=3, batch_size=4,
                 probe=ProbeConfig(**{**TINY.__dict__, "eval_batch_size": 2}))  # fmt: skip
        for key in ("gfid", "gfid_heldout", "gfid_floor", "rfid", "bits_per_token", "diffusion_loss"):
            if a[key] is None:
                assert b[key] is None
            else:
                assert a[key] == pytest.approx(b[key], rel=1e-4), (order, head, key)
        assert a["gfid"] > 0 and a["gfid_floor"] > 0


def test_every_order_on_real_tiny_tokenizers():
    """VAR's next-scale on a real msvq, MAR's random order on a real VAE, VQ features through a diffusion head."""
    from tokkit.tokenizers import create_tokenizer

    torch.manual_seed(0)
    msvq = create_tokenizer("msvq-tiny", patch_nums=(1, 2))
    r = evaluate_generation(msvq, DATA, probe=TINY, samples=3, fid_features="test-pixfeat")
    assert r["order"] == "next-scale" and r["gfid"] > 0 and r["probe"]["sequence_length"] == 5
    r = evaluate_generation(msvq, DATA, probe=TINY, samples=3, fid_features="test-pixfeat", head="diffusion")
    assert (r["order"], r["probe"]["tokens_from"]) == ("raster", "pre-quantization features") and r["gfid"] > 0
    vae = create_tokenizer("vae-tiny")
    r = evaluate_generation(vae, DATA, probe=TINY, samples=3, fid_features="test-pixfeat")
    assert (r["order"], r["head"]) == ("random", "diffusion") and r["gfid"] > 0 and r["probe"]["channels"] == 4
    assert r["probe"]["budget"]["head_parameters"] > 0


def _class_folder(root, per_class=6):
    rng = np.random.default_rng(0)
    for c, colour in (("red", (200, 30, 30)), ("blue", (30, 30, 200))):
        for i in range(per_class):
            arr = np.clip(rng.normal(colour, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
            (root / c).mkdir(parents=True, exist_ok=True)
            Image.fromarray(arr).save(root / c / f"{i}.png")
    return root


def test_class_conditioning_reports_guided_and_unguided(ckpts, tmp_path):
    folder = _class_folder(tmp_path / "classes")
    r = evaluate_generation(ckpts["test-metrics-vq"], str(folder), probe=TINY, samples=4, classes=True,
                            fid_features="test-pixfeat")  # fmt: skip
    assert r["probe"]["classes"] == ["blue", "red"] and r["probe"]["guidance"]["scale"] == 1.5
    assert r["gfid"] > 0 and r["gfid_guided"] > 0 and r["gfid"] != r["gfid_guided"]


@pytest.mark.parametrize(
    ("tok", "kw", "message"),
    [
        ("test-metrics-vq", {"order": "next-scale"}, "needs a multi-scale tokenizer"),
        ("test-metrics-ae", {"head": "categorical"}, "needs discrete codes"),
        ("test-metrics-vq", {"order": "sideways"}, "unknown generation order"),
        ("test-metrics-vq", {"head": "gaussian"}, "unknown head"),
        ("test-gen-nofeat", {"head": "diffusion"}, "neither latents nor pre-quantization features"),
        ("test-metrics-vq", {"classes": True}, "--classes needs class labels"),
    ],
)
def test_bad_input_is_a_usage_error(ckpts, tok, kw, message):
    with pytest.raises(UsageError, match=message):
        _run(ckpts[tok], **kw)


def test_seeds_train_one_probe_each_on_the_same_tokens_and_real_set(ckpts):
    """--seeds 3 = three probes (seeds 4, 5, 6) on the same tokens and references: each seed's gFID
    equals a one-seed run with that seed; gfid is their mean, gfid_std their ddof-1 spread; KID pools
    the three seeds' samples against the training split."""
    many = _run(ckpts["test-metrics-vq"], seed=4, seeds=3, samples=6)
    assert many["seeds"] == [4, 5, 6] and len(many["gfid_seeds"]) == 3
    singles = [_run(ckpts["test-metrics-vq"], seed=s, samples=6) for s in (4, 5, 6)]
    for g, one in zip(many["gfid_seeds"], singles, strict=True):
        assert (
            g == pytest.approx(one["gfid"], rel=1e-9)
            and one["gfid_std"] is None
            and one["seeds"] == [one["protocol"]["seed"]]
        )
    assert many["gfid"] == many["gfid_mean"] == pytest.approx(np.mean(many["gfid_seeds"]), rel=1e-12)
    assert many["gfid_std"] == pytest.approx(np.std(many["gfid_seeds"], ddof=1), rel=1e-12)
    assert many["gfid_floor"] == singles[0]["gfid_floor"]  # one real set for every seed
    assert many["n_gen"] == 6 and many["n_real"] == 12 and many["feature_dim"] == 96
    assert many["kid"] is not None and many["kid_std"] is not None
    assert many["val_nll"] == pytest.approx(np.mean([s["val_nll"] for s in singles]), rel=1e-9)
    assert [p["seed"] for p in many["per_seed"]] == [4, 5, 6]
