"""Where a file came from: argv, git commit, time, versions."""

from __future__ import annotations

import datetime as _dt
import subprocess
import sys
from pathlib import Path
from typing import Any


def git_commit(path: Path | None = None) -> str | None:
    """The commit of the tokkit source tree when it is a git checkout, else None."""
    root = path or Path(__file__).resolve().parents[2]
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def provenance(**extra: Any) -> dict[str, Any]:
    from tokkit import __version__

    record: dict[str, Any] = {
        "argv": list(sys.argv),
        "git_commit": git_commit(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "tokkit_version": __version__,
    }
    record.update({k: v for k, v in extra.items() if v is not None})
    return record
