"""``import_checkpoint``: the steps every family shares.

1. resolve SRC (a file or folder on disk, or a published name the family can download);
2. convert it with the family's ``convert`` (reads tensors only, never executes pickled code);
3. hash the files actually read, and write the tokkit checkpoint atomically with provenance.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tokkit.errors import DataError, UsageError
from tokkit.importers._base import Family, Imported, ImportRequest, get_family


def sha256_file(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


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
    out = Path(out)
    path = resolve_source(fam, src)
    if out.exists() and out.resolve() == path.resolve():
        raise UsageError("--out must not be the source itself")
    imported: Imported = fam.convert(ImportRequest(src=path, config=config, encoder=encoder, options=dict(options)))
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
