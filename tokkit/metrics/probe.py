"""Moved: the generation probes live in ``tokkit.generation`` (one module per order); the gFID scoring in
``tokkit.metrics.gfid``. This module re-exports the old names so that existing callers keep working."""

from tokkit.generation import ProbeConfig, evaluate_generation, flatten_tokens, unflatten_tokens

__all__ = ["ProbeConfig", "evaluate_generation", "flatten_tokens", "unflatten_tokens"]
