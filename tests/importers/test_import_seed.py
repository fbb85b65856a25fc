"""IBQ and Open-MAGVIT2 imports (TencentARC/SEED-Voken b9a17ea) against the upstream code.

The fixtures (tests/fixtures/import/make_fixtures_seed.py) are tiny random-weight models built by the
upstream classes and saved as lightning ``.ckpt`` dicts with raw AND EMA (``model_ema.*``) tensors, the
EMA ones noisier copies of the raw ones; the references are what ``reconstruct_image.py`` computes in
``ema_scope()`` (and, for ``*_raw``, outside it).

Tie rules for "indices identical": IBQ picks the largest dot product in float32, whose rounding noise
is ~1e-6 relative; a token may differ only where tokkit's best and second-best dot products are within
1e-4 (times max(1, |best|)). LFQ takes signs: a token may differ only where some channel has |z| < 5e-5.
Both rules are checked to cover few tokens, so the exactness claim is not vacuous.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tokkit.errors import DataError, UsageError
from tokkit.importers import import_checkpoint
from tokkit.io.checkpoint import load_tokenizer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"
SOURCES = {
    "ibq": FIXTURES / "ibq" / "imagenet256_tiny.ckpt",
    "open-magvit2": FIXTURES / "open_magvit2" / "imagenet_tiny_L.ckpt",
}
FAMILIES = sorted(SOURCES)


def refs(family: str) -> dict[str, torch.Tensor]:
    return load_file(str(SOURCES[family].parent / "refs.safetensors"))


def imported(family: str, out: Path, **options):
    import_checkpoint(family, SOURCES[family], out, **options)
    return load_tokenizer(out)


def near_ties(family: str, tok, features: torch.Tensor) -> torch.Tensor:
    """(B, h, w) bool: tokens where the family's tie rule allows another index."""
    z = features.permute(0, 2, 3, 1)  # (B, h, w, D)
    if family == "open-magvit2":
        return (z.abs() < 5e-5).any(-1)
    top = (z @ tok.quantizer.codebook.codes().t()).topk(2, dim=-1).values
    return (top[..., 0] - top[..., 1]) < 1e-4 * top[..., 0].abs().clamp_min(1)


@pytest.mark.parametrize("family", FAMILIES)
def test_import_matches_reference(family, tmp_path):
    tok = imported(family, tmp_path / "t")
    ref = refs(family)
    with torch.no_grad():
        tokens = tok.encode(ref["images"])
        recon = tok.decode(tokens)
        from_quantized = tok.decode(type(tokens)("discrete", quantized=tokens.quantized))
    ties = near_ties(family, tok, tokens.features)
    assert ties.float().mean() < 0.05
    differ = tokens.indices != ref["indices"]
    assert not (differ & ~ties).any(), f"{int(differ.sum())} tokens differ outside the tie rule"
    torch.testing.assert_close(tokens.features, ref["features"], atol=1e-4, rtol=0)
    torch.testing.assert_close(recon, ref["recon"], atol=1e-4, rtol=0)
    torch.testing.assert_close(from_quantized, ref["recon"], atol=1e-4, rtol=0)
    # non-degenerate references: many codes, images that depend on the tokens
    assert tokens.indices.unique().numel() > 8 and ref["recon"].std() > 0.05
    assert (ref["recon"] - ref["recon_other"]).abs().mean() > 0.05


