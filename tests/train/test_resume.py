"""Resume exactness, run-directory contents and the errors around them."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from tests.train.conftest import MICRO
from tokkit.errors import UsageError
from tokkit.io.checkpoint import load_tokenizer
from tokkit.train import resolve_config, train


def _cfg(arch="vqgan-tiny", **sets):
    base = {
        "steps": 6,
        "batch_size": 4,
        "image_size": 16,
        "data": "builtin:shapes:n=24,size=16",
    }
    model = dict(MICRO, z_channels=8)
    if arch.startswith("vqgan"):
        model.update(codebook_size=32, code_dim=4)
    elif arch.startswith("vae"):
        model.update(latent_channels=4)
    s = {"log_every": 1, "ckpt_every": 100, "sample_every": 100, "eval_images": 4, "num_samples": 2, "warmup_steps": 2}
    s.update({f"model.{k}": v for k, v in model.items()})
    s.update(sets)
    return resolve_config(arch, flags=base, sets=s)


def _weights(run):
    return load_file(str(run / "checkpoints" / "final" / "model.safetensors"))


@pytest.mark.parametrize(
    "arch,sets",
    [
        # EMA weights, GAN with adaptive weight and dead-code restart all carry state across the resume
        ("vqgan-tiny", {"ema_decay": 0.9, "disc_weight": 0.5, "disc_start": 2, "disc_adaptive": True,
                        "disc_channels": 8, "disc_layers": 1, "model.dead_code_threshold": 0.5}),
        ("vae-tiny", {"learn_logvar": True}),
    ],
)  # fmt: skip
def test_resume_is_bit_exact(tmp_path, arch, sets):
    cfg = _cfg(arch, **sets)
    train(cfg, tmp_path / "straight", device="cpu")
    r1 = train(cfg, tmp_path / "resumed", device="cpu", stop_after=3)
    assert r1.final_checkpoint is None and (tmp_path / "resumed" / "checkpoints" / "last" / "train_state.pt").is_file()
    r2 = train(cfg, tmp_path / "resumed", device="cpu", resume=True)
    assert r2.resumed_from == 3 and r2.steps == 6
    a, b = _weights(tmp_path / "straight"), _weights(tmp_path / "resumed")
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # metrics were truncated to the checkpoint and continued: one line per step, no duplicates
    steps = [json.loads(line)["step"] for line in (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()]
    assert [s for s in steps if s] == [1, 2, 3, 4, 5, 6, 6]
    straight = (tmp_path / "straight" / "metrics.jsonl").read_text().splitlines()
    resumed = (tmp_path / "resumed" / "metrics.jsonl").read_text().splitlines()
    for x, y in zip(straight, resumed, strict=True):
        x, y = json.loads(x), json.loads(y)
        x.pop("images_per_s", None), y.pop("images_per_s", None)
        assert x == y


def test_run_directory_and_load(tmp_path):
    cfg = _cfg(sample_every=4)
    res = train(cfg, tmp_path / "run", device="cpu")
    run = tmp_path / "run"
    stored = json.loads((run / "config.json").read_text())
    assert stored["config"]["steps"] == 6 and stored["config"]["model"]["codebook_size"] == 32
    assert "argv" in stored and "git_commit" in stored and stored["starts"][0]["time"]
    assert sorted(p.name for p in (run / "samples").iterdir()) == [f"step_00000{i}.png" for i in (0, 4, 6)]
    from PIL import Image

    assert Image.open(run / "samples" / "step_000004.png").size == (2 * 16, 2 * 16)  # 2 samples, 2 rows
    tok = load_tokenizer(res.final_checkpoint)
    assert tok.architecture == "vqgan" and tok.codebook_size == 32
    ckpt_cfg = json.loads((run / "checkpoints" / "final" / "config.json").read_text())
    assert ckpt_cfg["provenance"]["data"] == cfg.data and ckpt_cfg["provenance"]["step"] == 6
    # the training size travels with the checkpoint: evaluation defaults to it
    assert ckpt_cfg["provenance"]["image_size"] == cfg.image_size == tok.native_image_size
    # the state file holds tensors and plain data only
    state = torch.load(run / "checkpoints" / "last" / "train_state.pt", weights_only=True)
    assert state["step"] == 6


def test_resume_errors(tmp_path):
    cfg = _cfg(steps=2)
    with pytest.raises(UsageError, match="nothing to resume"):
        train(cfg, tmp_path / "run", device="cpu", resume=True)
    train(cfg, tmp_path / "run", device="cpu", stop_after=1)
    with pytest.raises(UsageError, match="already holds a training run"):
        train(cfg, tmp_path / "run", device="cpu")
    other = _cfg(steps=2, lr=5e-4)
    with pytest.raises(UsageError, match="another config.*lr"):
        train(other, tmp_path / "run", device="cpu", resume=True)
