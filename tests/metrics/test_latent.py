"""eval latent: the DCT band spectrum against an explicit DCT-II matrix and known spectra, the statistics
against numpy, equivariance of an identity "tokenizer", interpolation FD, recorded scales of imported VAEs."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.metrics.helpers import MetricVQ, PixFeatures, VQConfig
from tokkit.errors import DataError, UsageError
from tokkit.metrics import latent as L
from tokkit.metrics import spectrum as S
from tokkit.tokenizers import QuantizeOutput, TokenBatch, Tokenizer

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"


# ---------------------------------------------------------------------------------------------
# spectrum
# ---------------------------------------------------------------------------------------------
def dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix from its formula: C[k, i] = a_k cos(pi (2 i + 1) k / (2 n))."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    c = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2.0 / n)
    c[0] /= np.sqrt(2.0)
    return c


def brute_bands(maps: np.ndarray) -> np.ndarray:
    """The band powers by the issue's definition, coefficient by coefficient, with the explicit matrices."""
    b, c, h, w = maps.shape
    ch, cw = dct_matrix(h), dct_matrix(w)
    bands = np.zeros(16)
    for m in maps.reshape(-1, h, w):
        coef = ch @ m @ cw.T
        for u in range(h):
            for v in range(w):
                r = math.sqrt((u / h) ** 2 + (v / w) ** 2) / math.sqrt(2)
                bands[min(int(math.floor(16 * r)), 15)] += coef[u, v] ** 2
    return bands / bands.sum()


def test_band_powers_equal_an_explicit_dct():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 2, 12, 20)).cumsum(-1)  # a non-flat spectrum, non-square grid
    np.testing.assert_allclose(S.band_powers(x), brute_bands(x), rtol=1e-10, atol=1e-14)


def test_white_noise_band_shares_are_coefficient_fractions():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(400, 4, 16, 16))
    frac = np.bincount(S.band_index(16, 16).ravel(), minlength=16) / 256
    np.testing.assert_allclose(S.band_powers(x), frac, atol=3e-3)
    assert L.white_noise_shares(16, 16)["spectrum"] == pytest.approx(frac.tolist())
    expect = frac[8:].sum()
    assert S.high_share(S.band_powers(x)) == pytest.approx(expect, abs=3e-3)
    # the log variant of white noise: equal band-mean powers -> equal shares over the non-empty bands
    lg = S.band_powers_log(x)
    sizes = np.bincount(S.band_index(16, 16).ravel()[1:], minlength=16)
    np.testing.assert_allclose(lg[sizes > 0], 1 / np.sum(sizes > 0), rtol=0.08)  # band 15: few coefficients


def test_constant_map_has_all_power_in_band_0():
    x = np.full((2, 3, 8, 8), 2.5)
    bands = S.band_powers(x)
    assert bands[0] == pytest.approx(1.0) and bands[1:].sum() == pytest.approx(0.0, abs=1e-20)
    assert S.high_share(bands) == pytest.approx(0.0, abs=1e-20)


def test_log_variant_drops_dc_and_normalises():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(5, 3, 8, 8))
    lg = S.band_powers_log(x)
    assert lg.sum() == pytest.approx(1.0)
    # adding a per-channel mean changes only DC, which the log variant drops
    np.testing.assert_allclose(S.band_powers_log(x + 7.0), lg, rtol=1e-9)
    # by hand: mean power per band (DC excluded), log1p, normalise
    from scipy.fft import dctn

    p = (dctn(x, type=2, norm="ortho", axes=(-2, -1)) ** 2).mean((0, 1)).ravel()
    idx = S.band_index(8, 8).ravel()
    s = np.array([np.log1p(p[1:][idx[1:] == b].mean()) if np.any(idx[1:] == b) else 0 for b in range(16)])
    np.testing.assert_allclose(lg, s / s.sum(), rtol=1e-10)


def test_streaming_spectrum_equals_one_shot():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(10, 2, 8, 8)).cumsum(-2)
    acc = S.SpectrumAccumulator()
    for b0 in range(0, 10, 3):
        acc.add(x[b0 : b0 + 3])
    r = acc.result()
    np.testing.assert_allclose(r["spectrum"], S.band_powers(x), rtol=1e-12)
    np.testing.assert_allclose(r["spectrum_log"], S.band_powers_log(x), rtol=1e-12)


