"""``ibq``: an IBQ tokenizer (``imagenet256_*.ckpt`` + ``imagenet_ibqgan_*.yaml``) -> ``vqgan``, ``code_match="dot"``.

Semantics: TencentARC/SEED-Voken b9a17ea ``src/IBQ/models/ibqgan.py`` (``IBQ.encode`` / ``decode``, as
``reconstruct_image.py`` calls them inside ``ema_scope()``), ``src/IBQ/modules/diffusionmodules/model.py``
(taming's Encoder/Decoder, unchanged) and ``src/IBQ/modules/vqvae/quantize.py``
(``IndexPropagationQuantize``): logits = z . E^T, the code is the argmax of their softmax, i.e. the
largest plain dot product (no normalisation; ``l2_normalize`` and ``cosine_similarity`` do not reach
it), not the nearest code. ``quant_conv`` / ``post_quant_conv`` (z_channels <-> embed_dim) are the
quantizer's projections, as for taming; decode is ``decoder(post_quant_conv(code))``, no clamp.

Weights: the EMA copy (``model_ema.*``) when the config says ``use_ema`` (both published configs do);
``ema=False`` / ``ema=True`` (library option) chooses. ``loss.*`` and the EMA bookkeeping are dropped.
"""

from __future__ import annotations

from tokkit.errors import DataError
from tokkit.importers import _seed, taming
from tokkit.importers._base import Family, Imported, ImportRequest, Upstream, register_family
from tokkit.importers._keymap import summarize

UPSTREAM = Upstream(
    _seed.REPOSITORY,
    _seed.COMMIT,
    ("src/IBQ/models/ibqgan.py", "src/IBQ/modules/diffusionmodules/model.py", "src/IBQ/modules/vqvae/quantize.py",
     "src/IBQ/modules/ema.py", "reconstruct_image.py"),
)  # fmt: skip
CLASS_PATHS = ("src.IBQ.models.ibqgan.IBQ",)


def recognizes(keys: set[str]) -> bool:
    """taming's layout with LitEma copies (a taming file has none)."""
    return (
        "encoder.down.0.block.0.conv1.weight" in keys
        and "quantize.embedding.weight" in keys
        and "model_ema.quantizeembeddingweight" in keys
    )


def convert(req: ImportRequest) -> Imported:
    ckpt, yaml = _seed.locate(req.src, req.config)
    params = _seed.init_args(yaml, CLASS_PATHS) if yaml is not None else None
    state = _seed.read_state(ckpt)
    if "quantize.embedding.weight" not in state or "encoder.down.0.block.0.conv1.weight" not in state:
        raise DataError(f"'{ckpt.name}' is not an IBQ checkpoint (no encoder.down.* / quantize.embedding tensors)")
    if params is None and not any(k.startswith(_seed.EMA) for k in state):
        # the same tensors as taming's VQGAN: without EMA copies or a yaml nothing says it is IBQ
        raise DataError(f"'{ckpt.name}' has no model_ema.* tensors and no IBQ yaml: not an IBQ checkpoint",
                        hint="give its imagenet_ibqgan_*.yaml with --config")  # fmt: skip
    use_ema, notes = _seed.choose_ema(state, params, req.options.get("ema"))
    weights, dropped = _seed.pick_weights(state, use_ema)
    imp = taming.from_state(weights, params, str(yaml), overrides={"code_match": "dot"}, what=f"'{ckpt.name}'")
    if params is None:
        notes.append("no yaml beside the checkpoint and no --config: configuration read from the tensors")
    imp.upstream = UPSTREAM
    imp.published = {**imp.published, "weights": "ema" if use_ema else "raw"}
    imp.source_files = [ckpt] + ([yaml] if yaml is not None else [])
    imp.dropped = summarize(dropped) + imp.dropped
    imp.notes = notes + ["code = argmax of the dot product z . E (IndexPropagationQuantize), not the nearest code"]
    return imp


FAMILY = register_family(
    Family(
        name="ibq",
        expects="imagenet256_*.ckpt (pytorch-lightning) + imagenet_ibqgan_*.yaml beside it, or --config",
        becomes="vqgan: 1024-262144 x 256 codes picked by largest dot product, f16; EMA weights, loss dropped",
        convert=convert,
        recognizes=recognizes,
        options=("ema",),
    )
)
