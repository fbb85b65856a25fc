"""diffusers-vae: AutoencoderKL folders and single files -> tokkit vae, compared live with diffusers
(dev extra) on small random-weight configs of the published architectures."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch

diffusers = pytest.importorskip("diffusers", reason="diffusers (dev extra) is the reference for diffusers-vae")

from diffusers import AutoencoderKL  # noqa: E402
from safetensors.torch import save_file  # noqa: E402

from tokkit.errors import DataError, UsageError  # noqa: E402
from tokkit.importers import import_checkpoint  # noqa: E402
from tokkit.importers.diffusers_vae import DEFAULTS, PUBLISHED, to_tokkit, vae_args  # noqa: E402
from tokkit.io.checkpoint import load_tokenizer  # noqa: E402
from tokkit.tokenizers import create_tokenizer  # noqa: E402

SMALL = dict(
    block_out_channels=[32, 64],
    down_block_types=["DownEncoderBlock2D"] * 2,
    up_block_types=["UpDecoderBlock2D"] * 2,
    layers_per_block=1,
    norm_num_groups=32,
    sample_size=32,
)
STYLES = {
    "sd": dict(SMALL, latent_channels=4, scaling_factor=0.18215),
    "flux": dict(SMALL, latent_channels=16, use_quant_conv=False, use_post_quant_conv=False,
                 scaling_factor=0.3611, shift_factor=0.1159),
    "sd3": dict(SMALL, latent_channels=16, use_quant_conv=False, use_post_quant_conv=False,
                scaling_factor=1.5305, shift_factor=0.0609),
    # SDXL-pipeline per-channel statistics (latents_mean/std)
    "per-channel": dict(SMALL, latent_channels=4, scaling_factor=0.5,
                        latents_mean=[0.1, -0.2, 0.3, 0.0], latents_std=[1.0, 2.0, 0.5, 1.5]),
}  # fmt: skip
IMAGES = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1


def reference(style: str) -> AutoencoderKL:
    torch.manual_seed(0)
    ref = AutoencoderKL(**STYLES[style]).eval()
    with torch.no_grad():  # perturb zero-initialised biases/norms so every tensor matters
        for p in ref.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return ref


def pipeline_latents(ref: AutoencoderKL, z: torch.Tensor) -> torch.Tensor:
    """What diffusers' pipelines feed the diffusion model (SD, SD3/FLUX, SDXL latents_mean/std)."""
    c = ref.config
    if c.latents_mean is not None:
        mean = torch.tensor(c.latents_mean).view(1, -1, 1, 1)
        std = torch.tensor(c.latents_std).view(1, -1, 1, 1)
        return (z - mean) * c.scaling_factor / std
    return (z - (c.shift_factor or 0.0)) * c.scaling_factor


def pipeline_decode(ref: AutoencoderKL, latents: torch.Tensor) -> torch.Tensor:
    c = ref.config
    if c.latents_mean is not None:
        mean = torch.tensor(c.latents_mean).view(1, -1, 1, 1)
        std = torch.tensor(c.latents_std).view(1, -1, 1, 1)
        return ref.decode(latents * std / c.scaling_factor + mean).sample
    return ref.decode(latents / c.scaling_factor + (c.shift_factor or 0.0)).sample


def check_equal(tok, ref: AutoencoderKL) -> None:
    with torch.no_grad():
        posterior = ref.encode(IMAGES).latent_dist
        t = tok.encode(IMAGES)
        want = pipeline_latents(ref, posterior.mode())
        torch.testing.assert_close(t.latents, want, atol=1e-4, rtol=0)
        torch.testing.assert_close(tok.decode(t), pipeline_decode(ref, want), atol=1e-4, rtol=0)


@pytest.mark.parametrize("style", sorted(STYLES))
def test_folder_import_matches_diffusers(tmp_path, style):
    ref = reference(style)
    ref.save_pretrained(tmp_path / "vae")
    summary = import_checkpoint("diffusers-vae", tmp_path / "vae", tmp_path / "out")
    assert summary["upstream"]["repository"] == "diffusers"
    assert {f["name"] for f in summary["source_files"]} == {"diffusion_pytorch_model.safetensors", "config.json"}
    assert summary["published"]["scaling_factor"] == STYLES[style]["scaling_factor"]
    tok = load_tokenizer(tmp_path / "out")
    assert sum(p.numel() for p in tok.parameters()) == sum(p.numel() for p in ref.parameters())
    check_equal(tok, ref)


