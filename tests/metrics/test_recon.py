"""PSNR/SSIM against scikit-image, LPIPS loading, usage, and the recon evaluation itself."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from tokkit.errors import UsageError
from tokkit.metrics import codebook_usage
from tokkit.metrics.recon import (
    ALEXNET_FILE,
    UNCERTAINTY_KEYS,
    LPIPSMetric,
    UsageAccumulator,
    create_lpips,
    evaluate_recon,
    psnr,
    ssim,
)

DATA = "builtin:shapes:n=12,size=16"


def _pair(seed=0, size=24):
    rng = np.random.default_rng(seed)
    a = rng.random((2, 3, size, size))
    b = np.clip(a + rng.normal(0, 0.1, a.shape), 0, 1)
    return torch.from_numpy(a), torch.from_numpy(b)


def test_psnr_matches_skimage():
    a, b = _pair()
    ours = psnr(a, b)
    for i in range(2):
        ref = peak_signal_noise_ratio(a[i].numpy(), b[i].numpy(), data_range=1)
        assert float(ours[i]) == pytest.approx(ref, rel=1e-10)
    assert float(psnr(a, a)[0]) == 100.0  # identical images: capped, not inf


def test_ssim_of_a_batch_equals_each_image_alone():
    """Chunks over threads change nothing: 9 images (chunks of 4, 4, 1) give each image's own SSIM bit for bit."""
    g = torch.Generator().manual_seed(3)
    a = torch.rand(9, 3, 24, 24, generator=g, dtype=torch.float64)
    b = (a + 0.1 * torch.randn(9, 3, 24, 24, generator=g, dtype=torch.float64)).clamp(0, 1)
    alone = torch.cat([ssim(a[i : i + 1], b[i : i + 1]) for i in range(9)])
    assert torch.equal(ssim(a, b), alone)


