"""``cosmos``: NVIDIA Cosmos image tokenizers (DI: FSQ, CI: continuous) -> tokkit ``cosmos-di`` / ``cosmos-ci``.

Source: a folder as published on the hub (``nvidia/Cosmos-0.1-Tokenizer-{DI,CI}{8x8,16x16}``) with
``encoder.jit`` + ``decoder.jit``, or ``autoencoder.jit`` (or that file itself). They are TorchScript
archives traced by NVIDIA's export (cosmos_predict1 ``jit_cli.py``: ``encoder_jit()`` =
encoder + quant_conv + quantizer/distribution, ``decoder_jit()`` = [inv_quant] + post_quant_conv +
decoder, and the whole network), in bf16. The tensors are read with ``tokkit.io.torchscript`` (an
allow-list unpickler over the zip: the TorchScript code is never compiled or run) and upcast to fp32.
The files hold no config: it is read from the tensors (patch size from conv_in's 3 p^2 inputs, widths,
blocks, how many levels downsample -> spatial compression, FSQ levels from the quantizer's
``_levels`` buffer, checked against its ``_basis`` and ``implicit_codebook``: that check pins the
index order, channel 0 least significant), and checked against a folder name such as ``DI8x8``.
Semantics: NVIDIA/Cosmos-Tokenizer 3584ae7 (``tokkit.tokenizers.cosmos`` says which files).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import KeyTable, load_strict_fp32, summarize
from tokkit.importers._ldm import LDM_KEYS, count_levels
from tokkit.io.torchscript import ScriptArchive, read_torchscript

UPSTREAM = Upstream(
    "NVIDIA/Cosmos-Tokenizer",
    "3584ae7",
    ("cosmos_tokenizer/modules/layers2d.py", "cosmos_tokenizer/modules/patching.py",
     "cosmos_tokenizer/modules/quantizers.py", "cosmos_tokenizer/networks/discrete_image.py",
     "cosmos_tokenizer/networks/continuous_image.py", "cosmos_tokenizer/networks/configs.py"),
)  # fmt: skip
# the non-persistent buffers the traced files carry: checked here (Haar filter, FSQ levels), not imported
BUFFERS = ("encoder.patcher.", "decoder.unpatcher.", "quantizer._levels", "quantizer._basis",
           "quantizer.implicit_codebook")  # fmt: skip
_CONV_ROWS = [row for row in LDM_KEYS.rows if not row[0].startswith(("quant_conv", "post_quant_conv"))]
# tokkit                          Cosmos (the encoder/decoder keys are LDM's: decoder.up.L by level)
DI_KEYS = KeyTable(
    rows=[
        ("quantizer.project_in.",  "quant_conv."),          # (len(levels), z, 1, 1)
        ("quantizer.project_out.", "post_quant_conv."),     # (z, len(levels), 1, 1)
        *_CONV_ROWS,
    ],
    leaves=LDM_KEYS.leaves, fused=LDM_KEYS.fused, drop=BUFFERS,
)  # fmt: skip
CI_KEYS = KeyTable(rows=list(LDM_KEYS.rows), leaves=LDM_KEYS.leaves, fused=LDM_KEYS.fused, drop=BUFFERS)
HAAR = 2**-0.5  # the "haar" wavelet taps; Cosmos's other patch method ("rearrange") has taps 1, 1
NAME = re.compile(r"(?<![A-Za-z])([CD])I(\d+)x(\d+)(?!\d)")  # "Cosmos-0.1-Tokenizer-DI8x8" -> D, 8, 8


def source_files(src: Path) -> list[Path]:
    """encoder.jit + decoder.jit of a folder (preferred, as Cosmos's README loads them), else its
    autoencoder.jit; or a given .jit file that holds the whole network."""
    if src.is_file():
        return [src]
    enc, dec, auto = src / "encoder.jit", src / "decoder.jit", src / "autoencoder.jit"
    if enc.is_file() and dec.is_file():
        return [enc, dec]
    if auto.is_file():
        return [auto]
    have = ", ".join(sorted(p.name for p in src.iterdir())[:4]) or "nothing"
    raise DataError(f"'{src}' has no encoder.jit + decoder.jit or autoencoder.jit (it holds {have})")


def _module_class(archive: ScriptArchive, name: str) -> str:
    return archive.classes.get(name, "").rsplit(".", 1)[-1]


def _describe(archive: ScriptArchive, path: Path) -> str:
    """What a TorchScript file that is not a Cosmos image tokenizer is, for the error line."""
    if any("layers3d" in c for c in archive.classes.values()):
        return f"'{path}' is a Cosmos video tokenizer (3-D layers), not an image one (DI/CI)"
    keys = ", ".join(list(archive.state)[:2]) or "no tensors"
    return f"'{path}' is a TorchScript archive of {archive.root_class} ({keys}), not a Cosmos image tokenizer"


def read_state(files: list[Path]) -> tuple[dict[str, torch.Tensor], dict[str, str], str]:
    """(Cosmos network state with one ``quantizer.*``, module classes, dtype of the weights) of the files."""
    state: dict[str, torch.Tensor] = {}
    classes: dict[str, str] = {}
    for path in files:
        archive = read_torchscript(path)
        if _module_class(archive, "encoder") != "Encoder" and _module_class(archive, "decoder") != "Decoder":
            raise DataError(_describe(archive, path))
        for key, value in archive.state.items():
            key = key.removeprefix("inv_quant.")  # decoder.jit: InvQuantizerJit wraps the same FSQuantizer
            if key in state and not torch.equal(state[key], value):
                raise DataError(f"'{path}': {key} differs from the encoder file's (not one model's files)")
            state[key] = value
        classes.update({k.removeprefix("inv_quant."): v for k, v in archive.classes.items()})
    for part in ("encoder", "decoder"):
        if f"{part}.conv_in.weight" not in state:
            raise DataError(f"{' + '.join(str(p) for p in files)} lacks the {part} (no {part}.conv_in.weight)")
    dtypes = {str(v.dtype).removeprefix("torch.") for k, v in state.items() if v.is_floating_point()
              and not k.startswith(BUFFERS)}  # fmt: skip
    return state, classes, "/".join(sorted(dtypes))


def _need(state: dict[str, torch.Tensor], key: str) -> torch.Tensor:
    if key not in state:
        raise DataError(f"the Cosmos files have no '{key}'")
    return state[key]


def _resampling_levels(state: dict[str, torch.Tensor], levels: int) -> int:
    """How many levels resample: encoder downsamplings at the first n levels, decoder upsamplings
    at the last n (Cosmos's up.L is indexed by level and the lowest resolution runs first)."""
    down = [L for L in range(levels) if f"encoder.down.{L}.downsample.conv.weight" in state]
    up = [L for L in range(levels) if f"decoder.up.{L}.upsample.conv.weight" in state]
    n = len(down)
    if down != list(range(n)) or up != list(range(levels - n, levels)):
        raise DataError(f"the Cosmos files downsample at levels {down} and upsample at {up}: not Cosmos's layout")
    return n


def _patch_size(state: dict[str, torch.Tensor]) -> int:
    """From conv_in's 3 p^2 input channels; the Haar taps (the wavelet buffers) must be 1/sqrt(2)."""
    cin = _need(state, "encoder.conv_in.weight").shape[1]
    p = round((cin / 3) ** 0.5)
    if 3 * p * p != cin or p & (p - 1):
        raise DataError(f"encoder.conv_in takes {cin} channels: not 3 x a power-of-two patch size squared")
    for key in ("encoder.patcher.wavelets", "decoder.unpatcher.wavelets"):
        taps = state.get(key)
        if p > 1 and taps is not None and not torch.allclose(taps.float(), torch.full((2,), HAAR), atol=1e-2):
            raise DataError(f"{key} is {taps.float().tolist()}: only the 'haar' patch method is supported")
    return p


def fsq_levels(state: dict[str, torch.Tensor]) -> tuple[int, ...]:
    """The FSQ levels of the quantizer buffers, checked against Cosmos's basis and implicit codebook."""
    from tokkit.layers.scalar_quant import FSQ

    levels = tuple(int(v) for v in _need(state, "quantizer._levels").tolist())
    fsq = FSQ(levels)
    basis = state.get("quantizer._basis")
    if basis is not None and basis.long().tolist() != fsq._basis.tolist():
        raise DataError(f"quantizer._basis {basis.tolist()} is not the mixed radix of levels {list(levels)}")
    book = state.get("quantizer.implicit_codebook")
    if book is not None:
        ours = fsq.index_to_codes(torch.arange(fsq.codebook_size))
        if book.shape != ours.shape or not torch.equal(book.float(), ours):
            raise DataError(f"quantizer.implicit_codebook does not enumerate levels {list(levels)} in FSQ index order")
    return levels


def infer_arch(state: dict[str, torch.Tensor], discrete: bool) -> dict[str, Any]:
    """The ``cosmos-di`` / ``cosmos-ci`` config fields read from the Cosmos tensors."""
    ch = int(_need(state, "encoder.conv_in.weight").shape[0])
    levels = count_levels(state)
    if levels == 0:
        raise DataError("the Cosmos files have no encoder.down.0 level")
    outs = [int(state[f"encoder.down.{L}.block.0.conv1.weight"].shape[0]) for L in range(levels)]
    blocks = count_levels(state, "encoder.down.0.block.", ".conv1.weight")
    if count_levels(state, "decoder.up.0.block.", ".conv1.weight") != blocks + 1:
        raise DataError(f"the decoder does not have {blocks + 1} res blocks per level for {blocks} in the encoder")
    if any(o % ch for o in outs) or "encoder.mid.attn_1.q.weight" not in state:
        raise DataError(f"level widths {outs} for {ch} base channels, or no middle attention: not Cosmos's encoder")
    z = int(_need(state, "encoder.conv_out.weight").shape[0])
    patch = _patch_size(state)
    arch: dict[str, Any] = dict(
        ch=ch,
        ch_mult=tuple(o // ch for o in outs),
        num_res_blocks=blocks,
        z_channels=z,
        patch_size=patch,
        spatial_compression=patch * 2 ** _resampling_levels(state, levels),
        attn_levels=tuple(L for L in range(levels) if f"encoder.down.{L}.attn.0.q.weight" in state),
        dec_attn_levels=tuple(L for L in range(levels) if f"decoder.up.{L}.attn.0.q.weight" in state),
    )
    width = int(_need(state, "quant_conv.weight").shape[0])
    if discrete:
        arch["fsq_levels"] = fsq_levels(state)
        if width != len(arch["fsq_levels"]):
            raise DataError(f"quant_conv gives {width} channels for {len(arch['fsq_levels'])} FSQ levels")
    else:
        arch["latent_channels"] = width
    return arch


def _check_name(src: Path, discrete: bool, compression: int) -> str | None:
    """The folder's published name (``DI8x8``), which must agree with the weights; None if it has none."""
    m = NAME.search(src.name if src.is_dir() else src.parent.name)
    if m is None:
        return None
    kind, a, b = m.group(1), int(m.group(2)), int(m.group(3))
    if (kind == "D") != discrete or a != compression or b != compression:
        found = f"{'D' if discrete else 'C'}I{compression}x{compression}"
        raise DataError(f"'{src}' is named {m.group(0)}, but its weights are a {found} tokenizer")
    return m.group(0)


def _quantizer_kind(classes: dict[str, str]) -> bool:
    """True for FSQ (DI), False for the continuous AE (CI); anything else is refused."""
    quant = classes.get("quantizer", "").rsplit(".", 1)[-1]
    dist = classes.get("distribution", "").rsplit(".", 1)[-1]
    if quant == "FSQuantizer":
        return True
    if quant:
        raise DataError(f"the Cosmos quantizer is {quant}: only FSQuantizer (the published DI models) is supported")
    if dist == "GaussianDistribution":
        raise DataError("this Cosmos CI is a VAE (GaussianDistribution): only the published AE is supported")
    return False


def convert(req: ImportRequest) -> Imported:
    from tokkit.tokenizers import create_tokenizer

    files = source_files(req.src)
    state, classes, dtype = read_state(files)
    discrete = _quantizer_kind(classes)
    arch = infer_arch(state, discrete)
    name = _check_name(req.src, discrete, arch["spatial_compression"])
    table = DI_KEYS if discrete else CI_KEYS
    converted, unexpected = table.convert(state, levels=len(arch["ch_mult"]))
    what = f"the Cosmos {'DI' if discrete else 'CI'} files"
    tok = create_tokenizer("cosmos-di" if discrete else "cosmos-ci", **arch)
    load_strict_fp32(tok, converted, what, unexpected)
    f = arch["spatial_compression"]
    published = {"name": name or f"{'D' if discrete else 'C'}I{f}x{f}", **arch, "dtype": dtype,
                 "files": [p.name for p in files]}  # fmt: skip
    notes = [
        "tensors read from the TorchScript archives (data.pkl + data/*) without compiling or running their code",
        f"weights stored as {dtype}, imported as float32" + (" (exact upcast)" if dtype != "float32" else ""),
    ]
    if discrete:
        k = tok.codebook_size
        notes.append(f"indices int64 in 0..{k - 1} (Cosmos returns int32); FSQ index order checked against the "
                     "file's implicit_codebook")  # fmt: skip
    return Imported(tok, published, UPSTREAM, files, dropped=summarize(table.dropped(state)), notes=notes)


FAMILY = register_family(
    Family(
        name="cosmos",
        expects="a folder with encoder.jit + decoder.jit (or autoencoder.jit), as nvidia/Cosmos-0.1-Tokenizer-"
        "{DI,CI}{8x8,16x16} (TorchScript, bf16: tensors read without running its code)",
        becomes="cosmos-di: FSQ 64000 codes (8,8,8,5,5,5), f8/f16; cosmos-ci: 16 continuous channels, f8/f16",
        convert=convert,
        options=(),
    )
)
