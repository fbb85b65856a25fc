"""titok: TiTok hub folders -> tokkit titok (1 x L tokens), checked against TiTok's own outputs (fixtures made
by tests/fixtures/import/make_fixtures_titok.py from bytedance/1d-tokenizer 942a96f)."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from tokkit.errors import DataError
from tokkit.importers import import_checkpoint
from tokkit.importers.titok import RENAMES, titok_args
from tokkit.io.checkpoint import load_tokenizer
from tokkit.tokenizers import TokenBatch, create_tokenizer

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "titok"
VARIANTS = ("legacy", "vq8k")


@pytest.fixture(scope="module")
def ref():
    return load_file(str(FIX / "refs.safetensors"))


@pytest.fixture(scope="module")
def imported(tmp_path_factory):
    root = tmp_path_factory.mktemp("titok")
    return {v: (import_checkpoint("titok", FIX / v, root / v), load_tokenizer(root / v)) for v in VARIANTS}


@pytest.fixture
def fixture_threads():
    """The refs were made with 2 intra-op threads. fp32 sums in another order (1 thread, as under
    pytest-xdist on 2 cores) move the random-weight legacy decoder's output by up to 1.6e-4; with the
    same threads tokkit's reconstructions equal TiTok's bit for bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("variant", VARIANTS)
def test_indices_and_reconstructions_match_titok(imported, ref, variant, fixture_threads):
    summary, tok = imported[variant]
    assert summary["architecture"] == "titok" and summary["kind"] == "discrete"
    assert summary["upstream"] == {**summary["upstream"], "repository": "bytedance/1d-tokenizer", "commit": "942a96f"}
    assert tok.config.legacy is (variant == "legacy") and tok.config.l2_norm is (variant == "legacy")
    images = ref[f"{variant}.images"]
    with torch.no_grad():
        feats = tok.features(images)
        t = tok.encode(images)
        recon = tok.decode(t)
        recon_random = tok.decode(TokenBatch("discrete", indices=ref[f"{variant}.random_indices"]))
    torch.testing.assert_close(feats, ref[f"{variant}.z"], atol=1e-4, rtol=0)
    # 1-D tokens: a 1 x L grid; nearest code by L2 (cosine for legacy) in fp32, no near ties in the fixture
    assert t.indices.shape == (4, 1, 8) == (4, *tok.token_shape(32))
    assert torch.equal(t.indices, ref[f"{variant}.indices"])
    torch.testing.assert_close(recon, ref[f"{variant}.recon"], atol=1e-4, rtol=0)
    torch.testing.assert_close(recon_random, ref[f"{variant}.recon_random"], atol=1e-4, rtol=0)


@pytest.mark.parametrize("variant", VARIANTS)
def test_reference_signal_is_nontrivial(ref, variant):
    """Tokens follow the image and decide the output (random-init TiTok decodes one image from any tokens)."""
    idx = ref[f"{variant}.indices"]
    assert len({tuple(row.flatten().tolist()) for row in idx}) == 4  # every image has its own tokens
    assert len(idx.unique()) >= 10
    assert (ref[f"{variant}.recon"] - ref[f"{variant}.recon_random"]).abs().mean() > 0.1
    assert ref[f"{variant}.recon"].std() > 0.2


@pytest.mark.parametrize("name", ["l32", "b64", "s128", "bl64_vq8k"])
def test_published_configs_build_with_upstream_keys_and_shapes(name):
    """TiTok-L32 / B64 / S128 (legacy) and BL64-VQ8k as upstream builds them (keys and shapes recorded by
    the fixture script from configs/infer/TiTok/titok_*.yaml)."""
    doc = json.loads((FIX / f"full_titok_{name}.json").read_text())
    params = {"l32": 641_054_735, "b64": 204_814_095, "s128": 83_674_639, "bl64_vq8k": 390_016_148}
    assert doc["parameters"] == params[name]
    state = {k: torch.empty(s, device="meta") for k, s in doc["keys"].items()}
    cfg = {"model": {"vq_model": doc["vq_model"]}, "dataset": {"preprocessing": {"crop_size": doc["crop_size"]}}}
    args = titok_args(cfg, state, f"titok_{name}.yaml")
    if name == "bl64_vq8k":  # ViT-B encoder, ViT-L decoder, pixels directly
        assert not args["legacy"] and not args["l2_norm"] and (args["codebook_size"], args["token_size"]) == (8192, 64)
        assert (args["enc_width"], args["dec_width"], args["dec_layers"], args["dec_heads"]) == (768, 1024, 24, 16)
    else:
        assert args["legacy"] and args["l2_norm"] and (args["codebook_size"], args["token_size"]) == (4096, 12)
        assert (args["pixel_ch"], args["pixel_ch_mult"], args["pixel_num_res_blocks"]) == (128, (1, 1, 2, 2, 4), 2)
    with torch.device("meta"):
        tok = create_tokenizer("titok", **args)
    want = {RENAMES.get(k, k): tuple(v) for k, v in doc["keys"].items()}
    got = {k: tuple(v.shape) for k, v in tok.state_dict().items() if not k.endswith(".initted")}
    assert got == want
    assert sum(p.numel() for p in tok.parameters()) == doc["parameters"]
    assert tok.token_shape(256) == (1, {"l32": 32, "b64": 64, "s128": 128, "bl64_vq8k": 64}[name])


