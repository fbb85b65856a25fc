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
# Cosmos DI/CI (published 8x8 layouts, narrower): Haar patches, one downsampling of two levels
case("cosmos-di", 32)(_trainable("cosmos-di", ch=32, ch_mult=(1, 2), num_res_blocks=1, z_channels=32))
case("cosmos-ci", 32)(_trainable("cosmos-ci", ch=32, ch_mult=(1, 2), num_res_blocks=1))


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


# --- Open-MAGVIT2's network (magvit2) and the SEED-Voken imports (IBQ, Open-MAGVIT2): the lightning .ckpt fixtures
case("magvit2-tiny", 32)(_trainable("magvit2-tiny"))
case("magvit2", 32)(_trainable("magvit2"))


def _seed_imported(family: str):
    def build(tmp_path):
        from tests.importers.test_import_seed import SOURCES
        from tokkit.importers import import_checkpoint
        from tokkit.io.checkpoint import load_tokenizer

        return load_tokenizer(import_checkpoint(family, SOURCES[family], tmp_path / "imported")["out"])

    return build


for _family in ("ibq", "open-magvit2"):
    case(f"import:{_family}", 32)(_seed_imported(_family))


def _fixture_imported(family: str, folder: str):
    """A published-layout fixture folder under tests/fixtures/import/, imported as a user imports it."""

    def build(tmp_path):
        from pathlib import Path

        from tokkit.importers import import_checkpoint
        from tokkit.io.checkpoint import load_tokenizer

        src = Path(__file__).resolve().parents[1] / "fixtures" / "import" / folder
        return load_tokenizer(import_checkpoint(family, src, tmp_path / "imported")["out"])

    return build


case("import:titok", 32)(_fixture_imported("titok", "titok/legacy"))
case("import:cosmos-di", 32)(_fixture_imported("cosmos", "cosmos/Cosmos-0.1-Tokenizer-DI8x8-tiny"))
case("import:cosmos-ci", 32)(_fixture_imported("cosmos", "cosmos/Cosmos-0.1-Tokenizer-CI16x16-tiny"))

# TiTok's architecture (the published sizes are 256 px ViT-S/B/L): narrow, 32 px, 8 tokens of 1 x L
case("titok", 32)(_trainable("titok", image_size=32, num_latent_tokens=8, enc_width=32, enc_layers=1, enc_heads=2,
                             dec_width=32, dec_layers=1, dec_heads=2, codebook_size=64, pixel_z_channels=8,
                             pixel_ch=32, pixel_ch_mult=(1, 1, 1, 1, 2), pixel_num_res_blocks=1))  # fmt: skip

case("import:va-vae", 32)(_fixture_imported("va-vae", "vavae/vavae_tiny.pt"))


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