def test_ssim_matches_skimage_gaussian_protocol():
    a, b = _pair(1, 32)
    ours = ssim(a, b)
    for i in range(2):
        ref = structural_similarity(
            a[i].permute(1, 2, 0).numpy(),
            b[i].permute(1, 2, 0).numpy(),
            data_range=1,
            channel_axis=-1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        assert float(ours[i]) == pytest.approx(ref, abs=1e-10)
    assert float(ssim(a, a)[0]) == pytest.approx(1.0)


def test_usage_on_hand_built_indices():
    u = codebook_usage(torch.tensor([[0, 0], [1, 1]]), 4)
    assert u["utilization"] == 0.5 and u["dead_codes"] == 2
    assert u["entropy_bits"] == pytest.approx(1.0) and u["perplexity"] == pytest.approx(2.0)
    u = codebook_usage(np.arange(8), 8)
    assert u["utilization"] == 1.0 and u["entropy_bits"] == pytest.approx(3.0) and u["perplexity"] == pytest.approx(8)


def test_code_counts_takes_chunks_lazily():
    from tokkit.metrics import code_counts

    chunks = (np.full(3, i % 4) for i in range(10))  # a generator: counted chunk by chunk
    np.testing.assert_array_equal(code_counts(chunks, 5), [9, 9, 6, 6, 0])
    with pytest.raises(ValueError, match="outside"):
        code_counts(np.array([5]), 5)


def test_usage_per_scale_is_normalised_per_scale():
    from tests.metrics.helpers import MetricMSVQ, VQConfig

    acc = UsageAccumulator(MetricMSVQ(VQConfig(codebook_size=16)))
    acc.add([torch.tensor([[[3]], [[3]]]), torch.tensor([[[0, 1], [2, 3]], [[4, 5], [6, 7]]])])
    r = acc.result()
    assert r["utilization"] == 8 / 16 and r["dead_codes"] == 8
    s1, s2 = r["per_scale"]
    assert s1["scale"] == "1x1" and s1["utilization"] == 1 / 16
    assert s1["utilization_of_reachable"] == 0.5  # 2 tokens at 1x1 can use at most 2 codes
    assert s2["utilization_of_reachable"] == 1.0


def test_lpips_from_a_weight_file_and_missing(tmp_path, monkeypatch):
    import torchvision

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    metric, reason = create_lpips("cpu")
    assert metric is None and ALEXNET_FILE in reason
    torch.manual_seed(0)
    torch.save(torchvision.models.alexnet().state_dict(), tmp_path / ALEXNET_FILE)
    lp = LPIPSMetric("cpu", weights=tmp_path / ALEXNET_FILE)
    x = torch.rand(2, 3, 64, 64) * 2 - 1
    y = (x + 0.3 * torch.randn_like(x)).clamp(-1, 1)
    assert torch.allclose(lp(x, x), torch.zeros(2, dtype=torch.float64), atol=1e-6)
    d = lp(x, y)
    assert d.shape == (2,) and (d > 0).all()


def test_recon_keys_protocol_and_warning(ckpts):
    r = evaluate_recon(ckpts["test-metrics-vq"], DATA, fid_features="test-pixfeat")
    assert set(r) == {"psnr", "ssim", "lpips", "rfid", "rfid_features", "usage", "protocol", *UNCERTAINTY_KEYS}
    assert r["n"] == 12 and r["feature_dim"] == 96 and r["rank_deficient"] is True
    assert r["lpips_ci"] is None and r["kid_std_kind"] == "analytic"  # 12 images: the subset is the whole set
    assert set(r["usage"]) == {"codebook_size", "utilization", "perplexity", "entropy_bits", "dead_codes"}
    p = r["protocol"]
    assert p["num_images"] == 12 and p["image_size"] == 16 and "center crop" in p["transform"]
    assert p["rfid"]["features"]["network"] == "test-pixfeat" and r["rfid_features"] == "test-pixfeat"
    assert r["lpips"] is None and ALEXNET_FILE in p["lpips"]["reason"]
    assert any("rank-deficient" in w for w in p["warnings"])  # 12 images, 96-d features
    assert 0 < r["ssim"] < 1 and r["psnr"] > 5 and r["rfid"] > 0


def test_recon_matches_a_direct_computation(ckpts):
    """PSNR/SSIM/usage equal a hand-written pass with scikit-image over the same images."""
    from tokkit.data import iter_batches, open_source
    from tokkit.io.checkpoint import load_tokenizer

    tok = load_tokenizer(ckpts["test-metrics-vq"])
    r = evaluate_recon(tok, DATA, fid_features="test-pixfeat", batch_size=12)
    ps, ss, idx = [], [], []
    for _, x, _ in iter_batches(open_source(DATA), 16, 12):
        with torch.no_grad():
            t = tok.encode(x)
            rec = tok.decode(t)
        a = ((x.double() + 1) * 127.5).round().permute(0, 2, 3, 1).numpy() / 255
        b = ((rec.clamp(-1, 1).double() + 1) * 127.5).round().permute(0, 2, 3, 1).numpy() / 255
        for i in range(len(a)):
            ps.append(peak_signal_noise_ratio(a[i], b[i], data_range=1))
            ss.append(
                structural_similarity(
                    a[i], b[i], data_range=1, channel_axis=-1, gaussian_weights=True, use_sample_covariance=False
                )
            )
        idx.append(t.indices)
    assert r["psnr"] == pytest.approx(np.mean(ps), rel=1e-9)
    assert r["ssim"] == pytest.approx(np.mean(ss), rel=1e-9)
    ref = codebook_usage(torch.cat(idx), tok.codebook_size)
    assert r["usage"] == {k: ref[k] for k in r["usage"]}


def test_recon_intervals_and_kid_match_scipy_and_torch_fidelity(ckpts):
    """psnr_ci / ssim_ci are scipy's t interval of the per-image values; KID equals torch-fidelity's
    on the same features (the whole set as the one subset); the features are the network's own."""
    import scipy.stats
    from torch_fidelity.metric_kid import kid_features_to_metric

    from tests.metrics.helpers import PixFeatures
    from tokkit.data import iter_batches, open_source

    arrays: dict = {}
    r = evaluate_recon(ckpts["test-metrics-vq"], DATA, fid_features="test-pixfeat", arrays_out=arrays)
    for key in ("psnr", "ssim"):
        v = arrays[key]
        assert len(v) == 12 and np.mean(v) == pytest.approx(r[key], rel=1e-12)
        lo, hi = scipy.stats.t.interval(0.95, len(v) - 1, loc=np.mean(v), scale=scipy.stats.sem(v))
        assert r[f"{key}_ci"] == pytest.approx([lo, hi], rel=1e-9)
    feats = PixFeatures()
    real = np.concatenate([feats(x).numpy() for _, x, _ in iter_batches(open_source(DATA), 16, 12)])
    assert np.allclose(arrays["real"], real, atol=1e-6) and arrays["recon"].shape == real.shape
    ref = kid_features_to_metric(
        torch.from_numpy(arrays["real"]).double(), torch.from_numpy(arrays["recon"]).double(),
        kid_subsets=1, kid_subset_size=12, kid_degree=3, kid_gamma=None, kid_coef0=1, rng_seed=0, verbose=False,
    )  # fmt: skip
    assert r["kid"] == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-6)
    assert r["kid_std"] is not None and r["kid_std"] > 0  # analytic, not the 0 of identical subsets


