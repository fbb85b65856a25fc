"""``dc-ae``: a diffusers ``AutoencoderDC`` folder (DC-AE, SANA's VAE) -> tokkit ``dcae`` (continuous, deterministic).

Source: ``config.json`` + ``diffusion_pytorch_model[.fp16].safetensors`` (or ``.bin``); a pipeline folder's
``vae/`` is found (``Efficient-Large-Model/SANA1.5_*_diffusers``). Published:
``mit-han-lab/dc-ae-f32c32-in-1.0-diffusers``, ``dc-ae-f32c32-sana-1.0-diffusers``,
``dc-ae-f64c128-in-1.0-diffusers`` and the other f32/f64/f128 ones.
Semantics: diffusers 0.42.1 ``models/autoencoders/autoencoder_dc.py`` (and ``SanaMultiscaleLinearAttention``,
``GLUMBConv``, ``RMSNorm``); tokkit runs its own implementation (``tokkit.tokenizers.dcae``).

Config: what ``config.json`` leaves out takes ``AutoencoderDC.__init__``'s defaults (the published files omit
``encoder_out_shortcut``, ``decoder_in_shortcut`` and ``decoder_conv_act_fn``: true, true, relu); a string
block type / norm / activation applies to every stage; ``"Conv"`` downsampling (any value other than
``pixel_unshuffle``) is a stride-2 conv, any upsampling other than ``interpolate`` is pixel_shuffle, as diffusers
reads them. Latents: ``encoder(x) * scaling_factor`` (what SANA's transformer is trained on; diffusers'
``encode`` itself never scales), decode divides it back out. fp16/bf16 tensors are upcast to float32.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import KeyTable, load_strict
from tokkit.importers.diffusers_vae import _locate, read_weights
from tokkit.importers.pipeline import read_config_file

UPSTREAM = Upstream(
    "diffusers",
    "0.42.1",
    ("models/autoencoders/autoencoder_dc.py", "models/attention_processor.py",
     "models/transformers/sana_transformer.py", "models/normalization.py"),
)  # fmt: skip

# tokkit                                     diffusers (the same names, q/k/v fused)
KEYS = KeyTable(
    rows=[
        ("{E}.down_blocks.{L}.{i}.attn.",        "{E}.down_blocks.{L}.{i}.attn."),
        ("{E}.up_blocks.{L}.{i}.attn.",          "{E}.up_blocks.{L}.{i}.attn."),
        ("",                                     ""),                   # everything else keeps its name
    ],
    fused={"qkv": ("to_q", "to_k", "to_v")},                            # Linear (inner, C) each -> (3 inner, C)
)  # fmt: skip

# AutoencoderDC.__init__ defaults (diffusers 0.42.1)
DEFAULTS: dict[str, Any] = dict(
    in_channels=3,
    latent_channels=32,
    attention_head_dim=32,
    encoder_block_types="ResBlock",
    decoder_block_types="ResBlock",
    encoder_block_out_channels=(128, 256, 512, 512, 1024, 1024),
    decoder_block_out_channels=(128, 256, 512, 512, 1024, 1024),
    encoder_layers_per_block=(2, 2, 2, 3, 3, 3),
    decoder_layers_per_block=(3, 3, 3, 3, 3, 3),
    encoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
    decoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
    upsample_block_type="pixel_shuffle",
    downsample_block_type="pixel_unshuffle",
    decoder_norm_types="rms_norm",
    decoder_act_fns="silu",
    encoder_out_shortcut=True,
    decoder_in_shortcut=True,
    decoder_conv_act_fn="relu",
    scaling_factor=1.0,
)
_VIT = ("ResBlock",) * 3 + ("EfficientViTBlock",) * 3
_SANA: dict[str, Any] = dict(
    latent_channels=32,
    encoder_block_types=_VIT,
    decoder_block_types=_VIT,
    encoder_layers_per_block=(2, 2, 2, 3, 3, 3),
    decoder_layers_per_block=(3, 3, 3, 3, 3, 3),
    encoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
    decoder_qkv_multiscales=((), (), (), (5,), (5,), (5,)),
    downsample_block_type="Conv",
    upsample_block_type="interpolate",
    decoder_norm_types="rms_norm",
    decoder_act_fns="silu",
    scaling_factor=0.41407,
)
# the config.json entries of published folders (the keys they set; the rest are DEFAULTS)
PUBLISHED: dict[str, dict[str, Any]] = {
    "dc-ae-f32c32-sana-1.0": _SANA,  # also SANA 1.5's vae/
    "dc-ae-f32c32-in-1.0": dict(
        _SANA,
        encoder_layers_per_block=(0, 4, 8, 2, 2, 2),
        decoder_layers_per_block=(0, 5, 10, 2, 2, 2),
        encoder_qkv_multiscales=((),) * 6,
        decoder_qkv_multiscales=((),) * 6,
        downsample_block_type="pixel_unshuffle",
        upsample_block_type="pixel_shuffle",
        decoder_norm_types=("batch_norm",) * 3 + ("rms_norm",) * 3,
        decoder_act_fns=("relu",) * 3 + ("silu",) * 3,
        scaling_factor=0.3189,
    ),
}
_PER_STAGE = ("encoder_block_types", "decoder_block_types", "decoder_norm_types", "decoder_act_fns")


def read_config(path: Path) -> dict[str, Any]:
    cfg = read_config_file(path)
    kind = cfg.get("_class_name", "AutoencoderDC")
    if kind != "AutoencoderDC":
        hint = " (tokkit import diffusers-vae ...)" if kind == "AutoencoderKL" else ""
        raise DataError(f"config '{path}' describes {kind}, not a diffusers AutoencoderDC{hint}")
    return {**DEFAULTS, **cfg}


def dcae_args(cfg: dict[str, Any]) -> dict[str, Any]:
    """tokkit DCAEConfig fields of a diffusers AutoencoderDC config (strings expanded to one value per stage)."""
    n = len(cfg["encoder_block_out_channels"])
    args = {k: cfg[k] for k in DEFAULTS if k not in ("scaling_factor", *_PER_STAGE)}
    for k in _PER_STAGE:
        args[k] = (cfg[k],) * n if isinstance(cfg[k], str) else tuple(cfg[k])
    args["downsample_block_type"] = "pixel_unshuffle" if cfg["downsample_block_type"] == "pixel_unshuffle" else "conv"
    args["upsample_block_type"] = "interpolate" if cfg["upsample_block_type"] == "interpolate" else "pixel_shuffle"
    args["latent_scale"] = float(cfg["scaling_factor"])
    return args


def to_tokkit(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(tokkit state, unexpected keys): q/k/v fused into one Linear weight (3 inner, C)."""
    out, unexpected = KEYS.convert(state, levels=0)  # the fused rows come back as (3 inner, C, 1, 1)
    return {k: v.flatten(1) if k.endswith(".attn.qkv.weight") else v for k, v in out.items()}, unexpected


