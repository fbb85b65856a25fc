"""Stability: zero perturbation is exactly no change; brute-force agreement; batch-size independence;
a collapsed (constant-offset) encoder looks stable on raw cosines and unstable on the measures it cannot fake."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tokkit.errors import UsageError
from tokkit.metrics.stability import add_noise, evaluate_stability, parse_snr_list, shift_1px
from tokkit.tokenizers import TokenBatch, Tokenizer

DATA = "builtin:shapes:n=10,size=16"
KEYS = {
    "snr_db",
    "token_change_rate",
    "cosine_quantized",
    "cosine_features",
    "cosine_quantized_centred",
    "cosine_features_centred",
    "latent_snr_db",
    "feature_snr_db",
    "baselines",
    "perturbations",
    "protocol",
}


def test_zero_perturbation_changes_nothing(ckpts):
    for name in ("test-metrics-vq", "test-metrics-msvq", "test-metrics-ae"):
        r = evaluate_stability(ckpts[name], DATA, snr_db=[math.inf], perturbations=[])
        assert set(r) == KEYS
        assert r["token_change_rate"] == [0.0]
        assert r["cosine_quantized"] == [pytest.approx(1.0, abs=1e-12)]
        assert r["cosine_features"] == [pytest.approx(1.0, abs=1e-12)]


def test_unchanged_images_have_a_capped_finite_per_image_snr(ckpts):
    """No noise: every latent is unchanged; the per-image SNR the paired decisions average is the cap,
    not 10 log10(spread / 1e-300) ~ 3000 dB (which made a paired difference read 500 +- 1100)."""
    from tokkit.metrics.stability import IMAGE_SNR_CAP_DB

    arrays: dict = {}
    evaluate_stability(ckpts["test-metrics-vq"], DATA, snr_db=[math.inf], perturbations=[], arrays_out=arrays)
    per_image = next(iter(arrays.values()))
    assert np.all(per_image["latent_snr_db"] == IMAGE_SNR_CAP_DB)


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


# ---------------------------------------------------------------------------------------------
# A collapsed encoder: features = a large shared offset + a tiny input-dependent part
# ---------------------------------------------------------------------------------------------
@dataclass
class _ToyConfig:
    offset: float = 0.0
    scale: float = 1.0
    collapsed: bool = True
    image_size: int = 32


class _Toy(Tokenizer):
    """Continuous toy encoders on 4x4 patches.

    collapsed: offset + scale * (x - blur(x)) per patch (48-d): the high-frequency residue, which
    pixel noise swamps, riding on a large constant; healthy: the patch's mean colour (3-d), which
    averages noise away."""

    architecture = "test-toy-offset"
    kind = "continuous"

    def __init__(self, config: _ToyConfig):
        super().__init__(config)

    def encode(self, images):
        c = self.config
        if c.collapsed:
            detail = images - F.avg_pool2d(images, 3, 1, 1, count_include_pad=False)
            f = F.unfold(detail, 4, stride=4).view(images.shape[0], 48, images.shape[-2] // 4, -1)
        else:
            f = F.avg_pool2d(images, 4)
        z = c.offset + c.scale * f.double()  # float64: float32 would round the tiny part away
        return TokenBatch("continuous", latents=z, features=z)

    def decode(self, tokens):
        raise NotImplementedError

    @property
    def downsample_factor(self):
        return 4


PHOTOS = "builtin:photos:n=8,size=32"


def _run(tok, snr=(20.0, 5.0)):
    return evaluate_stability(tok, PHOTOS, snr_db=list(snr), perturbations=["jpeg_q75"], batch_size=3)


def test_collapsed_encoder_cannot_fake_the_new_measures():
    collapsed = _run(_Toy(_ToyConfig(offset=10.0, scale=1e-3, collapsed=True)))
    healthy = _run(_Toy(_ToyConfig(collapsed=False)))
    for i in range(2):
        # raw cosine and relative change: the offset makes the collapsed encoder look near perfect ...
        assert collapsed["cosine_quantized"][i] > 0.9999 > healthy["cosine_quantized"][i]
        assert collapsed["token_change_rate"][i] < 1e-3 < healthy["token_change_rate"][i]
        # ... the centred cosine and the latent SNR see through it
        assert collapsed["cosine_quantized_centred"][i] < healthy["cosine_quantized_centred"][i] - 0.2
        assert collapsed["latent_snr_db"][i] < healthy["latent_snr_db"][i] - 5
    assert collapsed["latent_snr_db"][1] < 0  # at 5 dB the collapsed latent moves more than latents differ
    # the baseline says what its raw cosine is worth: random pairs of positions agree just as well
    assert collapsed["baselines"]["cosine_random_pairs"]["quantized"] > 0.9999
    assert abs(collapsed["baselines"]["cosine_random_pairs_centred"]["quantized"]) < 0.2
    assert collapsed["baselines"]["token_change_random_codes"] is None  # continuous: no codes


def test_centring_removes_the_offset_exactly():
    a = _run(_Toy(_ToyConfig(offset=10.0, scale=1e-3)))
    b = _run(_Toy(_ToyConfig(offset=0.0, scale=1e-3)))
    assert a["cosine_quantized_centred"] == pytest.approx(b["cosine_quantized_centred"], rel=1e-6)
    assert a["latent_snr_db"] == pytest.approx(b["latent_snr_db"], abs=1e-5)
    assert a["perturbations"]["jpeg_q75"]["latent_snr_db"] == pytest.approx(
        b["perturbations"]["jpeg_q75"]["latent_snr_db"], abs=1e-5
    )


def test_centred_cosine_and_snr_match_brute_force():
    from tokkit.data import iter_batches, open_source

    tok = _Toy(_ToyConfig(offset=3.0, scale=0.1))
    r = _run(tok, snr=(10.0,))
    _, x, idx = next(iter_batches(open_source(PHOTOS), 32, 8))
    with torch.no_grad():
        z = tok.encode(x).latents.double().numpy()
        zn = tok.encode(add_noise(x, idx, 10.0, 0, 0)).latents.double().numpy()
    v, vn = z.transpose(0, 2, 3, 1).reshape(-1, 48), zn.transpose(0, 2, 3, 1).reshape(-1, 48)
    m = v.mean(0)
    a, b = v - m, vn - m
    cos_c = (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
    assert r["cosine_quantized_centred"][0] == pytest.approx(cos_c.mean(), rel=1e-9)
    spread = ((v - m) ** 2).sum(1).mean()
    snr = 10 * np.log10(spread / ((vn - v) ** 2).sum(1).mean())
    assert r["latent_snr_db"][0] == pytest.approx(snr, rel=1e-9)
    assert r["baselines"]["spread"]["quantized"] == pytest.approx(spread, rel=1e-9)


def test_random_code_baseline_matches_usage(ckpts):
    from tokkit.data import iter_batches, open_source
    from tokkit.io.checkpoint import load_tokenizer

    for name in ("test-metrics-vq", "test-metrics-msvq"):
        tok = load_tokenizer(ckpts[name])
        r = evaluate_stability(tok, DATA, snr_db=[10], perturbations=[], batch_size=4)
        _, x, _ = next(iter_batches(open_source(DATA), 16, 10))
        with torch.no_grad():
            maps = tok.encode(x).index_maps()
        # Monte Carlo: redraw every position's code independently from its scale's clean frequencies
        rng = np.random.default_rng(0)
        changed = total = 0
        for m in maps:
            codes = m.flatten().numpy()
            p = np.bincount(codes, minlength=tok.codebook_size) / codes.size
            draws = rng.choice(tok.codebook_size, size=(2, 20000 * codes.size // 16), p=p)
            changed += (draws[0] != draws[1]).mean() * codes.size
            total += codes.size
        assert r["baselines"]["token_change_random_codes"] == pytest.approx(changed / total, abs=0.01)
        # batch-size independent, like the rest
        r2 = evaluate_stability(tok, DATA, snr_db=[10], perturbations=[], batch_size=10)
        assert r2["baselines"]["token_change_random_codes"] == r["baselines"]["token_change_random_codes"]
        assert r2["baselines"]["cosine_random_pairs"] == pytest.approx(r["baselines"]["cosine_random_pairs"])
        assert r2["baselines"]["spread"] == pytest.approx(r["baselines"]["spread"])
