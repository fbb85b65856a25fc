"""``titok``: a TiTok hub folder (``model.safetensors`` + ``config.json``) -> tokkit ``titok`` (1 x L tokens).

bytedance/1d-tokenizer 942a96f saves ``TiTok`` with ``PyTorchModelHubMixin``: ``config.json`` is the whole
nested yaml (``model.vq_model.*``, ``dataset.preprocessing.crop_size``; the ``generator`` section, with
unresolved ``${...}`` strings, is not read). Read with upstream's defaults: ``quantize_mode`` "vq",
``is_legacy`` True, ``finetune_decoder`` True (the MaskGIT-VQGAN ``pixel_quantize``/``pixel_decoder`` weights are
in the same file), ``crop_size`` 256. Published (``yucornetto/tokenizer_titok_*``): l32, b64, s128 (legacy,
4096 x 12 cosine codes) and bl64/bl128/sl256_vq8k (not legacy, pixels directly, 8192 x 64 codes, no norm).
The ViT sizes are upstream's table (small 512/8/8, base 768/12/12, large 1024/24/16: width, layers,
heads); width and depth are also read from the tensors and must agree. A size not in the table (the test
fixtures) must give its heads as ``model.vq_model.vit_{enc,dec}_num_heads``. The pixel decoder's widths
and depth are read from its tensors (published: 128 x (1, 1, 2, 2, 4), 2 blocks, 1024 x 256 codes).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import load_strict_fp32

UPSTREAM = Upstream(
    "bytedance/1d-tokenizer",
    "942a96f",
    ("modeling/titok.py", "modeling/modules/blocks.py", "modeling/modules/maskgit_vqgan.py",
     "modeling/quantizer/quantizer.py", "demo_util.py"),
)  # fmt: skip
VIT_SIZES = {"small": (512, 8, 8), "base": (768, 12, 12), "large": (1024, 24, 16)}  # width, layers, heads
RENAMES = {
    "quantize.embedding.weight": "quantizer.codebook.weight",
    "pixel_quantize.embedding.weight": "pixel_codebook",
}


def recognizes(keys: set[str]) -> bool:
    return "latent_tokens" in keys and "encoder.latent_token_positional_embedding" in keys


def _locate(src: Path) -> tuple[Path, Path]:
    folder = src if src.is_dir() else src.parent
    weights = src if src.is_file() else folder / "model.safetensors"
    config = folder / "config.json"
    for p in (weights, config):
        if not p.is_file():
            raise DataError(f"'{src}' is not a TiTok hub folder: no {p.name} (model.safetensors + config.json)")
    return weights, config


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        state = load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise DataError(f"cannot read '{path}' as safetensors: {e}") from e
    if not recognizes(set(state)):
        from tokkit.importers.pipeline import guess_family

        other = guess_family(set(state))
        what = f"a '{other}' checkpoint" if other else f"keys {', '.join(list(state)[:3])}"
        raise DataError(f"'{path}' is not a TiTok checkpoint (no latent_tokens / encoder.* ViT tensors): {what}")
    return state


def _vit(vq: dict[str, Any], state: dict[str, torch.Tensor], part: str) -> dict[str, int]:
    """Width, layers and heads of the encoder (``part`` "enc") or decoder ("dec"), checked against the tensors."""
    prefix = "encoder" if part == "enc" else "decoder"
    width = int(state[f"{prefix}.ln_pre.weight"].shape[0])
    layers = 1 + max((int(k.split(".")[2]) for k in state if k.startswith(f"{prefix}.transformer.")), default=-1)
    size = vq.get(f"vit_{part}_model_size")
    if size in VIT_SIZES:
        want = VIT_SIZES[size][:2]
        if (width, layers) != want:
            raise DataError(f"config says vit_{part}_model_size '{size}' ({want[0]} wide, {want[1]} layers), "
                            f"the weights are {width} wide with {layers} layers")  # fmt: skip
        heads = VIT_SIZES[size][2]
    elif f"vit_{part}_num_heads" in vq:
        heads = int(vq[f"vit_{part}_num_heads"])
    else:
        raise DataError(f"vit_{part}_model_size '{size}' is none of {', '.join(VIT_SIZES)} and the config gives "
                        f"no vit_{part}_num_heads")  # fmt: skip
    return {f"{part}_width": width, f"{part}_layers": layers, f"{part}_heads": heads}


def _pixel_decoder(state: dict[str, torch.Tensor]) -> dict[str, Any]:
    k, zc = state["pixel_quantize.embedding.weight"].shape
    levels = 1 + max(int(n.split(".")[2]) for n in state if n.startswith("pixel_decoder.up."))
    widths = [int(state[f"pixel_decoder.up.{lv}.block.0.conv1.weight"].shape[0]) for lv in range(levels)]
    blocks = len({n.split(".")[4] for n in state if n.startswith("pixel_decoder.up.0.block.")})
    ch = math.gcd(*widths)
    return dict(pixel_codebook_size=int(k), pixel_z_channels=int(zc), pixel_ch=ch,
                pixel_ch_mult=tuple(w // ch for w in widths), pixel_num_res_blocks=blocks)  # fmt: skip


def titok_args(cfg: dict[str, Any], state: dict[str, torch.Tensor], source: str) -> dict[str, Any]:
    """tokkit TiTokConfig fields of a TiTok config.json and its tensors (refusing what tokkit lacks)."""
    vq = (cfg.get("model") or {}).get("vq_model")
    if not isinstance(vq, dict):
        raise DataError(f"'{source}' has no model.vq_model section: not a TiTok config.json")
    mode = vq.get("quantize_mode", "vq")
    legacy = bool(vq.get("is_legacy", True))
    pixel = bool(vq.get("finetune_decoder", True))
    if mode != "vq":
        raise DataError(f"'{source}': quantize_mode '{mode}' is not supported (tokkit imports TiTok's VQ models)")
    if legacy != pixel:  # legacy logits need the pixel decoder; pixel outputs cannot feed it
        raise DataError(f"'{source}': is_legacy={legacy} with finetune_decoder={pixel} decodes no image "
                        "(a stage-1 model?)")  # fmt: skip
    if vq.get("vit_enc_patch_size", 16) != vq.get("vit_dec_patch_size", 16):
        raise DataError(f"'{source}': encoder and decoder patch sizes differ, which tokkit's titok does not support")
    k, d = state["quantize.embedding.weight"].shape
    args: dict[str, Any] = dict(
        image_size=int(((cfg.get("dataset") or {}).get("preprocessing") or {}).get("crop_size", 256)),
        patch_size=int(vq.get("vit_enc_patch_size", 16)),
        num_latent_tokens=int(state["latent_tokens"].shape[0]),
        **_vit(vq, state, "enc"),
        **_vit(vq, state, "dec"),
        token_size=int(d),
        codebook_size=int(k),
        l2_norm=bool(vq.get("use_l2_norm", False)),
        legacy=legacy,
    )
    if legacy:
        args.update(_pixel_decoder(state))
    for key in ("codebook_size", "token_size", "num_latent_tokens"):
        if key in vq and int(vq[key]) != args[key]:
            raise DataError(f"'{source}': config {key}={vq[key]}, the weights have {args[key]}")
    return args


def convert(req: ImportRequest) -> Imported:
    from tokkit.tokenizers import create_tokenizer

    if req.options:
        raise UsageError(f"titok takes no option(s) {', '.join(sorted(req.options))}")
    weights, config = _locate(req.src)
    try:
        cfg = json.loads(config.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f"cannot parse '{config}' as JSON: {e}") from e
    state = read_weights(weights)
    args = titok_args(cfg, state, config.name)
    tok = create_tokenizer("titok", **args)
    renamed = {RENAMES.get(k, k): v for k, v in state.items()}
    load_strict_fp32(tok, renamed, f"'{weights.name}'")
    vq = cfg["model"]["vq_model"]
    published = {**{k: v for k, v in vq.items() if not isinstance(v, (dict, list))},
                 "crop_size": args["image_size"]}  # fmt: skip
    notes = [
        f"1-D tokens: indices (B, 1, {args['num_latent_tokens']}); input [-1, 1] -> TiTok's [0, 1], "
        "output clamped to [0, 1] as upstream's evaluation, returned in [-1, 1]",
        "legacy: 1024 MaskGIT-VQGAN logits -> softmax-weighted codebook -> MaskGIT-VQGAN pixel decoder"
        if args["legacy"] else "pixels decoded directly (is_legacy False)",
    ]  # fmt: skip
    return Imported(tok, published, UPSTREAM, [weights, config], notes=notes)


FAMILY = register_family(
    Family(
        name="titok",
        expects="a TiTok hub folder (model.safetensors + config.json, yucornetto/tokenizer_titok_*)",
        becomes="discrete titok: 1 x L tokens (l32, b64, s128: 4096 x 12 cosine codes; vq8k: 8192 x 64), 256 px",
        convert=convert,
        recognizes=recognizes,
        options=(),
    )
)
