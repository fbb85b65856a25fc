"""Downstream-generation probes: one small generator per order, one score across tokenizer kinds.

- ``raster``: causal transformer, row-major (``raster.py``), KV-cache sampling;
- ``random``: MAR-style masked bidirectional generator in a random order (``masked.py``);
- ``next-scale``: VAR-style block-causal prediction over scales (``next_scale.py``);
- heads: categorical (softmax over codes) or MAR's per-token diffusion head (``diffusion.py``).
Generators are registered in ``GENERATORS`` by order name. ``evaluate_generation`` (``pipeline.py``)
runs one probe end to end; the gFID scoring lives in ``tokkit.metrics.gfid``.
"""

from tokkit.generation import masked, next_scale, raster  # noqa: F401  (register the orders)
from tokkit.generation._base import GENERATORS, Generator, TokenSet, register_generator
from tokkit.generation.config import ProbeConfig
from tokkit.generation.diffusion import DiffusionHead
from tokkit.generation.pipeline import DEFAULTS, HEADS, evaluate_generation, flatten_tokens, unflatten_tokens

__all__ = [
    "DEFAULTS",
    "GENERATORS",
    "HEADS",
    "DiffusionHead",
    "Generator",
    "ProbeConfig",
    "TokenSet",
    "evaluate_generation",
    "flatten_tokens",
    "register_generator",
    "unflatten_tokens",
]
