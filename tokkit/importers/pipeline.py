"""``import_checkpoint``: the steps every family shares.

1. resolve SRC (a file or folder on disk, or a published name the family can download) and check
   that ``--out`` is a place a checkpoint may be written;
2. convert it with the family's ``convert`` (reads tensors only, never executes pickled code; a
   file of another family is named as such);
3. hash the files actually read, and write the tokkit checkpoint atomically with provenance.
Any failure before the last step leaves nothing at ``--out``; the write itself is atomic.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, get_family, list_families
from tokkit.io.files import sha256_file


def resolve_source(family: Family, src: str | Path) -> Path:
    """A path that exists, or a published name of ``family`` fetched into the weights cache."""
    p = Path(src).expanduser()
    if p.exists():
        return p
    if str(src) in family.downloads:
        from tokkit.io.weights import resolve_weight_file

        url = family.downloads[str(src)]
        return resolve_weight_file(Path(url.split("?")[0]).name, url, what=f"{family.name} '{src}'")
    known = f"; published names: {', '.join(sorted(family.downloads))}" if family.downloads else ""
    raise DataError(f"'{src}' does not exist{known}")


def check_out(out: Path, src: Path) -> None:
    """``--out`` must be new, or an existing tokkit checkpoint (replaced atomically), never the
    source or a folder holding other files."""
    if not out.exists():
        return
    if out.resolve() == src.resolve() or src.resolve().is_relative_to(out.resolve()):
        raise UsageError("--out must not be the source or a folder that holds it")
    if out.is_file() or (any(out.iterdir()) and not (out / "config.json").is_file()):
        raise UsageError(f"--out '{out}' exists and is not a tokkit checkpoint", hint="choose a new directory")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """A JSON or YAML mapping given by ``--config``."""
    import yaml

    p = Path(path).expanduser()
    if not p.is_file():
        raise DataError(f"config file '{p}' does not exist")
    try:
        data = yaml.safe_load(p.read_text())
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise DataError(f"cannot parse config '{p}': {str(e).splitlines()[0]}") from e
    if not isinstance(data, dict):
        raise DataError(f"config '{p}' is not a mapping of keys to values")
    return data


def state_dict_of(
    obj: Any, path: Path, keys: tuple[str, ...] = ("ema", "model", "state_dict")
) -> dict[str, torch.Tensor]:
    """The tensors of a loaded checkpoint: the object itself when it is a flat name -> tensor mapping,
    else the first of ``keys`` that holds one (LlamaGen: ema, model; lightning: state_dict)."""
    if isinstance(obj, Mapping):
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
        for k in keys:
            v = obj.get(k)
            if isinstance(v, Mapping) and v and all(isinstance(t, torch.Tensor) for t in v.values()):
                return dict(v)
    raise DataError(f"'{path}' holds no state_dict (a name -> tensor mapping, or one under {'/'.join(keys)})")


def guess_family(keys: set[str]) -> str | None:
    """The registered family whose layout these state_dict keys have, if exactly one claims them."""
    names = [f.name for f in list_families() if f.recognizes is not None and f.recognizes(keys)]
    return names[0] if len(names) == 1 else None


def _convert(fam: Family, req: ImportRequest) -> Imported:
    """The family's convert; a file of another family is named as such."""
    try:
        return fam.convert(req)
    except DataError as e:
        other = _other_family(fam, req.src)
        if other is None:
            raise
        raise DataError(
            f"'{req.src}' is a '{other}' checkpoint, not '{fam.name}'", hint=f"tokkit import {other} ..."
        ) from e


def _other_family(fam: Family, src: Path) -> str | None:
    if not src.is_file() or src.suffix not in (".pt", ".pth", ".ckpt", ".bin"):
        return None
    from tokkit.io.checkpoint import torch_load_checkpoint

    try:
        obj = torch_load_checkpoint(src)
        keys = set(state_dict_of(obj, src))
    except DataError:
        return None
    name = guess_family(keys)
    return name if name not in (None, fam.name) else None


def import_checkpoint(
    family: str,
    src: str | Path,
    out: str | Path,
    config: str | None = None,
    encoder: str | None = None,
    **options: Any,
) -> dict[str, Any]:
    """Convert a published checkpoint into the tokkit checkpoint directory ``out``; return a summary."""
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.io.provenance import provenance

    fam = get_family(family)
    given = [*options, *(["encoder"] if encoder else [])]
    unused = [o for o in given if fam.options is not None and o not in fam.options]
    if unused:
        raise UsageError(f"'{fam.name}' takes no --{unused[0]}")
    out = Path(out)
    path = resolve_source(fam, src)
    check_out(out, path)
    imported = _convert(fam, ImportRequest(src=path, config=config, encoder=encoder, options=dict(options)))
    files = [{"name": f.name, "path": str(f), "sha256": sha256_file(f), "bytes": f.stat().st_size}
             for f in imported.source_files]  # fmt: skip
    record = {
        "family": fam.name,
        "source_files": files,
        "upstream": {
            "repository": imported.upstream.repository,
            "commit": imported.upstream.commit,
            "files": list(imported.upstream.files),
        },  # fmt: skip
        "published": imported.published,
        "dropped": imported.dropped,
        "notes": imported.notes,
    }
    save_checkpoint(imported.tokenizer.cpu().eval(), out, provenance=provenance(imported=record))
    return {
        "family": fam.name,
        "out": str(out),
        "architecture": imported.tokenizer.architecture,
        "kind": imported.tokenizer.kind,
        "parameters": sum(p.numel() for p in imported.tokenizer.parameters()),
        **record,
    }
