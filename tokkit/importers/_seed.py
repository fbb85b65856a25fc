"""Shared by ``ibq`` and ``open-magvit2`` (TencentARC/SEED-Voken b9a17ea): the lightning ``.ckpt``, its
LightningCLI yaml and the EMA weights.

- The ``.ckpt`` is a pytorch-lightning pickle: read tensors only (``torch_load_checkpoint``), its
  ``state_dict`` holds the raw weights and, when trained with ``use_ema``, an EMA copy of every
  trainable parameter under ``model_ema.<parameter name with the dots removed>`` (``LitEma``), plus
  ``model_ema.decay`` / ``model_ema.num_updates``. The loss (``loss.*``, and its EMA copies
  ``model_ema.loss*``) is dropped.
- Upstream evaluation (``reconstruct_image.py``) runs inside ``ema_scope()`` whenever the config has
  ``use_ema``: the EMA values replace the raw ones.
- The config is not in the file: a yaml beside it (same stem, or the only ``*.yaml``) or ``--config``,
  in the LightningCLI layout ``model.class_path`` / ``model.init_args``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers.pipeline import read_config_file, state_dict_of
from tokkit.io.checkpoint import torch_load_checkpoint

REPOSITORY, COMMIT = "TencentARC/SEED-Voken", "b9a17ea"
EMA = "model_ema."
EMA_BOOKKEEPING = ("model_ema.decay", "model_ema.num_updates")


def locate(src: Path, config: str | None) -> tuple[Path, Path | None]:
    """(the .ckpt, its yaml or None): ``--config`` if given, else ``NAME.yaml`` beside it, else the only yaml."""
    ckpt = src
    if src.is_dir():
        found = sorted(src.glob("*.ckpt"))
        if len(found) != 1:
            raise DataError(f"'{src}' holds {len(found)} .ckpt files", hint="give the .ckpt file itself")
        ckpt = found[0]
    if config:
        path = Path(config).expanduser()
        if not path.is_file():
            raise UsageError(f"--config '{config}' is not a file")
        return ckpt, path
    same = ckpt.with_suffix(".yaml")
    if same.is_file():
        return ckpt, same
    yamls = sorted(ckpt.parent.glob("*.yaml"))
    if len(yamls) > 1:
        raise UsageError(f"several yaml files beside '{ckpt.name}'", hint="choose one with --config FILE")
    return ckpt, (yamls[0] if yamls else None)


def init_args(path: Path, class_paths: tuple[str, ...]) -> dict[str, Any]:
    """``model.init_args`` of a LightningCLI yaml whose ``model.class_path`` is one of ``class_paths``."""
    cfg = read_config_file(path)
    model = cfg.get("model")
    if not isinstance(model, dict) or "class_path" not in model:
        raise DataError(f"'{path}' has no model.class_path: not a SEED-Voken (LightningCLI) config")
    if str(model["class_path"]) not in class_paths:
        raise DataError(f"'{path}' configures {model['class_path']}, not {' or '.join(class_paths)}")
    args = model.get("init_args") or {}
    if not isinstance(args.get("ddconfig"), dict):
        raise DataError(f"'{path}' has no model.init_args.ddconfig")
    return dict(args)


def read_state(ckpt: Path) -> dict[str, torch.Tensor]:
    return state_dict_of(torch_load_checkpoint(ckpt), ckpt, keys=("state_dict",))


def pick_weights(state: dict[str, torch.Tensor], use_ema: bool) -> tuple[dict[str, torch.Tensor], list[str]]:
    """(the model's tensors, raw or with the EMA values in their place; the dropped names). Every raw
    non-loss tensor must have its EMA copy and every EMA copy a raw tensor, else one line naming it."""
    raw = {k: v for k, v in state.items() if not k.startswith(EMA)}
    ema = {k[len(EMA) :]: v for k, v in state.items() if k.startswith(EMA) and k not in EMA_BOOKKEEPING}
    dropped = [k for k in state if k in EMA_BOOKKEEPING or (k.startswith(EMA) and not use_ema)]
    if not use_ema:
        return raw, dropped
    by_flat: dict[str, str] = {}
    for k in raw:
        flat = k.replace(".", "")
        if flat in by_flat:
            raise DataError(f"EMA names are ambiguous: {by_flat[flat]} and {k} both become {EMA}{flat}")
        by_flat[flat] = k
    out, replaced = dict(raw), set()
    for flat, v in ema.items():
        k = by_flat.get(flat)
        if k is None and not flat.startswith("loss"):
            raise DataError(f"the EMA tensor {EMA}{flat} has no raw counterpart in the checkpoint")
        if k is None or k.startswith("loss."):
            dropped.append(EMA + flat)  # the discriminator's EMA copy
            continue
        if v.shape != raw[k].shape:
            raise DataError(f"{EMA}{flat} is {tuple(v.shape)} but {k} is {tuple(raw[k].shape)}")
        out[k] = v
        replaced.add(k)
    missing = [k for k in raw if not k.startswith("loss.") and k not in replaced]
    if missing:
        more = f" (+{len(missing) - 1} more)" if len(missing) > 1 else ""
        raise DataError(f"the checkpoint's EMA copy lacks {missing[0]}{more} ({EMA}{missing[0].replace('.', '')})")
    return out, dropped


def choose_ema(state: dict[str, torch.Tensor], params: dict[str, Any] | None, option: Any) -> tuple[bool, list[str]]:
    """Whether to use the EMA copy, and a note saying why: the ``ema`` option when given, else the
    config's ``use_ema`` (upstream's default False), else (no config) whenever the file has one."""
    has = any(k.startswith(EMA) and k not in EMA_BOOKKEEPING for k in state)
    if option is not None:
        if bool(option) and not has:
            raise DataError("ema=True but the checkpoint holds no model_ema.* tensors")
        return bool(option), [f"{'EMA' if option else 'raw'} weights (ema={bool(option)} given)"]
    wanted = bool(params.get("use_ema", False)) if params is not None else has
    if wanted and not has:
        return False, ["the config says use_ema but the checkpoint has no EMA copy: raw weights"]
    if params is not None:
        why = f"use_ema: {str(wanted).lower()} in the config"
    else:
        why = f"no config; {'an' if has else 'no'} EMA copy in the checkpoint"
    return wanted, [f"{'EMA' if wanted else 'raw'} weights ({why})"]
