"""``eval table``: one table from saved results of one protocol; mixed protocols refused with one line
(issue 19 part 6)."""

from __future__ import annotations

import json

import pytest

from tokkit.errors import DataError, UsageError
from tokkit.metrics.recon import evaluate_recon
from tokkit.metrics.table import build_table, render_table

DATA = "builtin:shapes:n=10,size=16"


def _recon(ckpt, tmp_path, name, **kw):
    r = evaluate_recon(ckpt, DATA, fid_features="test-pixfeat", compute_lpips=False, **kw)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(r))
    return path, r


def test_two_results_of_one_protocol_make_one_table(ckpts, tmp_path):
    a, ra = _recon(ckpts["test-metrics-vq"], tmp_path, "a")
    b, rb = _recon(ckpts["test-metrics-ae"], tmp_path, "b")
    t = build_table([a, b])
    assert [r["tokenizer"] for r in t["rows"]] == ["test-metrics-vq", "test-metrics-ae"] and t["mixed"] == []
    assert t["rows"][0]["psnr"] == ra["psnr"] and t["rows"][1]["rfid"] == rb["rfid"]
    assert t["protocol"]["image_size"] == 16 and t["protocol"]["fid_features"] == "test-pixfeat"
    md = render_table(t, ".md")
    lo, hi = ra["psnr_ci"]
    assert f"{ra['psnr']:.4g} [{lo:.4g}, {hi:.4g}]" in md and md.count("\n") == 4
    csv_text = render_table(t, ".csv")
    assert csv_text.splitlines()[0].startswith("tokenizer,psnr,ssim,rfid") and "psnr_ci" in csv_text
    assert "<table>" in render_table(t, ".html")


def test_different_image_sizes_are_refused_unless_allowed(ckpts, tmp_path):
    a, _ = _recon(ckpts["test-metrics-vq"], tmp_path, "a")
    b, _ = _recon(ckpts["test-metrics-vq"], tmp_path, "b", image_size=32)
    with pytest.raises(UsageError, match=r"image_size is 16 in 'a.json' and 32 in 'b.json'"):
        build_table([a, b])
    t = build_table([a, b], allow_mixed=True)
    assert t["mixed"] == ["image_size"] and "protocol_image_size" in t["columns"]
    assert [r["protocol_image_size"] for r in t["rows"]] == [16, 32]  # not merged: two protocols


def test_cli_table_and_errors(cli, ckpts, tmp_path):
    a, _ = _recon(ckpts["test-metrics-vq"], tmp_path, "a")
    b, _ = _recon(ckpts["test-metrics-vq"], tmp_path, "b", image_size=32)
    r = cli("eval", "table", a, "--out", tmp_path / "t.md", "--json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout)["rows"][0]["tokenizer"] == "test-metrics-vq" and (tmp_path / "t.md").is_file()
    bad = cli("eval", "table", a, b)
    assert bad.exit_code == 2 and "image_size" in bad.stderr and "Traceback" not in bad.stderr
    assert len(bad.stderr.strip().splitlines()) <= 2
    (tmp_path / "x.json").write_text("[1, 2]")
    with pytest.raises(DataError, match="holds no tokkit result"):
        build_table([tmp_path / "x.json"])
    res = cli("eval", "table", a, "--out", tmp_path / "t.txt")
    assert res.exit_code == 2 and ".md, .csv, .html" in res.stderr
