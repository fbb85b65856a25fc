"""The probe's fixed configuration and budget, shared by every order and head."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ProbeConfig:
    """The probe and its budget. Defaults are the fixed protocol; changing any is recorded.

    The same backbone (width, depth, heads), steps, batch and lr schedule serve every order and
    head, so that tokenizers and orders are compared at equal effort. Dropout 0, no EMA.
    """

    # backbone
    d_model: int = 128
    n_layer: int = 4
    n_head: int = 4
    mlp_ratio: int = 4
    dropout: float = 0.0
    # optimisation (linear warmup, cosine decay to 10%)
    steps: int = 300
    batch_size: int = 16
    lr: float = 3e-4
    weight_decay: float = 0.01
    warmup_steps: int = 20
    grad_clip: float = 1.0
    # split and evaluation
    holdout_every: int = 5  # image i is held out when i % holdout_every == holdout_every - 1
    eval_batch_size: int = 64
    # diffusion head (MAR's SimpleMLPAdaLN at depth 3 x width 256)
    head_width: int = 256
    head_depth: int = 3
    diffusion_steps: int = 1000  # training schedule: cosine (IDDPM), eps prediction
    sampling_steps: int = 100  # respaced
    diffusion_batch_mul: int = 4  # noise draws per transformer output z
    # categorical head: above this many codes, ids are modelled as two sub-tokens by the chain rule
    # (tokkit.generation.categorical; 2^18-code LFQ / IBQ would need a 17 GB logit matrix otherwise)
    factorise_above: int = 65536
    # random order (MAR)
    mask_ratio_min: float = 0.7  # truncated Gaussian centred at 1.0
    mask_ratio_std: float = 0.25
    # class conditioning
    label_dropout: float = 0.1
    cfg_scale: float = 1.5  # guided = uncond + w (cond - uncond), constant w
