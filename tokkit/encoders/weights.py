"""Where pretrained encoder weights come from.

Order: ``--weights PATH`` -> ``$TOKKIT_WEIGHTS_DIR/<file>`` -> the Hugging Face hub cache -> the
torch hub checkpoint cache -> a download (only when not offline). When none has them, one line
names the file and where to put it. Random weights are never a fallback: only ``random_init``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path

from tokkit.errors import DataError, WeightsMissingError
from tokkit.io.weights import offline as is_offline  # one definition of "offline" for all weights

log = logging.getLogger("tokkit.encoders")

WEIGHTS_ENV = "TOKKIT_WEIGHTS_DIR"


def explicit_weights(path: str | os.PathLike) -> Path:
    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"weights file '{p}' does not exist", hint="check --weights")
    return p


def weights_dir_file(filenames: Sequence[str]) -> Path | None:
    root = os.environ.get(WEIGHTS_ENV)
    if not root:
        return None
    for name in filenames:
        for cand in (Path(root) / name, Path(root) / Path(name).stem / "model.safetensors"):
            if cand.is_file():
                return cand
    return None


def hf_cache_file(repo_id: str | None, filenames: Sequence[str] = ("model.safetensors", "pytorch_model.bin")):
    if not repo_id:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    for name in filenames:
        try:
            found = try_to_load_from_cache(repo_id, name)
        except Exception:  # a malformed cache is the same as no cache
            found = None
        if isinstance(found, str) and Path(found).is_file():
            return Path(found)
    return None


def torch_cache_file(filenames: Sequence[str]) -> Path | None:
    try:
        import torch.hub

        root = Path(torch.hub.get_dir()) / "checkpoints"
    except Exception:
        return None
    for name in filenames:
        if (root / name).is_file():
            return root / name
    return None


def hf_download(repo_id: str | None, filename: str = "model.safetensors") -> Path | None:
    """Try one download; None on any failure (no network, no such repo)."""
    if not repo_id or is_offline() or not _reachable("huggingface.co"):
        return None
    try:
        from huggingface_hub import hf_hub_download

        return Path(hf_hub_download(repo_id, filename))
    except Exception as e:  # offline machines fail here in many ways
        log.debug("download of %s/%s failed: %s", repo_id, filename, e)
        return None


def _reachable(host: str, timeout: float = 3.0) -> bool:
    """One quick connection attempt, so that an offline machine does not sit through retries."""
    import socket

    try:
        with socket.create_connection((host, 443), timeout=timeout):
            return True
    except OSError:
        return False


def missing(what: str, filename: str, extra: str = "") -> WeightsMissingError:
    root = os.environ.get(WEIGHTS_ENV)
    where = f"{WEIGHTS_ENV}={root}" if root else f"the folder named by ${WEIGHTS_ENV}"
    return WeightsMissingError(
        f"weights for {what} not found on this machine: put {filename} into {where} or pass --weights PATH{extra}",
        hint="--random-init gives random weights, for tests only",
    )
