"""LPIPS perceptual loss through the ``lpips`` package, with real backbone weights or a clear error.

The linear heads ship inside the ``lpips`` package; the AlexNet backbone is torchvision's ImageNet
checkpoint ``alexnet-owt-7be5be79.pth``. It is looked for, in order: an explicit path, the
``TOKKIT_WEIGHTS_DIR`` folder, torchvision's cache (``<torch hub dir>/checkpoints``); when none has it
and the machine is online it is downloaded there. Never silently random.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from pathlib import Path

import torch
from torch import nn

from tokkit.errors import WeightsMissingError

log = logging.getLogger("tokkit.losses")

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_FILE
NO_LPIPS_HINT = "or train without LPIPS: --perceptual-weight 0"


def candidate_paths(weights: str | Path | None = None) -> list[Path]:
    paths = []
    if weights:
        p = Path(weights).expanduser()
        paths.append(p / ALEXNET_FILE if p.is_dir() else p)
    env = os.environ.get("TOKKIT_WEIGHTS_DIR")
    if env:
        paths.append(Path(env).expanduser() / ALEXNET_FILE)
    paths.append(Path(torch.hub.get_dir()) / "checkpoints" / ALEXNET_FILE)
    return paths


def _online(host: str = "download.pytorch.org", timeout: float = 3.0) -> bool:
    if os.environ.get("TOKKIT_OFFLINE") == "1":
        return False
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def find_alexnet(weights: str | Path | None = None, download: bool = True) -> Path:
    """Path of the AlexNet backbone checkpoint, downloading it into torch's cache when online."""
    paths = candidate_paths(weights)
    if weights and not paths[0].is_file():
        raise WeightsMissingError(f"LPIPS backbone file '{paths[0]}' does not exist", hint=NO_LPIPS_HINT)
    for p in paths:
        if p.is_file():
            return p
    cache = paths[-1]
    if download and _online():
        cache.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(ALEXNET_URL, str(cache), progress=False)
        return cache
    raise WeightsMissingError(
        f"LPIPS needs the AlexNet weights {ALEXNET_FILE}: not in {cache.parent} and this machine is offline",
        hint=f"put the file there or in $TOKKIT_WEIGHTS_DIR, pass --set perceptual_weights=PATH, {NO_LPIPS_HINT}",
    )


def load_lpips(weights: str | Path | None = None, download: bool = True) -> nn.Module:
    """A frozen, eval-mode ``lpips.LPIPS(net='alex')`` with the real AlexNet backbone loaded.
    Call: ``module(x, y)`` on images in [-1, 1] -> (B, 1, 1, 1)."""
    from tokkit.io.checkpoint import torch_load_weights

    path = find_alexnet(weights, download)
    backbone = torch_load_weights(path)
    import lpips

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torchvision's "pretrained is deprecated" notices
        model = lpips.LPIPS(net="alex", pretrained=True, pnet_rand=True, verbose=False)
    # torchvision key features.{i}.{w|b} -> lpips key net.slice{n}.{i}.{w|b}
    targets = {k.split(".", 2)[2]: k for k in model.state_dict() if k.startswith("net.slice")}
    state = {}
    for key, value in backbone.items():
        if key.startswith("features."):
            rest = key[len("features.") :]
            if rest in targets:
                state[targets[rest]] = value
    missing = sorted(set(targets.values()) - set(state))
    if missing:
        from tokkit.errors import DataError

        raise DataError(f"'{path}' is not torchvision's AlexNet checkpoint: no {missing[0]}", hint=NO_LPIPS_HINT)
    model.load_state_dict(state, strict=False)
    log.debug("LPIPS AlexNet backbone from %s", path)
    model.eval().requires_grad_(False)
    return model
