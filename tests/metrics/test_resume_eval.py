"""eval recon / eval stats killed mid-way resume from their partial sums to the uninterrupted result."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tokkit.data.sources import open_source
from tokkit.errors import DataError, UsageError
from tokkit.metrics.partial import partial_dir
from tokkit.metrics.recon import evaluate_recon
from tokkit.metrics.ref_stats import write_ref_stats

SPEC = "builtin:photos:n=12,size=64"


class Killed(Exception):
    pass


def dying_source(at: int):
    """The builtin set, whose read of image ``at`` raises once (a kill between two saves)."""
    src = open_source(SPEC)
    read, state = src.read, {"alive": True}

    def read_or_die(i):
        if i == at and state["alive"]:
            state["alive"] = False
            raise Killed(f"killed at image {i}")
        return read(i)

    src.read = read_or_die
    return src


@pytest.fixture(autouse=True)
def save_every_batch(monkeypatch, tmp_path):
    monkeypatch.setenv("TOKKIT_CHECKPOINT_SECONDS", "0")
    monkeypatch.setenv("TOKKIT_CACHE_DIR", str(tmp_path / "cache"))


@pytest.fixture(scope="module")
def tok():
    from tokkit.tokenizers import create_tokenizer

    torch.manual_seed(0)
    return create_tokenizer("vqgan-tiny").eval()


@pytest.fixture(scope="module")
def alexnet(tmp_path_factory):
    import torchvision

    from tokkit.losses.perceptual import ALEXNET_FILE

    path = tmp_path_factory.mktemp("alexnet") / ALEXNET_FILE
    torch.save(torchvision.models.alexnet().state_dict(), path)
    return path


def recon(tok, data, out, alexnet, **kw):
    return evaluate_recon(tok, data, image_size=64, batch_size=2, fid_features="pixels", lpips_weights=alexnet,
                          use_cache=False, out=out, **kw)  # fmt: skip


def test_killed_recon_resumes_to_the_uninterrupted_result(tok, alexnet, tmp_path):
    whole = recon(tok, SPEC, tmp_path / "whole.json", alexnet)
    out = tmp_path / "r.json"
    with pytest.raises(Killed):
        recon(tok, dying_source(7), out, alexnet)
    assert not out.exists() and (partial_dir(out) / "rank0of1" / "state.npz").is_file()
    with pytest.raises(UsageError, match="partial run"):  # never silently started over
        recon(tok, SPEC, out, alexnet)
    with pytest.raises(DataError, match="batch_size"):  # other settings: refused, naming the field
        evaluate_recon(tok, SPEC, image_size=64, batch_size=3, fid_features="pixels", lpips_weights=alexnet,
                       use_cache=False, out=out, resume=True)  # fmt: skip
    src, reads = open_source(SPEC), []
    read = src.read
    src.read = lambda i: reads.append(i) or read(i)
    resumed = recon(tok, src, out, alexnet, resume=True)
    assert reads == list(range(6, 12))  # batches 0-2 came from the saved sums, batch 3 (the killed one) on
    assert json.loads(out.read_text())["psnr"] == resumed["psnr"] and not partial_dir(out).exists()
    for key in ("psnr", "ssim", "lpips", "n"):
        assert resumed[key] == whole[key], key  # the same batches, the same sums
    for key in ("rfid", "kid"):
        assert resumed[key] == pytest.approx(whole[key], rel=1e-9, abs=1e-12), key
    assert resumed["usage"] == whole["usage"] and resumed["protocol"]["num_images"] == 12


def test_resume_without_out_is_refused(tok, alexnet):
    with pytest.raises(UsageError, match="--out"):
        recon(tok, SPEC, None, alexnet, resume=True)


def test_killed_stats_resume_to_the_uninterrupted_file(tmp_path):
    kw = {"fid_features": "pixels", "image_size": 64, "batch_size": 2, "use_cache": False, "device": "cpu"}
    write_ref_stats(SPEC, tmp_path / "whole.npz", **kw)
    out = tmp_path / "ref.npz"
    with pytest.raises(Killed):
        write_ref_stats(dying_source(9), out, **kw)
    assert not out.exists() and partial_dir(out).is_dir()
    r = write_ref_stats(SPEC, out, resume=True, **kw)
    assert r["num_images"] == 12 and not partial_dir(out).exists()
    with np.load(tmp_path / "whole.npz") as a, np.load(out) as b:
        np.testing.assert_allclose(b["mu"], a["mu"], rtol=1e-12)
        np.testing.assert_allclose(b["sigma"], a["sigma"], rtol=1e-10, atol=1e-13)
