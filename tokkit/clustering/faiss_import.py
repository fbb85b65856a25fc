"""One way to import faiss: a clear line when it is missing or when two faiss wheels clash.

``faiss-cpu`` and ``faiss-gpu`` (and the third-party ``faiss-gpu-cu11/12``) all install the same
``faiss/`` package, so with two of them one overwrites the other's files and ``import faiss`` breaks
in odd ways. tokkit installs exactly one through its ``cpu`` or ``gpu`` extra; this module names
the fix when a machine has none or several, and points at the torch backend, which needs no faiss.
"""

from __future__ import annotations

from importlib import metadata
from types import ModuleType

from tokkit.errors import TokkitError

FAISS_DISTRIBUTIONS = ("faiss-cpu", "faiss-gpu", "faiss-gpu-cu11", "faiss-gpu-cu12")
INSTALL_HINT = "pip install 'tokkit[cpu]' (or 'tokkit[gpu]' on CUDA), or use --backend torch, which needs no faiss"


def installed_faiss() -> list[str]:
    """Names of the faiss wheels installed in this environment."""
    found = []
    for name in FAISS_DISTRIBUTIONS:
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        found.append(name)
    return found


def check_single_faiss() -> None:
    wheels = installed_faiss()
    if len(wheels) > 1:
        raise TokkitError(
            f"{' and '.join(wheels)} are both installed: they overwrite each other's faiss files",
            hint=f"pip uninstall -y {' '.join(wheels)}, then {INSTALL_HINT.split(', or')[0]}",
        )


def import_faiss() -> ModuleType:
    """The faiss module, or a ``TokkitError`` that says how to install it."""
    check_single_faiss()
    try:
        import faiss
    except ImportError as e:
        raise TokkitError(f"faiss is not installed or does not import ({e})", hint=INSTALL_HINT) from e
    return faiss


def faiss_available() -> bool:
    """True when faiss imports; a clash of two faiss wheels is still an error."""
    check_single_faiss()
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True
