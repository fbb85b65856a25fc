"""dc-ae: a diffusers AutoencoderDC folder -> tokkit dcae, checked live against diffusers (0.42.1) itself.

The sources are tiny random-weight AutoencoderDC models with the published block layouts (dc-ae-f32c32-sana-1.0:
stride-2 conv / nearest up, multi-scale attention; dc-ae-f32c32-in-1.0: pixel (un)shuffle, empty first stage,
BatchNorm decoder stages) at narrow widths, saved with save_pretrained as the hub folders are.
"""

from __future__ import annotations

import json

import pytest
import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers import import_checkpoint
from tokkit.importers.dcae import DEFAULTS, PUBLISHED, dcae_args, read_config, to_tokkit
from tokkit.io.checkpoint import load_tokenizer
from tokkit.tokenizers import create_tokenizer

diffusers = pytest.importorskip("diffusers", reason="diffusers (dev extra) is the oracle and makes the sources")

SANA = PUBLISHED["dc-ae-f32c32-sana-1.0"]  # the hub config.json entries
IN = PUBLISHED["dc-ae-f32c32-in-1.0"]
NARROW = dict(latent_channels=16, attention_head_dim=8, encoder_block_out_channels=[8, 16, 16, 32, 32, 64],
              decoder_block_out_channels=[8, 16, 16, 32, 32, 64])  # fmt: skip
LAYOUTS = {"sana": SANA, "in": IN}


def _tiny(layout: str):
    torch.manual_seed(0)
    model = diffusers.AutoencoderDC(**{**LAYOUTS[layout], **NARROW}).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random running statistics and perturbed weights: every layer matters
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.running_var.shape, generator=g) + 0.5)
        for p in model.parameters():
            p.add_(torch.randn(p.shape, generator=g) * 0.05)
    return model


@pytest.fixture(scope="module", params=sorted(LAYOUTS))
def pair(request, tmp_path_factory):
    root = tmp_path_factory.mktemp(f"dcae-{request.param}")
    model = _tiny(request.param)
    model.save_pretrained(root / "vae")
    summary = import_checkpoint("dc-ae", root / "vae", root / "out")
    return request.param, model, load_tokenizer(root / "out"), summary


