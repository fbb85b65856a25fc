"""Encoders: real effnet-lite0 weights classify real photos; DINOv2 loads a weights file; pixels,
timm:NAME and tokenizer:PATH give what they promise; missing weights fail in one line."""

from __future__ import annotations

import pytest
import torch

from tokkit.encoders import ENCODERS, create_encoder
from tokkit.errors import DataError, UsageError, WeightsMissingError


def _photo(name: str, size: int = 224) -> torch.Tensor:
    import skimage.data

    from tokkit.data.transforms import eval_transform

    return eval_transform(getattr(skimage.data, name)(), size)


def test_effnet_lite0_real_weights_classify_photos():
    enc = create_encoder("effnet-lite0")
    x = torch.stack([_photo("chelsea"), _photo("coffee")])
    with torch.no_grad():
        classes = enc.logits(x).argmax(-1).tolist()
        feats, pooled = enc(x), enc.pooled(x)
    assert classes == [285, 967]  # Egyptian cat, espresso (REFERENCE.md section 3)
    assert feats.shape == (2, 1280, 7, 7) and enc.dim == 1280 and enc.grid(224) == (7, 7)
    # pooled = global average of the final 1280-d features
    torch.testing.assert_close(pooled, feats.mean(dim=(2, 3)), rtol=1e-4, atol=1e-5)
    # an earlier feature level, counted from the end
    mid = create_encoder("effnet-lite0", layer=-2, l2_normalize=True)
    with torch.no_grad():
        f = mid(x)
    assert f.shape == (2, 112, 14, 14) and mid.grid(224) == (14, 14)
    torch.testing.assert_close(f.norm(dim=1), torch.ones(2, 14, 14))


