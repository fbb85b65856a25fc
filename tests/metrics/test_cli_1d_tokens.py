"""A 1-D tokenizer (imported TiTok: indices (B, 1, L), no spatial grid) through every command of the CLI.

Each command either works on the 1 x L token row or says, in the result, why a measure does not apply;
none assumes a square token grid. Tiny fixture (32 px, 8 tokens), 12 images, few probe steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "titok"
DATA = "builtin:shapes:n=12,size=32"


def _json(result):
    assert result.exit_code == 0, result.stderr or result.stdout
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    return json.loads(lines[0])


@pytest.fixture
def titok(cli, tmp_path):
    """{variant: checkpoint dir} of both imported fixtures."""
    out = {}
    for v in ("legacy", "vq8k"):
        r = cli("import", "titok", FIX / v, "--out", tmp_path / v, "--json")
        assert _json(r)["architecture"] == "titok"
        out[v] = tmp_path / v
    return out


def test_eval_recon_stability_latent(cli, titok):
    t = titok["legacy"]
    r = _json(cli("eval", "recon", "-t", t, "-d", DATA, "--fid-features", "test-pixfeat", "--json"))
    assert r["psnr"] > 0 and r["usage"]["codebook_size"] == 256
    # stability compares token j with token j; flipping a token row back is no inverse transform: null + reason
    s = _json(cli("eval", "stability", "-t", t, "-d", DATA, "--snr-db", "inf,10", "--json"))
    assert s["token_change_rate"][0] == 0.0 and 0 < s["token_change_rate"][1] < 1
    assert list(s["perturbations"]) == ["shift_1px", "flip_back", "jpeg_q75"]
    flip = s["perturbations"]["flip_back"]
    assert flip["token_change_rate"] is None and flip["cosine_quantized"] is None and "1-D tokens" in flip["reason"]
    assert 0 < s["perturbations"]["shift_1px"]["token_change_rate"] < 1
    table = cli("eval", "stability", "-t", t, "-d", DATA, "--snr-db", "10")
    assert table.exit_code == 0 and "flip_back: not measured: 1-D tokens" in table.stdout
    # latent: statistics and interpolation FD apply; equivariance and the DCT spectrum need a 2-D map
    lat = _json(cli("eval", "latent", "-t", t, "-d", DATA, "--fid-features", "test-pixfeat", "--json"))
    assert lat["latent_shape"] == [12, 1, 8] and lat["global_std"] > 0 and lat["interp_fid"] is not None
    assert set(lat["equivariance_psnr"].values()) == {None} and lat["identity_psnr"] is not None
    assert all("1-D tokens" in why for why in lat["equivariance_reasons"].values())
    assert lat["spectrum"] is None and lat["rgb_high_freq_share"] is None and "1-D" in lat["spectrum_reason"]
    assert lat["features"]["high_freq_share"] is None
    table = cli("eval", "latent", "-t", t, "-d", DATA, "--fid-features", "test-pixfeat")
    assert table.exit_code == 0 and "unavailable: 1-D tokens" in table.stdout


@pytest.mark.parametrize("order", ["raster", "random"])
def test_eval_generation_orders(cli, titok, order):
    r = _json(cli("eval", "generation", "-t", titok["legacy"], "-d", DATA, "--order", order, "--probe-steps", "3",
                  "--fid-features", "test-pixfeat", "--samples", "8", "--json"))  # fmt: skip
    assert r["order"] == order and r["bits_per_token"] > 0 and r["gfid"] is not None
    assert r["probe"]["scales"] == ["1x8"]  # the probe sees the 8 tokens in token order


def test_eval_generation_next_scale_does_not_apply(cli, titok):
    r = cli("eval", "generation", "-t", titok["legacy"], "-d", DATA, "--order", "next-scale", "--probe-steps", "2")
    assert r.exit_code != 0 and "next-scale" in (r.stderr or r.stdout)
    assert len((r.stderr or r.stdout).strip().splitlines()) <= 2


def test_eval_compare(cli, titok, tmp_path):
    r = _json(cli("eval", "compare", titok["legacy"], titok["vq8k"], "-d", DATA, "-o", tmp_path / "cmp",
                  "--probe-steps", "2", "--orders", "raster,random", "--snr-db", "10", "--samples", "8",
                  "--fid-features", "test-pixfeat", "--json"))  # fmt: skip
    assert (tmp_path / "cmp" / "compare.csv").is_file() and len(json.dumps(r)) > 100


def test_inspect_codebook_tokenize_inspect_tokens(cli, titok, tmp_path):
    t = titok["legacy"]
    c = _json(cli("inspect", "codebook", t, "-d", DATA, "-o", tmp_path / "cb", "--umap-sample", "16", "--json"))
    assert c["codebook_size"] == 256 and c["token_grid"] == [1, 8] and c["usage"]["num_tokens"] == 96
    assert "whole images" in (tmp_path / "cb" / "report.html").read_text()  # no patch under a 1-D token
    r = _json(cli("tokenize", "-t", t, "-d", DATA, "-o", tmp_path / "tok.h5", "--json"))
    assert r["grid"] == [1, 8] and r["tokens_per_image"] == 8
    import h5py

    with h5py.File(tmp_path / "tok.h5") as f:
        assert f["tokens"].shape == (12, 1, 8)
    i = _json(cli("inspect", "tokens", tmp_path / "tok.h5", "-o", tmp_path / "ti", "--json"))
    assert i["grid"] == [1, 8] and i["usage"]["num_tokens"] == 96


def test_tokenizer_encoder_extract_and_fit_kmeans(cli, titok, tmp_path):
    enc = f"tokenizer:{titok['vq8k']}"
    r = _json(cli("extract", "-e", enc, "-d", DATA, "-o", tmp_path / "f.h5", "--json"))
    assert r["grid"] == [1, 8] and r["tokens_per_image"] == 8 and r["dim"] == 16
    import h5py

    with h5py.File(tmp_path / "f.h5") as f:
        assert f["features"].shape[:2] == (12, 8)
    i = _json(cli("inspect", "features", tmp_path / "f.h5", "--json"))
    assert i["grid"] == [1, 8] and i["shape"] == [12, 8, 16]
    k = _json(cli("fit-kmeans", "-k", "4", "-f", tmp_path / "f.h5", "-o", tmp_path / "km", "--json"))
    assert k["num_points"] == 96 and k["dim"] == 16
    k2 = _json(cli("fit-kmeans", "-k", "4", "-e", enc, "-d", DATA, "-o", tmp_path / "km2", "--json"))
    assert k2["num_points"] == 96
    from tokkit.io.checkpoint import load_tokenizer

    km = load_tokenizer(tmp_path / "km2")  # k-means over a 1-D tokenizer's features: 1-D tokens too
    assert km.token_shape(32) == (1, 8) and km.spatial_tokens is False
    t = _json(cli("tokenize", "-t", tmp_path / "km2", "-d", DATA, "-o", tmp_path / "km.h5", "--json"))
    assert t["grid"] == [1, 8] and t["codebook_size"] == 4
    s = _json(cli("eval", "stability", "-t", tmp_path / "km2", "-d", DATA, "--snr-db", "10", "--json"))
    assert s["perturbations"]["flip_back"]["token_change_rate"] is None
    r = cli("train", "kmeans-decoder", "--tokenizer", tmp_path / "km2", "--data", DATA, "--out", tmp_path / "run")
    assert r.exit_code == 2 and "has 1-D tokens" in r.stderr and "needs a spatial token grid" in r.stderr


def test_another_image_size_is_one_line_naming_the_native_size(cli, titok):
    r = cli("eval", "recon", "-t", titok["legacy"], "-d", DATA, "--image-size", "64", "--fid-features", "test-pixfeat")
    assert r.exit_code == 2 and "titok reads 32 px images only" in r.stderr and "--image-size 32" in r.stderr
