"""``var``: VAR's multi-scale VQVAE (``vae_ch160v4096z32.pth``, a bare state_dict) -> ``msvq``.

Semantics: FoundationVision/VAR ``models/vqvae.py`` (``img_to_idxBl`` / ``idxBl_to_img(same_shape=True,
last_one=True)``) and ``models/quant.py`` at commit 78b9539. tokkit's ``msvq`` is the same computation:
area-downsampled residual -> nearest code (plain L2) -> bicubic up -> shared phi conv; decode clamps to
[-1, 1] as VAR does. The scales (``v_patch_nums``) and the phi ratio are not stored in the file: VAR's
published values are used and recorded, ``--config FILE`` (JSON/YAML with ``patch_nums``,
``quant_resi``) overrides them.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from tokkit.errors import DataError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import KeyTable, load_strict_fp32
from tokkit.importers._ldm import LDM_KEYS, conv_config, count_levels
from tokkit.importers.pipeline import read_config_file, state_dict_of
from tokkit.io.checkpoint import torch_load_checkpoint
from tokkit.layers.quantizer import phi_assignment

UPSTREAM = Upstream("FoundationVision/VAR", "78b9539", ("models/vqvae.py", "models/quant.py", "models/basic_vae.py"))
PATCH_NUMS = (1, 2, 3, 4, 5, 6, 8, 10, 13, 16)  # VQVAE(v_patch_nums=...) default, 256 px
QUANT_RESI = 0.5

# tokkit                                     VAR (own rows, then the shared LDM rows)
TABLE = KeyTable(
    rows=[
        ("quantizer.codebook.",                  "quantize.embedding."),              # (V, Cvae)
        ("quantizer.phis.{i}.",                  "quantize.quant_resi.qresi_ls.{i}."),  # partially shared
        ("quantizer.phis.0.",                    "quantize.quant_resi.qresi."),       # one shared phi
        ("quantizer.phis.{i}.",                  "quantize.quant_resi.{i}."),         # one phi per scale
        *LDM_KEYS.rows,                                                               # quant_conv: 3x3, Cvae -> Cvae
    ],
    leaves=LDM_KEYS.leaves,
    fused=LDM_KEYS.fused,
    drop=("quantize.ema_vocab_hit_SV",),                                          # training usage statistics
)  # fmt: skip


def recognizes(keys: set[str]) -> bool:
    return "quantize.embedding.weight" in keys and any(k.startswith("quantize.quant_resi.") for k in keys)


def var_phi_of_scale(num_phi: int, num_scales: int) -> list[int]:
    """VAR's ``PhiPartiallyShared.__getitem__(si / (SN - 1))``: nearest tick, ticks by VAR's rule."""
    k = num_phi
    ticks = np.linspace(1 / 3 / k, 1 - 1 / 3 / k, k) if k == 4 else np.linspace(1 / 2 / k, 1 - 1 / 2 / k, k)
    return [int(np.argmin(np.abs(ticks - si / (num_scales - 1)))) for si in range(num_scales)]


def from_state(state: dict[str, torch.Tensor], overrides: dict[str, Any] | None = None) -> Imported:
    """A VAR VQVAE state_dict (published names) -> the loaded tokkit ``msvq`` tokenizer."""
    from tokkit.tokenizers import create_tokenizer

    overrides = dict(overrides or {})
    if not recognizes(set(state)):
        raise DataError("not a VAR VQVAE state_dict (no quantize.embedding / quantize.quant_resi tensors)")
    s, unexpected = TABLE.convert(state, levels=count_levels(state))
    conv = conv_config(s, "the VAR checkpoint")
    v, cvae = s["quantizer.codebook.weight"].shape
    ks = s["quant_conv.weight"].shape[-1]
    if ks != 3:
        raise DataError(f"VAR quant_conv has kernel size {ks}; tokkit's msvq has 3x3 quant convs")
    num_phi = len({k.split(".")[2] for k in s if k.startswith("quantizer.phis.")})
    patch_nums = tuple(int(p) for p in overrides.pop("patch_nums", PATCH_NUMS))
    ratio = float(overrides.pop("quant_resi", QUANT_RESI))
    if overrides:
        raise DataError(f"unknown VAR config keys: {', '.join(sorted(overrides))} (known: patch_nums, quant_resi)")
    if num_phi > 1 and var_phi_of_scale(num_phi, len(patch_nums)) != phi_assignment(len(patch_nums), num_phi):
        raise DataError(f"VAR's phi sharing of {num_phi} convs over {len(patch_nums)} scales is not tokkit's")
    args = dict(
        **conv,
        codebook_size=int(v),
        code_dim=int(cvae),
        patch_nums=patch_nums,
        num_phi=num_phi,
        phi_ratio=ratio,
        beta=0.25,
        l2_norm=False,  # using_znorm=False
        clamp_output=True,
    )
    tok = load_strict_fp32(create_tokenizer("msvq", **args), s, "the VAR checkpoint", unexpected)
    published = dict(
        vocab_size=int(v),
        z_channels=int(cvae),
        ch=conv["ch"],
        ch_mult=list(conv["ch_mult"]),
        num_res_blocks=conv["num_res_blocks"],
        share_quant_resi=num_phi,
        quant_resi=ratio,
        v_patch_nums=list(patch_nums),
        using_znorm=False,
        image_size=patch_nums[-1] * 2 ** (len(conv["ch_mult"]) - 1),
    )
    return Imported(tok, published, UPSTREAM, [], dropped=TABLE.dropped(state))


def convert(req: ImportRequest) -> Imported:
    state = state_dict_of(torch_load_checkpoint(req.src), req.src)
    overrides = read_config_file(req.config) if req.config else {}
    imp = from_state(state, overrides)
    imp.source_files = [req.src]
    if not req.config:
        imp.notes.append(f"v_patch_nums {list(PATCH_NUMS)} and quant_resi {QUANT_RESI}: VAR's published values")
    return imp


FAMILY = register_family(
    Family(
        name="var",
        expects="vae_ch160v4096z32.pth (VAR VQVAE state_dict, 324 tensors)",
        becomes="msvq: 4096 x 32 codes, 10 scales 1..16 at 256 px, 4 shared phi convs",
        convert=convert,
        downloads={
            "vae_ch160v4096z32": "https://huggingface.co/FoundationVision/var/resolve/main/vae_ch160v4096z32.pth"
        },
        recognizes=recognizes,
        options=(),
    )
)