def test_effnet_weights_from_dir_and_explicit(offline, tmp_path):
    from tokkit.encoders.effnet import FILENAME, package_weights_file

    src = package_weights_file()
    (offline / FILENAME).symlink_to(src)
    enc = create_encoder("effnet-lite0")
    assert enc.weights_path == str(offline / FILENAME)
    with pytest.raises(DataError, match="does not exist"):
        create_encoder("effnet-lite0", weights=str(tmp_path / "nope.pth"))
    torch.save({"w": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(Exception, match="tensors"):
        create_encoder("effnet-lite0", weights=str(tmp_path / "bad.pth"))


def _dinov2_weights(tmp_path, fmt: str = "pth", img_size: int = 224):
    """A randomly initialised timm DINOv2 ViT-S/14 saved to a file (stands in for the real weights)."""
    import timm

    torch.manual_seed(3)
    ref = timm.create_model("vit_small_patch14_dinov2", pretrained=False, img_size=img_size, dynamic_img_size=True)
    path = tmp_path / f"dinov2s.{fmt}"
    if fmt == "pth":
        torch.save(ref.state_dict(), path)
    else:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    return ref, path


def test_dinov2_loads_a_weights_file_and_reads_digit_layer(tmp_path, offline):
    ref, path = _dinov2_weights(tmp_path)
    enc = create_encoder("dinov2-s", weights=str(path))
    assert enc.weights_path == str(path) and enc.layer == "digit" and enc.dim == 384
    sd = ref.state_dict()
    for key in ("blocks.0.attn.qkv.weight", "blocks.11.mlp.fc2.bias", "norm.weight", "cls_token"):
        assert torch.equal(enc.model.state_dict()[key], sd[key]), key
    x = torch.rand(2, 3, 28, 28) * 2 - 1
    with torch.no_grad():
        f = enc(x)
        # reference: the weights' own model at 28 px, block 10 of 12, final norm, prefix dropped
        t = ref.patch_embed(enc._prep(x))
        t = ref._pos_embed(t)
        for blk in ref.blocks[:10]:
            t = blk(t)
        want = ref.norm(t)[:, ref.num_prefix_tokens :].reshape(2, 2, 2, 384).permute(0, 3, 1, 2)
        pooled = enc.pooled(x)
    assert f.shape == (2, 384, 2, 2) and enc.grid(224) == (16, 16)
    torch.testing.assert_close(f, want, rtol=1e-4, atol=1e-4)
    with torch.no_grad():
        torch.testing.assert_close(pooled, ref.forward_features(enc._prep(x))[:, 0], rtol=1e-4, atol=1e-4)
    # from TOKKIT_WEIGHTS_DIR under timm's name, safetensors saved at a small size (pos-embed resampled)
    small, st = _dinov2_weights(tmp_path, "safetensors", img_size=28)
    st.rename(offline / "vit_small_patch14_dinov2.lvd142m.safetensors")
    enc2 = create_encoder("dinov2-s", layer=-1)
    assert enc2.weights_path.endswith("vit_small_patch14_dinov2.lvd142m.safetensors") and enc2.layer == "-1"
    assert torch.equal(enc2.model.blocks[3].attn.proj.weight, small.blocks[3].attn.proj.weight)
    assert enc2.model.pos_embed.shape[1] == 16 * 16 + 1
    with pytest.raises(UsageError, match="out of range"):
        create_encoder("dinov2-s", layer=13, weights=str(path))


def test_dinov2_missing_weights_is_one_line(offline):
    with pytest.raises(WeightsMissingError) as e:
        create_encoder("dinov2")
    msg = str(e.value)
    assert "\n" not in msg and "vit_base_patch14_reg4_dinov2.lvd142m.safetensors" in msg and "--weights" in msg
    with pytest.raises(UsageError, match="exclude"):
        create_encoder("dinov2-s", weights="x.pth", random_init=True)


def test_cli_dinov2_offline_message(cli, offline):
    r = cli("extract", "--encoder", "dinov2", "--data", "builtin:shapes:n=2", "--out", str(offline / "f.h5"))
    assert r.exit_code == 1
    assert r.stderr.strip().count("\n") == 0 and "weights for dinov2-b-reg not found" in r.stderr
    assert not (offline / "f.h5").exists()


def test_random_init_only_on_request_and_reproducible():
    a = create_encoder("timm:test_vit", random_init=True, layer="digit")
    b = create_encoder("timm:test_vit", random_init=True, layer="digit")
    x = torch.rand(1, 3, 160, 160) * 2 - 1
    with torch.no_grad():
        fa, fb = a(x), b(x)
    assert torch.equal(fa, fb) and fa.shape[1] == a.dim
    r = create_encoder("timm:test_resnet", random_init=True, layer=2)
    with torch.no_grad():
        assert r(torch.zeros(1, 3, 64, 64)).shape[1] == r.dim
    with pytest.raises(UsageError, match="ViT preset"):
        create_encoder("timm:test_resnet", random_init=True, layer="digit")


def test_pixels_encoder_is_raw_patches():
    enc = create_encoder("pixels", layer=4)
    x = torch.rand(2, 3, 8, 12) * 2 - 1
    f = enc(x)
    assert f.shape == (2, 48, 2, 3) and enc.dim == 48
    patch = x[1, :, 4:8, 8:12].reshape(-1)  # (c, ky, kx) order
    assert torch.equal(f[1, :, 1, 2], patch)
    torch.testing.assert_close(enc.pooled(x), f.mean(dim=(2, 3)))
    with pytest.raises(UsageError, match="multiple"):
        enc(torch.zeros(1, 3, 10, 10))


def test_tokenizer_encoder_gives_pre_quantization_features(tmp_path):
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("kmeans", encoder="pixels", layer=4, image_size=16, codebook_size=4, dim=48)
    tok.set_centroids(torch.randn(4, 48))
    save_checkpoint(tok, tmp_path / "ck")
    enc = create_encoder(f"tokenizer:{tmp_path / 'ck'}")
    x = torch.rand(2, 3, 16, 16) * 2 - 1
    assert enc.dim == 48 and enc.grid(16) == (4, 4) and enc.input_size == 16
    assert torch.equal(enc(x), tok.encode(x).features)


def test_unknown_encoder_suggests(cli, tmp_path):
    with pytest.raises(UsageError, match="did you mean 'dinov2'"):
        create_encoder("dinov3")
    r = cli("extract", "--encoder", "efnet-lite0", "--data", "builtin:shapes:n=2", "--out", str(tmp_path / "x.h5"))
    assert r.exit_code == 2 and "unknown encoder 'efnet-lite0'" in r.stderr
    assert "digit" in ENCODERS.names() and "timm:" in ENCODERS.names()