def _copy(tmp_path: Path, variant: str = "legacy") -> Path:
    dst = tmp_path / "src"
    shutil.copytree(FIX / variant, dst)
    return dst


def _edit_weights(folder: Path, edit) -> None:
    state = load_file(str(folder / "model.safetensors"))
    edit(state)
    save_file(state, str(folder / "model.safetensors"))


def _vq(folder: Path, **changes) -> None:
    _edit_config(folder, lambda c: c["model"]["vq_model"].update(changes))


def _edit_config(folder: Path, edit) -> None:
    cfg = json.loads((folder / "config.json").read_text())
    edit(cfg)
    (folder / "config.json").write_text(json.dumps(cfg))


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda f: _edit_weights(f, lambda s: s.pop("decoder.mask_token")), "missing keys: decoder.mask_token"),
        (lambda f: _edit_weights(f, lambda s: s.update(extra=torch.ones(1))), "unexpected keys: extra"),
        (lambda f: (f / "config.json").unlink(), "no config.json"),
        (lambda f: _vq(f, quantize_mode="vae"), "quantize_mode 'vae'"),
        (lambda f: _vq(f, finetune_decoder=False), "decodes no image"),
        (lambda f: _vq(f, vit_enc_model_size="base"),
         "'base' (768 wide, 12 layers), the weights are 32 wide with 2 layers"),
        (lambda f: _edit_config(f, lambda c: c["model"]["vq_model"].pop("vit_dec_num_heads")), "no vit_dec_num_heads"),
    ],
    ids=["missing", "unexpected", "no-config", "vae", "stage1", "wrong-size", "no-heads"],
)  # fmt: skip
def test_bad_sources_are_one_clear_error_and_write_nothing(tmp_path, make, message):
    src = _copy(tmp_path)
    make(src)
    with pytest.raises(DataError, match="^[^\n]*" + message.replace("(", r"\(").replace(")", r"\)")):
        import_checkpoint("titok", src, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_file_of_another_family_is_named(tmp_path):
    """A diffusers VAE folder given as TiTok, and a TiTok state dict given to another family: one line each."""
    folder = tmp_path / "vae"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    save_file({"encoder.conv_in.weight": torch.ones(1)}, str(folder / "model.safetensors"))
    with pytest.raises(DataError, match="is not a TiTok checkpoint"):
        import_checkpoint("titok", folder, tmp_path / "out")
    pt = tmp_path / "tokenizer_titok_l32.bin"
    torch.save(load_file(str(FIX / "legacy" / "model.safetensors")), pt)
    with pytest.raises(DataError, match="is a 'titok' checkpoint, not 'llamagen'"):
        import_checkpoint("llamagen", pt, tmp_path / "out2")


def test_token_shape_is_one_row_at_the_native_size_only(imported):
    _, tok = imported["legacy"]
    assert tok.token_shape(32) == (1, 8) and tok.native_image_size == 32
    from tokkit.errors import UsageError

    with pytest.raises(UsageError, match="titok reads 32 px images only"):
        tok.token_shape(64)
    with pytest.raises(UsageError, match=r"expects images \(B, 3, 32, 32\)"):
        tok.encode(torch.zeros(1, 3, 64, 64))
    assert math.prod(tok.codebook.shape) == 256 * 12
    assert torch.allclose(tok.codebook.norm(dim=1), torch.ones(256))  # cosine codes: unit norm


def test_import_list_shows_the_family(cli):
    r = cli("import", "--list")
    assert r.exit_code == 0 and "titok" in r.stdout and "1 x L tokens" in r.stdout


def test_src_may_be_the_weights_file_of_a_hub_folder(tmp_path, ref):
    summary = import_checkpoint("titok", FIX / "vq8k" / "model.safetensors", tmp_path / "out")
    assert [f["name"] for f in summary["source_files"]] == ["model.safetensors", "config.json"]
    with torch.no_grad():
        idx = load_tokenizer(tmp_path / "out").encode(ref["vq8k.images"]).indices
    assert torch.equal(idx, ref["vq8k.indices"])
