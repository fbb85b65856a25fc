"""Finding pretrained weight files (Inception for rFID, AlexNet for LPIPS, encoder checkpoints).

Order: an explicit path (``--weights``: the file, or a folder holding it), ``TOKKIT_WEIGHTS_DIR``,
the torch hub cache (``$TORCH_HOME/hub/checkpoints``), then a download into that cache unless
``offline()``. When all fail: one ``WeightsMissingError`` line naming the file and where to
put it. Never a silent fallback to random weights.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

from tokkit.errors import WeightsMissingError

log = logging.getLogger("tokkit.weights")
_TRUE = ("1", "true", "yes", "on")
# url -> why its download failed in this process: an offline machine is asked once, not once per
# tokenizer (each try can wait for a network timeout)
_FAILED_DOWNLOADS: dict[str, str] = {}


def hub_checkpoint_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir()) / "checkpoints"


def offline() -> bool:
    """True when the user said so (TOKKIT_OFFLINE / HF_HUB_OFFLINE / TRANSFORMERS_OFFLINE): no download is tried."""
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("TOKKIT_OFFLINE", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE")
    )


def _download(url: str, target: Path, timeout: float = 20.0) -> None:
    """Stream ``url`` into ``target`` atomically (a temp file beside it, then rename)."""
    import urllib.request

    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:  # noqa: S310
            while chunk := resp.read(1 << 20):
                out.write(chunk)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def resolve_weight_file(
    filename: str, url: str | None, explicit: str | Path | None = None, what: str = "", hint: str | None = None
) -> Path:
    """Path of ``filename`` on this machine, downloading it once when allowed (``url`` None: never).

    ``hint`` replaces the default "where to put it" advice in the error."""
    hub = hub_checkpoint_dir()
    where = hint or f"put it in {hub} (the torch hub cache) or in $TOKKIT_WEIGHTS_DIR, or pass --weights PATH"
    if explicit is not None:
        p = Path(explicit).expanduser()
        if p.is_dir():
            p = p / filename
        if not p.is_file():
            raise WeightsMissingError(f"weights file '{p}' does not exist ({what or filename})", hint=where)
        return p
    candidates = []
    if os.environ.get("TOKKIT_WEIGHTS_DIR"):
        candidates.append(Path(os.environ["TOKKIT_WEIGHTS_DIR"]).expanduser() / filename)
    candidates.append(hub / filename)
    for p in candidates:
        if p.is_file():
            return p
    if url is not None and not offline():
        failed = _FAILED_DOWNLOADS.get(url)
        if failed is None:
            try:
                log.info("downloading %s", url)
                _download(url, hub / filename)
                return hub / filename
            except Exception as e:  # offline, proxy, DNS: all mean "not available here"
                failed = _FAILED_DOWNLOADS[url] = e.__class__.__name__
        raise WeightsMissingError(
            f"{what + ' ' if what else ''}weights {filename} are not on this machine and could not be "
            f"downloaded ({failed})",
            hint=where,
        )
    raise WeightsMissingError(f"{what + ' ' if what else ''}weights {filename} are not on this machine", hint=where)
