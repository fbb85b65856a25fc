"""``taming``: a taming-transformers VQGAN (``NAME/ckpts/last.ckpt`` + ``NAME/configs/model.yaml``) -> ``vqgan``.

Semantics: CompVis/taming-transformers ``taming/models/vqgan.py`` (``VQModel.encode`` / ``decode``),
``taming/modules/diffusionmodules/model.py`` and ``taming/modules/vqvae/quantize.py``
(``VectorQuantizer2``, legacy: plain L2, no normalisation) at commit 3ba01b2. The 1x1 ``quant_conv`` /
``post_quant_conv`` (256 -> 256) become the quantizer's projections (``quant_proj=True``). Decode is
``decoder(post_quant_conv(code))``, no clamp.

``last.ckpt`` is a pytorch-lightning pickle that names lightning classes: it is read with
``torch_load_checkpoint`` (stand-in classes, nothing executed, lightning not needed). The loss
(LPIPS, discriminator) is dropped. The configuration comes from ``model.yaml`` (found in the download
layout, or ``--config FILE``, or ``--config`` a published name) and is checked against the tensors;
without any, it is read from the tensors, which fix every field that changes the computation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import KeyTable, load_strict_fp32, summarize
from tokkit.importers._ldm import LDM_KEYS, conv_config, count_levels
from tokkit.importers.pipeline import read_config_file, state_dict_of
from tokkit.io.checkpoint import torch_load_checkpoint

UPSTREAM = Upstream(
    "CompVis/taming-transformers",
    "3ba01b2",
    ("taming/models/vqgan.py", "taming/modules/diffusionmodules/model.py", "taming/modules/vqvae/quantize.py"),
)

# tokkit                                     taming (own rows, then the shared LDM rows)
TABLE = KeyTable(
    rows=[
        ("quantizer.project_in.",                "quant_conv."),                      # 1x1, z_channels -> embed_dim
        ("quantizer.project_out.",               "post_quant_conv."),                 # 1x1, embed_dim -> z_channels
        ("quantizer.codebook.",                  "quantize.embedding."),              # (n_embed, embed_dim)
        *LDM_KEYS.rows,
    ],
    leaves=LDM_KEYS.leaves,
    fused=LDM_KEYS.fused,
    drop=("loss.",),                                                              # LPIPS + discriminator (training)
)  # fmt: skip

_DD = dict(double_z=False, z_channels=256, resolution=256, in_channels=3, out_ch=3, ch=128,
           ch_mult=[1, 1, 2, 2, 4], num_res_blocks=2, attn_resolutions=[16], dropout=0.0)  # fmt: skip
# the model sections of the published model.yaml files (heibox downloads; LlamaGen copies them)
PUBLISHED_CONFIGS: dict[str, dict[str, Any]] = {
    "vqgan_imagenet_f16_1024": dict(embed_dim=256, n_embed=1024, ddconfig=_DD),
    "vqgan_imagenet_f16_16384": dict(embed_dim=256, n_embed=16384, ddconfig=_DD),
}


def recognizes(keys: set[str]) -> bool:
    return (
        "encoder.down.0.block.0.conv1.weight" in keys
        and "quantize.embedding.weight" in keys
        and not any(k.startswith(("quantize.quant_resi.", "model_ema.")) for k in keys)  # VAR; IBQ (EMA copies)
    )


def model_params(cfg: dict[str, Any], where: str) -> dict[str, Any]:
    """The ``model.params`` of a taming yaml (or the bare params mapping)."""
    if "model" in cfg:
        target = str(cfg["model"].get("target", ""))
        if target and target != "taming.models.vqgan.VQModel":
            raise DataError(f"{where}: model target {target} is not supported (only taming.models.vqgan.VQModel)")
        cfg = cfg["model"].get("params", {})
    for key in ("embed_dim", "n_embed", "ddconfig"):
        if key not in cfg:
            raise DataError(f"{where} has no model.params.{key}: not a taming VQGAN config")
    return cfg


def args_from_config(params: dict[str, Any], where: str) -> dict[str, Any]:
    """taming's ddconfig -> tokkit ``vqgan`` args. Attention goes where ``curr_res`` (starting at the
    config's ``resolution``, halved per level) is in ``attn_resolutions``."""
    dd = params["ddconfig"]
    if dd.get("double_z", False):
        raise DataError(f"{where}: double_z is a KL autoencoder, not a VQGAN")
    if dd.get("in_channels", 3) != 3 or dd.get("out_ch", 3) != 3:
        raise DataError(f"{where}: tokkit's vqgan takes and gives 3-channel images")
    mult = tuple(int(m) for m in dd["ch_mult"])
    res, attn = int(dd["resolution"]), {int(a) for a in dd.get("attn_resolutions", [])}
    return dict(
        ch=int(dd["ch"]),
        ch_mult=mult,
        num_res_blocks=int(dd["num_res_blocks"]),
        z_channels=int(dd["z_channels"]),
        attn_levels=tuple(L for L in range(len(mult)) if res // 2**L in attn),
        mid_attn=True,
        dropout=float(dd.get("dropout", 0.0)),
        codebook_size=int(params["n_embed"]),
        code_dim=int(params["embed_dim"]),
    )


def from_state(
    state: dict[str, torch.Tensor],
    params: dict[str, Any] | None = None,
    where: str = "",
    overrides: dict[str, Any] | None = None,
    what: str = "the taming checkpoint",
) -> Imported:
    """A taming VQModel state_dict (published names) [+ its model params] -> the loaded ``vqgan``.
    ``overrides``: vqgan config fields of a taming-derived family (IBQ: ``code_match="dot"``);
    ``what``: the file named in key errors."""
    from tokkit.tokenizers import create_tokenizer

    if "encoder.down.0.block.0.conv1.weight" not in state or "quantize.embedding.weight" not in state:
        raise DataError("not a taming VQModel state_dict (no encoder.down.*.block / quantize.embedding tensors)")
    s, unexpected = TABLE.convert(state, levels=count_levels(state))
    conv = conv_config(s, what)
    k, d = s["quantizer.codebook.weight"].shape
    from_tensors = dict(**conv, codebook_size=int(k), code_dim=int(d))
    if params is not None:
        args = args_from_config(params, where)
        diff = [f for f in from_tensors if f in args and from_tensors[f] != args[f]]
        if diff:
            f = diff[0]
            raise DataError(f"{where} says {f}={args[f]} but the checkpoint's tensors have {f}={from_tensors[f]}")
        from_tensors["dropout"] = args["dropout"]
    args = dict(**from_tensors, l2_norm=False, beta=0.25, quant_proj=True, **(overrides or {}))
    tok = load_strict_fp32(create_tokenizer("vqgan", **args), s, what, unexpected)
    published = dict(params) if params is not None else dict(embed_dim=int(d), n_embed=int(k))
    published.pop("lossconfig", None)
    return Imported(tok, published, UPSTREAM, [], dropped=summarize(TABLE.dropped(state)))


def locate(src: Path) -> tuple[Path, Path | None]:
    """(last.ckpt, model.yaml or None) from the download layout NAME/{ckpts/last.ckpt, configs/model.yaml}."""
    if src.is_dir():
        ckpt = src / "ckpts" / "last.ckpt"
        if not ckpt.is_file():
            found = sorted(src.glob("*.ckpt")) + sorted((src / "ckpts").glob("*.ckpt"))
            if len(found) != 1:
                raise DataError(f"'{src}' has no ckpts/last.ckpt", hint="give the .ckpt file itself")
            ckpt = found[0]
        root = src
    else:
        ckpt, root = src, src.parent.parent if src.parent.name == "ckpts" else src.parent
    yamls = [root / "configs" / "model.yaml"] + sorted((root / "configs").glob("*.yaml"))
    yamls = list(dict.fromkeys(y for y in yamls if y.is_file()))
    if len(yamls) > 1 and yamls[0] != root / "configs" / "model.yaml":
        raise UsageError(f"several configs in '{root / 'configs'}'", hint="choose one with --config FILE")
    return ckpt, (yamls[0] if yamls else None)


def convert(req: ImportRequest) -> Imported:
    ckpt, found_yaml = locate(req.src)
    notes: list[str] = []
    files = [ckpt]
    if req.config in PUBLISHED_CONFIGS:
        params, where = PUBLISHED_CONFIGS[req.config], f"the published config {req.config}"
    elif req.config:
        cfg_path = Path(req.config).expanduser()
        if not cfg_path.is_file():
            raise UsageError(f"--config '{req.config}' is neither a file nor a published name",
                             hint=f"published: {', '.join(PUBLISHED_CONFIGS)}")  # fmt: skip
        params, where = model_params(read_config_file(cfg_path), str(cfg_path)), str(cfg_path)
        files.append(cfg_path)
    elif found_yaml is not None:
        params, where = model_params(read_config_file(found_yaml), str(found_yaml)), str(found_yaml)
        files.append(found_yaml)
    else:
        params, where = None, ""
        notes.append("no model.yaml beside the checkpoint and no --config: configuration read from the tensors")
    state = state_dict_of(torch_load_checkpoint(ckpt), ckpt, keys=("state_dict",))
    imp = from_state(state, params, where)
    imp.source_files, imp.notes = files, notes + imp.notes
    return imp


FAMILY = register_family(
    Family(
        name="taming",
        expects="NAME/ckpts/last.ckpt (pytorch-lightning) + NAME/configs/model.yaml, or --config",
        becomes="vqgan: 1024 or 16384 x 256 codes, f16, 1x1 quant convs; loss dropped",
        convert=convert,
        recognizes=recognizes,
        options=(),
    )
)