def test_sample_option_draws_as_diffusers(tmp_path):
    ref = reference("flux")
    ref.save_pretrained(tmp_path / "vae")
    import_checkpoint("diffusers-vae", tmp_path / "vae", tmp_path / "out", sample=True)
    tok = load_tokenizer(tmp_path / "out")
    with torch.no_grad():
        torch.manual_seed(7)
        want = pipeline_latents(ref, ref.encode(IMAGES).latent_dist.sample())
        torch.manual_seed(7)
        got = tok.encode(IMAGES).latents
    torch.testing.assert_close(got, want, atol=1e-4, rtol=0)


def _legacy(key: str) -> str:
    """diffusers < 0.14 attention names (AttentionBlock), which current diffusers still reads."""
    for new, old in (("to_q", "query"), ("to_k", "key"), ("to_v", "value"), ("to_out.0", "proj_attn")):
        key = key.replace(f"attentions.0.{new}.", f"attentions.0.{old}.")
    return key


def _ldm(key: str, levels: int) -> str:
    """diffusers -> LDM/CompVis names (the layout of SD .ckpt files)."""
    key = re.sub(r"down_blocks\.(\d+)\.resnets\.", r"down.\1.block.", key)
    key = re.sub(r"down_blocks\.(\d+)\.downsamplers\.0\.", r"down.\1.downsample.", key)
    key = re.sub(r"up_blocks\.(\d+)\.resnets\.", lambda m: f"up.{levels - 1 - int(m[1])}.block.", key)
    key = re.sub(r"up_blocks\.(\d+)\.upsamplers\.0\.", lambda m: f"up.{levels - 1 - int(m[1])}.upsample.", key)
    for new, old in (("mid_block.resnets.0", "mid.block_1"), ("mid_block.resnets.1", "mid.block_2"),
                     ("mid_block.attentions.0", "mid.attn_1"), ("conv_norm_out", "norm_out"),
                     ("conv_shortcut", "nin_shortcut"), ("attn_1.group_norm", "attn_1.norm"),
                     ("attn_1.to_q", "attn_1.q"), ("attn_1.to_k", "attn_1.k"), ("attn_1.to_v", "attn_1.v"),
                     ("attn_1.to_out.0", "attn_1.proj_out")):  # fmt: skip
        key = key.replace(new, old)
    return key


def test_legacy_attention_names(tmp_path):
    ref = reference("sd")
    ref.save_pretrained(tmp_path / "vae")
    state = {_legacy(k): v.contiguous() for k, v in ref.state_dict().items()}
    assert any(".query." in k for k in state)
    save_file(state, str(tmp_path / "vae" / "diffusion_pytorch_model.safetensors"))
    assert AutoencoderKL.from_pretrained(tmp_path / "vae") is not None  # diffusers reads the file too
    import_checkpoint("diffusers-vae", tmp_path / "vae", tmp_path / "out")
    check_equal(load_tokenizer(tmp_path / "out"), ref)


def test_ldm_single_file_in_a_whole_sd_checkpoint(tmp_path):
    """An SD-style .ckpt: LDM names under first_stage_model. beside the UNet; --config gives the rest."""
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    ref = reference("sd")
    ldm = {_ldm(k, 2): (v[:, :, None, None] if v.ndim == 2 else v) for k, v in ref.state_dict().items()}
    # the fixture is a genuine LDM file: diffusers' own converter turns it back into the reference
    back = convert_ldm_vae_checkpoint({f"first_stage_model.{k}": v for k, v in ldm.items()}, dict(ref.config))
    again = AutoencoderKL(**STYLES["sd"])
    again.load_state_dict(back, strict=True)
    assert all(torch.equal(a, b) for a, b in zip(again.state_dict().values(), ref.state_dict().values(), strict=True))
    full = {**{f"first_stage_model.{k}": v for k, v in ldm.items()}, "model.diffusion_model.x.weight": torch.ones(2)}
    torch.save({"state_dict": full}, tmp_path / "sd.ckpt")
    (tmp_path / "cfg.json").write_text(json.dumps(dict(ref.config)))
    with pytest.raises(UsageError, match="give --config"):
        import_checkpoint("diffusers-vae", tmp_path / "sd.ckpt", tmp_path / "out")
    summary = import_checkpoint(
        "diffusers-vae", tmp_path / "sd.ckpt", tmp_path / "out", config=str(tmp_path / "cfg.json")
    )
    assert summary["dropped"] == ["model.*"]
    check_equal(load_tokenizer(tmp_path / "out"), ref)


