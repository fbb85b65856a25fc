"""va-vae: LightningDiT's published VA-VAE layout -> tokkit vae, checked against LightningDiT's own outputs
(fixtures made by tests/fixtures/import/make_fixtures_vavae.py from hustvl/LightningDiT 2725fed)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tokkit.errors import DataError, UsageError
from tokkit.importers import import_checkpoint
from tokkit.importers._ldm import LDM_KEYS, infer_ldm_conv
from tokkit.io.checkpoint import load_tokenizer
from tokkit.tokenizers import create_tokenizer

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import"
SRC = FIX / "vavae" / "vavae_tiny.pt"
STATS = FIX / "vavae" / "latents_stats.pt"


@pytest.fixture(scope="module")
def ref():
    return load_file(str(FIX / "vavae" / "refs.safetensors"))


@pytest.fixture(scope="module")
def stats():
    s = torch.load(STATS, weights_only=True)
    return s["mean"], s["std"]


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    out = tmp_path_factory.mktemp("vavae") / "tok"
    return out, import_checkpoint("va-vae", SRC, out)


def test_latents_and_reconstructions_match_lightningdit(imported, ref, stats):
    out, summary = imported
    mean, std = stats
    assert summary["architecture"] == "vae" and summary["kind"] == "continuous"
    assert summary["upstream"]["repository"] == "hustvl/LightningDiT" and summary["upstream"]["commit"] == "2725fed"
    # latents_stats.pt beside the file is found and hashed with it
    assert [f["name"] for f in summary["source_files"]] == ["vavae_tiny.pt", "latents_stats.pt"]
    pub = summary["published"]
    assert pub["attn_levels"] == (1,) and pub["dec_attn_levels"] == (1,)  # 16x16 in encoder and decoder
    assert pub["latent_stats_from"] == "latents_stats.pt"
    torch.testing.assert_close(torch.tensor(pub["latents_std"], dtype=torch.float64), std.flatten().double())
    # the DINOv2, projection and loss tensors are named as dropped, nothing else is
    assert {d.split(".")[0] for d in summary["dropped"]} == {"foundation_model", "linear_proj", "loss"}
    tok = load_tokenizer(out)
    with torch.no_grad():
        t = tok.encode(ref["images"])
        recon = tok.decode(t)
    # tokkit's latents are what LightningDiT trains on: (posterior mean - mean) / std, per channel
    torch.testing.assert_close(t.latents, (ref["mean"] - mean) / std, atol=1e-4, rtol=0)
    torch.testing.assert_close(recon, ref["recon"], atol=1e-4, rtol=0)
    assert ref["recon"].abs().max() > 0.5 and ref["mean"].std() > 0.1  # a real signal


def test_sample_option_samples_the_posterior(tmp_path, ref, stats):
    import_checkpoint("va-vae", SRC, tmp_path / "s", sample=True, latent_stats=STATS)
    tok = load_tokenizer(tmp_path / "s")
    torch.manual_seed(123)  # the fixture's SAMPLE_SEED: the same draws as upstream posterior.sample()
    with torch.no_grad():
        t = tok.encode(ref["images"])
    mean, std = stats
    torch.testing.assert_close(t.latents, (ref["sample"] - mean) / std, atol=1e-4, rtol=0)
    torch.testing.assert_close(t.features, (ref["mean"] - mean) / std, atol=1e-4, rtol=0)
    assert (ref["sample"] - ref["mean"]).abs().max() > 1e-2


def test_without_stats_latents_are_the_raw_posterior(tmp_path, ref):
    shutil.copy(SRC, tmp_path / "vavae.pt")  # no latents_stats.pt beside it
    summary = import_checkpoint("va-vae", tmp_path / "vavae.pt", tmp_path / "raw")
    assert "latents_mean" not in summary["published"] and "raw posterior" in summary["notes"][0]
    with torch.no_grad():
        t = load_tokenizer(tmp_path / "raw").encode(ref["images"])
    torch.testing.assert_close(t.latents, ref["mean"], atol=1e-4, rtol=0)


def test_full_published_config_builds_with_the_same_keys():
    """AutoencoderKL(embed_dim=32, ch_mult=(1,1,2,2,4), model_type='vavae'): 342 tensors, 69.84M parameters."""
    ref = json.loads((FIX / "vavae" / "full_vavae_f16d32.json").read_text())
    assert ref["tensors"] == 342 and ref["parameters"] == 69_836_067
    state = {k: torch.empty(s, device="meta") for k, s in ref["keys"].items()}
    arch = infer_ldm_conv(state, "vavae.pt")
    assert arch["attn_levels"] == (4,) and arch["dec_attn_levels"] == (4,) and arch["latent_channels"] == 32
    with torch.device("meta"):
        tok = create_tokenizer("vae", **arch)
    converted, unexpected = LDM_KEYS.convert(state, levels=5)
    assert not unexpected
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in tok.state_dict().items()}
    assert sum(p.numel() for p in tok.parameters()) == ref["parameters"]
    assert sum(math.prod(v.shape) for v in converted.values()) == ref["parameters"]


def _published():
    return torch.load(SRC, weights_only=True)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_bytes(SRC.read_bytes()[:5000]), "truncated"),
        (
            lambda p: torch.save(
                {
                    **_published(),
                    "state_dict": {k: v for k, v in _published()["state_dict"].items() if "mid.attn_1.k" not in k},
                },
                p,
            ),
            "missing keys: encoder.mid.1.qkv.weight",
        ),  # fmt: skip
        (
            lambda p: torch.save(
                {"state_dict": {**_published()["state_dict"], "encoder.extra.weight": torch.ones(1)}}, p
            ),
            "unexpected keys: encoder.extra.weight",
        ),
        (lambda p: shutil.copy(FIX / "mar_kl16_tiny.ckpt", p), "MAR's KL-16 layout"),
        (lambda p: shutil.copy(FIX / "taming" / "vqgan_tiny" / "ckpts" / "last.ckpt", p), "is a 'taming' checkpoint"),
    ],
    ids=["truncated", "missing", "unexpected", "mar-file", "taming-file"],
)
def test_bad_files_are_one_clear_error_and_write_nothing(tmp_path, make, message):
    src = tmp_path / "vavae.pt"
    make(src)
    with pytest.raises(DataError) as e:
        import_checkpoint("va-vae", src, tmp_path / "out")
    assert message in str(e.value).splitlines()[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vavae.pt"]


def test_a_va_vae_file_given_to_mar_kl16_is_named(tmp_path):
    with pytest.raises(DataError, match="is a 'va-vae' checkpoint, not 'mar-kl16'"):
        import_checkpoint("mar-kl16", SRC, tmp_path / "out")


def test_bad_stats_and_options(tmp_path):
    torch.save({"mean": torch.zeros(1, 3, 1, 1), "std": torch.ones(1, 3, 1, 1)}, tmp_path / "s3.pt")
    with pytest.raises(DataError, match="stats for 3/3 channels, the VAE has 4"):
        import_checkpoint("va-vae", SRC, tmp_path / "o", latent_stats=tmp_path / "s3.pt")
    torch.save({"mu": torch.zeros(4)}, tmp_path / "bad.pt")
    with pytest.raises(DataError, match="no 'mean' and 'std'"):
        import_checkpoint("va-vae", SRC, tmp_path / "o", latent_stats=tmp_path / "bad.pt")
    with pytest.raises(DataError, match="does not exist"):
        import_checkpoint("va-vae", SRC, tmp_path / "o", latent_stats=tmp_path / "nope.pt")
    with pytest.raises(UsageError, match="takes no --smaple"):
        import_checkpoint("va-vae", SRC, tmp_path / "o", smaple=True)
    assert not (tmp_path / "o").exists()


def test_cli_imports_with_latent_stats_and_lists_the_family(cli, tmp_path):
    res = cli("import", "--list")
    assert res.exit_code == 0 and "va-vae" in res.stdout
    shutil.copy(SRC, tmp_path / "v.pt")
    res = cli("import", "va-vae", tmp_path / "v.pt", "--out", tmp_path / "o", "--latent-stats", STATS, "--json")
    assert res.exit_code == 0, res.stderr or res.stdout
    assert json.loads(res.stdout.strip().splitlines()[0])["published"]["latent_stats_from"] == "latents_stats.pt"
