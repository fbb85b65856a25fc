"""Bad input to ``tokkit import``: one clear line, nothing written that looks like a checkpoint."""

from __future__ import annotations

import json
import shutil
import sys

import pytest
import torch

from tests.importers.fixtures_vq import SOURCES
from tokkit.errors import DataError, UsageError
from tokkit.importers import import_checkpoint
from tokkit.io.checkpoint import torch_load_checkpoint


def _var_state():
    return torch.load(SOURCES["var"], weights_only=True)


def _fails(tmp_path, family, src, match, exc=DataError, **kw):
    out = tmp_path / "out"
    with pytest.raises(exc, match=match) as e:
        import_checkpoint(family, src, out, **kw)
    assert "\n" not in e.value.one_line()
    assert not out.exists() and not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]
    return e.value


def test_file_of_another_family_is_named(tmp_path):
    _fails(tmp_path, "var", SOURCES["taming"] / "ckpts" / "last.ckpt", r"is a 'taming' checkpoint, not 'var'")
    _fails(tmp_path, "llamagen", SOURCES["var"], r"is a 'var' checkpoint, not 'llamagen'")
    _fails(tmp_path, "taming", SOURCES["llamagen"], r"is a 'llamagen' checkpoint, not 'taming'")


def test_truncated_file(tmp_path):
    data = SOURCES["var"].read_bytes()
    for n in (100, len(data) // 2, len(data) - 50):
        (tmp_path / "t.pth").write_bytes(data[:n])
        _fails(tmp_path, "var", tmp_path / "t.pth", "truncated")
    (tmp_path / "t.pth").write_text("not a checkpoint at all")
    _fails(tmp_path, "var", tmp_path / "t.pth", "truncated or not a PyTorch checkpoint")


def test_missing_and_unexpected_keys_are_named(tmp_path):
    sd = _var_state()
    del sd["decoder.conv_out.weight"], sd["encoder.mid.block_2.conv1.bias"]
    torch.save(sd, tmp_path / "m.pth")
    e = _fails(tmp_path, "var", tmp_path / "m.pth", "2 missing keys")
    assert "decoder.conv_out.weight" in e.message and "encoder.mid.2.conv1.bias" in e.message
    sd = _var_state()
    sd["quantize.extra_thing"] = torch.zeros(3)
    sd["encoder.down.0.block.0.conv9.weight"] = torch.zeros(1)
    torch.save(sd, tmp_path / "u.pth")
    e = _fails(tmp_path, "var", tmp_path / "u.pth", "2 unexpected keys")
    assert "quantize.extra_thing" in e.message
    sd = _var_state()
    sd["decoder.conv_out.weight"] = torch.zeros(3, 8, 1, 1)
    torch.save(sd, tmp_path / "s.pth")
    _fails(tmp_path, "var", tmp_path / "s.pth", r"decoder.conv_out.weight is \[3, 8, 1, 1\], expected \[3, 8, 3, 3\]")


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


def test_pickle_that_executes_code_is_refused(tmp_path, capsys):
    torch.save({"model": _var_state(), "x": _Evil()}, tmp_path / "evil.pth")
    _fails(tmp_path, "var", tmp_path / "evil.pth", r"would execute code \(builtins.print\)")
    assert "pwned" not in capsys.readouterr().out


def test_lightning_checkpoint_reads_without_lightning():
    assert "pytorch_lightning" not in sys.modules
    obj = torch_load_checkpoint(SOURCES["taming"] / "ckpts" / "last.ckpt")
    (cls,) = obj["callbacks"]
    assert cls.__module__ == "pytorch_lightning.callbacks.model_checkpoint" and cls.__name__ == "ModelCheckpoint"
    assert obj["pytorch-lightning_version"] == "1.0.8" and "state_dict" in obj
    assert "pytorch_lightning" not in sys.modules  # a stand-in class, nothing imported


def test_taming_config_is_checked_against_tensors(tmp_path):
    import yaml

    cfg = yaml.safe_load((SOURCES["taming"] / "configs" / "model.yaml").read_text())
    cfg["model"]["params"]["n_embed"] = 128
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(cfg))
    _fails(tmp_path, "taming", SOURCES["taming"], r"says codebook_size=128 but .* codebook_size=64",
           config=str(tmp_path / "bad.yaml"))  # fmt: skip
    _fails(tmp_path, "taming", SOURCES["taming"], r"says ch=128 but", config="vqgan_imagenet_f16_1024")
    _fails(tmp_path, "taming", SOURCES["taming"], "neither a file nor a published name", UsageError, config="nope")


def test_taming_without_yaml_reads_the_tensors(tmp_path):
    ckpt = tmp_path / "last.ckpt"
    shutil.copy(SOURCES["taming"] / "ckpts" / "last.ckpt", ckpt)
    r = import_checkpoint("taming", ckpt, tmp_path / "o")
    assert any("read from the tensors" in n for n in r["notes"]) and [f["name"] for f in r["source_files"]] == [
        "last.ckpt"
    ]
    _fails(tmp_path, "taming", tmp_path / "o", "no ckpts/last.ckpt")


def test_out_and_options_are_checked(tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "notes.txt").write_text("mine")
    with pytest.raises(UsageError, match="exists and is not a tokkit checkpoint"):
        import_checkpoint("var", SOURCES["var"], tmp_path / "out")
    assert (tmp_path / "out" / "notes.txt").read_text() == "mine"
    with pytest.raises(UsageError, match="'var' takes no --sample"):
        import_checkpoint("var", SOURCES["var"], tmp_path / "o2", sample=True)
    with pytest.raises(UsageError, match="unknown import family"):
        import_checkpoint("vqgan", SOURCES["var"], tmp_path / "o2")
    with pytest.raises(DataError, match="does not exist; published names: vae_ch160v4096z32"):
        import_checkpoint("var", tmp_path / "missing.pth", tmp_path / "o2")
    # an existing tokkit checkpoint is replaced atomically
    import_checkpoint("var", SOURCES["var"], tmp_path / "o3")
    import_checkpoint("llamagen", SOURCES["llamagen"], tmp_path / "o3")
    assert json.loads((tmp_path / "o3" / "config.json").read_text())["architecture"] == "vqgan"


def test_var_config_file(tmp_path):
    (tmp_path / "c.json").write_text(json.dumps({"patch_nums": [1, 2, 4, 8, 16]}))
    r = import_checkpoint("var", SOURCES["var"], tmp_path / "o", config=str(tmp_path / "c.json"))
    assert r["published"]["v_patch_nums"] == [1, 2, 4, 8, 16]
    (tmp_path / "c.json").write_text(json.dumps({"patch_num": [1]}))
    _fails(tmp_path, "var", SOURCES["var"], "unknown VAR config keys: patch_num", config=str(tmp_path / "c.json"))


def test_published_name_offline_names_the_file(tmp_path, monkeypatch):
    from tokkit.errors import WeightsMissingError

    monkeypatch.setenv("TOKKIT_OFFLINE", "1")
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    with pytest.raises(WeightsMissingError, match=r"vq_ds16_c2i.pt are not on this machine"):
        import_checkpoint("llamagen", "vq_ds16_c2i", tmp_path / "o")
    assert not (tmp_path / "o").exists()
