"""The importer interface: a published checkpoint -> a tokkit checkpoint directory.

One module per family registers a ``Family`` whose ``convert`` reads the published file(s) and
returns an ``Imported``: a tokkit tokenizer with the published weights loaded, the published
hyper-parameters, and the upstream code whose semantics it follows. ``import_checkpoint`` (in
``tokkit.importers.pipeline``) does the rest that is the same for every family: resolve the
source, hash it, convert, write the checkpoint atomically with provenance.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tokkit.registry import Registry
from tokkit.tokenizers._base import Tokenizer


@dataclass(frozen=True)
class Upstream:
    """The reference code whose encode/decode semantics an importer reproduces."""

    repository: str  # "FoundationVision/VAR", or "diffusers" for a package
    commit: str  # a commit, or a package version ("0.42.1")
    files: tuple[str, ...] = ()  # the files read for the semantics


@dataclass
class ImportRequest:
    """What the user gave: ``src`` (a file or folder), ``config`` (a file or a published name),
    ``encoder`` (digit), and family-specific ``options`` (e.g. ``sample=True``)."""

    src: Path
    config: str | None = None
    encoder: str | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class Imported:
    """A converted tokenizer. ``published``: the hyper-parameters as the source states them;
    ``dropped``: names of source tensors deliberately not imported (loss, discriminator, usage
    counters); ``source_files``: the files actually read (hashed into the provenance)."""

    tokenizer: Tokenizer
    published: dict[str, Any]
    upstream: Upstream
    source_files: list[Path]
    dropped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Family:
    name: str
    expects: str  # the files it reads, e.g. "vae_ch160v4096z32.pth (a state_dict)"
    becomes: str  # what it becomes, e.g. "multiscale: 4096 x 32 codes, 10 scales at 256 px"
    convert: Callable[[ImportRequest], Imported]
    # upstream name -> download URL, for SRC given as a published name when online
    downloads: dict[str, str] = field(default_factory=dict)
    # keys of a state_dict -> whether it is this family's layout (names the family of a wrong file)
    recognizes: Callable[[set[str]], bool] | None = None
    # the ImportRequest options (and "encoder") the family reads; None: not declared, nothing checked
    options: tuple[str, ...] | None = None


# the family modules register themselves on import; the registry imports them (by name) on the first lookup
_NAMES = ("cosmos", "dcae", "diffusers_vae", "digit", "ibq", "llamagen", "mar", "open_magvit2", "taming", "titok",
          "var", "vavae")  # fmt: skip
FAMILY_MODULES = tuple(f"tokkit.importers.{m}" for m in _NAMES)
FAMILIES: Registry[Callable[[], Family]] = Registry("import family", modules=FAMILY_MODULES)


def register_family(family: Family) -> Family:
    FAMILIES.register(family.name, lambda: family, help=family.becomes)
    return family


def get_family(name: str) -> Family:
    return FAMILIES.create(name)


def list_families() -> list[Family]:
    return [e.factory() for e in FAMILIES.entries()]
