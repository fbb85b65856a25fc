"""Imported KL-VAEs run through the eval commands unchanged: recon on each, compare side by side."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from tests.metrics.helpers import PixFeatures
from tokkit.importers import import_checkpoint

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
DATA = "builtin:shapes:n=6,size=32"


@pytest.fixture(autouse=True)
def _pixfeat(tmp_path, monkeypatch):
    from tokkit.metrics.fid import FID_FEATURES

    monkeypatch.setenv("TOKKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TOKKIT_OFFLINE", "1")
    FID_FEATURES.register("test-pixfeat", PixFeatures)
    yield
    FID_FEATURES.unregister("test-pixfeat")


@pytest.fixture
def imported(tmp_path):
    out = {"mar": import_checkpoint("mar-kl16", FIX / "mar_kl16_tiny.ckpt", tmp_path / "mar")["out"]}
    diffusers = pytest.importorskip("diffusers", reason="diffusers (dev extra) makes the diffusers-vae source")
    torch.manual_seed(0)
    diffusers.AutoencoderKL(
        block_out_channels=[32, 32], down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=4,
    ).save_pretrained(tmp_path / "sd")  # fmt: skip
    out["sd"] = import_checkpoint("diffusers-vae", tmp_path / "sd", tmp_path / "sdvae")["out"]
    return out


def test_eval_recon_and_compare_on_imported(cli, imported, tmp_path):
    r = cli("eval", "recon", "-t", imported["mar"], "-d", DATA, "--fid-features", "test-pixfeat", "--json")
    assert r.exit_code == 0, r.stderr
    rec = json.loads(r.stdout)
    assert rec["psnr"] is not None and rec["protocol"]["num_images"] == 6
    r = cli(
        "eval", "compare", imported["mar"], imported["sd"], "-d", DATA, "--out", tmp_path / "cmp",
        "--fid-features", "test-pixfeat", "--snr-db", "20", "--probe-steps", "2", "--seeds", "1",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader((tmp_path / "cmp" / "compare.csv").open()))
    assert [row["tokenizer"] for row in rows] == ["mar", "sdvae"]
    assert all(float(row["psnr"]) > 0 and row["rfid"] != "" for row in rows)
