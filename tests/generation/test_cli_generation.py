"""``eval generation`` / ``eval compare`` with orders: one JSON object, tables, one-line errors."""

from __future__ import annotations

import csv
import json

import pytest

DATA = "builtin:shapes:n=10,size=16"


@pytest.mark.parametrize(
    ("tok", "args", "message"),
    [
        ("test-metrics-vq", ["--order", "next-scale"], "needs a multi-scale tokenizer"),
        ("test-metrics-vq", ["--classes"], "--classes needs class labels"),
        ("test-gen-nofeat", ["--head", "diffusion"], "neither latents nor pre-quantization features"),
        ("test-metrics-vq", ["--order", "rastr"], "unknown generation order"),
    ],
)
def test_generation_bad_input_is_one_line(cli, ckpts, tok, args, message):
    out = cli("eval", "generation", "-t", ckpts[tok], "-d", DATA, "--probe-steps", "2", *args)
    assert out.exit_code == 2 and message in out.stderr, out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_generation_json_and_table_per_order(cli, ckpts):
    out = cli("eval", "generation", "-t", ckpts["test-metrics-msvq"], "-d", DATA, "--probe-steps", "2",
              "--samples", "3", "--fid-features", "test-pixfeat", "--json")  # fmt: skip
    assert out.exit_code == 0, out.stderr
    r = json.loads(out.stdout)
    assert r["order"] == "next-scale" and r["gfid"] > 0 and r["gfid_floor"] > 0 and r["rfid"] > 0
    out = cli("eval", "generation", "-t", ckpts["test-metrics-vq"], "-d", DATA, "--probe-steps", "2",
              "--order", "random")  # fmt: skip
    assert out.exit_code == 0 and "random, categorical" in out.stdout and "not an NLL" in out.stdout


def test_compare_order_study(cli, ckpts, tmp_path):
    out_dir = tmp_path / "orders"
    r = cli("eval", "compare", ckpts["test-metrics-vq"], "-d", DATA, "--out", out_dir, "--fid-features", "test-pixfeat",
            "--snr-db", "10", "--probe-steps", "2", "--samples", "3", "--orders", "raster,random")  # fmt: skip
    assert r.exit_code == 0, r.stderr
    rows = list(csv.DictReader((out_dir / "compare.csv").open()))
    assert [(x["tokenizer"], x["order"]) for x in rows] == [
        ("test-metrics-vq [raster]", "raster"), ("test-metrics-vq [random]", "random")
    ]  # fmt: skip
    assert all(float(x["gfid"]) > 0 and float(x["gfid_floor"]) > 0 for x in rows)
    assert (out_dir / "order_study.png").read_bytes()[:4] == b"\x89PNG"
    bad = cli("eval", "compare", ckpts["test-metrics-vq"], "-d", DATA, "--out", tmp_path / "x", "--orders",
              "raster,next-scale")  # fmt: skip
    assert bad.exit_code == 2 and "needs a multi-scale tokenizer" in bad.stderr and not (tmp_path / "x").exists()
