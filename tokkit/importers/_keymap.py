"""Key tables: rename a published state dict into tokkit's, and load it strictly with one-line errors.

A ``KeyTable`` is read as a table: each row is ``(tokkit prefix, source prefix)`` with placeholders
``{L}`` (a level), ``{i}`` (a block index) and ``{E}`` (``encoder`` or ``decoder``); ``{R}`` on the
tokkit side is ``levels - 1 - L`` (decoders the source indexes by level, tokkit by run order).
``leaves`` rename the module right after the prefix (``nin_shortcut`` -> ``skip``); ``fused`` lists
source modules concatenated on dim 0 into one tokkit module (attention ``q``, ``k``, ``v`` -> ``qkv``);
``drop`` lists source key prefixes left out on purpose (loss, discriminator, usage counters), which
``dropped`` names for the provenance. Any other source key no row matches is returned as unexpected.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import torch

from tokkit.errors import DataError
from tokkit.tokenizers._base import Tokenizer

_PLACEHOLDERS = {"L": r"(?P<L>\d+)", "i": r"(?P<i>\d+)", "E": r"(?P<E>encoder|decoder)"}


def _compile(template: str) -> re.Pattern[str]:
    parts = re.split(r"\{(\w)\}", template)  # literal, name, literal, name, ...
    out = "".join(re.escape(p) if k % 2 == 0 else _PLACEHOLDERS[p] for k, p in enumerate(parts))
    return re.compile(out)


@dataclass
class KeyTable:
    rows: list[tuple[str, str]]
    leaves: list[tuple[str, str]] = field(default_factory=list)
    fused: dict[str, tuple[str, ...]] = field(default_factory=dict)
    drop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        self._rows = [(tok, _compile(src)) for tok, src in self.rows]
        self._source_of_fused = {part: (name, k) for name, parts in self.fused.items() for k, part in enumerate(parts)}

    def _rename(self, key: str, levels: int) -> tuple[str, tuple[str, int] | None] | None:
        """(tokkit key, (fused target, position) or None), or None when no row matches."""
        for tok, pattern in self._rows:
            m = pattern.match(key)
            if m is None:
                continue
            groups = m.groupdict()
            if "L" in groups:
                groups["R"] = str(levels - 1 - int(groups["L"]))
            prefix, rest = tok.format(**groups), key[m.end() :]
            for tok_leaf, src_leaf in self.leaves:
                if rest.startswith(src_leaf + "."):
                    rest = tok_leaf + rest[len(src_leaf) :]
                    break
            module, _, param = rest.rpartition(".")
            if module in self._source_of_fused:
                name, k = self._source_of_fused[module]
                return f"{prefix}{name}.{param}", (name, k)
            return prefix + rest, None
        return None

    def dropped(self, state: Mapping[str, torch.Tensor]) -> list[str]:
        """The source keys ``drop`` leaves out, in file order."""
        return [k for k in state if k.startswith(self.drop)] if self.drop else []

    def convert(self, state: dict[str, torch.Tensor], levels: int) -> tuple[dict[str, torch.Tensor], list[str]]:
        """(tokkit state, unexpected source keys). ``levels``: the number of resolution levels."""
        out: dict[str, torch.Tensor] = {}
        parts: dict[str, dict[int, torch.Tensor]] = {}
        unexpected: list[str] = []
        for key, value in state.items():
            if self.drop and key.startswith(self.drop):
                continue
            renamed = self._rename(key, levels)
            if renamed is None:
                unexpected.append(key)
            elif renamed[1] is None:
                out[renamed[0]] = value
            else:
                parts.setdefault(renamed[0], {})[renamed[1][1]] = value
        for key, got in parts.items():
            n = len(self.fused[key.rsplit(".", 2)[-2]])
            if len(got) != n:
                unexpected.append(f"{key} (only {len(got)} of its {n} parts)")
                continue
            # Linear (C, C) attention weights (diffusers) become 1x1 convs; conv weights stay (C, C, 1, 1)
            out[key] = torch.cat([as_conv1x1(got[k]) for k in range(n)], dim=0)
        return out, unexpected


def as_conv1x1(t: torch.Tensor) -> torch.Tensor:
    """A Linear weight (out, in) as a 1x1 conv weight (out, in, 1, 1); other tensors unchanged."""
    return t[:, :, None, None] if t.ndim == 2 else t


def _first(names: Iterable[str], n: int = 3) -> str:
    names = list(names)
    more = f" (+{len(names) - n} more)" if len(names) > n else ""
    return ", ".join(names[:n]) + more


def load_strict(
    tokenizer: Tokenizer, state: dict[str, torch.Tensor], source: str, unexpected: Iterable[str] = ()
) -> Tokenizer:
    """Load ``state`` into ``tokenizer`` with every key and shape checked; fp16/bf16 is upcast to the
    module's dtype. Raises one DataError line naming the first few missing/unexpected/mis-shaped keys."""
    expected = tokenizer.state_dict()
    for k, v in state.items():
        if k in expected and v.ndim == 2 and expected[k].ndim == 4 and expected[k].shape[2:] == (1, 1):
            state[k] = as_conv1x1(v)  # Linear stored where tokkit has a 1x1 conv (diffusers to_out.0)
    missing = [k for k in expected if k not in state]
    extra = [*unexpected, *(k for k in state if k not in expected)]
    shapes = [f"{k} {tuple(state[k].shape)} != {tuple(v.shape)}" for k, v in expected.items()
              if k in state and state[k].shape != v.shape]  # fmt: skip
    problems = []
    if missing:
        problems.append(f"missing keys: {_first(missing)}")
    if extra:
        problems.append(f"unexpected keys: {_first(extra)}")
    if shapes:
        problems.append(f"shape mismatch: {_first(shapes, 2)}")
    if problems:
        raise DataError(f"'{source}' does not fit the {tokenizer.architecture} it describes: {'; '.join(problems)}")
    with torch.no_grad():
        for k, v in expected.items():
            v.copy_(state[k].to(v.dtype))
    return tokenizer


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


def load_strict_fp32(
    tokenizer: Tokenizer, state: dict[str, torch.Tensor], what: str, unexpected: Iterable[str] = ()
) -> Tokenizer:
    """The VQ families' loader: ``state`` (tokkit names) into ``tokenizer``, every tensor present, none
    left over (``unexpected``: source keys no row matched), same shapes, else one line naming the first
    few (``check_keys``). tokkit's own bookkeeping buffers (``initted``) keep their fresh values;
    tensors are upcast to fp32."""
    own = tokenizer.state_dict()
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    for k in own:
        if k.endswith(".initted") and k not in state:
            state[k] = own[k]
    check_keys(own, {**state, **{k: torch.empty(0) for k in unexpected}}, what)
    tokenizer.load_state_dict(state, strict=True)
    return tokenizer.eval()


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
