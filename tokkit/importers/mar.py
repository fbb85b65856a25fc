"""``mar-kl16``: MAR's KL-16 VAE (``kl16.ckpt``) -> tokkit ``vae`` (continuous, 16 channels, f16).

MAR (LTH14/mar fe470ac) builds ``AutoencoderKL(embed_dim=16, ch_mult=(1, 1, 2, 2, 4))`` (main_mar.py) and
loads ``torch.load(path)["model"]`` (models/vae.py). Encode: moments = quant_conv(encoder(x)), the
posterior mean (``mode()``) by default, ``sample=True`` for ``posterior.sample()``. MAR trains its
generator on ``sample * 0.2325`` and decodes ``decode(tokens / 0.2325)`` (engine_mar.py), so tokkit's
latents are the posterior scaled by 0.2325 (``latent_scale``), and decode divides it back out.
Key table: ``tokkit.importers._ldm.LDM_KEYS``; the architecture is read from the tensors.
"""

from __future__ import annotations

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import load_strict
from tokkit.importers._ldm import LDM_KEYS, infer_ldm_conv

LATENT_SCALE = 0.2325  # engine_mar.py: "normalize the std of latent to be 1"
UPSTREAM = Upstream("LTH14/mar", "fe470ac", ("models/vae.py", "engine_mar.py", "main_mar.py"))
URL = "https://www.dropbox.com/scl/fi/hhmuvaiacrarfg28qxhwz/kl16.ckpt?rlkey=l44xipsezc8atcffdp4q7mwmh&dl=1"


def read_mar_state(path) -> dict:
    """The VAE state dict of a MAR ``{"model": state_dict}`` file (or a bare state dict), tensors only."""
    from tokkit.io.checkpoint import torch_load_weights

    obj = torch_load_weights(path)
    state = obj["model"] if isinstance(obj.get("model"), dict) else obj
    if not any(k.startswith("encoder.down.") for k in state):
        raise DataError(f"'{path}' is not a MAR KL-16 checkpoint: no encoder.down.* tensors (keys: "
                        f"{', '.join(list(state)[:3])})")  # fmt: skip
    return state


def convert(req: ImportRequest) -> Imported:
    from tokkit.tokenizers import create_tokenizer

    sample = bool(req.options.pop("sample", False))
    if req.options:
        raise UsageError(f"mar-kl16 takes no option(s) {', '.join(sorted(req.options))} (only sample)")
    state = read_mar_state(req.src)
    arch = infer_ldm_conv(state, req.src.name)
    if not (arch["use_quant_conv"] and arch["use_post_quant_conv"]):
        raise DataError(f"'{req.src.name}' lacks MAR's quant_conv/post_quant_conv: not a MAR KL-16 file")
    converted, unexpected = LDM_KEYS.convert(state, levels=len(arch["ch_mult"]))
    tok = create_tokenizer("vae", **arch, latent_scale=LATENT_SCALE, encode_sample=sample)
    load_strict(tok, converted, req.src.name, unexpected)
    published = {**arch, "embed_dim": arch["latent_channels"], "latent_scale": LATENT_SCALE, "sample": sample}
    notes = [
        f"latents = posterior {'sample' if sample else 'mean'} x {LATENT_SCALE} (what MAR's generator sees); "
        f"decode divides by {LATENT_SCALE}"
    ]
    return Imported(tok, published, UPSTREAM, [req.src], notes=notes)


FAMILY = register_family(
    Family(
        name="mar-kl16",
        expects="kl16.ckpt (MAR's KL-16 VAE: {'model': state_dict}, 254 MB)",
        becomes="continuous vae: 16 channels, f16; posterior mean x 0.2325 (sample=True samples)",
        convert=convert,
        downloads={"kl16": URL},
    )
)
