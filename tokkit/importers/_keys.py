"""Key mapping: published state_dict names -> tokkit names, by a table of regular expressions.

A table is a list of ``(pattern, target)`` rows; the first row whose pattern matches the whole key
wins. ``target`` is a template: ``{N}`` is the pattern's group N, ``{revN}`` is ``levels - 1 - group N``
(decoders that index their up-blocks by resolution level where tokkit indexes them in run order),
and ``None`` drops the key (loss, discriminator, usage counters). Keys that no row matches are kept
as they are, so the strict check below names them as unexpected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from tokkit.errors import DataError

Table = Sequence[tuple[str, str | None]]
_FIELD = re.compile(r"\{(rev)?(\d+)\}")


@dataclass
class Renamed:
    state: dict[str, torch.Tensor]
    dropped: list[str] = field(default_factory=list)


def _fill(template: str, m: re.Match, levels: int) -> str:
    def sub(f: re.Match) -> str:
        g = m.group(int(f.group(2)))
        return str(levels - 1 - int(g)) if f.group(1) else g

    return _FIELD.sub(sub, template)


def rename(state: Mapping[str, torch.Tensor], table: Table, levels: int = 0) -> Renamed:
    """Apply ``table`` to every key of ``state``; ``levels`` resolves ``{revN}`` fields."""
    rows = [(re.compile(p), t) for p, t in table]
    out: dict[str, torch.Tensor] = {}
    dropped: list[str] = []
    for key, value in state.items():
        for pattern, target in rows:
            m = pattern.fullmatch(key)
            if m:
                if target is None:
                    dropped.append(key)
                else:
                    out[_fill(target, m, levels)] = value
                break
        else:
            out[key] = value
    return Renamed(out, dropped)


def fuse_qkv(state: dict[str, torch.Tensor], names: tuple[str, str, str] = ("q", "k", "v")) -> dict[str, torch.Tensor]:
    """``P.q.*``, ``P.k.*``, ``P.v.*`` (C, C, 1, 1) each -> ``P.qkv.*`` (3C, C, 1, 1), q, k, v order: the
    fused layout of tokkit's ``AttnBlock`` (and of VAR's)."""
    out = dict(state)
    q = names[0]
    for key in list(state):
        head, _, leaf = key.rpartition(".")
        if not head.endswith(f".{q}"):
            continue
        prefix = head[: -len(q) - 1]
        parts = [f"{prefix}.{n}.{leaf}" for n in names]
        if all(p in state for p in parts):
            out[f"{prefix}.qkv.{leaf}"] = torch.cat([state[p] for p in parts], 0)
            for p in parts:
                del out[p]
    return out


def _few(names: Iterable[str], n: int = 3) -> str:
    names = sorted(names)
    return ", ".join(names[:n]) + (f" (+{len(names) - n} more)" if len(names) > n else "")


def check_keys(
    expected: Mapping[str, torch.Tensor | torch.Size | tuple[int, ...]],
    state: Mapping[str, torch.Tensor],
    what: str,
) -> None:
    """Strict comparison of ``state`` with the expected names and shapes: one line naming the first
    few missing, unexpected or mis-shaped keys."""

    def shape(v) -> tuple[int, ...]:
        return tuple(v.shape) if isinstance(v, torch.Tensor) else tuple(v)

    missing = set(expected) - set(state)
    unexpected = set(state) - set(expected)
    if missing or unexpected:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys: {_few(missing)}")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys: {_few(unexpected)}")
        raise DataError(f"{what} does not match: " + "; ".join(parts))
    wrong = [k for k in sorted(expected) if shape(expected[k]) != shape(state[k])]
    if wrong:
        k = wrong[0]
        raise DataError(
            f"{what} does not match: {len(wrong)} tensors have other shapes, e.g. {k} is "
            f"{list(shape(state[k]))}, expected {list(shape(expected[k]))}"
        )


def summarize(names: Sequence[str], limit: int = 5) -> list[str]:
    """Dropped key names for the provenance: a group of more than ``limit`` keys under one top-level
    name becomes ``"loss.* (312 tensors)"``."""
    groups: dict[str, list[str]] = {}
    for n in names:
        groups.setdefault(n.split(".")[0], []).append(n)
    out: list[str] = []
    for head, members in groups.items():
        out.extend([f"{head}.* ({len(members)} tensors)"] if len(members) > limit else members)
    return out