# ---------------------------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------------------------
def test_channel_statistics_equal_numpy():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(9, 4, 5, 6)) * np.array([1, 2, 3, 0.5])[None, :, None, None] + 100.0
    acc = L.ChannelStats()
    for b0 in range(0, 9, 4):
        acc.add(x[b0 : b0 + 4])
    r = acc.result()
    np.testing.assert_allclose(r["latent_mean"], x.mean((0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(r["latent_std"], x.std((0, 2, 3)), rtol=1e-9)
    assert r["global_mean"] == pytest.approx(x.mean(), rel=1e-12)
    assert r["global_std"] == pytest.approx(x.std(), rel=1e-9)
    assert r["suggested_shift"] == pytest.approx(-x.mean(), rel=1e-12)
    assert r["suggested_scale"] == pytest.approx(1 / (x - x.mean()).std(), rel=1e-9)


def test_scale_warning_beyond_2x_only():
    assert L.scale_warning(0.2, 0.18215) is None
    assert "off the suggested" in L.scale_warning(1.0, 0.18215)
    assert L.scale_warning(1.0, None) is None
    assert L.scale_warning(0.1, [0.5, 0.5]) is not None


# ---------------------------------------------------------------------------------------------
# slerp and partners
# ---------------------------------------------------------------------------------------------
def test_slerp_midpoint_and_parallel_case():
    a, b = np.array([[1.0, 0.0]]), np.array([[0.0, 2.0]])
    m = L.slerp(a, b)
    np.testing.assert_allclose(m, [[1.5 * math.cos(math.pi / 4), 1.5 * math.sin(math.pi / 4)]], rtol=1e-12)
    np.testing.assert_allclose(L.slerp(a, 3 * a), 2 * a)  # parallel: the linear midpoint, no NaN
    np.testing.assert_allclose(L.slerp(a, 0 * a), 0.5 * a)


def test_partners_are_among_the_cosine_nearest_training_latents():
    rng = np.random.default_rng(5)
    z = rng.normal(size=(40, 6))
    held = np.arange(40) % 5 == 4
    q, p = L.interp_partners(z, held, seed=0, k=3)
    assert np.array_equal(q, np.flatnonzero(held)) and not held[p].any()
    zn = z / np.linalg.norm(z, axis=1, keepdims=True)
    train = np.flatnonzero(~held)
    for i, j in zip(q, p, strict=True):
        top = train[np.argsort(-(zn[train] @ zn[i]))[:3]]
        assert j in top


# ---------------------------------------------------------------------------------------------
# tokenizers: identity, a VQ with quantize, the registered test tokenizers
# ---------------------------------------------------------------------------------------------
@dataclass
class IdConfig:
    image_size: int = 16


class PixelIdentity(Tokenizer):
    """Pixels as latents, decode = identity."""

    architecture = "test-latent-identity"
    kind = "continuous"

    def encode(self, images):
        return TokenBatch("continuous", latents=images.clone())

    def decode(self, tokens):
        return tokens.latents

    @property
    def downsample_factor(self):
        return 1


class QuantVQ(MetricVQ):
    """test-metrics-vq with a quantize(): nearest code of each feature vector."""

    architecture = "test-latent-vq"

    def quantize(self, features):
        b, d, h, w = features.shape
        flat = features.flatten(2).transpose(1, 2)
        idx = torch.cdist(flat, self.codes[None].expand(b, -1, -1)).argmin(-1).view(b, h, w)
        return QuantizeOutput(self.codes[idx].permute(0, 3, 1, 2), idx)


def _images(n=20, size=16, seed=0):
    """A deterministic image set with some spatial structure (smoothed noise)."""
    from scipy.ndimage import uniform_filter

    from tokkit.data.sources import GeneratedSource

    def make(i: int) -> np.ndarray:
        a = np.random.default_rng(seed * 1000 + i).random((size, size, 3))
        return (uniform_filter(a, (3, 3, 1)) * 255).round().astype(np.uint8)

    return GeneratedSource("test-latent", n, make, size)


def _tensor(source) -> torch.Tensor:
    from tokkit.data.dataset import iter_batches

    return torch.cat([x for _, x, _ in iter_batches(source, source.size, 64, 0, len(source), num_workers=0)])


@pytest.fixture
def images():
    return _images()


def test_identity_tokenizer_is_equivariant_to_flips_and_rot90(images):
    r = L.evaluate_latent(PixelIdentity(IdConfig()), images, batch_size=8, fid_features=PixFeatures())
    eq = r["equivariance_psnr"]
    assert eq["flip"] == 100.0 and eq["rot90"] == 100.0 and r["identity_psnr"] == 100.0
    # bilinear at exactly 1/2 samples between pixel pairs: the 2x2 mean, i.e. area resize (up to uint8 rounding)
    assert eq["scale_0.5"] > 40
    assert math.isfinite(eq["scale_0.75"]) and eq["scale_0.75"] < 100.0
    assert r["rfid"] == pytest.approx(0.0, abs=1e-6) and r["rfid_n"] == 4 and r["interp_fid_n"] == 4
    assert r["rfid_rank_deficient"] is True and r["interp_rank_deficient"] is True
    assert r["interp_fid"] > 0
    # the latents are the pixels: the latent spectrum is the RGB one at full resolution
    assert r["high_freq_share"] == pytest.approx(r["rgb_high_freq_share"], rel=1e-6)
    assert r["config_scale"] is None and r["config_shift"] is None and r["features"] is None


def test_statistics_of_a_tokenizer_equal_numpy(images, ckpts):
    from tokkit.io.checkpoint import load_tokenizer

    tok = load_tokenizer(ckpts["test-metrics-ae"])
    r = L.evaluate_latent(tok, images, batch_size=6, fid_features=PixFeatures())
    with torch.no_grad():
        z = tok.encode(_tensor(images)).latents.double().numpy()
    np.testing.assert_allclose(r["latent_mean"], z.mean((0, 2, 3)), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(r["latent_std"], z.std((0, 2, 3)), rtol=1e-6)
    np.testing.assert_allclose(r["spectrum"], S.band_powers(z), rtol=1e-6)
    assert r["noise_high_freq_share"] == pytest.approx(L.white_noise_shares(4, 4)["high_freq_share"])
    assert set(r["equivariance_psnr"]) == {"scale_0.5", "scale_0.75", "rot90", "flip"}


def test_discrete_tokenizer_reports_codes_and_features(images):
    tok = QuantVQ(VQConfig())
    r = L.evaluate_latent(tok, images, batch_size=8, fid_features=PixFeatures())
    assert r["features"] is not None and len(r["features"]["latent_mean"]) == 48
    assert r["equivariance_psnr"]["flip"] is not None and r["interp_fid"] is not None
    # without quantize(): null with a reason, never 0
    r2 = L.evaluate_latent(MetricVQ(VQConfig()), images, batch_size=8, fid_features=PixFeatures())
    assert r2["equivariance_psnr"]["flip"] is None and "quantize" in r2["equivariance_reasons"]["flip"]
    assert r2["interp_fid"] is None and "quantize" in r2["interp_reason"]
    assert r2["high_freq_share"] is not None and r2["rfid"] is not None


def test_latents_file_weight_free_measures(tmp_path):
    rng = np.random.default_rng(6)
    z = rng.normal(size=(7, 4, 8, 8)).astype(np.float32) * 3 + 1
    np.save(tmp_path / "z.npy", z)
    r = L.evaluate_latent(latents=tmp_path / "z.npy", batch_size=3)
    assert r["global_std"] == pytest.approx(float(z.astype(np.float64).std()), rel=1e-6)
    assert r["equivariance_psnr"] is None and r["interp_fid"] is None and r["interp_reason"]
    json.dumps(r)
    np.save(tmp_path / "bad.npy", z[0])
    with pytest.raises(DataError, match="expected an"):
        L.evaluate_latent(latents=tmp_path / "bad.npy")
    z[2, 1, 3, 3] = np.nan
    np.save(tmp_path / "nan.npy", z)
    with pytest.raises(DataError, match="non-finite"):
        L.evaluate_latent(latents=tmp_path / "nan.npy")
    (tmp_path / "junk.npy").write_text("not numpy")
    with pytest.raises(DataError, match="cannot read"):
        L.evaluate_latent(latents=tmp_path / "junk.npy")
    with pytest.raises(UsageError):
        L.evaluate_latent()


# ---------------------------------------------------------------------------------------------
# recorded scales of imported checkpoints
# ---------------------------------------------------------------------------------------------
def test_mar_recorded_scale_is_read(tmp_path):
    from tokkit.importers import import_checkpoint
    from tokkit.importers.mar import LATENT_SCALE
    from tokkit.io.checkpoint import load_tokenizer

    import_checkpoint("mar-kl16", FIX / "mar_kl16_tiny.ckpt", tmp_path / "kl16")
    tok = load_tokenizer(tmp_path / "kl16")
    assert L.config_affine(tok) == (LATENT_SCALE, 0.0)
    x = _images(5, 32)
    r = L.evaluate_latent(tok, x, batch_size=5, fid_features=PixFeatures())
    assert r["config_scale"] == LATENT_SCALE and r["config_shift"] == 0.0
    # statistics are of the posterior z: the tokkit latents' std is theirs times the recorded scale
    assert r["scaled_global_std"] == pytest.approx(r["global_std"] * LATENT_SCALE, rel=1e-5)


def test_diffusers_recorded_scale_and_shift_are_read(tmp_path):
    pytest.importorskip("diffusers")
    from tests.importers.test_diffusers_vae import reference
    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    for style, scale, shift in (("sd", 0.18215, 0.0), ("flux", 0.3611, 0.1159)):
        reference(style).save_pretrained(tmp_path / style)
        import_checkpoint("diffusers-vae", tmp_path / style, tmp_path / f"{style}-out")
        tok = load_tokenizer(tmp_path / f"{style}-out")
        assert L.config_affine(tok) == (pytest.approx(scale), pytest.approx(shift))
    # the whole diagnostic on the imported SD-style file: every key, the recorded scale beside the suggested one
    r = L.evaluate_latent(load_tokenizer(tmp_path / "sd-out"), _images(8, 16), batch_size=4, fid_features=PixFeatures())
    _assert_complete(r)
    assert r["config_scale"] == pytest.approx(0.18215) and r["suggested_scale"] > 0


# ---------------------------------------------------------------------------------------------
# CLI
# ---------------------------------------------------------------------------------------------
def test_cli_eval_latent_json_and_errors(cli, ckpts, tmp_path):
    args = ["eval", "latent", "-t", ckpts["test-metrics-vq"], "-d", "builtin:shapes:n=10,size=16"]
    res = cli(*args, "--fid-features", "test-pixfeat", "--json")
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    keys = ["latent_mean", "suggested_scale", "config_scale", "spectrum", "high_freq_share", "high_freq_share_log"]
    keys += ["rgb_high_freq_share", "noise_high_freq_share", "equivariance_psnr", "identity_psnr", "interp_fid"]
    keys += ["interp_fid_n", "interp_rank_deficient", "rfid", "features"]
    assert set(keys) <= set(out)
    res = cli(*args, "--fid-features", "test-pixfeat")
    assert res.exit_code == 0 and "equivariance flip" in res.stdout and "quantize" in res.stdout
    np.save(tmp_path / "bad.npy", np.zeros((2, 3)))
    res = cli("eval", "latent", "--latents", tmp_path / "bad.npy")
    assert res.exit_code != 0 and "(N, C, h, w)" in res.output
    res = cli("eval", "latent")
    assert res.exit_code == 2 and "exactly one" in res.output


def test_diagnostic_correlations_are_spearman_with_a_warning():
    from scipy.stats import spearmanr

    from tokkit.metrics.compare import diagnostic_correlations

    rows = [{"gfid": g, "interp_fid": i, "high_freq_share": h} for g, i, h in
            ((10.0, 1.0, 0.3), (20.0, 3.0, 0.1), (15.0, 2.0, None), (30.0, 2.5, 0.2))]  # fmt: skip
    assert diagnostic_correlations(rows[:2]) is None
    c = diagnostic_correlations(rows)
    assert c["n_tokenizers"] == 4 and "weak evidence" in c["warning"]
    assert c["spearman"]["interp_fid"]["rho"] == pytest.approx(spearmanr([1, 3, 2, 2.5], [10, 20, 15, 30]).statistic)
    assert c["spearman"]["high_freq_share"]["n"] == 3 and c["spearman"]["rfid"]["rho"] is None


@pytest.mark.parametrize("quant_proj", [False, True])
def test_vqgan_requantizes_code_space_vectors(images, quant_proj):
    """TokenBatch.quantized is code space (code_dim), not the encoder's z_channels: re-quantizing a
    tokenizer's own code vectors must give back its tokens and its reconstruction (regression: vqgan-tiny,
    z_channels 64 -> code_dim 16, crashed in eval latent / eval compare)."""
    from tokkit.tokenizers import create_tokenizer

    torch.manual_seed(0)
    tok = create_tokenizer("vqgan-tiny", codebook_size=8, quant_proj=quant_proj).eval()
    x = _tensor(images)[:4]
    with torch.no_grad():
        t = tok.encode(x)
        q = tok.requantize(t.quantized)
        assert torch.equal(q.indices, t.indices)
        torch.testing.assert_close(L.decode_vectors(tok, t.quantized), tok.decode(t), rtol=0, atol=1e-6)
    r = L.evaluate_latent(tok, images, batch_size=8, fid_features=PixFeatures())
    assert r["identity_psnr"] is not None and r["equivariance_psnr"]["flip"] is not None
    assert r["interp_fid"] is not None


def test_tokenizer_without_decoder_gets_reasons_not_zeros(images):
    """A k-means tokenizer without a pixel decoder: the weight-free measures are computed, every measure
    that needs decoding is null with the reason (never 0)."""
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("kmeans", encoder="pixels", layer=4, image_size=16, codebook_size=6, dim=48)
    tok.set_centroids(torch.randn(6, 48, generator=torch.Generator().manual_seed(0)))
    assert not tok.can_decode
    r = L.evaluate_latent(tok, images, batch_size=8, fid_features=PixFeatures())
    assert r["equivariance_psnr"] is None and r["identity_psnr"] is None
    assert "no pixel decoder" in r["equivariance_reasons"]["all"]
    for key in ("rfid", "interp_fid"):
        assert r[key] is None and "no pixel decoder" in r[f"{key.split('_')[0]}_reason"], key
    assert 0 < r["high_freq_share"] < 1 and r["global_std"] > 0 and r["features"] is not None


def _assert_complete(r: dict) -> None:
    """Every diagnostic is a number, or null with its reason."""
    assert set(r["equivariance_psnr"]) == {"scale_0.5", "scale_0.75", "rot90", "flip"}
    for k, v in r["equivariance_psnr"].items():
        assert (v is not None and math.isfinite(v)) or k in r["equivariance_reasons"], (k, r["equivariance_reasons"])
    for key in ("latent_mean", "latent_std", "global_std", "suggested_scale", "spectrum", "high_freq_share",
                "rgb_high_freq_share", "noise_high_freq_share", "identity_psnr"):  # fmt: skip
        assert r[key] is not None, key
    assert (r["rfid"] is not None) or r["rfid_reason"]
    assert (r["interp_fid"] is not None) or r["interp_reason"]


@pytest.mark.parametrize("family", ["vqgan-tiny", "vae-tiny", "msvq-tiny"])
def test_every_trainable_family_gets_every_diagnostic(family):
    """Issue 18, done when: all keys for a KL-VAE, a VQGAN and a multi-scale tokenizer made by tokkit. The
    multi-scale quantizer's scales end at the latent grid, so a rescaled map cannot be re-quantized: those
    two transforms are null with that reason; every other measure is a number."""
    from tokkit.tokenizers import create_tokenizer

    torch.manual_seed(0)
    kw = {"patch_nums": [1, 2, 4]} if family == "msvq-tiny" else {}
    tok = create_tokenizer(family, **kw).eval()
    r = L.evaluate_latent(tok, _images(10, 32), batch_size=8, fid_features=PixFeatures())
    _assert_complete(r)
    assert r["rfid"] is not None and r["interp_fid"] is not None
    missing = {k for k, v in r["equivariance_psnr"].items() if v is None}
    assert missing == ({"scale_0.5", "scale_0.75"} if family == "msvq-tiny" else set())
    if family == "msvq-tiny":
        assert "last scale 4" in r["equivariance_reasons"]["scale_0.5"]
    assert (r["features"] is None) == (family == "vae-tiny")