@pytest.mark.parametrize("family", FAMILIES)
def test_ema_weights_are_used_and_raw_on_request(family, tmp_path):
    ref = refs(family)
    assert (ref["indices"] == ref["indices_raw"]).float().mean() < 0.5  # EMA and raw differ
    state = torch.load(SOURCES[family], weights_only=True)["state_dict"]
    tok = imported(family, tmp_path / "ema")
    raw = imported(family, tmp_path / "raw", ema=False)
    w, src = ("quantizer.codebook.weight", "quantize.embedding.weight")
    if family == "open-magvit2":
        w, src = ("decoder.up.0.adanorm.gamma.weight", "decoder.adaptive.2.gamma.weight")
    assert torch.equal(tok.state_dict()[w], state["model_ema." + src.replace(".", "")])
    assert torch.equal(raw.state_dict()[w], state[src])
    with torch.no_grad():
        tokens = raw.encode(ref["images"])
        recon = raw.decode(tokens)
    assert torch.equal(tokens.indices, ref["indices_raw"])
    torch.testing.assert_close(recon, ref["recon_raw"], atol=1e-4, rtol=0)
    cfg = json.loads((tmp_path / "ema" / "config.json").read_text())["provenance"]["imported"]
    assert cfg["published"]["weights"] == "ema" and "lossconfig" not in cfg["published"]
    assert any("use_ema: true" in n for n in cfg["notes"])
    assert any(d.startswith("model_ema.") for d in cfg["dropped"])  # decay, num_updates (+ the loss's copies)


def test_ibq_dropped_names_and_dot_rule(tmp_path):
    out = tmp_path / "i"
    r = import_checkpoint("ibq", SOURCES["ibq"], out)
    # decay, num_updates and the discriminator's 4 EMA copies; the loss's 5 raw tensors
    assert r["dropped"][0] == "model_ema.* (6 tensors)" and "loss.discriminator.0.weight" in r["dropped"]
    assert r["upstream"]["repository"] == "TencentARC/SEED-Voken" and r["upstream"]["commit"] == "b9a17ea"
    assert [f["name"] for f in r["source_files"]] == ["imagenet256_tiny.ckpt", "imagenet256_tiny.yaml"]
    assert r["published"]["learning_rate"] == "1e-4"  # PyYAML reads it as a string; kept as published
    tok = load_tokenizer(out)
    assert tok.config.code_match == "dot" and tok.config.quant_proj
    ref = refs("ibq")
    tok.quantizer.code_match = "l2"  # the nearest code is another code almost everywhere
    with torch.no_grad():
        l2 = tok.encode(ref["images"]).indices
    assert (l2 == ref["indices"]).float().mean() < 0.5


def test_code_match_option_of_the_vq():
    from tokkit.layers.quantizer import VectorQuantizer

    q = VectorQuantizer(3, 2, code_match="dot").eval()
    with torch.no_grad():
        q.codebook.weight.copy_(torch.tensor([[1.0, 0.0], [3.0, 0.0], [0.0, 1.0]]))
        z = torch.tensor([1.0, 0.1]).view(1, 2, 1, 1)
        assert int(q(z).indices) == 1  # largest dot product (3.0), though code 0 is nearest
        assert int(q.snap(z)[0]) == 1
        q.code_match = "l2"
        assert int(q(z).indices) == 0
    with pytest.raises(ValueError, match="code_match"):
        VectorQuantizer(3, 2, code_match="cosine")


def test_magvit2_index_rule_and_upsampler():
    """LFQ: little-endian, z == 0 -> bit 0; the upsampler's DCR order (not pixel_shuffle's CRD)."""
    from tokkit.layers.magvit2 import Upsample
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("magvit2-tiny").eval()
    z = -torch.ones(1, 10, 1, 1)
    z[0, 0], z[0, 3], z[0, 5] = 0.5, 2.0, 0.0
    out = tok.quantize(z)
    assert int(out.indices) == 1 + 8
    up = Upsample(2)
    with torch.no_grad():
        up.conv.weight.zero_()
        up.conv.bias.copy_(torch.arange(8.0))  # conv channel (i * 2 + j) * C + c -> channel c, pixel (i, j)
        y = up(torch.zeros(1, 2, 1, 1))
    assert y[0, 0].flatten().tolist() == [0.0, 2.0, 4.0, 6.0] and y[0, 1].flatten().tolist() == [1.0, 3.0, 5.0, 7.0]
    crd = torch.nn.functional.pixel_shuffle(torch.arange(8.0).view(1, 8, 1, 1), 2)
    assert not torch.equal(y, crd)


