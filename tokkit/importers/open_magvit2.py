"""``open-magvit2``: Open-MAGVIT2 (``imagenet_256_L.ckpt`` + ``imagenet_lfqgan_256_L.yaml``) -> ``magvit2``.

Semantics: TencentARC/SEED-Voken b9a17ea ``src/Open_MAGVIT2/models/lfqgan.py`` (``VQModel.encode`` /
``decode`` as ``reconstruct_image.py`` calls them inside ``ema_scope()``; ``evaluation_image.py``
rebinds ``VQModel`` to IBQ's class at that commit, so its Open-MAGVIT2 branch is not the reference),
``modules/diffusionmodules/improved_model.py`` (the network: ``tokkit.layers.magvit2``) and
``modules/vqvae/lookup_free_quantize.py`` (LFQ: sign bits, index sum 2^k [z_k > 0], channel 0 least
significant, z = 0 -> bit 0). Decode is ``decoder(quant)``, no clamp. ``token_factorization`` (9 + 9
bits for the AR model) only splits the index; tokkit keeps the single 2^18 index.

Weights: the EMA copy when the config says ``use_ema`` (the published one does); ``ema=False`` /
``ema=True`` (library option) chooses. ``loss.*`` and the EMA bookkeeping are dropped. The yaml's
``resolution`` is not used by the network.
"""

from __future__ import annotations

from typing import Any

import torch

from tokkit.errors import DataError
from tokkit.importers import _seed
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import KeyTable, load_strict_fp32, summarize
from tokkit.importers._ldm import count_levels, encoder_shape

UPSTREAM = Upstream(
    _seed.REPOSITORY,
    _seed.COMMIT,
    ("src/Open_MAGVIT2/models/lfqgan.py", "src/Open_MAGVIT2/modules/diffusionmodules/improved_model.py",
     "src/Open_MAGVIT2/modules/vqvae/lookup_free_quantize.py", "src/Open_MAGVIT2/modules/ema.py",
     "reconstruct_image.py"),
)  # fmt: skip
CLASS_PATHS = ("src.Open_MAGVIT2.models.lfqgan.VQModel", "src.Open_MAGVIT2.models.lfqgan_pretrain.VQModel")

# tokkit                                     Open-MAGVIT2
TABLE = KeyTable(
    rows=[
        ("{E}.conv_in.",                         "{E}.conv_in."),
        ("encoder.down.{L}.blocks.{i}.",         "encoder.down.{L}.block.{i}."),
        ("encoder.down.{L}.downsample.",         "encoder.down.{L}.downsample."),     # 3x3 s2 p1 conv
        ("{E}.mid.{i}.",                         "{E}.mid_block.{i}."),
        ("decoder.up.{R}.adanorm.",              "decoder.adaptive.{L}."),            # gamma, beta Linear
        ("decoder.up.{R}.blocks.{i}.",           "decoder.up.{L}.block.{i}."),        # up.L: by level
        ("decoder.up.{R}.upsample.conv.",        "decoder.up.{L}.upsample.conv1."),   # 3x3 conv to 4C
        ("{E}.norm_out.",                        "{E}.norm_out."),
        ("{E}.conv_out.",                        "{E}.conv_out."),
    ],
    leaves=[("skip", "nin_shortcut")],                                            # 1x1 bias-free
    drop=("loss.",),                                                              # LPIPS + discriminator
)  # fmt: skip


def recognizes(keys: set[str]) -> bool:
    return "encoder.down.0.block.0.conv1.weight" in keys and "decoder.adaptive.0.gamma.weight" in keys


def arch_from_tensors(s: dict[str, torch.Tensor], what: str) -> dict[str, Any]:
    """``magvit2`` config fields read from the converted (tokkit-named) tensors."""
    ch, mult, blocks, bits, _ = encoder_shape(s, what, "Open-MAGVIT2")
    return dict(ch=ch, ch_mult=mult, num_res_blocks=blocks, bits=bits)


def check_config(args: dict[str, Any], params: dict[str, Any], where: str) -> None:
    """The yaml's ddconfig / embed_dim / n_embed against the tensors: one line on the first difference."""
    dd = params["ddconfig"]
    said = dict(ch=int(dd.get("ch", args["ch"])), ch_mult=tuple(int(m) for m in dd.get("ch_mult", args["ch_mult"])),
                num_res_blocks=int(dd.get("num_res_blocks", args["num_res_blocks"])),
                bits=int(params.get("embed_dim", args["bits"])))  # fmt: skip
    if "n_embed" in params and int(params["n_embed"]) != 2 ** said["bits"]:
        raise DataError(f"{where}: n_embed {params['n_embed']} is not 2^embed_dim (2^{said['bits']})")
    if int(dd.get("z_channels", said["bits"])) != said["bits"]:
        raise DataError(f"{where}: z_channels {dd['z_channels']} != embed_dim {said['bits']} (LFQ has no projection)")
    for f, v in said.items():
        if v != args[f]:
            raise DataError(f"{where} says {f}={v} but the checkpoint's tensors have {f}={args[f]}")


def from_state(state: dict[str, torch.Tensor], params: dict[str, Any] | None = None, where: str = "") -> Imported:
    """The model's tensors (published names, raw or EMA already chosen) [+ the yaml's init_args] -> ``magvit2``."""
    from tokkit.tokenizers import create_tokenizer

    s, unexpected = TABLE.convert(state, levels=count_levels(state))
    args = arch_from_tensors(s, where or "the checkpoint")
    if params is not None:
        check_config(args, params, where)
    tok = load_strict_fp32(create_tokenizer("magvit2", **args), s, where or "the checkpoint", unexpected)
    published = {k: v for k, v in (params or {"embed_dim": args["bits"]}).items() if k != "lossconfig"}
    return Imported(tok, published, UPSTREAM, [], dropped=summarize(TABLE.dropped(state)))


def convert(req: ImportRequest) -> Imported:
    ckpt, yaml = _seed.locate(req.src, req.config)
    params = _seed.init_args(yaml, CLASS_PATHS) if yaml is not None else None
    state = _seed.read_state(ckpt)
    if not recognizes(set(state)):
        raise DataError(f"'{ckpt.name}' is not an Open-MAGVIT2 checkpoint (no decoder.adaptive.* tensors)")
    use_ema, notes = _seed.choose_ema(state, params, req.options.get("ema"))
    weights, dropped = _seed.pick_weights(state, use_ema)
    imp = from_state(weights, params, str(yaml) if yaml is not None else f"'{ckpt.name}'")
    if params is None:
        notes.append("no yaml beside the checkpoint and no --config: configuration read from the tensors")
    imp.published["weights"] = "ema" if use_ema else "raw"
    imp.source_files = [ckpt] + ([yaml] if yaml is not None else [])
    imp.dropped = summarize(dropped) + imp.dropped
    imp.notes = notes
    return imp


FAMILY = register_family(
    Family(
        name="open-magvit2",
        expects="imagenet_256_L.ckpt (pytorch-lightning) + imagenet_lfqgan_256_L.yaml beside it or --config",
        becomes="magvit2: LFQ 18 bits (2^18 implicit codes), f16, adaptive-norm decoder; EMA weights, loss dropped",
        convert=convert,
        recognizes=recognizes,
        options=("ema",),
    )
)
