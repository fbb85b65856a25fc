"""timm encoders: DINOv2 (``dinov2-{s,b,l,g}[-reg]``), any ``timm:NAME``, and ``effnet-lite0``.

Layers (``--layer``):
- ``last``: the model's final features (ViT: last block + final norm; CNN: ``forward_features``);
- ``digit``: DiGIT's choice for ViTs: the third block from the end (block 10 of 12 for ViT-B)
  followed by the final LayerNorm, prefix (CLS/register) tokens dropped;
- an integer ``N``: ViT block ``N`` counted from 1 (``10`` = block 10), or from the end when
  negative (``-3``); CNN feature level ``N`` of timm's ``feature_info`` (1 = stride 2 ... ).
  ViT blocks get the final norm; append ``:raw`` (``10:raw``) to leave it out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from tokkit.encoders import weights as W
from tokkit.encoders._base import FeatureEncoder
from tokkit.errors import TokkitError, UsageError

log = logging.getLogger("tokkit.encoders")

DINOV2_ARCH = {"s": "small", "b": "base", "l": "large", "g": "giant"}


@dataclass(frozen=True)
class LayerSpec:
    """A parsed ``--layer``: ``kind`` in {"last", "digit", "index"}; ``index`` as given (1-based or negative)."""

    kind: str
    index: int | None = None
    norm: bool = True

    @property
    def text(self) -> str:
        base = self.kind if self.kind != "index" else str(self.index)
        return base if self.norm else f"{base}:raw"


def parse_layer(layer: str | int | None, default: str) -> LayerSpec:
    value = default if layer is None else layer
    text = str(value).strip().lower()
    norm = True
    if text.endswith(":raw"):
        text, norm = text[: -len(":raw")], False
    if text in ("last", "digit"):
        return LayerSpec(text, None, norm)
    try:
        idx = int(text)
    except ValueError as e:
        raise UsageError(f"bad --layer '{value}'", hint="use last, digit, a block number N, -N, or N:raw") from e
    if idx == 0:
        raise UsageError("--layer 0 is not a layer: blocks count from 1, or from the end with -1")
    return LayerSpec("index", idx, norm)


def _input_affine(mean: tuple[float, ...], std: tuple[float, ...]) -> tuple[torch.Tensor, torch.Tensor]:
    """[-1, 1] -> (x01 - mean) / std as x * a + b; a, b shaped (1, 3, 1, 1)."""
    m = torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1)
    return 0.5 / s, (0.5 - m) / s


class TimmEncoder(FeatureEncoder):
    """A frozen timm model read at one layer."""

    def __init__(
        self,
        spec: str,
        model_name: str,
        *,
        layer: str | int | None = None,
        weights: str | None = None,
        random_init: bool = False,
        l2_normalize: bool = False,
        default_layer: str = "last",
        input_size: int | None = None,
        model_kwargs: dict[str, Any] | None = None,
        extra_filenames: tuple[str, ...] = (),
    ):
        super().__init__()
        if random_init and weights:
            raise UsageError("--random-init and --weights exclude each other")
        self.spec = spec
        self.model_name = model_name
        self.l2_normalize = bool(l2_normalize)
        self.random_init = bool(random_init)
        self.weights_path: str | None = None
        self.model = self._build(model_name, weights, random_init, dict(model_kwargs or {}), extra_filenames)
        self.model.requires_grad_(False)
        self.model.eval()
        cfg = self.model.pretrained_cfg
        a, b = _input_affine(tuple(cfg.get("mean", (0.5,) * 3)), tuple(cfg.get("std", (0.5,) * 3)))
        self.register_buffer("in_scale", a, persistent=False)
        self.register_buffer("in_shift", b, persistent=False)
        self.input_size = int(input_size or cfg.get("input_size", (3, 224, 224))[-1])
        self.is_vit = hasattr(self.model, "blocks") and hasattr(self.model, "num_prefix_tokens")
        self.layer_spec = parse_layer(layer, default_layer)
        self._take: int | None = None  # absolute intermediate index, None = forward_features
        self._setup_layer()
        self.pooled_dim = int(self.model.num_features)
        self._grid_cache: dict[int, tuple[int, int]] = {}

    # --- building ------------------------------------------------------------------------------
    def _candidate_files(self, model_name: str, extra: tuple[str, ...]) -> list[str]:
        base = model_name.split(".")[0]
        names = [f"{model_name}{ext}" for ext in (".safetensors", ".pth", ".bin")]
        names += [f"{base}{ext}" for ext in (".safetensors", ".pth", ".bin")]
        url = getattr(self, "_cfg_url", None)
        if url:
            names.append(url.rsplit("/", 1)[-1])
        return list(dict.fromkeys([*names, *extra]))

    def resolve_weights(self, model_name: str, weights: str | None, extra: tuple[str, ...]) -> Path:
        import timm

        if weights:
            return W.explicit_weights(weights)
        try:
            cfg = timm.models.get_pretrained_cfg(model_name) or {}
            cfg = cfg if isinstance(cfg, dict) else cfg.to_dict()
        except Exception:
            cfg = {}
        self._cfg_url = cfg.get("url")
        names = self._candidate_files(model_name, extra)
        found = (
            W.weights_dir_file(names)
            or W.hf_cache_file(cfg.get("hf_hub_id"))
            or W.torch_cache_file(names)
            or W.hf_download(cfg.get("hf_hub_id"))
        )
        if found is None:
            raise W.missing(self.spec, names[0])
        return found

    def _build(
        self, model_name: str, weights: str | None, random_init: bool, kwargs: dict[str, Any], extra: tuple[str, ...]
    ) -> nn.Module:
        import timm

        if random_init:
            log.warning("%s: RANDOM weights (--random-init); features are meaningless for real use", self.spec)
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(0)  # reproducible: a reloaded random-init tokenizer sees the same encoder
                return self._create(timm, model_name, None, kwargs)
        path = self.resolve_weights(model_name, weights, extra)
        self.weights_path = str(path)
        return self._create(timm, model_name, path, kwargs)

    def _create(self, timm: Any, model_name: str, path: Path | None, kwargs: dict[str, Any]) -> nn.Module:
        try:
            if path is None:
                return timm.create_model(model_name, pretrained=False, **kwargs)
            return timm.create_model(model_name, pretrained=True, pretrained_cfg_overlay=dict(file=str(path)), **kwargs)
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0][:300] if str(e).strip() else type(e).__name__
            raise TokkitError(f"weights '{path}' do not fit timm model {model_name}: {first}") from e
        except Exception as e:
            if "Unknown model" in str(e) or "is not a known" in str(e):
                raise UsageError(f"timm has no model '{model_name}'", hint="see timm.list_models()") from e
            raise TokkitError(f"cannot build timm model {model_name} from '{path}': {type(e).__name__}: {e}") from e

    def _setup_layer(self) -> None:
        ls = self.layer_spec
        m = self.model
        if self.is_vit:
            depth = len(m.blocks)
            if ls.kind == "last":
                idx = depth - 1
            elif ls.kind == "digit":
                if depth < 3:
                    raise UsageError(f"--layer digit needs at least 3 blocks; {self.spec} has {depth}")
                idx = depth - 3
            else:
                idx = ls.index - 1 if ls.index > 0 else depth + ls.index
            if not 0 <= idx < depth:
                raise UsageError(f"--layer {ls.index} is out of range: {self.spec} has {depth} blocks")
            self._take = idx
            self.dim = int(m.embed_dim if hasattr(m, "embed_dim") else m.num_features)
            self.patch = int(m.patch_embed.patch_size[0])
            return
        if ls.kind == "digit":
            raise UsageError(f"--layer digit is a ViT preset; {self.spec} is not a ViT", hint="use last or a number")
        if ls.kind == "last":
            self._take = None
            self.dim = int(m.num_features)
            return
        info = getattr(m, "feature_info", None)
        if info is None or not hasattr(m, "forward_intermediates"):
            raise UsageError(f"{self.spec} exposes no intermediate layers", hint="use --layer last")
        n = len(info)
        idx = ls.index - 1 if ls.index > 0 else n + ls.index
        if not 0 <= idx < n:
            raise UsageError(f"--layer {ls.index} is out of range: {self.spec} has {n} feature levels")
        self._take = idx
        chans = info.channels() if hasattr(info, "channels") else [f["num_chs"] for f in info]
        self.dim = int(chans[idx])

    # --- the interface -------------------------------------------------------------------------
    @property
    def layer(self) -> str:
        return self.layer_spec.text

    def _prep(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.in_scale.dtype) * self.in_scale + self.in_shift

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [-1, 1] -> (B, D, h, w) at the configured layer."""
        x = self._prep(images)
        m = self.model
        if self._take is None:
            f = m.forward_features(x)
        elif self.is_vit:
            f = m.forward_intermediates(
                x, indices=[self._take], norm=self.layer_spec.norm, stop_early=True, intermediates_only=True
            )[0]
        else:
            f = m.forward_intermediates(x, indices=[self._take], stop_early=True, intermediates_only=True)[0]
        if f.ndim != 4:
            raise TokkitError(f"{self.spec} gave features of shape {tuple(f.shape)}, not (B, D, h, w)")
        if self.l2_normalize:
            f = nn.functional.normalize(f, dim=1)
        return f

    def pooled(self, images: torch.Tensor) -> torch.Tensor:
        """ViTs: the class token after the final norm; CNNs: global average of the final features."""
        m = self.model
        return m.forward_head(m.forward_features(self._prep(images)), pre_logits=True)

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """Classifier output, when the model keeps its head (used to check that weights are real)."""
        return self.model(self._prep(images))

    def grid(self, image_size: int) -> tuple[int, int]:
        if self.is_vit:
            if image_size % self.patch:
                raise UsageError(f"image size {image_size} is not a multiple of {self.spec}'s patch size {self.patch}")
            return (image_size // self.patch, image_size // self.patch)
        if image_size not in self._grid_cache:
            p = next(self.parameters())
            with torch.no_grad():
                f = self.forward(torch.zeros(1, 3, image_size, image_size, device=p.device, dtype=p.dtype))
            self._grid_cache[image_size] = (int(f.shape[-2]), int(f.shape[-1]))
        return self._grid_cache[image_size]

    def describe(self) -> dict[str, Any]:
        return {
            "encoder": self.spec,
            "layer": self.layer,
            "dim": self.dim,
            "l2_normalize": self.l2_normalize,
            "timm_model": self.model_name,
            "weights": "random-init" if self.random_init else self.weights_path,
        }


def dinov2(size: str, reg: bool, **kw: Any) -> TimmEncoder:
    arch = DINOV2_ARCH[size]
    name = f"vit_{arch}_patch14_{'reg4_' if reg else ''}dinov2.lvd142m"
    meta = f"dinov2_vit{size}14{'_reg4' if reg else ''}_pretrain.pth"  # Meta's torch hub file name
    spec = f"dinov2-{size}{'-reg' if reg else ''}"
    return TimmEncoder(
        spec,
        name,
        default_layer="digit",
        input_size=224,
        model_kwargs={"img_size": 224, "dynamic_img_size": True},
        extra_filenames=(meta,),
        **kw,
    )


def timm_any(name: str, **kw: Any) -> TimmEncoder:
    import timm

    base = name.split(".")[0]
    if not timm.list_models(base) and not timm.is_model(base):
        raise UsageError(f"timm has no model '{name}'", hint="see python -c 'import timm; print(timm.list_models())'")
    return TimmEncoder(f"timm:{name}", name, **kw)