def test_config_beside_given_or_absent(tmp_path):
    ckpt = tmp_path / "a" / "model.ckpt"
    ckpt.parent.mkdir()
    shutil.copy(SOURCES["open-magvit2"], ckpt)
    r = import_checkpoint("open-magvit2", ckpt, tmp_path / "no-yaml")  # no yaml: from the tensors, EMA
    assert any("configuration read from the tensors" in n for n in r["notes"]) and r["published"]["weights"] == "ema"
    yaml_src = SOURCES["open-magvit2"].with_suffix(".yaml")
    r = import_checkpoint("open-magvit2", ckpt, tmp_path / "given", config=str(yaml_src))
    assert r["source_files"][1]["name"] == "imagenet_tiny_L.yaml" and r["published"]["n_embed"] == 2**18
    text = yaml_src.read_text()
    (tmp_path / "a" / "other.yaml").write_text(text.replace("num_res_blocks: 2", "num_res_blocks: 4"))
    with pytest.raises(DataError, match="num_res_blocks=4 but the checkpoint's tensors have num_res_blocks=2"):
        import_checkpoint("open-magvit2", ckpt, tmp_path / "bad")
    (tmp_path / "a" / "second.yaml").write_text(text)
    with pytest.raises(UsageError, match="several yaml"):
        import_checkpoint("open-magvit2", ckpt, tmp_path / "two")
    (tmp_path / "a" / "model.yaml").write_text(text.replace("lfqgan.VQModel", "video_lfqgan.VQModel"))
    with pytest.raises(DataError, match="configures src.Open_MAGVIT2.models.video_lfqgan.VQModel") as e:
        import_checkpoint("open-magvit2", ckpt, tmp_path / "video")
    assert "\n" not in str(e.value)


EXTRA = torch.ones(2)


def _edited(family: str, tmp_path: Path, edit) -> Path:
    obj = torch.load(SOURCES[family], weights_only=True)
    edit(obj["state_dict"])
    src = tmp_path / SOURCES[family].name
    torch.save(obj, src)
    shutil.copy(SOURCES[family].with_suffix(".yaml"), src.with_suffix(".yaml"))
    return src


@pytest.mark.parametrize(
    ("family", "edit", "message"),
    [
        ("ibq", lambda s: s.pop("decoder.conv_out.bias"), "model_ema.decoderconv_outbias has no raw counterpart"),
        ("ibq", lambda s: [s.pop(k) for k in ("post_quant_conv.bias", "model_ema.post_quant_convbias")],
         "'imagenet256_tiny.ckpt' does not match: 1 missing keys: quantizer.project_out.bias"),
        ("ibq", lambda s: s.update({"model_ema.extraweight": torch.zeros(1)}), "model_ema.extraweight has no raw"),
        ("open-magvit2", lambda s: s.pop("model_ema.encoderconv_inweight"), "EMA copy lacks encoder.conv_in.weight"),
        ("open-magvit2", lambda s: [s.pop(k) for k in list(s) if k.endswith(("conv_out.bias", "conv_outbias"))],
         "missing keys: decoder.conv_out.bias, encoder.conv_out.bias"),
        ("open-magvit2", lambda s: s.update(dict.fromkeys(("quantize.extra", "model_ema.quantizeextra"), EXTRA)),
         "unexpected keys: quantize.extra"),
    ],
)  # fmt: skip
def test_strict_keys(family, edit, message, tmp_path):
    with pytest.raises(DataError, match=message) as e:
        import_checkpoint(family, _edited(family, tmp_path, edit), tmp_path / "out")
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("family", "src", "named"),
    [("ibq", SOURCES["open-magvit2"], "open-magvit2"), ("open-magvit2", SOURCES["ibq"], "ibq"),
     ("ibq", FIXTURES / "taming" / "vqgan_tiny" / "ckpts" / "last.ckpt", "taming")],
)  # fmt: skip
def test_wrong_family_is_one_line(family, src, named, tmp_path):
    with pytest.raises(DataError, match=f"is a '{named}' checkpoint, not '{family}'") as e:
        import_checkpoint(family, src, tmp_path / "out")
    assert "\n" not in str(e.value) and not (tmp_path / "out").exists()


