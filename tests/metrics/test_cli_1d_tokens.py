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
    s = _json(cli("eval", "stability", "-t", t, "-d", DATA, "--snr-db", "inf,10", "--json"))
    assert s["token_change_rate"][0] == 0.0 and 0 <= s["token_change_rate"][1] <= 1
    lat = _json(cli("eval", "latent", "-t", t, "-d", DATA, "--fid-features", "test-pixfeat", "--json"))
    assert lat["equivariance"] is None or "reason" in json.dumps(lat["equivariance"])


@pytest.mark.parametrize("order", ["raster", "random"])
def test_eval_generation_orders(cli, titok, order):
    r = _json(cli("eval", "generation", "-t", titok["legacy"], "-d", DATA, "--order", order, "--probe-steps", "3",
                  "--fid-features", "test-pixfeat", "--samples", "8", "--json"))  # fmt: skip
    assert r["order"] == order and r["bits_per_token"] > 0 and r["gfid"] is not None


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
    assert c["codebook_size"] == 256
    r = _json(cli("tokenize", "-t", t, "-d", DATA, "-o", tmp_path / "tok.h5", "--json"))
    assert r
    import h5py

    with h5py.File(tmp_path / "tok.h5") as f:
        assert f["tokens"].shape == (12, 1, 8)
    i = _json(cli("inspect", "tokens", tmp_path / "tok.h5", "-o", tmp_path / "ti", "--json"))
    assert i


def test_tokenizer_encoder_extract_and_fit_kmeans(cli, titok, tmp_path):
    enc = f"tokenizer:{titok['vq8k']}"
    r = _json(cli("extract", "-e", enc, "-d", DATA, "-o", tmp_path / "f.h5", "--json"))
    assert r
    import h5py

    with h5py.File(tmp_path / "f.h5") as f:
        assert f["features"].shape[:2] == (12, 8)
    k = _json(cli("fit-kmeans", "-k", "4", "-f", tmp_path / "f.h5", "-o", tmp_path / "km", "--json"))
    assert k
    k2 = _json(cli("fit-kmeans", "-k", "4", "-e", enc, "-d", DATA, "-o", tmp_path / "km2", "--json"))
    assert k2
    t = _json(cli("tokenize", "-t", tmp_path / "km2", "-d", DATA, "-o", tmp_path / "km.h5", "--json"))
    assert t