def test_fp16_file_is_upcast(tmp_path):
    ref = reference("flux")
    vae = tmp_path / "pipeline" / "vae"  # a pipeline folder: its vae/ is found
    ref.save_pretrained(vae)
    (vae / "diffusion_pytorch_model.safetensors").unlink()
    half = {k: v.half().contiguous() for k, v in ref.state_dict().items()}
    save_file(half, str(vae / "diffusion_pytorch_model.fp16.safetensors"))
    summary = import_checkpoint("diffusers-vae", tmp_path / "pipeline", tmp_path / "out")
    assert summary["published"]["weights_dtype"] == ["float16"] and any("upcast" in n for n in summary["notes"])
    ref.load_state_dict({k: v.float() for k, v in half.items()})  # the reference run in fp32, as force_upcast
    tok = load_tokenizer(tmp_path / "out")
    assert all(p.dtype == torch.float32 for p in tok.parameters())
    check_equal(tok, ref)


def test_bad_inputs_are_one_clear_line(tmp_path):
    ref = reference("sd")
    ref.save_pretrained(tmp_path / "vae")
    weights = tmp_path / "vae" / "diffusion_pytorch_model.safetensors"
    cases = []
    # a config that does not fit the file: 16-channel config for a 4-channel file
    (tmp_path / "flux.json").write_text(json.dumps(STYLES["flux"]))
    cases.append((dict(src=weights, config=str(tmp_path / "flux.json")), DataError, "does not fit the vae"))
    (tmp_path / "trunc.safetensors").write_bytes(weights.read_bytes()[:4000])
    cases.append((dict(src=tmp_path / "trunc.safetensors", config="sd-vae-ft-ema"), DataError, "cannot read"))
    cases.append((dict(src=weights, config="sd9"), DataError, "published names: sd-vae-ft-ema"))
    mar = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "mar_kl16_tiny.ckpt"  # another family
    cases.append((dict(src=mar, config="sd-vae-ft-ema"), DataError, "does not fit the vae"))
    (tmp_path / "empty").mkdir()
    cases.append((dict(src=tmp_path / "empty"), DataError, "not a diffusers VAE folder"))
    (tmp_path / "unet.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel"}))
    cases.append((dict(src=weights, config=str(tmp_path / "unet.json")), DataError, "not a diffusers AutoencoderKL"))
    (tmp_path / "groups.json").write_text(json.dumps({**STYLES["sd"], "norm_num_groups": 16}))
    cases.append((dict(src=weights, config=str(tmp_path / "groups.json")), DataError, "norm_num_groups=16"))
    for kw, err, message in cases:
        with pytest.raises(err) as e:
            import_checkpoint("diffusers-vae", out=tmp_path / "out", **kw)
        assert message in str(e.value) and "\n" not in str(e.value), (kw, str(e.value))
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("name", ["sd-vae-ft-ema", "flux1"])
def test_full_published_config_has_the_reference_keys_and_size(name):
    """SD VAE 83,653,863 parameters; FLUX.1 VAE (16 ch, no quant convs): keys/shapes of diffusers' model
    converted by the importer's table fill tokkit's model exactly, so a real file loads strictly."""
    cfg = {**DEFAULTS, **PUBLISHED[name]}
    with torch.device("meta"):
        ref = AutoencoderKL(**{k: v for k, v in cfg.items() if k in DEFAULTS})
        tok = create_tokenizer("vae", **vae_args(cfg, name))
    n_ref = sum(p.numel() for p in ref.parameters())
    assert n_ref == {"sd-vae-ft-ema": 83_653_863, "flux1": 83_819_683}[name]
    assert sum(p.numel() for p in tok.parameters()) == n_ref
    converted, unexpected, dropped = to_tokkit(ref.state_dict(), levels=4)
    assert not unexpected and not dropped
    converted["encoder.mid.1.proj.weight"] = converted["encoder.mid.1.proj.weight"][:, :, None, None]
    converted["decoder.mid.1.proj.weight"] = converted["decoder.mid.1.proj.weight"][:, :, None, None]
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in tok.state_dict().items()}
