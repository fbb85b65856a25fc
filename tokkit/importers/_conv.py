"""What the conv families (VAR, taming, LlamaGen) share: the LDM key table, the conv config read
from the tensors, and loading a converted state strictly into a tokkit tokenizer.

LDM / taming / VAR layout -> tokkit (``tokkit/layers/conv.py``):

| published                                   | tokkit                                  |
|---------------------------------------------|-----------------------------------------|
| ``encoder.down.L.block.i.{norm1,conv1,..}`` | ``encoder.down.L.blocks.i.*``           |
| ``...block.i.nin_shortcut``                 | ``...blocks.i.skip``                    |
| ``...attn.i.{q,k,v}`` / ``qkv``, ``proj_out``| ``...attn.i.qkv`` (q,k,v cat), ``proj`` |
| ``{enc,dec}.mid.{block_1,attn_1,block_2}``  | ``{enc,dec}.mid.{0,1,2}``               |
| ``decoder.up.L`` (by level)                 | ``decoder.up.(levels-1-L)`` (run order) |
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

from tokkit.errors import DataError
from tokkit.importers._keys import Table, check_keys
from tokkit.tokenizers._base import Tokenizer

_W = r"(weight|bias)"
_RES = r"(norm1|conv1|norm2|conv2)"

LDM_TABLE: Table = [
    (rf"(encoder|decoder)\.(conv_in|conv_out|norm_out)\.{_W}", "{1}.{2}.{3}"),
    (rf"encoder\.down\.(\d+)\.block\.(\d+)\.nin_shortcut\.{_W}", "encoder.down.{1}.blocks.{2}.skip.{3}"),
    (rf"encoder\.down\.(\d+)\.block\.(\d+)\.{_RES}\.{_W}", "encoder.down.{1}.blocks.{2}.{3}.{4}"),
    (rf"encoder\.down\.(\d+)\.attn\.(\d+)\.(norm|qkv|q|k|v)\.{_W}", "encoder.down.{1}.attn.{2}.{3}.{4}"),
    (rf"encoder\.down\.(\d+)\.attn\.(\d+)\.proj_out\.{_W}", "encoder.down.{1}.attn.{2}.proj.{3}"),
    (rf"encoder\.down\.(\d+)\.downsample\.conv\.{_W}", "encoder.down.{1}.downsample.conv.{2}"),
    (rf"(encoder|decoder)\.mid\.block_1\.(\w+)\.{_W}", "{1}.mid.0.{2}.{3}"),
    (rf"(encoder|decoder)\.mid\.attn_1\.proj_out\.{_W}", "{1}.mid.1.proj.{2}"),
    (rf"(encoder|decoder)\.mid\.attn_1\.(norm|qkv|q|k|v)\.{_W}", "{1}.mid.1.{2}.{3}"),
    (rf"(encoder|decoder)\.mid\.block_2\.(\w+)\.{_W}", "{1}.mid.2.{2}.{3}"),
    (rf"decoder\.up\.(\d+)\.block\.(\d+)\.nin_shortcut\.{_W}", "decoder.up.{rev1}.blocks.{2}.skip.{3}"),
    (rf"decoder\.up\.(\d+)\.block\.(\d+)\.{_RES}\.{_W}", "decoder.up.{rev1}.blocks.{2}.{3}.{4}"),
    (rf"decoder\.up\.(\d+)\.attn\.(\d+)\.(norm|qkv|q|k|v)\.{_W}", "decoder.up.{rev1}.attn.{2}.{3}.{4}"),
    (rf"decoder\.up\.(\d+)\.attn\.(\d+)\.proj_out\.{_W}", "decoder.up.{rev1}.attn.{2}.proj.{3}"),
    (rf"decoder\.up\.(\d+)\.upsample\.conv\.{_W}", "decoder.up.{rev1}.upsample.conv.{2}"),
]


def count_levels(state: Mapping[str, Any], prefix: str = "encoder.down.", leaf: str = ".block.0.conv1.weight") -> int:
    """Number of resolution levels: how many ``{prefix}L{leaf}`` keys exist."""
    n = 0
    while f"{prefix}{n}{leaf}" in state:
        n += 1
    return n


def conv_config(state: Mapping[str, torch.Tensor], what: str) -> dict[str, Any]:
    """The ``ConvConfig`` fields read from a state already renamed to tokkit's names."""
    try:
        ch = state["encoder.conv_in.weight"].shape[0]
        levels = count_levels(state, "encoder.down.", ".blocks.0.conv1.weight")
        ch_mult = tuple(state[f"encoder.down.{L}.blocks.0.conv1.weight"].shape[0] // ch for L in range(levels))
        nrb = count_levels(state, "encoder.down.0.blocks.", ".conv1.weight")
        z = state["encoder.conv_out.weight"].shape[0]
    except KeyError as e:
        raise DataError(f"{what} has no {e.args[0]}: not a conv encoder/decoder of this family") from e
    if levels == 0 or nrb == 0:
        raise DataError(f"{what} has no encoder blocks: not a checkpoint of this family")
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


def load_strict(tokenizer: Tokenizer, state: dict[str, torch.Tensor], what: str) -> Tokenizer:
    """Load ``state`` (tokkit names) into ``tokenizer``: every tensor present, none left over, same
    shapes, else one line naming the first few. tokkit's own bookkeeping buffers (``initted``) keep
    their fresh values; tensors are upcast to fp32."""
    own = tokenizer.state_dict()
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    for k in own:
        if k.endswith(".initted") and k not in state:
            state[k] = own[k]
    check_keys(own, state, what)
    tokenizer.load_state_dict(state, strict=True)
    return tokenizer.eval()
