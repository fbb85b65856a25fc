"""Losses go down on a fixed batch; LPIPS loads real backbone weights or fails with one clear line."""

from __future__ import annotations

import pytest
import torch

from tests.train.conftest import MICRO
from tokkit.errors import WeightsMissingError
from tokkit.train import resolve_config
from tokkit.train.distributed import DistInfo
from tokkit.train.loop import Trainer

MODELS = {
    "vqgan-tiny": dict(MICRO, z_channels=8, codebook_size=32, code_dim=4),
    "vae-tiny": dict(MICRO, z_channels=4, latent_channels=4),
    "msvq-tiny": dict(MICRO, z_channels=4, code_dim=4, codebook_size=32, patch_nums=[1, 2, 4]),
}


@pytest.mark.parametrize("arch", sorted(MODELS))
def test_loss_decreases_on_fixed_batch(arch, tmp_path):
    sets = {f"model.{k}": v for k, v in MODELS[arch].items()}
    sets.update(lr=3e-3, warmup_steps=0, disc_weight=0.3, disc_start=10, disc_channels=8, disc_layers=1)
    cfg = resolve_config(arch, flags={"data": "builtin:shapes:n=4,size=16", "image_size": 16, "steps": 30}, sets=sets)
    tr = Trainer(cfg, tmp_path, torch.device("cpu"), DistInfo())
    from tokkit.data.dataset import ImageDataset
    from tokkit.data.sources import open_source

    ds = ImageDataset(open_source(cfg.data), 16)
    x = torch.stack([ds[i][0] for i in range(4)])
    tr.model.train()
    recs = [tr.step(x, s) for s in range(30)]
    first = sum(m["rec"] for m in recs[:3]) / 3
    last = sum(m["rec"] for m in recs[-3:]) / 3
    assert last < 0.85 * first, (first, last)
    assert "d_loss" in recs[-1] and "g_adv" in recs[-1] and "d_loss" not in recs[5]  # GAN starts at disc_start
    if arch != "vae-tiny":
        assert 0 < recs[-1]["usage"] <= 1


def _fake_alexnet(path):
    import torchvision

    torch.manual_seed(0)
    state = torchvision.models.alexnet(weights=None).state_dict()
    torch.save(state, path)
    return state


def test_lpips_loads_backbone_from_a_file(tmp_path, monkeypatch):
    from tokkit.losses.perceptual import ALEXNET_FILE, load_lpips

    state = _fake_alexnet(tmp_path / ALEXNET_FILE)
    model = load_lpips(tmp_path)  # a folder holding the file
    torch.testing.assert_close(getattr(model.net.slice1, "0").weight, state["features.0.weight"])
    torch.testing.assert_close(getattr(model.net.slice5, "10").bias, state["features.10.bias"])
    assert not any(p.requires_grad for p in model.parameters())
    x = torch.rand(2, 3, 32, 32) * 2 - 1
    assert float(model(x, x).abs().max()) < 1e-6 and float(model(x, -x).mean()) > 0
    # found through TOKKIT_WEIGHTS_DIR too (the torch cache is empty: the env folder is the only source)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty-torch-home"))
    monkeypatch.setenv("TOKKIT_WEIGHTS_DIR", str(tmp_path))
    via_env = load_lpips(None, download=False)
    torch.testing.assert_close(getattr(via_env.net.slice1, "0").weight, state["features.0.weight"])


def test_lpips_missing_offline_is_one_clear_error(tmp_path, monkeypatch):
    from tokkit.losses.perceptual import load_lpips

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "empty"))
    monkeypatch.setenv("TOKKIT_OFFLINE", "1")
    monkeypatch.delenv("TOKKIT_WEIGHTS_DIR", raising=False)
    with pytest.raises(WeightsMissingError, match="--perceptual-weight 0"):
        load_lpips(None)
    with pytest.raises(WeightsMissingError, match="does not exist"):
        load_lpips(tmp_path / "nope.pth")


def test_cli_missing_lpips_is_one_line(cli, tmp_path):
    env = {"TORCH_HOME": str(tmp_path / "empty"), "TOKKIT_OFFLINE": "1"}
    r = cli("train", "vqgan-tiny", "--data", "builtin:shapes:n=8,size=16", "--out", tmp_path / "r",
            "--image-size", "16", "--perceptual-weight", "1", env=env)  # fmt: skip
    assert r.exit_code == 1
    assert r.stderr.count("\n") == 1 and "--perceptual-weight 0" in r.stderr
    assert not (tmp_path / "r").exists()
