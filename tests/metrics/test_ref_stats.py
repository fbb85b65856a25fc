"""eval stats writes pytorch-fid-style statistics; --ref-stats reads tokkit, pytorch-fid and ADM files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tokkit.errors import DataError
from tokkit.metrics.fid import create_fid_features
from tokkit.metrics.ref_stats import load_ref_stats

DATA = "builtin:shapes:n=10,size=16"


def _json(r):
    assert r.exit_code == 0, r.stderr or r.stdout
    return json.loads(r.stdout)


def test_stats_then_recon_ref_stats_equals_rfid(cli, ckpts, tmp_path):
    ref = tmp_path / "ref.npz"
    s = _json(cli("eval", "stats", DATA, "--image-size", "16", "--fid-features", "test-pixfeat", "--out", ref,
                  "--json"))  # fmt: skip
    with np.load(ref) as z:
        assert {"mu", "sigma", "protocol"} <= set(z.files) and z["sigma"].shape == (s["feature_dim"],) * 2
        assert json.loads(str(z["protocol"]))["crop"] == "center"
    r = _json(cli("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", DATA, "--fid-features", "test-pixfeat",
                  "--ref-stats", ref, "--json"))  # fmt: skip
    assert r["rfid_ref"] == pytest.approx(r["rfid"], rel=1e-6) and r["protocol"]["rfid_ref"]["kind"] == "tokkit"


def test_pytorch_fid_and_adm_files_read(tmp_path):
    feats = create_fid_features("test-pixfeat", None, "cpu")
    d = feats.dim
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "pf.npz", mu=rng.normal(size=d), sigma=np.eye(d))  # pytorch-fid's layout
    stats, kind = load_ref_stats(tmp_path / "pf.npz", feats)
    assert kind == "pytorch-fid" and stats.dim == d
    imgs = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8)
    np.savez(tmp_path / "adm.npz", arr_0=imgs, mu=np.zeros(2048), sigma=np.eye(2048))  # Inception-space stats
    stats, kind = load_ref_stats(tmp_path / "adm.npz", feats, batch_size=4)  # not inception: from the images
    assert kind == "adm-images" and stats.n == 6 and stats.dim == d


def test_mismatch_and_empty_refused_one_line(cli, ckpts, tmp_path):
    np.savez(tmp_path / "bad.npz", mu=np.zeros(3), sigma=np.eye(3))
    np.savez(tmp_path / "empty.npz", x=np.zeros(2))
    feats = create_fid_features("test-pixfeat", None, "cpu")
    with pytest.raises(DataError, match="neither statistics"):
        load_ref_stats(tmp_path / "empty.npz", feats)
    r = cli("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", DATA, "--fid-features", "test-pixfeat",
            "--ref-stats", tmp_path / "bad.npz")  # fmt: skip
    err = r.stderr or r.stdout
    assert r.exit_code == 1 and "3-d statistics" in err and "Traceback" not in r.output
    assert len([ln for ln in err.strip().splitlines() if ln.strip()]) <= 2  # the error line (+ its hint)


def test_generation_ref_stats_adds_gfid_ref(cli, ckpts, tmp_path):
    ref = tmp_path / "ref.npz"
    _json(cli("eval", "stats", DATA, "--image-size", "16", "--fid-features", "test-pixfeat", "--out", ref, "--json"))
    args = ("eval", "generation", "-t", ckpts["test-metrics-vq"], "-d", DATA, "--probe-steps", "1", "--samples", "2",
            "--fid-features", "test-pixfeat", "--json")  # fmt: skip
    r = _json(cli(*args, "--ref-stats", ref))  # gfid itself: unchanged code path (test_cli_eval covers it)
    assert r["gfid_ref"] > 0 and r["gfid"] is not None and r["protocol"]["gfid_ref"]["kind"] == "tokkit"


def test_gfid_reference_batch_refused_for_rfid_unless_allowed(cli, ckpts, tmp_path):
    """LlamaGen#34: an rFID scored against the generation reference batch instead of the originals."""
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "VIRTUAL_imagenet256_labeled.npz", arr_0=rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8))
    args = ("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", DATA, "--fid-features", "test-pixfeat",
            "--ref-stats", tmp_path / "VIRTUAL_imagenet256_labeled.npz", "--json")  # fmt: skip
    r = cli(*args)
    assert r.exit_code == 2 and "generation reference batch" in (r.stderr or r.stdout) and "Traceback" not in r.output
    ok = _json(cli(*args, "--allow-gfid-ref"))
    assert ok["rfid_ref"] > 0 and ok["protocol"]["rfid_ref"]["kind"] == "adm-images"


def test_rfid_ref_from_other_images_warns(cli, ckpts, tmp_path):
    ref = tmp_path / "other.npz"
    _json(cli("eval", "stats", "builtin:shapes:n=12,size=16", "--image-size", "16", "--fid-features", "test-pixfeat",
              "--out", ref, "--json"))  # fmt: skip
    r = _json(cli("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", DATA, "--fid-features", "test-pixfeat",
                  "--ref-stats", ref, "--json"))  # fmt: skip
    assert any("made from other images" in w for w in r["protocol"]["warnings"])
