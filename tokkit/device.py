"""Device selection and seeding."""

from __future__ import annotations

import os
import random
import sys

import numpy as np

from tokkit.errors import UsageError

DEVICE_CHOICES = ("auto", "cpu", "cuda")


def resolve_device(device: str = "auto") -> torch.device:  # noqa: F821
    """``auto`` picks CUDA when present; asking for ``cuda`` without one is an error, not a fallback."""
    import torch

    device = device.lower()
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UsageError("--device cuda was asked for but no CUDA GPU is visible", hint="use --device cpu")
        return torch.device(device)
    if device == "cpu":
        return torch.device("cpu")
    raise UsageError(f"unknown device '{device}'; choose from {', '.join(DEVICE_CHOICES)}")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    if "torch" in sys.modules:  # seeding must not pay torch's import time for commands that never use it
        sys.modules["torch"].manual_seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
