"""``llamagen``: LlamaGen's VQ tokenizers (``vq_ds16_c2i.pt``, ``vq_ds8_c2i.pt``, ``vq_ds16_t2i.pt``) -> ``vqgan``.

Semantics: FoundationVision/LlamaGen ``tokenizer/tokenizer_image/vq_model.py`` at commit ce98ec4: the
taming-style conv encoder/decoder (attention at the last level plus the middle blocks), a 1x1
``quant_conv`` 256 -> 8, an L2-normalised codebook (features and codes both unit norm, nearest code
= cosine argmax), ``decode_code`` = the unit-norm code -> ``post_quant_conv`` -> decoder, no clamp.
The file is ``{"model": state_dict, ...}`` (``"ema"`` preferred when present, as ``vq_demo.py``).
Whether codes are normalised is not a tensor: the file's ``args.codebook_l2_norm`` when present,
else LlamaGen's default (True, every published tokenizer); ``--config`` overrides.
"""

from __future__ import annotations

from typing import Any

import torch

from tokkit.errors import DataError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import KeyTable, load_strict_fp32
from tokkit.importers._ldm import LDM_KEYS, conv_config, count_levels
from tokkit.importers.pipeline import read_config_file, state_dict_of
from tokkit.io.checkpoint import torch_load_checkpoint

UPSTREAM = Upstream("FoundationVision/LlamaGen", "ce98ec4", ("tokenizer/tokenizer_image/vq_model.py",))
# tokkit                                     LlamaGen (decoder blocks in run order, as tokkit)
TABLE = KeyTable(
    rows=[
        ("{E}.conv_in.",                         "{E}.conv_in."),
        ("encoder.down.{L}.blocks.{i}.",         "encoder.conv_blocks.{L}.res.{i}."),
        ("encoder.down.{L}.attn.{i}.",           "encoder.conv_blocks.{L}.attn.{i}."),
        ("encoder.down.{L}.downsample.conv.",    "encoder.conv_blocks.{L}.downsample.conv."),
        ("{E}.mid.{i}.",                         "{E}.mid.{i}."),                     # res, attn, res
        ("decoder.up.{L}.blocks.{i}.",           "decoder.conv_blocks.{L}.res.{i}."),
        ("decoder.up.{L}.attn.{i}.",             "decoder.conv_blocks.{L}.attn.{i}."),
        ("decoder.up.{L}.upsample.conv.",        "decoder.conv_blocks.{L}.upsample.conv."),
        ("{E}.norm_out.",                        "{E}.norm_out."),
        ("{E}.conv_out.",                        "{E}.conv_out."),
        ("quantizer.project_in.",                "quant_conv."),                      # (8, 256, 1, 1)
        ("quantizer.project_out.",               "post_quant_conv."),                 # (256, 8, 1, 1)
        ("quantizer.codebook.",                  "quantize.embedding."),              # (16384, 8), unnormalised
    ],
    leaves=LDM_KEYS.leaves,
    fused=LDM_KEYS.fused,
    drop=("quantize.codebook_used",),                                             # usage ring buffer (training)
)  # fmt: skip


def recognizes(keys: set[str]) -> bool:
    return "encoder.conv_blocks.0.res.0.conv1.weight" in keys and "quantize.embedding.weight" in keys


def from_state(state: dict[str, torch.Tensor], overrides: dict[str, Any] | None = None) -> Imported:
    """A LlamaGen VQModel state_dict (published names) -> the loaded tokkit ``vqgan`` tokenizer."""
    from tokkit.tokenizers import create_tokenizer

    overrides = dict(overrides or {})
    if not recognizes(set(state)):
        raise DataError("not a LlamaGen VQModel state_dict (no encoder.conv_blocks / quantize.embedding tensors)")
    levels = count_levels(state, "encoder.conv_blocks.", ".res.0.conv1.weight")
    s, unexpected = TABLE.convert(state, levels)
    conv = conv_config(s, "the LlamaGen checkpoint")
    k, d = s["quantizer.codebook.weight"].shape
    l2 = bool(overrides.pop("codebook_l2_norm", True))
    beta = float(overrides.pop("commit_loss_beta", 0.25))
    if overrides:
        raise DataError(f"unknown LlamaGen config keys: {', '.join(sorted(overrides))}")
    args = dict(**conv, codebook_size=int(k), code_dim=int(d), l2_norm=l2, beta=beta, quant_proj=True)
    tok = load_strict_fp32(create_tokenizer("vqgan", **args), s, "the LlamaGen checkpoint", unexpected)
    published = dict(
        codebook_size=int(k),
        codebook_embed_dim=int(d),
        codebook_l2_norm=l2,
        commit_loss_beta=beta,
        encoder_ch_mult=list(conv["ch_mult"]),
        decoder_ch_mult=list(conv["ch_mult"]),
        z_channels=conv["z_channels"],
        ch=conv["ch"],
        num_res_blocks=conv["num_res_blocks"],
        downsample=2 ** (len(conv["ch_mult"]) - 1),
    )
    return Imported(tok, published, UPSTREAM, [], dropped=TABLE.dropped(state))


def convert(req: ImportRequest) -> Imported:
    obj = torch_load_checkpoint(req.src)
    state = state_dict_of(obj, req.src)
    overrides: dict[str, Any] = {}
    args = obj.get("args") if isinstance(obj, dict) else None
    if args is not None and hasattr(args, "codebook_l2_norm"):
        overrides["codebook_l2_norm"] = bool(args.codebook_l2_norm)
    if req.config:
        overrides.update(read_config_file(req.config))
    imp = from_state(state, overrides)
    imp.source_files = [req.src]
    if "codebook_l2_norm" not in overrides:
        imp.notes.append("codebook_l2_norm True: LlamaGen's default (the file has no args)")
    if isinstance(obj, dict) and "ema" in obj:
        imp.notes.append("weights from the file's 'ema' entry")
    return imp


_HF = "https://huggingface.co"
FAMILY = register_family(
    Family(
        name="llamagen",
        expects="vq_ds16_c2i.pt / vq_ds8_c2i.pt / vq_ds16_t2i.pt ({'model': state_dict})",
        becomes="vqgan: 16384 x 8 l2-normalised codes, f16 (VQ-16) or f8 (VQ-8)",
        convert=convert,
        downloads={
            "vq_ds16_c2i": f"{_HF}/FoundationVision/LlamaGen/resolve/main/vq_ds16_c2i.pt",
            "vq_ds8_c2i": f"{_HF}/FoundationVision/LlamaGen/resolve/main/vq_ds8_c2i.pt",
            "vq_ds16_t2i": f"{_HF}/peizesun/llamagen_t2i/resolve/main/vq_ds16_t2i.pt",
        },
        recognizes=recognizes,
        options=(),
    )
)
