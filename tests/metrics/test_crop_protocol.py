"""--crop is threaded into the eval commands and recorded with the issue-19 fingerprints."""

from __future__ import annotations

import json

import numpy as np
from PIL import Image

from tokkit.data.sources import open_source


def _folder(tmp_path, n: int = 6):
    rng = np.random.default_rng(0)
    root = tmp_path / "imgs"
    root.mkdir()
    for i in range(n):  # 40 x 60: shorter side >= 2 x 16, so the adm crop BOX-halves first
        Image.fromarray(rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def _recon(cli, ckpt, data, *extra):
    r = cli("eval", "recon", "-t", ckpt, "-d", data, "--image-size", "16", "--fid-features", "test-pixfeat",
            "--json", *extra)  # fmt: skip
    assert r.exit_code == 0, r.stderr or r.stdout
    return json.loads(r.stdout)


def test_recon_records_crop_and_fingerprints(cli, ckpts, tmp_path):
    root = _folder(tmp_path)
    center = _recon(cli, ckpts["test-metrics-msvq"], root)
    adm = _recon(cli, ckpts["test-metrics-msvq"], root, "--crop", "adm")
    pc, pa = center["protocol"], adm["protocol"]
    assert pc["crop"] == "center" and pa["crop"] == "adm" and pa["transform"] != pc["transform"]
    assert pc["data_fingerprint"] == pa["data_fingerprint"] == open_source(str(root)).fingerprint(6)
    assert pc["data_fingerprint"].startswith("sha256:") and pc["tokkit_version"]
    assert pc["pixel_range"] and pc["feature_weights_sha256"] is None  # test features have no weight file
    assert center["psnr"] != adm["psnr"]  # other pixels went in


def test_fingerprints_folder_builtin(tmp_path):
    root = _folder(tmp_path, 3)
    before = open_source(str(root)).fingerprint()
    (root / "1.png").write_bytes((root / "1.png").read_bytes() + b"\0")  # same path, other size
    assert open_source(str(root)).fingerprint() != before
    assert open_source("builtin:shapes:n=4,size=16").fingerprint() == "spec:builtin:shapes:n=4,size=16"


def test_bad_crop_one_line(cli, ckpts):  # UsageError: exit 2 (tokkit.errors)
    r = cli("eval", "recon", "-t", ckpts["test-metrics-msvq"], "-d", "builtin:shapes:n=4,size=16", "--crop", "x")
    assert r.exit_code == 2 and "unknown --crop" in (r.stderr or r.stdout) and "Traceback" not in r.output
