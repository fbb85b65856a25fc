"""mar-kl16: MAR's kl16.ckpt layout -> tokkit vae, checked against MAR's own outputs (fixtures made by
tests/fixtures/import/make_fixtures_kl.py from LTH14/mar fe470ac)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tokkit.errors import DataError
from tokkit.importers import import_checkpoint
from tokkit.importers._keymap import load_strict
from tokkit.importers._ldm import LDM_KEYS, infer_ldm_conv
from tokkit.importers.mar import LATENT_SCALE
from tokkit.io.checkpoint import load_tokenizer
from tokkit.tokenizers import create_tokenizer

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
CKPT = FIX / "mar_kl16_tiny.ckpt"


@pytest.fixture(scope="module")
def ref():
    return load_file(str(FIX / "mar_kl16_tiny_ref.safetensors"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("mar") / "kl16"
    summary = import_checkpoint("mar-kl16", CKPT, out)
    return out, summary


def test_latents_and_reconstructions_match_mar(imported, ref):
    out, summary = imported
    assert summary["architecture"] == "vae" and summary["kind"] == "continuous"
    assert summary["upstream"]["repository"] == "LTH14/mar" and summary["upstream"]["commit"] == "fe470ac"
    assert summary["source_files"][0]["name"] == "mar_kl16_tiny.ckpt"
    assert len(summary["source_files"][0]["sha256"]) == 64
    assert summary["published"]["latent_scale"] == LATENT_SCALE
    # the tiny file has MAR's layout: encoder attention at the last level, none in the decoder up-blocks
    assert summary["published"]["attn_levels"] == (2,) and summary["published"]["dec_attn_levels"] == ()
    tok = load_tokenizer(out)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["args"]["latent_scale"] == LATENT_SCALE and cfg["provenance"]["imported"]["family"] == "mar-kl16"
    with torch.no_grad():
        t = tok.encode(ref["images"])
        recon = tok.decode(t)
    # tokkit's latents are what MAR's generator sees: posterior mean x 0.2325
    torch.testing.assert_close(t.latents, ref["mean"] * LATENT_SCALE, atol=1e-4, rtol=0)
    torch.testing.assert_close(recon, ref["recon"], atol=1e-4, rtol=0)
    assert ref["recon"].abs().max() > 0.5  # a real signal, not a near-zero output


def test_sample_option_samples_the_posterior_as_mar(tmp_path, ref):
    import_checkpoint("mar-kl16", CKPT, tmp_path / "s", sample=True)
    tok = load_tokenizer(tmp_path / "s")
    torch.manual_seed(123)  # the fixture's SAMPLE_SEED: same RNG draws as MAR's posterior.sample()
    with torch.no_grad():
        t = tok.encode(ref["images"])
    torch.testing.assert_close(t.latents, ref["sample"] * LATENT_SCALE, atol=1e-4, rtol=0)
    torch.testing.assert_close(t.features, ref["mean"] * LATENT_SCALE, atol=1e-4, rtol=0)
    assert (ref["sample"] - ref["mean"]).abs().max() > 1e-2


def test_full_published_config_loads_strictly():
    """MAR's AutoencoderKL(embed_dim=16, ch_mult=(1,1,2,2,4)): 312 tensors, 66.46M parameters (keys and
    shapes from MAR's code, recorded by the fixture script) fill tokkit's ``vae`` preset exactly."""
    ref = json.loads((FIX / "mar_kl16_keys.json").read_text())
    assert ref["tensors"] == 312 and ref["parameters"] == 66_456_019
    state = {k: torch.empty(s, device="meta") for k, s in ref["keys"].items()}
    arch = infer_ldm_conv(state, "kl16.ckpt")
    with torch.device("meta"):
        preset = create_tokenizer("vae")
        tok = create_tokenizer("vae", **arch)
    assert all(getattr(preset.config, k) == v for k, v in arch.items()), arch
    converted, unexpected = LDM_KEYS.convert(state, levels=5)
    assert not unexpected
    expected = tok.state_dict()
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in expected.items()}
    assert sum(p.numel() for p in tok.parameters()) == ref["parameters"]
    assert sum(math.prod(v.shape) for v in converted.values()) == ref["parameters"]


def _state():
    return torch.load(CKPT, weights_only=True)["model"]


class _Evil:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(CKPT.read_bytes()[:5000]), "cannot read weights"),
        (lambda p: torch.save({"model": {**_state(), "oops": _Evil()}}, p), "tensors only"),
        (
            lambda p: torch.save({"model": {k: v for k, v in _state().items() if "mid.attn_1.k" not in k}}, p),
            "missing keys: encoder.mid.1.qkv.weight",
        ),
        (
            lambda p: torch.save({"model": {**_state(), "encoder.extra.weight": torch.ones(1)}}, p),
            "unexpected keys: encoder.extra.weight",
        ),
        (
            lambda p: torch.save({"model": {"encoder.down_blocks.0.resnets.0.conv1.weight": torch.ones(1)}}, p),
            "not a MAR KL-16 checkpoint",
        ),
    ],
    ids=["truncated", "pickled-code", "missing", "unexpected", "other-family"],
)
def test_bad_files_are_one_clear_error_and_write_nothing(tmp_path, make, message):
    src = tmp_path / "kl16.ckpt"
    make(src)
    with pytest.raises(DataError) as e:
        import_checkpoint("mar-kl16", src, tmp_path / "out")
    # the first line says it (torch.load's own multi-line text may follow: the safe loader's business)
    assert message in str(e.value).splitlines()[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kl16.ckpt"]


def test_load_strict_names_shape_mismatches():
    tok = create_tokenizer("vae-tiny")
    state = {k: v.clone() for k, v in tok.state_dict().items()}
    state["quant_conv.bias"] = torch.zeros(3)
    with pytest.raises(DataError, match=r"shape mismatch: quant_conv.bias \(3,\) != \(8,\)"):
        load_strict(tok, state, "x.ckpt")


def test_latent_scale_settings_are_checked():
    from tokkit.errors import UsageError

    with pytest.raises(UsageError, match="latent_shift has 2 values for 4"):
        create_tokenizer("vae-tiny", latent_shift=(0.1, 0.2))
    with pytest.raises(UsageError, match="must not be 0"):
        create_tokenizer("vae-tiny", latent_scale=0.0)
    with pytest.raises(UsageError, match="z_channels == latent_channels"):
        create_tokenizer("vae-tiny", use_quant_conv=False, latent_channels=8)


def test_unknown_option_is_a_usage_error(tmp_path):
    from tokkit.errors import UsageError

    with pytest.raises(UsageError, match="takes no option.s. smaple"):
        import_checkpoint("mar-kl16", CKPT, tmp_path / "out", smaple=True)
    assert not (tmp_path / "out").exists()


def test_vae_checkpoints_saved_before_these_fields_still_load(tmp_path):
    from tokkit.io.checkpoint import save_checkpoint

    tok = create_tokenizer("vae-tiny").eval()
    save_checkpoint(tok, tmp_path / "old")
    cfg = json.loads((tmp_path / "old" / "config.json").read_text())
    new = ("dec_attn_levels", "use_quant_conv", "use_post_quant_conv", "latent_scale", "latent_shift", "encode_sample")
    cfg["args"] = {k: v for k, v in cfg["args"].items() if k not in new}  # as v0.1.0 wrote it
    (tmp_path / "old" / "config.json").write_text(json.dumps(cfg))
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        torch.testing.assert_close(load_tokenizer(tmp_path / "old").reconstruct(x), tok.reconstruct(x))
