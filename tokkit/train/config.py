"""Training configuration and its layering.

Resolution order (later wins): ``TrainConfig`` defaults < the registered variant's preset
(``PRESETS``) < ``--config file.yaml`` < CLI flags (``--steps``, ``--batch-size``, ``--image-size``,
``--lr``, ``--perceptual-weight``, ``--seed``) < ``--set key=value`` pairs. Keys are TrainConfig
fields, or ``model.FIELD`` for the tokenizer's own config (a bare tokenizer field name works too
when it is not also a training field).
"""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokkit.errors import UsageError

AMP_CHOICES = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    architecture: str = "vqgan-tiny"
    data: str = ""
    model: dict[str, Any] = field(default_factory=dict)  # tokenizer config overrides
    tokenizer: str | None = None  # kmeans-decoder: the k-means tokenizer checkpoint
    decoder: dict[str, Any] = field(default_factory=dict)  # kmeans-decoder: TokenDecoder settings
    image_size: int = 256
    batch_size: int = 8  # per process
    steps: int = 1000
    lr: float = 1e-4
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 0.0
    warmup_steps: int = 0
    min_lr_ratio: float = 0.1  # cosine decays to lr * min_lr_ratio
    grad_clip: float = 1.0  # 0 = off
    amp: str = "auto"  # auto: bf16 on GPU, fp32 on CPU
    ema_decay: float = 0.0  # EMA of weights; 0 = off. Checkpoints hold the EMA weights when on.
    recon_loss: str = "l2"
    recon_weight: float = 1.0
    learn_logvar: bool = False  # LDM's learned log-variance on the pixel loss
    perceptual_weight: float = 1.0  # LPIPS (AlexNet); needs the backbone weights
    perceptual_weights: str | None = None  # path of alexnet-owt-7be5be79.pth (or a folder holding it)
    disc_weight: float = 0.5  # PatchGAN hinge; 0 = no discriminator
    disc_start: int = 20000
    disc_adaptive: bool = False  # taming's adaptive weight (x disc_weight)
    disc_channels: int = 64
    disc_layers: int = 3
    disc_lr: float | None = None  # default: lr
    seed: int = 0
    num_workers: int = 0
    log_every: int = 10
    ckpt_every: int = 500
    sample_every: int = 500
    num_samples: int = 8  # images in the sample PNGs
    eval_images: int = 32  # fixed images whose PSNR is logged at the start and end

    def __post_init__(self) -> None:
        if isinstance(self.betas, list):
            self.betas = tuple(self.betas)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["betas"] = list(self.betas)
        return d


# Settings that can change on --resume without changing the result.
RESUMABLE_CHANGES = {"log_every", "ckpt_every", "sample_every", "num_workers", "steps"}

_TINY = dict(
    image_size=64,
    batch_size=8,
    steps=300,
    lr=1e-3,
    warmup_steps=20,
    perceptual_weight=0.0,  # LPIPS weights are not shipped: tiny variants train offline out of the box
    disc_weight=0.0,
    log_every=10,
    ckpt_every=100,
    sample_every=100,
    eval_images=32,
)
_GAN_VQ = dict(recon_loss="l2", perceptual_weight=1.0, disc_weight=0.5, disc_start=20000, betas=(0.9, 0.95))

PRESETS: dict[str, dict[str, Any]] = {
    # taming VQGAN: L1 + LPIPS, adaptive GAN weight x0.8 from 250k steps, Adam (0.5, 0.9)
    "vqgan": dict(
        recon_loss="l1",
        perceptual_weight=1.0,
        disc_weight=0.8,
        disc_adaptive=True,
        disc_start=250001,
        betas=(0.5, 0.9),
        lr=4.5e-6 * 12,
        batch_size=12,
    ),
    # LlamaGen VQ-16: L2 + LPIPS(1.0) + PatchGAN hinge (0.5) from 20k, Adam 1e-4 (0.9, 0.95), batch 128
    "vqgan-f16": dict(_GAN_VQ, lr=1e-4, batch_size=128),
    "vqgan-tiny": dict(_TINY, recon_loss="l2"),
    # LDM KL autoencoder: L1 + LPIPS with learned log-variance, GAN from 50k
    "vae": dict(recon_loss="l1", learn_logvar=True, perceptual_weight=1.0, disc_weight=0.5, disc_start=50001),
    "vae-tiny": dict(_TINY, recon_loss="l1"),
    # VAR released no recipe; the VQGAN recipe of its lineage (LlamaGen) is the default
    "msvq": dict(_GAN_VQ, lr=1e-4, batch_size=32),
    "msvq-var": dict(_GAN_VQ, lr=1e-4, batch_size=32),
    "msvq-tiny": dict(_TINY, recon_loss="l2"),
    "kmeans-decoder": dict(_TINY, image_size=0, steps=300, recon_loss="l2"),
}

