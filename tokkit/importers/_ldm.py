"""The LDM / taming conv stack (``encoder.down.L.block.i``, ``mid.block_1``, ``decoder.up.L``) in tokkit's names.

Used by MAR KL-16, LDM-format diffusers single files (SD ``first_stage_model.*``, BFL's FLUX ``ae``),
taming and VAR (``LDM_KEYS`` rows after their own). ``infer_ldm_conv`` reads a KL autoencoder's config
from the published names; ``conv_config`` reads the VQ families' ``ConvConfig`` from tokkit's names.
Reference: LTH14/mar models/vae.py (= CompVis LDM ``ldm/modules/diffusionmodules/model.py``);
REFERENCE-import.md 0.1.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import torch

from tokkit.errors import DataError
from tokkit.importers._keymap import KeyTable

# tokkit                                     LDM / taming / MAR
LDM_KEYS = KeyTable(
    rows=[
        ("{E}.conv_in.",                         "{E}.conv_in."),
        ("encoder.down.{L}.blocks.{i}.",         "encoder.down.{L}.block.{i}."),
        ("encoder.down.{L}.attn.{i}.",           "encoder.down.{L}.attn.{i}."),
        ("encoder.down.{L}.downsample.conv.",    "encoder.down.{L}.downsample.conv."),
        ("{E}.mid.0.",                           "{E}.mid.block_1."),
        ("{E}.mid.1.",                           "{E}.mid.attn_1."),
        ("{E}.mid.2.",                           "{E}.mid.block_2."),
        ("decoder.up.{R}.blocks.{i}.",           "decoder.up.{L}.block.{i}."),   # up.L: by level
        ("decoder.up.{R}.attn.{i}.",             "decoder.up.{L}.attn.{i}."),
        ("decoder.up.{R}.upsample.conv.",        "decoder.up.{L}.upsample.conv."),
        ("{E}.norm_out.",                        "{E}.norm_out."),
        ("{E}.conv_out.",                        "{E}.conv_out."),
        ("quant_conv.",                          "quant_conv."),
        ("post_quant_conv.",                     "post_quant_conv."),
    ],
    leaves=[
        ("skip",                                 "nin_shortcut"),                # 1x1 conv when cin != cout
        ("proj",                                 "proj_out"),
    ],
    fused={"qkv": ("q", "k", "v")},                                             # (C,C,1,1) each -> (3C,C,1,1)
)  # fmt: skip


def _indices(state: dict[str, torch.Tensor], pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.match(k))})


def infer_ldm_conv(state: dict[str, torch.Tensor], source: str) -> dict[str, Any]:
    """VAEConfig fields of an LDM-layout KL autoencoder read from its tensors (shapes and key names)."""

    def need(key: str) -> torch.Tensor:
        if key not in state:
            raise DataError(f"'{source}' has no '{key}': not an LDM/MAR KL autoencoder state dict")
        return state[key]

    ch = need("encoder.conv_in.weight").shape[0]
    levels = _indices(state, r"encoder\.down\.(\d+)\.")
    if not levels or levels != list(range(len(levels))):
        raise DataError(f"'{source}' has no encoder.down.0 ... levels")
    outs = [need(f"encoder.down.{L}.block.0.conv1.weight").shape[0] for L in levels]
    if any(o % ch for o in outs):
        raise DataError(f"'{source}': level widths {outs} are not multiples of the first conv's {ch}")
    blocks = _indices(state, r"encoder\.down\.0\.block\.(\d+)\.")
    dec_blocks = _indices(state, r"decoder\.up\.0\.block\.(\d+)\.")
    if len(dec_blocks) != len(blocks) + 1:
        raise DataError(f"'{source}': {len(dec_blocks)} decoder blocks per level for {len(blocks)} encoder blocks")
    enc_mid, dec_mid = "encoder.mid.attn_1.q.weight" in state, "decoder.mid.attn_1.q.weight" in state
    if enc_mid != dec_mid:
        raise DataError(f"'{source}': mid-block attention in only one of encoder and decoder")
    moments = need("encoder.conv_out.weight").shape[0]  # 2 * z (double_z)
    z_channels = need("decoder.conv_in.weight").shape[1]
    has_quant, has_post = "quant_conv.weight" in state, "post_quant_conv.weight" in state
    latent = state["post_quant_conv.weight"].shape[1] if has_post else z_channels
    if has_quant and state["quant_conv.weight"].shape[0] != 2 * latent:
        raise DataError(f"'{source}': quant_conv gives {state['quant_conv.weight'].shape[0]} channels, not 2 x {latent}"
                        " (only variational KL autoencoders are supported)")  # fmt: skip
    if moments != 2 * z_channels:
        raise DataError(f"'{source}': encoder emits {moments} channels for a {z_channels}-channel decoder input")
    return dict(
        ch=ch,
        ch_mult=tuple(o // ch for o in outs),
        num_res_blocks=len(blocks),
        z_channels=z_channels,
        latent_channels=latent,
        attn_levels=tuple(L for L in levels if f"encoder.down.{L}.attn.0.q.weight" in state),
        # decoder.up.L is indexed by level, as tokkit's level indices are
        dec_attn_levels=tuple(L for L in levels if f"decoder.up.{L}.attn.0.q.weight" in state),
        mid_attn=enc_mid,
        use_quant_conv=has_quant,
        use_post_quant_conv=has_post,
    )


def count_levels(state: Mapping[str, Any], prefix: str = "encoder.down.", leaf: str = ".block.0.conv1.weight") -> int:
    """Number of resolution levels: how many ``{prefix}L{leaf}`` keys exist."""
    n = 0
    while f"{prefix}{n}{leaf}" in state:
        n += 1
    return n


def encoder_shape(state: Mapping[str, torch.Tensor], what: str, family: str = "this family") -> tuple[Any, ...]:
    """(ch, ch_mult, num_res_blocks, z_channels, levels) of a conv encoder in tokkit's names (taming's layout
    and MAGVIT-2's share them); a state without one -> one DataError naming ``family``."""
    try:
        ch = int(state["encoder.conv_in.weight"].shape[0])
        levels = count_levels(state, "encoder.down.", ".blocks.0.conv1.weight")
        ch_mult = tuple(int(state[f"encoder.down.{L}.blocks.0.conv1.weight"].shape[0]) // ch for L in range(levels))
        nrb = count_levels(state, "encoder.down.0.blocks.", ".conv1.weight")
        z = int(state["encoder.conv_out.weight"].shape[0])
    except KeyError as e:
        raise DataError(f"{what} has no {e.args[0]}: not a conv encoder/decoder of {family}") from e
    if levels == 0 or nrb == 0:
        raise DataError(f"{what} has no encoder blocks: not a checkpoint of {family}")
    return ch, ch_mult, nrb, z, levels


def conv_config(state: Mapping[str, torch.Tensor], what: str) -> dict[str, Any]:
    """The ``ConvConfig`` fields read from a state already renamed to tokkit's names."""
    ch, ch_mult, nrb, z, levels = encoder_shape(state, what)
    enc_attn = tuple(L for L in range(levels) if f"encoder.down.{L}.attn.0.qkv.weight" in state)
    dec_attn = tuple(
        L for L in range(levels) if f"decoder.up.{levels - 1 - L}.attn.0.qkv.weight" in state
    )  # decoder.up.j runs level (levels - 1 - j)
    if enc_attn != dec_attn:
        raise DataError(f"{what}: attention at encoder levels {list(enc_attn)} but decoder levels {list(dec_attn)}")
    return dict(
        ch=int(ch),
        ch_mult=ch_mult,
        num_res_blocks=nrb,
        z_channels=int(z),
        attn_levels=enc_attn,
        mid_attn="encoder.mid.1.qkv.weight" in state,
    )