def convert(req: ImportRequest) -> Imported:
    from tokkit.tokenizers import create_tokenizer

    if req.options:
        raise UsageError(f"dc-ae takes no option(s) {', '.join(sorted(req.options))}")
    weights, beside = _locate(req.src)
    config = Path(req.config).expanduser() if req.config else beside
    if config is None or not config.is_file():
        raise DataError(
            f"'{req.src}' has no config.json beside {weights.name}: a diffusers AutoencoderDC folder has one"
        )
    cfg = read_config(config)
    try:
        tok = create_tokenizer("dcae", **dcae_args(cfg))
    except (UsageError, ValueError) as e:
        raise DataError(f"config '{config}': {e}") from e
    state = read_weights(weights)
    if not any(k.startswith("encoder.down_blocks.") for k in state):
        raise DataError(f"'{weights}' has no encoder.down_blocks.* tensors: not a diffusers AutoencoderDC")
    dtypes = sorted({str(v.dtype).removeprefix("torch.") for v in state.values() if v.is_floating_point()})
    converted, unexpected = to_tokkit(state)
    load_strict(tok, converted, weights.name, unexpected)
    published = {**{k: v for k, v in cfg.items() if k in DEFAULTS or k == "_diffusers_version"},
                 "config_from": config.name, "weights_dtype": dtypes}  # fmt: skip
    notes = [f"latents = encoder(x) x scaling_factor {cfg['scaling_factor']} (what the diffusion model sees; "
             "diffusers' encode does not scale); decode divides it out"]  # fmt: skip
    if dtypes != ["float32"]:
        notes.append(f"weights stored as {'/'.join(dtypes)}, upcast to float32")
    return Imported(tok.eval(), published, UPSTREAM, [weights, config], notes=notes)


FAMILY = register_family(
    Family(
        name="dc-ae",
        expects="a diffusers AutoencoderDC folder (config.json + diffusion_pytorch_model.safetensors; SANA's vae/)",
        becomes="continuous dcae (f32c32, f64c128, ...): deterministic latents x scaling_factor",
        convert=convert,
        options=(),
    )
)
