"""Config layering: defaults < variant preset < YAML < flags < --set; bad settings are one clear error."""

from __future__ import annotations

import json

import pytest

from tokkit.errors import UsageError
from tokkit.train import PRESETS, TrainConfig, resolve_config


def test_layering_order(tmp_path):
    base = TrainConfig()
    cfg = resolve_config("vqgan-tiny", flags={"data": "builtin:shapes"})
    assert cfg.image_size == PRESETS["vqgan-tiny"]["image_size"] != base.image_size  # preset over default
    assert cfg.weight_decay == base.weight_decay  # untouched default
    yml = tmp_path / "c.yaml"
    yml.write_text("lr: 0.005\nsteps: 50\nbatch_size: 3\nmodel:\n  codebook_size: 64\n")
    cfg = resolve_config("vqgan-tiny", config_file=yml, flags={"data": "builtin:shapes", "steps": 7})
    assert (cfg.lr, cfg.steps, cfg.batch_size, cfg.model) == (0.005, 7, 3, {"codebook_size": 64})  # flag over YAML
    cfg = resolve_config(
        "vqgan-tiny",
        config_file=yml,
        flags={"data": "builtin:shapes", "steps": 7},
        sets=["steps=9", "model.code_dim=4", "l2_norm=false", "betas=[0.5, 0.9]", "lr=3e-4"],
    )
    assert cfg.steps == 9 and cfg.lr == 3e-4 and cfg.betas == (0.5, 0.9)  # --set over everything
    assert cfg.model == {"codebook_size": 64, "code_dim": 4, "l2_norm": False}  # bare tokenizer field -> model


@pytest.mark.parametrize(
    "sets,match",
    [
        (["lrr=1"], "did you mean 'lr'"),
        (["steps=many"], "takes an integer"),
        (["amp=fp16"], "amp must be"),
        (["noequals"], "key=value"),
        (["model.codebook_sise=3"], None),  # caught when the model is built
    ],
)
def test_bad_settings(sets, match):
    if match is None:
        cfg = resolve_config("vqgan-tiny", flags={"data": "builtin:shapes"}, sets=sets)
        from tokkit.train.loop import build_model

        with pytest.raises(UsageError, match="bad model setting"):
            build_model(cfg)
        return
    with pytest.raises(UsageError, match=match):
        resolve_config("vqgan-tiny", flags={"data": "builtin:shapes"}, sets=sets)


def test_unknown_architecture_and_missing_data(tmp_path):
    with pytest.raises(UsageError, match="did you mean 'vqgan-tiny'"):
        resolve_config("vqgan-tinny", flags={"data": "builtin:shapes"})
    with pytest.raises(UsageError, match="no training data"):
        resolve_config("vae-tiny")
    from tokkit.train.loop import build_model

    with pytest.raises(UsageError, match="not trainable"):
        build_model(resolve_config("kmeans", flags={"data": "builtin:shapes"}))
    yml = tmp_path / "c.yaml"
    yml.write_text("- a list\n")
    with pytest.raises(UsageError, match="mapping"):
        resolve_config("vae-tiny", config_file=yml, flags={"data": "builtin:shapes"})


def test_variant_configs_match_published():
    from tokkit.tokenizers import create_tokenizer

    var = create_tokenizer("msvq-var").config
    assert (var.codebook_size, var.code_dim, var.ch, var.factor) == (4096, 32, 160, 16)
    assert var.patch_nums == (1, 2, 3, 4, 5, 6, 8, 10, 13, 16) and sum(p * p for p in var.patch_nums) == 680
    f16 = create_tokenizer("vqgan-f16").config
    assert (f16.codebook_size, f16.code_dim, f16.l2_norm, f16.beta, f16.entropy_weight, f16.factor) == (
        16384, 8, True, 0.25, 0.0, 16)  # fmt: skip


def test_cli_train_json_and_errors(cli, tmp_path):
    common = ["--data", "builtin:shapes:n=8,size=16", "--image-size", "16", "--batch-size", "4",
              "--set", "model.ch=8", "--set", "model.ch_mult=[1,2,2]", "--set", "eval_images=4"]  # fmt: skip
    r = cli("train", "vqgan-tiny", "--out", tmp_path / "run", "--steps", "2", "--json", *common)
    assert r.exit_code == 0, r.stderr
    res = json.loads(r.stdout)  # exactly one JSON object on stdout
    assert res["steps"] == 2 and res["final_checkpoint"].endswith("final")
    stored = json.loads((tmp_path / "run" / "config.json").read_text())
    assert stored["argv"] and stored["config"]["batch_size"] == 4
    r = cli("train", "vqgan-tiny", "--out", tmp_path / "r2", "--steps", "2", *common[:-6], "--image-size", "20")
    assert r.exit_code == 2 and "not divisible by the downsample factor" in r.stderr
    r = cli("train", "vqgan-tinny", "--out", tmp_path / "r3", "--data", "builtin:shapes")
    assert r.exit_code == 2 and "did you mean" in r.stderr and r.stderr.count("\n") == 1
    r = cli("train", "vqgan-tiny", "--out", tmp_path / "run", "--steps", "2", "--json", "--resume", *common)
    assert r.exit_code == 0, r.stderr  # a finished run resumes to the same end


def test_interrupted_checkpoint_write_keeps_the_previous_last(tmp_path, monkeypatch):
    from tests.train.conftest import MICRO
    from tokkit.train import train

    sets = {f"model.{k}": v for k, v in dict(MICRO, z_channels=8, codebook_size=16, code_dim=4).items()}
    sets.update(ckpt_every=1, eval_images=2, num_samples=2)
    cfg = resolve_config("vqgan-tiny", flags={"data": "builtin:shapes:n=8,size=16", "image_size": 16,
                                              "batch_size": 4, "steps": 4}, sets=sets)  # fmt: skip
    import torch

    real_save, calls = torch.save, {"n": 0}

    def dying_save(obj, f, *a, **k):
        calls["n"] += 1
        if calls["n"] == 2:  # the second checkpoint write dies half-way
            f.write(b"partial")
            raise KeyboardInterrupt
        return real_save(obj, f, *a, **k)

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(KeyboardInterrupt):
        train(cfg, tmp_path / "run", device="cpu")
    monkeypatch.setattr(torch, "save", real_save)
    last = tmp_path / "run" / "checkpoints" / "last"
    state = torch.load(last / "train_state.pt", weights_only=True)
    assert state["step"] == 1  # the complete previous checkpoint, not the partial one
    assert [p.name for p in (tmp_path / "run" / "checkpoints").iterdir()] == ["last"]  # no temp dirs left
    r = train(cfg, tmp_path / "run", device="cpu", resume=True)
    assert r.resumed_from == 1 and r.final_checkpoint
