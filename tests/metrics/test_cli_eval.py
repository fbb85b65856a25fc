"""The eval commands end to end: --json prints exactly one object with the issue's keys; rich tables
otherwise; bad input is one error line; compare writes its files."""

from __future__ import annotations

import csv
import json

import pytest

from tokkit.metrics.recon import UNCERTAINTY_KEYS

DATA = "builtin:shapes:n=10,size=16"


def _json(result):
    assert result.exit_code == 0, result.stderr or result.stdout
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


def test_recon_json_and_table(cli, ckpts):
    r = _json(
        cli("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", DATA, "--fid-features", "test-pixfeat", "--json")
    )
    assert set(r) == {"psnr", "ssim", "lpips", "rfid", "rfid_features", "usage", "protocol", *UNCERTAINTY_KEYS}
    assert len(r["psnr_ci"]) == 2 and r["psnr_ci"][0] < r["psnr"] < r["psnr_ci"][1] and r["kid_std"] > 0
    assert len(r["usage"]["per_scale"]) == 3 and r["protocol"]["num_images"] == 10
    assert r["lpips"] is None and "alexnet" in r["protocol"]["lpips"]["reason"]
    out = cli("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", DATA, "--fid-features", "test-pixfeat")
    assert out.exit_code == 0 and "PSNR" in out.stdout and "scale 1x1" in out.stdout and "rank-deficient" in out.stdout


def test_stability_json_and_table(cli, ckpts):
    r = _json(cli("eval", "stability", "-t", ckpts["test-metrics-vq"], "-d", DATA, "--snr-db", "inf,10", "--json"))
    assert set(r) >= {"snr_db", "token_change_rate", "cosine_quantized", "cosine_features", "perturbations", "protocol"}
    assert set(r) >= {"cosine_quantized_centred", "latent_snr_db", "feature_snr_db", "baselines"}
    assert r["latent_snr_db"][0] is None and r["latent_snr_db"][1] > 0  # inf dB (no change) is null in JSON
    assert 0 < r["baselines"]["token_change_random_codes"] < 1
    assert r["snr_db"][0] is None  # inf is not JSON: null, as the protocol text explains
    assert r["token_change_rate"][0] == 0.0 and set(r["perturbations"]) == {"shift_1px", "flip_back", "jpeg_q75"}
    out = cli("eval", "stability", "-t", ckpts["test-metrics-ae"], "-d", DATA, "--snr-db", "20")
    assert out.exit_code == 0 and "latent rel. change" in out.stdout and "jpeg_q75" in out.stdout
    assert "baseline: random" in out.stdout and "centred cosine" in out.stdout


def test_generation_json_continuous_and_table(cli, ckpts):
    r = _json(cli("eval", "generation", "-t", ckpts["test-metrics-ae"], "-d", DATA, "--probe-steps", "2", "--json"))
    assert {"order", "head", "gfid", "gfid_floor", "gfid_heldout", "rfid", "bits_per_token", "bits_per_image",
            "diffusion_loss", "probe", "protocol"} <= set(r)  # fmt: skip
    assert (r["order"], r["head"]) == ("random", "diffusion") and r["val_nll"] is None and r["diffusion_loss"] > 0
    out = cli("eval", "generation", "-t", ckpts["test-metrics-vq"], "-d", DATA, "--probe-steps", "3")
    assert out.exit_code == 0 and "bits per token" in out.stdout and "3 steps" in out.stdout


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--image-size", "18"], 2, "multiple of 4"),
        (["--fid-features", "nosuchnet"], 2, "unknown encoder"),
        (["--fid-features", "inception"], 1, "weights-inception-2015-12-05-6726825d.pth"),
    ],
)
def test_recon_bad_input_is_one_line(cli, ckpts, args, code, message):
    out = cli("eval", "recon", "-t", ckpts["test-metrics-vq"], "-d", DATA, *args)
    assert out.exit_code == code and message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_missing_checkpoint_and_data(cli, tmp_path, ckpts):
    out = cli("eval", "recon", "-t", tmp_path / "nope", "-d", DATA)
    assert out.exit_code == 1 and "no checkpoint" in out.stderr
    out = cli("eval", "stability", "-t", ckpts["test-metrics-vq"], "-d", str(tmp_path / "nodata"))
    assert out.exit_code == 1 and "no such data" in out.stderr


def _kmeans_ckpt(path):
    """A real k-means tokenizer over 4x4 pixel patches, without a pixel decoder."""
    import torch

    from tokkit.clustering import kmeans
    from tokkit.data import iter_batches, open_source
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("kmeans", encoder="pixels", layer=4, image_size=16, codebook_size=8, dim=48)
    _, x, _ = next(iter_batches(open_source(DATA), 16, 10))
    feats = tok.features(x)
    fit = kmeans(feats.permute(0, 2, 3, 1).reshape(-1, 48).numpy(), 8, niter=5, seed=0)
    tok.set_centroids(torch.from_numpy(fit.centroids))
    return save_checkpoint(tok, path)