def test_recon_is_batch_size_independent_deterministic_and_caches(ckpts, monkeypatch):
    from tests.metrics.helpers import PixFeatures

    a = evaluate_recon(ckpts["test-metrics-msvq"], DATA, fid_features="test-pixfeat", batch_size=12)
    assert a["protocol"]["rfid"]["real_stats"] == "computed"
    feats = PixFeatures()
    b = evaluate_recon(ckpts["test-metrics-msvq"], DATA, fid_features=feats, batch_size=5)
    assert b["protocol"]["rfid"]["real_stats"] == "cache"
    assert feats.calls == 3  # reconstructions only: the real-image pass came from the cache
    for k in ("psnr", "ssim", "rfid"):  # the tokenizer runs in float32: batch shapes change its rounding
        assert a[k] == pytest.approx(b[k], rel=1e-6)
    assert a["usage"] == b["usage"] and len(a["usage"]["per_scale"]) == 3
    c = evaluate_recon(ckpts["test-metrics-msvq"], DATA, fid_features="test-pixfeat", batch_size=12, use_cache=False)
    assert c["protocol"]["rfid"]["real_stats"] == "computed" and c["rfid"] == pytest.approx(a["rfid"], rel=1e-9)


def test_continuous_usage_is_null(ckpts):
    r = evaluate_recon(ckpts["test-metrics-ae"], DATA, fid_features="test-pixfeat", num_images=4)
    assert r["usage"] is None and r["protocol"]["num_images"] == 4


def test_one_image_gives_null_rfid_with_a_warning_and_too_many_are_clamped(ckpts):
    r = evaluate_recon(ckpts["test-metrics-vq"], DATA, fid_features="test-pixfeat", num_images=1)
    assert r["rfid"] is None and r["psnr"] > 0 and any("at least 2" in w for w in r["protocol"]["warnings"])
    r = evaluate_recon(ckpts["test-metrics-vq"], DATA, fid_features="test-pixfeat", num_images=50)
    assert r["protocol"]["num_images"] == 12 and any("holds 12" in w for w in r["protocol"]["warnings"])


def test_size_mismatch_is_a_usage_error(ckpts):
    with pytest.raises(UsageError, match="multiple of 4"):
        evaluate_recon(ckpts["test-metrics-vq"], DATA, image_size=18, fid_features="test-pixfeat")


def test_offline_lpips_is_tried_once_per_process(ckpts, monkeypatch):
    """An offline machine without the AlexNet file: one download attempt for a whole comparison,
    not one per tokenizer; every evaluation still names the reason LPIPS is null."""
    import tokkit.io.weights as weights
    import tokkit.metrics.recon as recon

    monkeypatch.delenv("TOKKIT_OFFLINE", raising=False)
    monkeypatch.setattr(weights, "_FAILED_DOWNLOADS", {})
    monkeypatch.setattr(recon, "_LPIPS_CACHE", {})
    tries = []

    def no_network(url, target, timeout=20.0):
        tries.append(url)
        raise OSError("network unreachable")

    monkeypatch.setattr(weights, "_download", no_network)
    results = [evaluate_recon(ckpts[name], DATA, fid_features="test-pixfeat") for name in sorted(ckpts)]
    assert len(tries) == 1
    for r in results:
        reason = r["protocol"]["lpips"]["reason"]
        assert r["lpips"] is None and ALEXNET_FILE in reason and "OSError" in reason
    # and the remembered failure reaches another caller of the same file too
    with pytest.raises(Exception, match="could not be downloaded"):
        weights.resolve_weight_file(ALEXNET_FILE, tries[0])
    assert len(tries) == 1