CLI_FLAGS = ("steps", "batch_size", "image_size", "lr", "perceptual_weight", "seed", "data", "tokenizer")


def _fields() -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(TrainConfig)}


def _coerce(key: str, value: Any, default: Any) -> Any:
    """Check a value against the default's type (YAML/--set give str, int, float, bool, list, dict)."""
    if value is None or default is None:
        return value
    if isinstance(value, str) and isinstance(default, (int, float)) and not isinstance(default, bool):
        try:  # YAML 1.1 reads "3e-3" as a string
            value = float(value) if isinstance(default, float) else int(value)
        except ValueError:
            pass
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise UsageError(f"'{key}' takes true/false, got {value!r}")
        return value
    if isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise UsageError(f"'{key}' takes an integer, got {value!r}")
        return value
    if isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise UsageError(f"'{key}' takes a number, got {value!r}")
        return float(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise UsageError(f"'{key}' takes a string, got {value!r}")
    if isinstance(default, (tuple, list)):
        if not isinstance(value, (list, tuple)):
            raise UsageError(f"'{key}' takes a list, got {value!r}")
        return tuple(value)
    if isinstance(default, dict) and not isinstance(value, dict):
        raise UsageError(f"'{key}' takes a mapping, got {value!r}")
    return value


def parse_set(pairs: list[str] | None) -> dict[str, Any]:
    """``["lr=1e-3", "model.codebook_size=64"]`` -> dict; values are YAML scalars/lists."""
    import yaml

    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise UsageError(f"--set takes key=value, got '{pair}'")
        key, raw = pair.split("=", 1)
        key = key.strip()
        if not key:
            raise UsageError(f"--set takes key=value, got '{pair}'")
        try:
            value = yaml.safe_load(raw) if raw.strip() else ""
        except yaml.YAMLError as e:
            raise UsageError(f"--set {key}: cannot parse value {raw!r}") from e
        if isinstance(value, str) and raw.strip().lower() in ("none", "null"):
            value = None
        out[key] = value
    return out


def load_yaml(path: str | Path) -> dict[str, Any]:
    import yaml

    path = Path(path)
    if not path.is_file():
        raise UsageError(f"config file '{path}' does not exist")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise UsageError(f"config file '{path}' is not valid YAML: {e}") from e
    if not isinstance(data, dict):
        raise UsageError(f"config file '{path}' must hold a mapping of settings")
    return data


def _apply(cfg: dict[str, Any], updates: dict[str, Any], origin: str, model_fields: set[str] | None) -> None:
    fields = _fields()
    defaults = TrainConfig().to_dict()
    for key, value in updates.items():
        if key in ("model", "decoder") and isinstance(value, dict):
            cfg[key] = {**cfg[key], **value}
            continue
        if key.startswith("model.") or key.startswith("decoder."):
            head, sub = key.split(".", 1)
            cfg[head] = {**cfg[head], sub: value}
            continue
        if key in fields:
            cfg[key] = _coerce(key, value, defaults[key] if defaults[key] is not None else None)
            continue
        if model_fields is not None and key in model_fields:
            cfg["model"] = {**cfg["model"], key: value}
            continue
        names = list(fields) + [f"model.{m}" for m in sorted(model_fields or ())]
        close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
        hint = f"did you mean '{close[0]}'?" if close else "see the TrainConfig fields or use model.FIELD"
        raise UsageError(f"unknown setting '{key}' in {origin}", hint=hint)


def model_field_names(architecture: str) -> set[str] | None:
    """Config field names of a registered tokenizer (None when it is not a registered name)."""
    import tokkit.tokenizers  # noqa: F401
    from tokkit.tokenizers._registry import TOKENIZERS
    from tokkit.tokenizers.msvq import MSVQConfig
    from tokkit.tokenizers.vae import VAEConfig
    from tokkit.tokenizers.vqgan import VQGANConfig

    if architecture not in TOKENIZERS:
        return None
    for prefix, cls in (("vqgan", VQGANConfig), ("vae", VAEConfig), ("msvq", MSVQConfig)):
        if architecture == prefix or architecture.startswith(prefix + "-"):
            return {f.name for f in dataclasses.fields(cls)}
    return None


def tokenizer_image_size(path: str) -> int:
    """The image size a k-means tokenizer checkpoint was built for (224 when unset); other architectures are errors."""
    from tokkit.io.checkpoint import read_checkpoint_config

    conf = read_checkpoint_config(path)
    if conf["architecture"] != "kmeans":
        raise UsageError(
            f"'{path}' is a '{conf['architecture']}' checkpoint, kmeans-decoder needs a k-means tokenizer",
            hint="build one with tokkit fit-kmeans",
        )
    return int(conf["args"].get("image_size") or 224)


def resolve_config(
    architecture: str,
    config_file: str | Path | None = None,
    flags: dict[str, Any] | None = None,
    sets: list[str] | dict[str, Any] | None = None,
) -> TrainConfig:
    """Layer defaults < preset < YAML < flags < --set into one TrainConfig (see module doc)."""
    import tokkit.tokenizers  # noqa: F401
    from tokkit.tokenizers._registry import TOKENIZERS

    if architecture != "kmeans-decoder" and architecture not in TOKENIZERS:
        TOKENIZERS.resolve(architecture)  # raises the 'unknown tokenizer ...; did you mean' error
    mf = model_field_names(architecture)
    cfg = TrainConfig(architecture=architecture).to_dict()
    _apply(cfg, PRESETS.get(architecture, {}), f"the '{architecture}' preset", mf)
    if config_file:
        data = load_yaml(config_file)
        if "architecture" in data and data.pop("architecture") != architecture:
            raise UsageError(f"config file '{config_file}' is for another architecture than '{architecture}'")
        _apply(cfg, data, f"'{config_file}'", mf)
    _apply(cfg, {k: v for k, v in (flags or {}).items() if v is not None}, "the command line", mf)
    _apply(cfg, parse_set(sets) if isinstance(sets, list) else dict(sets or {}), "--set", mf)
    out = TrainConfig(**cfg)
    if architecture.startswith("msvq"):  # default scales end at the latent grid side (VAR's spacing)
        from tokkit.tokenizers.msvq import patch_nums_for_image_size

        scales = patch_nums_for_image_size(architecture, out.model, out.image_size)
        if scales is not None:
            out.model = {**out.model, "patch_nums": list(scales)}
    if architecture == "kmeans-decoder":
        if not out.tokenizer:
            raise UsageError("kmeans-decoder needs --tokenizer DIR (a k-means tokenizer checkpoint)")
        if out.image_size == 0:  # train at the tokenizer's own image size
            out.image_size = tokenizer_image_size(out.tokenizer)
    validate(out)
    return out


def validate(cfg: TrainConfig) -> None:
    checks = [
        (cfg.steps >= 1, "steps must be >= 1"),
        (cfg.batch_size >= 1, "batch size must be >= 1"),
        (cfg.image_size >= 0, "image size must be positive"),
        (cfg.lr > 0, "lr must be > 0"),
        (0 <= cfg.ema_decay < 1, "ema_decay must be in [0, 1)"),
        (cfg.amp in AMP_CHOICES, f"amp must be one of {', '.join(AMP_CHOICES)}"),
        (cfg.recon_loss in ("l1", "l2"), "recon_loss must be l1 or l2"),
        (cfg.perceptual_weight >= 0 and cfg.disc_weight >= 0, "loss weights must be >= 0"),
        (len(cfg.betas) == 2, "betas takes two numbers"),
        (cfg.log_every >= 1 and cfg.ckpt_every >= 1 and cfg.sample_every >= 1, "*_every must be >= 1"),
    ]
    for ok, msg in checks:
        if not ok:
            raise UsageError(msg)
    if not cfg.data:
        raise UsageError("no training data given", hint="pass --data (a folder, an .h5 image store or builtin:photos)")