def test_compare_writes_table_csv_json_and_plot(cli, ckpts, tmp_path):
    out_dir = tmp_path / "cmp"
    km = _kmeans_ckpt(tmp_path / "kmeans")
    args = [ckpts["test-metrics-vq"], ckpts["test-metrics-msvq"], ckpts["test-metrics-ae"], km]
    r = cli(
        "eval", "compare", *args, "-d", DATA, "--out", out_dir, "--fid-features", "test-pixfeat",
        "--snr-db", "20,5", "--probe-steps", "3", "--samples", "3",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    assert "test-metrics-vq" in r.stdout and "rfid" in r.stdout
    rows = list(csv.DictReader((out_dir / "compare.csv").open()))
    assert [row["tokenizer"] for row in rows] == ["test-metrics-vq", "test-metrics-msvq", "test-metrics-ae", "kmeans"]
    assert rows[2]["bits_per_token"] == "" and float(rows[0]["bits_per_token"]) > 0
    assert [r["order"] for r in rows] == ["raster", "next-scale", "random", "raster"]
    assert float(rows[2]["gfid"]) > 0 and float(rows[2]["gfid_floor"]) > 0  # the continuous tokenizer has a gFID
    # k-means without a decoder: usage, stability and the probe, but no reconstruction or samples
    assert rows[3]["rfid"] == "" and float(rows[3]["utilization"]) > 0 and float(rows[3]["bits_per_token"]) > 0
    assert rows[3]["gfid"] == "" and float(rows[3]["change@5dB"]) > 0
    summary = json.loads((out_dir / "compare.json").read_text())
    assert summary["protocol"]["num_images"] == 10 and summary["protocol"]["probe"]["steps"] == 3
    assert summary["results"]["test-metrics-msvq"]["generation"]["gfid"] is not None
    png = (out_dir / "recon_vs_generation.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert sorted(p.name for p in out_dir.iterdir()) == ["compare.csv", "compare.json", "recon_vs_generation.png"]
    # three seeds by default: intervals in the table, and the paired decisions below it
    assert summary["protocol"]["seeds"] == [0, 1, 2] and len(summary["rows"][0]["gfid_seeds"]) == 3
    assert "paired decisions" in r.stdout and "± " in r.stdout and "[" in r.stdout
    pairs = {(d["a"], d["b"]) for d in summary["decisions"]}
    assert ("test-metrics-vq", "test-metrics-msvq") in pairs and len(pairs) == 6  # every pair of the four
    assert all(d["verdict"] in (d["a"], d["b"], "inconclusive") for d in summary["decisions"])


def test_probe_check_cli(cli, ckpts):
    r = cli("eval", "probe-check", "-t", ckpts["test-metrics-vq"], "-d", DATA, "--levels", "0,1", "--seeds", "2",
            "--probe-steps", "3", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["levels"] == [0.0, 1.0] and set(out["measures"]) == {"bits_per_token"} and out["gfid_mean"] is None
    text = cli("eval", "probe-check", "-t", ckpts["test-metrics-vq"], "-d", DATA, "--levels", "0,1", "--seeds", "2",
               "--probe-steps", "3")  # fmt: skip
    assert text.exit_code == 0 and "bits_per_token: this budget" in text.stdout and "Spearman" in text.stdout
    bad = cli("eval", "probe-check", "-t", ckpts["test-metrics-vq"], "-d", DATA, "--levels", "0,x")
    assert bad.exit_code == 2 and "--levels" in bad.stderr and "Traceback" not in bad.stderr


def test_recon_vs_generation_names_each_rfid_by_its_protocol():
    """The left panel plots the probe's rFID (held-out reconstructions vs the training split, gFID's
    reference), the right one eval recon's (reconstructions vs their originals): two labels."""
    from tokkit.metrics.compare import recon_vs_generation_figure

    rows = [
        {"tokenizer": "a", "rfid": 10.0, "rfid_probe": 20.0, "gfid": 30.0, "gfid_floor": 5.0,
         "bits_per_token": 3.0, "order": "raster", "head": "categorical"},
        {"tokenizer": "b", "rfid": 11.0, "rfid_probe": None, "gfid": None, "gfid_floor": 5.0,
         "bits_per_token": 4.0, "order": "raster", "head": "categorical"},
    ]  # fmt: skip
    fig = recon_vs_generation_figure(rows, "effnet-lite0")
    left, right = fig.axes
    assert "probe rFID" in left.get_xlabel() and "training images" in left.get_xlabel()
    assert "recon rFID" in right.get_xlabel() and "originals" in right.get_xlabel()
    assert left.get_xlabel() != right.get_xlabel()
    xs_left = [tuple(c.get_offsets()[0]) for c in left.collections]
    xs_right = [tuple(c.get_offsets()[0]) for c in right.collections]
    assert xs_left == [(20.0, 30.0)]  # the probe's rFID, never eval recon's in its place
    assert xs_right == [(10.0, 3.0), (11.0, 4.0)]
    assert "b (no rfid_probe)" in left.get_title()


def test_recon_over_a_folder_reads_headers_only_and_skips_a_file_that_fails_to_decode(cli, ckpts, messy_folder):
    """The folder is scanned by headers (not decoded twice); the truncated JPEG, whose header is good,
    is skipped where it is read and named; every readable image is measured once."""
    from tests.conftest import GOOD_IN_MESSY

    r = _json(cli("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", messy_folder, "--image-size", "16",
                  "--fid-features", "test-pixfeat", "--json"))  # fmt: skip
    assert r["protocol"]["num_images"] == r["n"] == GOOD_IN_MESSY
    skipped = r["protocol"]["skipped_images"]
    assert skipped["num"] == 3
    assert sorted(p.rsplit("/", 1)[-1] for p in skipped["paths"]) == ["empty.png", "text.png", "truncated.jpg"]
