"""LPIPS perceptual loss through the ``lpips`` package, with real backbone weights or a clear error.

The linear heads ship inside the ``lpips`` package; the AlexNet backbone is torchvision's ImageNet
checkpoint ``alexnet-owt-7be5be79.pth``. It is looked for, in order: an explicit path, the
``TOKKIT_WEIGHTS_DIR`` folder, torchvision's cache (``<torch hub dir>/checkpoints``); when none has it
and the machine is online it is downloaded there. Never silently random.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

from torch import nn

log = logging.getLogger("tokkit.losses")

ALEXNET_FILE = "alexnet-owt-7be5be79.pth"
ALEXNET_URL = "https://download.pytorch.org/models/" + ALEXNET_FILE
NO_LPIPS_HINT = "or train without LPIPS: --perceptual-weight 0"


def find_alexnet(weights: str | Path | None = None, download: bool = True, hint: str = NO_LPIPS_HINT) -> Path:
    """Path of the AlexNet backbone checkpoint (explicit path, $TOKKIT_WEIGHTS_DIR, torch cache, download)."""
    from tokkit.io.weights import hub_checkpoint_dir, resolve_weight_file

    where = f"put it in {hub_checkpoint_dir()} or in $TOKKIT_WEIGHTS_DIR, {hint}"
    return resolve_weight_file(ALEXNET_FILE, ALEXNET_URL if download else None, weights, "LPIPS backbone", where)


def load_lpips(weights: str | Path | None = None, download: bool = True, hint: str = NO_LPIPS_HINT) -> nn.Module:
    """A frozen, eval-mode ``lpips.LPIPS(net='alex')`` with the real AlexNet backbone loaded.
    Call: ``module(x, y)`` on images in [-1, 1] -> (B, 1, 1, 1)."""
    from tokkit.io.checkpoint import torch_load_weights

    path = find_alexnet(weights, download, hint)
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

        raise DataError(f"'{path}' is not torchvision's AlexNet checkpoint: no {missing[0]}", hint=hint)
    model.load_state_dict(state, strict=False)
    log.debug("LPIPS AlexNet backbone from %s", path)
    model.eval().requires_grad_(False)
    return model
