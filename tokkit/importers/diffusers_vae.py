"""``diffusers-vae``: a diffusers AutoencoderKL -> tokkit ``vae`` (continuous).

Sources: a diffusers folder (``config.json`` + ``diffusion_pytorch_model[.fp16].safetensors`` or ``.bin``;
a pipeline folder's ``vae/`` is found), or a single weights file with ``--config`` (a config.json, or a
published name in ``PUBLISHED``). The weights may be in diffusers' names (current, or the legacy
``query/key/value/proj_attn`` attention of files written before diffusers 0.14) or in the LDM layout
(CompVis/SD ``.ckpt`` files, ``first_stage_model.*`` inside a full SD checkpoint, BFL's FLUX ``ae``).
fp16/bf16 tensors are upcast to float32.

Latents are what the diffusion model sees, as diffusers' pipelines compute them: SD/SDXL
``z * scaling_factor``; SD3/FLUX ``(z - shift_factor) * scaling_factor``; with ``latents_mean``/``latents_std``
(SDXL pipeline) ``(z - mean) * scaling_factor / std`` per channel. ``z`` is the posterior mean
(``retrieve_latents(sample_mode="argmax")``), or ``posterior.sample()`` with ``sample=True``. Decode
inverts the scaling, then post_quant_conv (when used) and the decoder; no clamp (diffusers 0.42.1,
``autoencoder_kl.py``, ``vae.py``, ``unet_2d_blocks.py``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import KeyTable, load_strict
from tokkit.importers._ldm import LDM_KEYS
from tokkit.importers.pipeline import read_config_file

UPSTREAM = Upstream(
    "diffusers",
    "0.42.1",
    ("models/autoencoders/autoencoder_kl.py", "models/autoencoders/vae.py", "models/unets/unet_2d_blocks.py"),
)

# tokkit                                     diffusers
DIFFUSERS_KEYS = KeyTable(
    rows=[
        ("{E}.conv_in.",                         "{E}.conv_in."),
        ("encoder.down.{L}.blocks.{i}.",         "encoder.down_blocks.{L}.resnets.{i}."),
        ("encoder.down.{L}.downsample.conv.",    "encoder.down_blocks.{L}.downsamplers.0.conv."),
        ("{E}.mid.0.",                           "{E}.mid_block.resnets.0."),
        ("{E}.mid.1.",                           "{E}.mid_block.attentions.0."),
        ("{E}.mid.2.",                           "{E}.mid_block.resnets.1."),
        ("decoder.up.{L}.blocks.{i}.",           "decoder.up_blocks.{L}.resnets.{i}."),     # run order, as tokkit
        ("decoder.up.{L}.upsample.conv.",        "decoder.up_blocks.{L}.upsamplers.0.conv."),
        ("{E}.norm_out.",                        "{E}.conv_norm_out."),
        ("{E}.conv_out.",                        "{E}.conv_out."),
        ("quant_conv.",                          "quant_conv."),
        ("post_quant_conv.",                     "post_quant_conv."),
    ],
    leaves=[
        ("skip",                                 "conv_shortcut"),      # 1x1 conv when cin != cout
        ("norm",                                 "group_norm"),
        ("proj",                                 "to_out.0"),           # Linear (C, C) -> 1x1 conv
        ("proj",                                 "proj_attn"),          # legacy (< 0.14) names
        ("to_q",                                 "query"),
        ("to_k",                                 "key"),
        ("to_v",                                 "value"),
    ],
    fused={"qkv": ("to_q", "to_k", "to_v")},                            # Linear (C, C) each -> (3C, C, 1, 1)
)  # fmt: skip

# AutoencoderKL.__init__ defaults (diffusers 0.42.1): a config.json leaves out what equals them
DEFAULTS: dict[str, Any] = dict(
    in_channels=3,
    out_channels=3,
    down_block_types=("DownEncoderBlock2D",),
    up_block_types=("UpDecoderBlock2D",),
    block_out_channels=(64,),
    layers_per_block=1,
    act_fn="silu",
    latent_channels=4,
    norm_num_groups=32,
    sample_size=32,
    scaling_factor=0.18215,
    shift_factor=None,
    latents_mean=None,
    latents_std=None,
    force_upcast=True,
    use_quant_conv=True,
    use_post_quant_conv=True,
    mid_block_add_attention=True,
)

_SD = dict(
    block_out_channels=[128, 256, 512, 512],
    layers_per_block=2,
    down_block_types=["DownEncoderBlock2D"] * 4,
    up_block_types=["UpDecoderBlock2D"] * 4,
    latent_channels=4,
    sample_size=256,
)
_SD3 = dict(_SD, latent_channels=16, sample_size=1024, use_quant_conv=False, use_post_quant_conv=False)
# published VAEs whose single files carry no config: --config NAME
PUBLISHED: dict[str, dict[str, Any]] = {
    "sd-vae-ft-ema": dict(_SD, scaling_factor=0.18215),  # stabilityai/sd-vae-ft-ema (SD 1.x/2.x)
    "sd-vae-ft-mse": dict(_SD, scaling_factor=0.18215),  # stabilityai/sd-vae-ft-mse
    "sdxl-vae": dict(_SD, scaling_factor=0.13025, sample_size=1024),  # stabilityai/sdxl-vae
    "sd3": dict(_SD3, scaling_factor=1.5305, shift_factor=0.0609),  # SD3 / SD3.5 vae/ (not verified offline)
    "flux1": dict(_SD3, scaling_factor=0.3611, shift_factor=0.1159),  # FLUX.1 vae/ (BFL ae_params)
}
WEIGHT_NAMES = (
    "diffusion_pytorch_model.safetensors",
    "diffusion_pytorch_model.fp16.safetensors",
    "diffusion_pytorch_model.bin",
    "diffusion_pytorch_model.fp16.bin",
)


def _locate(src: Path) -> tuple[Path, Path | None]:
    """(weights file, config.json beside it or None)."""
    if src.is_dir():
        folder = src / "vae" if (src / "vae" / "config.json").is_file() else src  # a pipeline folder
        weights = next((folder / n for n in WEIGHT_NAMES if (folder / n).is_file()), None)
        if weights is None:
            raise DataError(f"'{folder}' holds none of {', '.join(WEIGHT_NAMES[:3])}: not a diffusers VAE folder")
        config = folder / "config.json"
        return weights, config if config.is_file() else None
    config = src.parent / "config.json"
    return src, config if src.name in WEIGHT_NAMES and config.is_file() else None


def read_config(given: str | None, beside: Path | None, weights: Path) -> tuple[dict[str, Any], list[Path], str]:
    """The diffusers config with defaults filled in, the files read, and where it came from."""
    if given is not None and given in PUBLISHED:
        return {**DEFAULTS, **PUBLISHED[given]}, [], f"published name '{given}'"
    path = Path(given).expanduser() if given is not None else beside
    if path is None:
        raise UsageError(
            f"'{weights.name}' is a single file whose scaling factor is not in its tensors: give --config "
            f"(a diffusers config.json, or one of {', '.join(PUBLISHED)})"
        )
    if not path.is_file():
        raise DataError(f"config '{path}' does not exist; published names: {', '.join(PUBLISHED)}")
    cfg = read_config_file(path)  # JSON is YAML: one reader for every family's --config
    if not isinstance(cfg, dict) or cfg.get("_class_name", "AutoencoderKL") != "AutoencoderKL":
        kind = cfg.get("_class_name") if isinstance(cfg, dict) else type(cfg).__name__
        raise DataError(f"config '{path}' describes {kind}, not a diffusers AutoencoderKL")
    return {**DEFAULTS, **cfg}, [path], str(path.name)


def vae_args(cfg: dict[str, Any], source: str) -> dict[str, Any]:
    """tokkit VAEConfig fields of a diffusers AutoencoderKL config (refusing what tokkit's layers lack)."""
    unsupported = {
        "in_channels": (cfg["in_channels"], 3),
        "out_channels": (cfg["out_channels"], 3),
        "act_fn": (cfg["act_fn"], "silu"),
        "norm_num_groups": (cfg["norm_num_groups"], 32),
    }
    for key, (got, want) in unsupported.items():
        if got != want:
            raise DataError(f"'{source}': {key}={got!r} is not supported (tokkit's KL-VAE has {want!r})")
    boc = list(cfg["block_out_channels"])
    n = len(boc)
    types = (list(cfg["down_block_types"]), list(cfg["up_block_types"]))
    if types != (["DownEncoderBlock2D"] * n, ["UpDecoderBlock2D"] * n):
        raise DataError(f"'{source}': block types {types} are not {n} DownEncoderBlock2D / UpDecoderBlock2D")
    if any(c % boc[0] for c in boc):
        raise DataError(f"'{source}': block_out_channels {boc} are not multiples of {boc[0]}")
    latent = int(cfg["latent_channels"])
    scale, shift = affine(cfg, latent, source)
    return dict(
        ch=boc[0],
        ch_mult=tuple(c // boc[0] for c in boc),
        num_res_blocks=int(cfg["layers_per_block"]),
        z_channels=latent,
        latent_channels=latent,
        attn_levels=(),  # diffusers' KL VAEs have attention only in the mid blocks
        dec_attn_levels=(),
        mid_attn=bool(cfg["mid_block_add_attention"]),
        use_quant_conv=bool(cfg["use_quant_conv"]),
        use_post_quant_conv=bool(cfg["use_post_quant_conv"]),
        latent_scale=scale,
        latent_shift=shift,
    )


def affine(cfg: dict[str, Any], channels: int, source: str) -> tuple[Any, Any]:
    """(latent_scale, latent_shift) so that tokkit latents = (z - shift) * scale, as the pipelines do."""
    sf = float(cfg["scaling_factor"])
    mean, std = cfg.get("latents_mean"), cfg.get("latents_std")
    if mean is not None and std is not None:
        if len(mean) != channels or len(std) != channels:
            raise DataError(f"'{source}': latents_mean/std have {len(mean)}/{len(std)} values for {channels} channels")
        return tuple(sf / float(s) for s in std), tuple(float(m) for m in mean)
    return sf, float(cfg["shift_factor"] or 0.0)


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except (SafetensorError, OSError, ValueError) as e:
            raise DataError(f"cannot read '{path}' as safetensors: {e}") from e
    from tokkit.io.checkpoint import torch_load_weights

    obj = torch_load_weights(path)  # a .ckpt's "state_dict" is unwrapped there; a {"model": ...} file here
    obj = obj["model"] if isinstance(obj.get("model"), dict) else obj
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


def to_tokkit(state: dict[str, torch.Tensor], levels: int) -> tuple[dict[str, torch.Tensor], list[str], list[str]]:
    """(tokkit state, unexpected keys, dropped keys) for diffusers- or LDM-layout VAE weights."""
    dropped: list[str] = []
    prefix = "first_stage_model."
    if any(k.startswith(prefix) for k in state):  # a whole SD checkpoint: keep its VAE
        dropped = sorted({k.split(".")[0] + ".*" for k in state if not k.startswith(prefix)})
        state = {k.removeprefix(prefix): v for k, v in state.items() if k.startswith(prefix)}
    # training-only tensors of LDM VAE checkpoints (LPIPS/discriminator loss, EMA copies)
    extra = [k for k in state if k.startswith(("loss.", "model_ema."))]
    dropped += extra
    state = {k: v for k, v in state.items() if k not in set(extra)}
    table = DIFFUSERS_KEYS if any(".down_blocks." in k for k in state) else LDM_KEYS
    out, unexpected = table.convert(state, levels)
    return out, unexpected, dropped


def convert(req: ImportRequest) -> Imported:
    from tokkit.tokenizers import create_tokenizer

    sample = bool(req.options.pop("sample", False))
    if req.options:
        raise UsageError(f"diffusers-vae takes no option(s) {', '.join(sorted(req.options))} (only sample)")
    weights, beside = _locate(req.src)
    cfg, cfg_files, cfg_from = read_config(req.config, beside, weights)
    args = vae_args(cfg, cfg_from)
    state = read_weights(weights)
    dtypes = sorted({str(v.dtype).removeprefix("torch.") for v in state.values() if v.is_floating_point()})
    converted, unexpected, dropped = to_tokkit(state, levels=len(args["ch_mult"]))
    tok = create_tokenizer("vae", **args, encode_sample=sample)
    load_strict(tok, converted, weights.name, unexpected)
    keep = ("scaling_factor", "shift_factor", "latents_mean", "latents_std", "force_upcast", "_diffusers_version")
    published = {**{k: v for k, v in cfg.items() if k in DEFAULTS or k in keep}, "config_from": cfg_from,
                 "weights_dtype": dtypes, "sample": sample}  # fmt: skip
    notes = [f"latents = (posterior {'sample' if sample else 'mean'} - {args['latent_shift']}) x "
             f"{args['latent_scale']}, what the diffusion model sees; decode inverts it"]  # fmt: skip
    if dtypes != ["float32"]:
        notes.append(f"weights stored as {'/'.join(dtypes)}, upcast to float32")
    if dropped:
        notes.append(f"dropped what is not the VAE: {', '.join(dropped[:5])}")
    return Imported(tok, published, UPSTREAM, [weights, *cfg_files], dropped=dropped, notes=notes)


FAMILY = register_family(
    Family(
        name="diffusers-vae",
        expects="a diffusers AutoencoderKL folder (config.json + diffusion_pytorch_model.safetensors), or one "
        f"weights file (diffusers or LDM layout) with --config FILE|{'|'.join(PUBLISHED)}",
        becomes="continuous vae (SD 1.x/2.x, SDXL: 4 ch; SD3, FLUX.1: 16 ch), latents scaled/shifted as the pipeline",
        convert=convert,
    )
)
