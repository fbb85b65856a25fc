"""``va-vae``: LightningDiT's VA-VAE (``vavae-imagenet256-f16d32-dinov2.pt``) -> tokkit ``vae`` (continuous, f16d32).

hustvl/LightningDiT 2725fed, ``tokenizer/autoencoder.py``: ``AutoencoderKL(embed_dim=32, ch_mult=(1, 1, 2, 2, 4))``
with ``model_type='vavae'``: the LDM KL autoencoder with attention at 16x16 in the encoder AND the decoder (MAR's
KL-16 has none in its decoder), quant_conv 64 -> 64, post_quant_conv 32 -> 32. The published file is a
Lightning-style dict whose ``state_dict`` also holds the DINOv2 of the VF loss (``foundation_model.*``), its
projection (``linear_proj.*``) and the LPIPS/discriminator loss (``loss.*``): upstream drops only keys containing
"loss" and loads non-strictly; tokkit drops the three groups by name (listed in ``dropped``) and loads the rest
strictly. The file is read tensors-only (Lightning classes become stand-ins, nothing executes).

Encode: the posterior mean by default (``mode()``); ``sample=True`` samples as the official evaluation does
(``evaluate_tokenizer.py``: ``posterior.sample()``). LightningDiT normalises latents per channel with
``latents_stats.pt`` ({'mean', 'std'}, (1, 32, 1, 1); ``datasets/img_latent_dataset.py``: ``(z - mean) / std``,
``latent_multiplier`` 1.0) and decodes ``samples * std + mean`` (``inference.py``). With that file (beside SRC, or
``latent_stats=PATH``) tokkit's latents are ``(z - mean) / std`` (``latent_shift`` = mean, ``latent_scale`` =
1 / std, per channel) and decode inverts it; without it the latents are the raw posterior. Images in [-1, 1];
upstream's uint8 conversion is ``127.5 x + 128``. Key table: ``tokkit.importers._ldm.LDM_KEYS``; the
architecture is read from the tensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import load_strict, summarize
from tokkit.importers._ldm import LDM_KEYS, infer_ldm_conv
from tokkit.importers.pipeline import state_dict_of

UPSTREAM = Upstream(
    "hustvl/LightningDiT",
    "2725fed",
    ("tokenizer/autoencoder.py", "tokenizer/vavae.py", "datasets/img_latent_dataset.py", "inference.py"),
)
DROP = ("foundation_model.", "linear_proj.", "loss.")  # DINOv2 (VF loss), its projection, LPIPS/discriminator
STATS_NAME = "latents_stats.pt"


def recognizes(keys: set[str]) -> bool:
    return "encoder.down.0.block.0.conv1.weight" in keys and any(k.startswith(DROP[:2]) for k in keys)


def read_state(path: Path) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(autoencoder tensors, dropped key names) of a published VA-VAE file, read tensors-only."""
    from tokkit.io.checkpoint import torch_load_checkpoint

    obj = torch_load_checkpoint(path)
    if isinstance(obj, dict) and "state_dict" not in obj and isinstance(obj.get("model"), dict):
        raise DataError(f"'{path}' is a {{'model': state_dict}} file (MAR's KL-16 layout), not a VA-VAE checkpoint",
                        hint="tokkit import mar-kl16 ...")  # fmt: skip
    state = state_dict_of(obj, path, keys=("state_dict",))
    if not any(k.startswith("encoder.down.") for k in state):
        raise DataError(f"'{path}' is not a VA-VAE checkpoint: no encoder.down.* tensors (keys: "
                        f"{', '.join(list(state)[:3])})")  # fmt: skip
    dropped = [k for k in state if k.startswith(DROP)]
    return {k: v for k, v in state.items() if not k.startswith(DROP)}, dropped


def read_stats(path: Path, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """(mean, std) per channel from a ``latents_stats.pt`` ({'mean', 'std'}, each (1, C, 1, 1))."""
    from tokkit.io.checkpoint import torch_load_weights

    obj = torch_load_weights(path)
    if not all(isinstance(obj.get(k), torch.Tensor) for k in ("mean", "std")):
        raise DataError(f"'{path}' holds no 'mean' and 'std' tensors: not a LightningDiT latents_stats.pt")
    mean, std = obj["mean"].double().flatten(), obj["std"].double().flatten()
    if mean.numel() != channels or std.numel() != channels:
        raise DataError(f"'{path}': stats for {mean.numel()}/{std.numel()} channels, the VAE has {channels}")
    if not bool((std > 0).all()):
        raise DataError(f"'{path}': std must be positive in every channel")
    return tuple(mean.tolist()), tuple(std.tolist())


def _stats_file(req: ImportRequest) -> Path | None:
    given = req.options.pop("latent_stats", None)
    if given is not None:
        p = Path(given).expanduser()
        if not p.is_file():
            raise DataError(f"latent stats file '{p}' does not exist")
        return p
    beside = req.src.parent / STATS_NAME
    return beside if beside.is_file() else None


def convert(req: ImportRequest) -> Imported:
    from tokkit.tokenizers import create_tokenizer

    sample = bool(req.options.pop("sample", False))
    stats_path = _stats_file(req)
    if req.options:
        raise UsageError(f"va-vae takes no option(s) {', '.join(sorted(req.options))} (only sample, latent_stats)")
    state, dropped = read_state(req.src)
    arch = infer_ldm_conv(state, req.src.name)
    if not arch["dec_attn_levels"]:
        raise DataError(f"'{req.src.name}' has no decoder attention: not a VA-VAE (a MAR-style KL-16 decoder?)")
    converted, unexpected = LDM_KEYS.convert(state, levels=len(arch["ch_mult"]))
    affine: dict[str, Any] = {}
    published: dict[str, Any] = {**arch, "embed_dim": arch["latent_channels"], "sample": sample}
    if stats_path is not None:
        mean, std = read_stats(stats_path, arch["latent_channels"])
        affine = dict(latent_shift=mean, latent_scale=tuple(1.0 / s for s in std))
        published.update(latents_mean=list(mean), latents_std=list(std), latent_stats_from=stats_path.name)
    tok = create_tokenizer("vae", **arch, **affine, encode_sample=sample)
    load_strict(tok, converted, req.src.name, unexpected)
    z = f"posterior {'sample' if sample else 'mean'}"
    notes = [f"latents = ({z} - mean) / std per channel ({stats_path.name}), what LightningDiT is trained on; "
             "decode inverts it" if stats_path else f"latents = the raw {z}: no {STATS_NAME} beside the file "
             "(LightningDiT normalises per channel with it; give latent_stats=PATH)"]  # fmt: skip
    files = [req.src, *([stats_path] if stats_path else [])]
    return Imported(tok, published, UPSTREAM, files, dropped=summarize(dropped), notes=notes)


FAMILY = register_family(
    Family(
        name="va-vae",
        expects="vavae-imagenet256-f16d32-dinov2.pt (LightningDiT's VA-VAE, Lightning dict with state_dict, 2.15 GB) "
        f"[+ {STATS_NAME} beside it or --latent-stats]",
        becomes="continuous vae: 32 channels, f16, decoder attention at 16x16; (mean - stats mean) / stats std",
        convert=convert,
        recognizes=recognizes,
        options=("sample", "latent_stats"),
    )
)
