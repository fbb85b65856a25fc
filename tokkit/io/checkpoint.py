"""The checkpoint directory: ``config.json`` + ``model.safetensors``.

``config.json`` = {format_version, tokkit_version, architecture, args, provenance}. ``args`` are
the tokenizer's config dataclass as a dict, so ``create_tokenizer(architecture, **args)``
rebuilds the module and the safetensors file fills it. Writes are atomic: the directory is
written beside its target and swapped in, so a kill never leaves a half-written checkpoint.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tokkit.errors import DataError, TokkitError
from tokkit.io.provenance import provenance as make_provenance

if TYPE_CHECKING:  # torch is imported where tensors are read or written, not by this module
    import numpy as np
    import torch

    from tokkit.tokenizers._base import Tokenizer

FORMAT_VERSION = 1
CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def write_json_atomic(path: Path, data: Any) -> None:
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2, sort_keys=False, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def replace_dir_atomic(tmp_dir: Path, target: Path) -> None:
    """Swap ``tmp_dir`` into ``target``; the old target is removed only after the new one is in place."""
    target = Path(target)
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}.old-{os.getpid()}")
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(tmp_dir, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def save_checkpoint(
    tokenizer: Tokenizer,
    path: str | Path,
    provenance: dict[str, Any] | None = None,
    extra_files: dict[str, Any] | None = None,
) -> Path:
    """Write ``tokenizer`` to the directory ``path`` atomically. ``extra_files``: name -> JSON data."""
    from safetensors.torch import save_file

    state = {k: v.detach().to("cpu").contiguous() for k, v in tokenizer.checkpoint_state().items()}
    return _write_checkpoint_dir(
        path,
        tokenizer.architecture,
        tokenizer.kind,
        tokenizer.config_dict(),
        lambda f: save_file(state, f, metadata={"format": "pt"}),
        provenance,
        extra_files,
    )


def save_array_checkpoint(
    path: str | Path,
    architecture: str,
    kind: str,
    args: dict[str, Any],
    state: dict[str, np.ndarray],
    provenance: dict[str, Any] | None = None,
    extra_files: dict[str, Any] | None = None,
) -> Path:
    """The same directory from numpy arrays, without importing torch (fit-kmeans on the faiss path:
    torch alone is 700+ MiB resident). ``load_tokenizer`` reads it like any other checkpoint."""
    import numpy as np
    from safetensors.numpy import save_file

    arrays = {k: np.ascontiguousarray(v) for k, v in state.items()}
    return _write_checkpoint_dir(
        path,
        architecture,
        kind,
        args,
        lambda f: save_file(arrays, f, metadata={"format": "pt"}),
        provenance,
        extra_files,
    )


def _write_checkpoint_dir(
    path: str | Path,
    architecture: str,
    kind: str,
    args: dict[str, Any],
    write_weights: Callable[[str], None],
    provenance: dict[str, Any] | None,
    extra_files: dict[str, Any] | None,
) -> Path:
    from tokkit import __version__

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    try:
        config = {
            "format_version": FORMAT_VERSION,
            "tokkit_version": __version__,
            "architecture": architecture,
            "kind": kind,
            "args": args,
            "provenance": provenance if provenance is not None else make_provenance(),
        }
        write_weights(str(tmp / WEIGHTS_NAME))
        for name, data in (extra_files or {}).items():
            write_json_atomic(tmp / name, data)
        # config.json last: its presence marks the directory as complete.
        write_json_atomic(tmp / CONFIG_NAME, config)
        replace_dir_atomic(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_checkpoint_config(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    cfg_path = path / CONFIG_NAME
    if not path.exists():
        raise DataError(f"no checkpoint at '{path}'", hint="give a directory written by tokkit")
    if not cfg_path.is_file():
        raise DataError(f"'{path}' is not a tokkit checkpoint: {CONFIG_NAME} is missing")
    try:
        config = json.loads(cfg_path.read_text())
    except json.JSONDecodeError as e:
        raise DataError(f"'{cfg_path}' is not valid JSON: {e.msg} at line {e.lineno}") from e
    for key in ("format_version", "architecture", "args"):
        if key not in config:
            raise DataError(f"'{cfg_path}' has no '{key}': not a tokkit checkpoint")
    if config["format_version"] > FORMAT_VERSION:
        raise DataError(
            f"checkpoint format {config['format_version']} is newer than this tokkit reads ({FORMAT_VERSION})",
            hint="upgrade tokkit",
        )
    return config


def load_tokenizer(path: str | Path, device: str | torch.device = "cpu", **overrides: Any) -> Tokenizer:
    """Load any tokkit checkpoint directory into an eval-mode tokenizer on ``device``."""
    from safetensors.torch import load_file

    from tokkit.tokenizers._registry import create_tokenizer  # the registry imports the families it needs

    path = Path(path)
    config = read_checkpoint_config(path)
    args = dict(config["args"])
    args.update(overrides)
    tokenizer = create_tokenizer(config["architecture"], **args)
    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise DataError(f"'{path}' has no {WEIGHTS_NAME}")
    try:
        state = load_file(str(weights))
    except Exception as e:  # safetensors raises several types for a damaged file
        raise DataError(f"cannot read '{weights}': {e}") from e
    try:
        tokenizer.load_checkpoint_state(state)
    except RuntimeError as e:
        raise TokkitError(f"weights in '{weights}' do not fit architecture '{config['architecture']}': {e}") from e
    tokenizer.checkpoint_path = str(path)  # type: ignore[attr-defined]
    tokenizer.provenance = dict(config.get("provenance") or {})  # type: ignore[attr-defined]
    return tokenizer.to(device).eval()


# Classes a published checkpoint may reference without needing them: pytorch-lightning keys its
# callback states by the callback *class* (PL 1.0.x, taming's last.ckpt). They are replaced by empty
# stand-in classes while unpickling, so nothing of theirs is imported or run.
STUB_PREFIXES = ("pytorch_lightning.", "lightning.", "lightning_fabric.")
# Plain data classes that are safe to rebuild for real (LlamaGen's training "args").
SAFE_CLASSES = {"argparse.Namespace"}


def _stub(name: str) -> type:
    module, _, qual = name.rpartition(".")
    return type(qual, (), {"__module__": module, "__doc__": f"stand-in for {name} (never imported)"})


def torch_load_checkpoint(path: str | Path) -> Any:
    """Read a foreign ``.pt``/``.pth``/``.ckpt`` file without executing pickled code.

    ``torch.load(weights_only=True)``, with pytorch-lightning class references replaced by empty
    stand-ins and ``argparse.Namespace`` allowed; any other global (a function, an arbitrary class)
    is refused with one line naming it. A truncated or foreign file is a ``DataError``."""
    import argparse

    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"checkpoint file '{path}' does not exist")
    try:
        names = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except Exception as e:  # not a zip archive: a legacy torch.save file, a truncated or a foreign file
        try:
            return torch.load(str(path), map_location="cpu", weights_only=True)
        except Exception:
            raise DataError(f"cannot read '{path}': truncated or not a PyTorch checkpoint ({_short(e)})") from e
    real = {"argparse.Namespace": argparse.Namespace}
    refused = [n for n in names if n not in SAFE_CLASSES and not n.startswith(STUB_PREFIXES)]
    if refused:
        raise DataError(
            f"refusing '{path}': loading it would execute code ({', '.join(refused[:3])}"
            f"{', ...' if len(refused) > 3 else ''}); only tensors and plain containers are read (weights_only)"
        )
    allowed = [(_stub(n), n) if n not in real else real[n] for n in names]
    try:
        with torch.serialization.safe_globals(allowed):
            return torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"cannot read '{path}': truncated or damaged ({_short(e)})") from e


def _short(e: Exception) -> str:
    return str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__


def torch_load_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a foreign ``.pt``/``.pth`` file safely: tensors only, never pickled code."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise DataError(f"weights file '{path}' does not exist")
    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as e:
        raise DataError(f"cannot read weights '{path}' (tensors only are accepted): {e}") from e
    if isinstance(obj, dict) and "state_dict" in obj and isinstance(obj["state_dict"], dict):
        obj = obj["state_dict"]
    if not isinstance(obj, dict):
        raise DataError(f"'{path}' does not hold a state dict")
    return obj
