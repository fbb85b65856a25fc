"""Issue 20's done-when: ``tokkit eval compare`` over imported zoo fixtures side by side (a 1-D TiTok, an
LFQ Open-MAGVIT2, a continuous VA-VAE) under one protocol: every row measured, every probe order that
applies run, nothing assuming a square grid or one token kind."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
DATA = "builtin:shapes:n=12,size=32"
SOURCES = {  # family -> the upstream-made fixture in its published layout
    "titok": FIX / "titok" / "legacy",
    "open-magvit2": FIX / "open_magvit2" / "imagenet_tiny_L.ckpt",
    "va-vae": FIX / "vavae" / "vavae_tiny.pt",
}


def test_eval_compare_over_titok_open_magvit2_and_va_vae(cli, tmp_path):
    dirs = []
    for family, src in SOURCES.items():
        if not src.exists():
            pytest.fail(f"fixture {src} is missing")
        r = cli("import", family, src, "--out", tmp_path / family, "--json")
        assert r.exit_code == 0, r.stderr or r.stdout
        dirs.append(tmp_path / family)
    out = tmp_path / "cmp"
    r = cli("eval", "compare", *dirs, "-d", DATA, "-o", out, "--image-size", "32", "--probe-steps", "2",
            "--samples", "8", "--seeds", "2", "--snr-db", "10", "--fid-features", "test-pixfeat", "--json")  # fmt: skip
    assert r.exit_code == 0, r.stderr or r.stdout
    rows = list(csv.DictReader((out / "compare.csv").open()))
    assert [row["tokenizer"] for row in rows] == list(SOURCES)
    for row in rows:
        assert float(row["psnr"]) > 0 and float(row["rfid"]) >= 0 and float(row["gfid"]) > 0, row["tokenizer"]
    kinds = {row["tokenizer"]: row["kind"] for row in rows}
    assert kinds == {"titok": "discrete", "open-magvit2": "discrete", "va-vae": "continuous"}
    result = json.loads(r.stdout.strip().splitlines()[-1])
    assert result["protocol"]["num_images"] == 12 and len(result["rows"]) == 3