@pytest.mark.parametrize("size", [64, 128])
def test_latents_and_reconstructions_match_diffusers(pair, size):
    """At 64 px the last stage (2x2 = 4 positions <= head dim 8) takes the quadratic attention path, the others
    the linear one; at 128 px all are linear. Latents are ~10 in magnitude (random weights): fp32 noise alone is
    ~3e-5 there (diffusers fp32 vs float64), so 1e-4 absolute is what fp32 allows, checked beside it."""
    layout, model, tok, summary = pair
    scale = LAYOUTS[layout]["scaling_factor"]
    x = torch.rand(2, 3, size, size, generator=torch.Generator().manual_seed(size)) * 2 - 1
    with torch.no_grad():
        z = model.encode(x).latent
        recon = model.decode(z).sample
        t = tok.encode(x)
        ours = tok.decode(t)
        z64 = model.double().encode(x.double()).latent
        model.float()
    assert summary["architecture"] == "dcae" and summary["published"]["scaling_factor"] == scale
    assert t.latents.shape == (2, 16, size // 32, size // 32)
    torch.testing.assert_close(t.latents, z * scale, atol=1e-4 * scale, rtol=0)
    torch.testing.assert_close(ours, recon, atol=1e-4, rtol=0)
    # tokkit's fp32 error is of the same order as diffusers' own fp32 error against float64
    assert (t.latents / scale - z).abs().max() <= 3 * (z.double() - z64).abs().max() + 1e-6
    assert recon.std() > 0.3 and z.std() > 1  # a real signal


def test_decoded_latents_matter(pair):
    _, _, tok, _ = pair
    x = torch.rand(2, 3, 64, 64, generator=torch.Generator().manual_seed(3)) * 2 - 1
    with torch.no_grad():
        t = tok.encode(x)
        a = tok.decode(t)
        t.latents = t.latents.flip(0)
        b = tok.decode(t)
    assert (a - b.flip(0)).abs().max() < 1e-5 and (a[0] - a[1]).abs().max() > 0.1


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_published_configs_build_with_diffusers_keys_and_shapes(layout):
    """The full published configs (sana 312.25M, in 323.36M parameters): tokkit's state dict is diffusers'
    key for key, with q/k/v fused into one 1x1 conv."""
    with torch.device("meta"):
        ref = diffusers.AutoencoderDC(**LAYOUTS[layout])
        tok = create_tokenizer("dcae", **dcae_args({**DEFAULTS, **LAYOUTS[layout]}))
        preset = create_tokenizer("dcae" if layout == "sana" else "dcae-f32c32-in")
    converted, unexpected = to_tokkit(dict(ref.state_dict()))
    assert not unexpected
    shapes = {k: tuple(v.shape) for k, v in tok.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in converted.items()} == shapes
    assert {k: tuple(v.shape) for k, v in preset.state_dict().items()} == shapes and preset.config == tok.config
    n = sum(p.numel() for p in ref.parameters())
    assert sum(p.numel() for p in tok.parameters()) == n == {"sana": 312_250_275, "in": 323_356_460}[layout]


def test_config_defaults_are_the_ones_diffusers_applies(tmp_path):
    """The hub configs omit the shortcut / conv-act keys: the defaults must be diffusers' (true, true, relu)."""
    cfg = {"_class_name": "AutoencoderDC", **SANA}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    args = dcae_args(read_config(tmp_path / "config.json"))
    with torch.device("meta"):
        ref = diffusers.AutoencoderDC(**SANA)
    assert args["encoder_out_shortcut"] is ref.config.encoder_out_shortcut is True
    assert args["decoder_in_shortcut"] is ref.config.decoder_in_shortcut is True
    assert args["decoder_conv_act_fn"] == ref.config.decoder_conv_act_fn == "relu"
    assert args["downsample_block_type"] == "conv" and args["decoder_norm_types"] == ("rms_norm",) * 6


def _folder(tmp_path):
    _tiny("sana").save_pretrained(tmp_path / "vae")
    return tmp_path / "vae"


def test_bad_sources_are_one_clear_error(tmp_path):
    src = _folder(tmp_path)
    out = tmp_path / "out"
    from safetensors.torch import load_file, save_file

    weights = src / "diffusion_pytorch_model.safetensors"
    state = load_file(str(weights))
    del state["decoder.conv_out.weight"]
    save_file({**state, "encoder.extra.weight": torch.ones(1)}, str(weights))
    with pytest.raises(DataError, match="missing keys: decoder.conv_out.weight; unexpected keys: encoder.extra.weight"):
        import_checkpoint("dc-ae", src, out)
    diffusers.AutoencoderKL(block_out_channels=[32], latent_channels=4).save_pretrained(tmp_path / "kl")
    with pytest.raises(DataError, match="describes AutoencoderKL, not a diffusers AutoencoderDC"):
        import_checkpoint("dc-ae", tmp_path / "kl", out)
    (tmp_path / "kl" / "config.json").unlink()
    with pytest.raises(DataError, match="no config.json"):
        import_checkpoint("dc-ae", tmp_path / "kl", out)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds none of"):
        import_checkpoint("dc-ae", tmp_path / "empty", out)
    with pytest.raises(UsageError, match="takes no --sample"):
        import_checkpoint("dc-ae", src, out, sample=True)
    assert not out.exists()


def test_diffusers_vae_names_a_dc_ae_folder(tmp_path):
    with pytest.raises(DataError, match="describes AutoencoderDC, not a diffusers AutoencoderKL"):
        import_checkpoint("diffusers-vae", _folder(tmp_path), tmp_path / "out")


def test_cli_lists_and_imports(cli, tmp_path):
    res = cli("import", "--list")
    assert res.exit_code == 0 and "dc-ae" in res.stdout
    res = cli("import", "dc-ae", _folder(tmp_path), "--out", tmp_path / "o", "--json")
    assert res.exit_code == 0, res.stderr or res.stdout
    assert json.loads(res.stdout.strip().splitlines()[0])["architecture"] == "dcae"