def test_list_shows_the_families(cli):
    r = cli("import", "--list", "--json")
    assert r.exit_code == 0, r.stderr
    fams = {f["family"]: f for f in json.loads(r.stdout)["families"]}
    assert "imagenet_ibqgan" in fams["ibq"]["expects"] and "imagenet_256_L.ckpt" in fams["open-magvit2"]["expects"]


FULL = [
    ("ibq", "ibq/full_imagenet_ibqgan_16384.json", "configs/IBQ/gpu/imagenet_ibqgan_16384.yaml"),
    ("open_magvit2", "open_magvit2/full_imagenet_lfqgan_256_L.json", "imagenet_lfqgan_256_L.yaml"),
]


@pytest.mark.parametrize(("module", "path", "name"), FULL, ids=["ibq-16384", "open-magvit2-L"])
def test_full_published_config_loads_strictly(module, path, name):
    """The upstream full model's state_dict (names, shapes) converts and loads strictly into tokkit's
    model, with exactly its parameter count (on the meta device: shapes only)."""
    import importlib

    ref = json.loads((FIXTURES / path).read_text())
    mod = importlib.import_module(f"tokkit.importers.{module}")
    with torch.device("meta"):
        state = {k: torch.empty(s) for k, s in ref["state_dict"].items()}
        if module == "ibq":
            from tokkit.importers import taming

            imp = taming.from_state(state, overrides={"code_match": "dot"})
        else:
            imp = mod.from_state(state)
    tok = imp.tokenizer
    n = sum(p.numel() for p in tok.parameters())
    assert n == ref["parameters"], name
    assert {m.num_groups for m in tok.modules() if isinstance(m, torch.nn.GroupNorm)} == {32}
    if module == "ibq":
        assert tok.config.codebook_size == 16384 and tok.config.num_res_blocks == 4 and tok.config.attn_levels == (4,)
        assert abs(n - 111.0e6) / 111.0e6 < 0.01
    else:
        assert tok.codebook_size == 2**18 and tok.config.num_res_blocks == 4 and tok.config.ch_mult == (1, 1, 2, 2, 4)
        assert abs(n - 115.13e6) / 115.13e6 < 0.001


@pytest.mark.parametrize("family", FAMILIES)
def test_inspect_codebook_on_imported(family, cli, tmp_path):
    import_checkpoint(family, SOURCES[family], tmp_path / "t")
    data = "builtin:shapes:n=4,size=32"
    r = cli("inspect", "codebook", tmp_path / "t", "-d", data, "--image-size", 32, "--json")
    assert r.exit_code == 0, r.stderr
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["usage"]["num_tokens"] == 4 * 8 * 8
    if family == "open-magvit2":  # 2^18 implicit codes: only the used ones are inspected
        assert out["codebook_size"] == 2**18 and out["dim"] == 18
        assert 0 < out["codes_inspected"] <= 256 and out["norm"]["mean"] == pytest.approx(18**0.5)
        bare = cli("inspect", "codebook", tmp_path / "t")
        assert bare.exit_code != 0 and "too large to enumerate" in bare.stderr
    else:
        assert out["codebook_size"] == 64 and out["dim"] == 8


def test_magvit2_trains():
    """Trainable like the other conv tokenizers: forward gives the LFQ losses, gradients reach both ends."""
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("magvit2-tiny").train()
    out = tok(torch.rand(2, 3, 16, 16) * 2 - 1)
    assert {"commit", "entropy"} <= set(out.losses) and out.recon.shape == (2, 3, 16, 16)
    (out.recon.pow(2).mean() + sum(out.losses.values())).backward()
    assert tok.encoder.conv_in.weight.grad.abs().sum() > 0 and tok.decoder.conv_out.weight.grad.abs().sum() > 0
