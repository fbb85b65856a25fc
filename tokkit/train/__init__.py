"""Training: config layering, the loop, checkpoints/resume, EMA, schedules, DDP."""

from tokkit.train.config import PRESETS, TrainConfig, resolve_config
from tokkit.train.loop import TrainResult, train

__all__ = ["PRESETS", "TrainConfig", "TrainResult", "resolve_config", "train"]
