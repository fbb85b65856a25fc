"""Build cases for the tokenizer contract tests: one per registered name (families append)."""

from tests.tokenizers.contract import case


# --- trainable families (vqgan, vae, msvq): full-size variants are built for real at a small image size
def _trainable(name: str, **overrides):
    def build(tmp_path):
        from tokkit.tokenizers import create_tokenizer

        return create_tokenizer(name, **overrides)

    return build


case("vqgan-tiny", 32)(_trainable("vqgan-tiny"))
case("vae-tiny", 32)(_trainable("vae-tiny"))
case("msvq-tiny", 64)(_trainable("msvq-tiny"))
case("vqgan", 32)(_trainable("vqgan"))
case("vqgan-f16", 32)(_trainable("vqgan-f16"))
case("vae", 32)(_trainable("vae"))
# VAR's config at 64 px: the scales end at the 4x4 latent grid
# "msvq" has the same published config as "msvq-var" (built full-size below): a narrower build keeps the run short
case("msvq", 64)(_trainable("msvq", patch_nums=[1, 2, 3, 4], ch=32))
case("msvq-var", 64)(_trainable("msvq-var", patch_nums=[1, 2, 3, 4]))


# --- kmeans (DiGIT-style): pixels encoder (no weights needed), centroids fitted on real patches
@case("kmeans", 16)
def _kmeans_case(tmp_path):
    import torch

    from tokkit.clustering import kmeans
    from tokkit.tokenizers import create_tokenizer

    tok = create_tokenizer("kmeans", encoder="pixels", layer=4, image_size=16, codebook_size=8, dim=48)
    g = torch.Generator().manual_seed(0)
    feats = tok.features(torch.rand(4, 3, 16, 16, generator=g) * 2 - 1)  # (4, 48, 4, 4)
    fit = kmeans(feats.permute(0, 2, 3, 1).reshape(-1, 48).numpy(), 8, niter=3, seed=0)
    tok.set_centroids(torch.from_numpy(fit.centroids))
    return tok


# --- imported published tokenizers (issue 9): the reference-made fixtures, imported and reloaded
def _imported(family: str):
    def build(tmp_path):
        from tests.importers.fixtures_vq import imported
        from tokkit.io.checkpoint import load_tokenizer

        return load_tokenizer(imported(family, tmp_path / f"import-{family}"))

    return build


for _family in ("var", "llamagen", "taming"):
    case(f"import:{_family}", 32)(_imported(_family))


# --- imported published tokenizers (tokkit.importers): the converted checkpoint, loaded as a user loads it
@case("import:mar-kl16", 32)
def _mar_kl16_case(tmp_path):
    from pathlib import Path

    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    src = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "mar_kl16_tiny.ckpt"
    return load_tokenizer(import_checkpoint("mar-kl16", src, tmp_path / "imported")["out"])


@case("import:diffusers-vae", 32)
def _diffusers_vae_case(tmp_path):
    import pytest
    import torch

    diffusers = pytest.importorskip("diffusers", reason="diffusers (dev extra) makes the diffusers-vae source")
    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    torch.manual_seed(0)  # FLUX-style: 16 channels, no quant convs, shift factor
    diffusers.AutoencoderKL(
        block_out_channels=[32, 64], down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2, latent_channels=16, use_quant_conv=False,
        use_post_quant_conv=False, scaling_factor=0.3611, shift_factor=0.1159,
    ).save_pretrained(tmp_path / "vae")  # fmt: skip
    return load_tokenizer(import_checkpoint("diffusers-vae", tmp_path / "vae", tmp_path / "imported")["out"])


@case("import:va-vae", 32)
def _vavae_case(tmp_path):
    from pathlib import Path

    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    src = Path(__file__).resolve().parents[1] / "fixtures" / "import" / "vavae" / "vavae_tiny.pt"
    return load_tokenizer(import_checkpoint("va-vae", src, tmp_path / "imported")["out"])


# DC-AE: the published layouts at narrow widths (312M/323M parameters are too slow to build per test run)
_DC_NARROW = dict(latent_channels=16, attention_head_dim=8, encoder_block_out_channels=(8, 16, 16, 32, 32, 64),
                  decoder_block_out_channels=(8, 16, 16, 32, 32, 64))  # fmt: skip
case("dcae", 64)(_trainable("dcae", **_DC_NARROW))
case("dcae-f32c32-in", 64)(_trainable("dcae-f32c32-in", **_DC_NARROW))
case("dcae-tiny", 32)(_trainable("dcae-tiny"))


@case("import:dc-ae", 64)
def _dcae_case(tmp_path):
    import pytest
    import torch

    diffusers = pytest.importorskip("diffusers", reason="diffusers (dev extra) makes the dc-ae source")
    from tokkit.importers import import_checkpoint
    from tokkit.io.checkpoint import load_tokenizer

    torch.manual_seed(0)  # dc-ae-f32c32-in-1.0's layout, narrow: pixel (un)shuffle, BatchNorm decoder stages
    diffusers.AutoencoderDC(
        latent_channels=16, attention_head_dim=8, encoder_block_out_channels=[8, 16, 16, 32, 32, 64],
        decoder_block_out_channels=[8, 16, 16, 32, 32, 64],
        encoder_block_types=["ResBlock"] * 3 + ["EfficientViTBlock"] * 3,
        decoder_block_types=["ResBlock"] * 3 + ["EfficientViTBlock"] * 3, encoder_layers_per_block=[0, 4, 8, 2, 2, 2],
        decoder_layers_per_block=[0, 5, 10, 2, 2, 2], encoder_qkv_multiscales=[[]] * 6,
        decoder_qkv_multiscales=[[]] * 6,
        decoder_norm_types=["batch_norm"] * 3 + ["rms_norm"] * 3, decoder_act_fns=["relu"] * 3 + ["silu"] * 3,
        scaling_factor=0.3189,
    ).save_pretrained(tmp_path / "vae")  # fmt: skip
    return load_tokenizer(import_checkpoint("dc-ae", tmp_path / "vae", tmp_path / "imported")["out"])
