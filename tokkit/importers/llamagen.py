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
from tokkit.importers._conv import conv_config, count_levels, load_strict
from tokkit.importers._keys import Table, fuse_qkv, rename
from tokkit.importers.pipeline import read_config_file, state_dict_of
from tokkit.io.checkpoint import torch_load_checkpoint

UPSTREAM = Upstream("FoundationVision/LlamaGen", "ce98ec4", ("tokenizer/tokenizer_image/vq_model.py",))
_W = r"(weight|bias)"
_RES = r"(norm1|conv1|norm2|conv2)"

# published key -> tokkit key. LlamaGen indexes decoder blocks in run order, as tokkit does.
TABLE: Table = [
    (rf"(encoder|decoder)\.(conv_in|conv_out|norm_out)\.{_W}", "{1}.{2}.{3}"),
    (rf"encoder\.conv_blocks\.(\d+)\.res\.(\d+)\.nin_shortcut\.{_W}", "encoder.down.{1}.blocks.{2}.skip.{3}"),
    (
        rf"encoder\.conv_blocks\.(\d+)\.res\.(\d+)\.{_RES}\.{_W}",
        "encoder.down.{1}.blocks.{2}.{3}.{4}",
    ),
    (rf"encoder\.conv_blocks\.(\d+)\.attn\.(\d+)\.(norm|q|k|v)\.{_W}", "encoder.down.{1}.attn.{2}.{3}.{4}"),
    (rf"encoder\.conv_blocks\.(\d+)\.attn\.(\d+)\.proj_out\.{_W}", "encoder.down.{1}.attn.{2}.proj.{3}"),
    (rf"encoder\.conv_blocks\.(\d+)\.downsample\.conv\.{_W}", "encoder.down.{1}.downsample.conv.{2}"),
    (rf"(encoder|decoder)\.mid\.(0|2)\.{_RES}\.{_W}", "{1}.mid.{2}.{3}.{4}"),
    (rf"(encoder|decoder)\.mid\.1\.(norm|q|k|v)\.{_W}", "{1}.mid.1.{2}.{3}"),
    (rf"(encoder|decoder)\.mid\.1\.proj_out\.{_W}", "{1}.mid.1.proj.{2}"),
    (rf"decoder\.conv_blocks\.(\d+)\.res\.(\d+)\.nin_shortcut\.{_W}", "decoder.up.{1}.blocks.{2}.skip.{3}"),
    (rf"decoder\.conv_blocks\.(\d+)\.res\.(\d+)\.{_RES}\.{_W}", "decoder.up.{1}.blocks.{2}.{3}.{4}"),
    (rf"decoder\.conv_blocks\.(\d+)\.attn\.(\d+)\.(norm|q|k|v)\.{_W}", "decoder.up.{1}.attn.{2}.{3}.{4}"),
    (rf"decoder\.conv_blocks\.(\d+)\.attn\.(\d+)\.proj_out\.{_W}", "decoder.up.{1}.attn.{2}.proj.{3}"),
    (rf"decoder\.conv_blocks\.(\d+)\.upsample\.conv\.{_W}", "decoder.up.{1}.upsample.conv.{2}"),
    (rf"quant_conv\.{_W}", "quantizer.project_in.{1}"),  # (8, 256, 1, 1)
    (rf"post_quant_conv\.{_W}", "quantizer.project_out.{1}"),  # (256, 8, 1, 1)
    (r"quantize\.embedding\.weight", "quantizer.codebook.weight"),  # (16384, 8), stored unnormalised
    (r"quantize\.codebook_used", None),  # usage ring buffer (training)
]


def recognizes(keys: set[str]) -> bool:
    return "encoder.conv_blocks.0.res.0.conv1.weight" in keys and "quantize.embedding.weight" in keys


def from_state(state: dict[str, torch.Tensor], overrides: dict[str, Any] | None = None) -> Imported:
    """A LlamaGen VQModel state_dict (published names) -> the loaded tokkit ``vqgan`` tokenizer."""
    from tokkit.tokenizers import create_tokenizer

    overrides = dict(overrides or {})
    if not recognizes(set(state)):
        raise DataError("not a LlamaGen VQModel state_dict (no encoder.conv_blocks / quantize.embedding tensors)")
    r = rename(state, TABLE, levels=count_levels(state, "encoder.conv_blocks.", ".res.0.conv1.weight"))
    s = fuse_qkv(r.state)
    conv = conv_config(s, "the LlamaGen checkpoint")
    k, d = s["quantizer.codebook.weight"].shape
    l2 = bool(overrides.pop("codebook_l2_norm", True))
    beta = float(overrides.pop("commit_loss_beta", 0.25))
    if overrides:
        raise DataError(f"unknown LlamaGen config keys: {', '.join(sorted(overrides))}")
    args = dict(**conv, codebook_size=int(k), code_dim=int(d), l2_norm=l2, beta=beta, quant_proj=True)
    tok = load_strict(create_tokenizer("vqgan", **args), s, "the LlamaGen checkpoint")
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
    return Imported(tok, published, UPSTREAM, [], dropped=r.dropped)


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
