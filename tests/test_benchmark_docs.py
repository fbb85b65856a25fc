"""Every measured table in benchmarks/*.md says which machine it was measured on, and under what load.

The rule (benchmarks/README.md): a line starting with ``Machine:`` sits above each markdown table that holds
figures, within the 3 non-blank lines above it or anywhere between the table's heading and the table. It names a
core count and a load (``load: not recorded`` where the measurement did not say), or is
``Machine: n/a (no measurement)`` for a table that holds no measured figure.

A table is consecutive lines starting with ``|`` whose second line is a ``|---|`` separator (outside fenced code).
It "holds figures" when a body cell (not the header) has a number with a unit (s, ms, min, x, %, MiB, MB, GiB,
GB, dB, img/s, images/s, points/s, steps/s) or a plain decimal number such as 0.94 or 3.5e-6, or when its header
names a measured quantity (a unit such as "(s)", "MiB", "ms", "/s", or "seconds", "wall", "RSS") and a body cell
has a digit (peak RSS in whole MiB). Integers under a header of settings (N, K, batch) do not count, so a table
of settings needs no line.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"
DOCS = sorted(BENCH.glob("*.md"))
DOCS = [p for p in DOCS if p.name != "README.md"]

SEPARATOR = re.compile(r"^\|\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?\s*$")
UNIT = r"(?:ms|s|min|x|%|MiB|MB|GiB|GB|dB|img/s|images/s|points/s|steps/s)"
FIGURE = re.compile(rf"\d\s*{UNIT}(?![A-Za-z])|\d\.\d|\d[eE]-?\d")
HEADER_UNIT = re.compile(r"\b(?:ms|s|min|MiB|MB|GiB|GB|dB|seconds|wall|RSS)\b|/s\b")
CORES = re.compile(r"\b\d+(?:[- ]|\s*(?:physical|logical)\s*)(?:cores?|CPUs?|threads?)\b", re.IGNORECASE)
LOAD = re.compile(r"\bload\b", re.IGNORECASE)
NO_MEASUREMENT = "Machine: n/a (no measurement"


def tables(lines: list[str]) -> list[tuple[int, list[str]]]:
    """(0-based index of the header line, the table's lines) for each markdown table outside fenced code."""
    found, fenced, i = [], False, 0
    while i < len(lines):
        if lines[i].lstrip().startswith("```"):
            fenced = not fenced
        elif not fenced and lines[i].startswith("|") and i + 1 < len(lines) and SEPARATOR.match(lines[i + 1]):
            j = i + 2
            while j < len(lines) and lines[j].startswith("|"):
                j += 1
            found.append((i, lines[i:j]))
            i = j
            continue
        i += 1
    return found


def cells(row: str) -> list[str]:
    return [c.strip() for c in row.strip().strip("|").split("|")]


def holds_figures(table: list[str]) -> bool:
    body = [c for row in table[2:] for c in cells(row)]
    if any(FIGURE.search(c) for c in body):
        return True
    return bool(HEADER_UNIT.search(table[0])) and any(re.search(r"\d", c) for c in body)


def machine_line_for(lines: list[str], start: int) -> str | None:
    """The nearest Machine line above the table whose header is lines[start], not crossing a heading.

    This covers both places the rule allows: the 3 non-blank lines above the table, and anywhere between the
    table's heading and the table. A Machine line above the heading belongs to the section before.
    """
    for k in range(start - 1, -1, -1):
        line = lines[k].strip()
        if line.startswith("#"):
            return None
        if line.startswith("Machine:"):
            return line
    return None


def problems(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    out = []
    for start, table in tables(lines):
        if not holds_figures(table):
            continue
        line = machine_line_for(lines, start)
        where = f"{path.name}:{start + 1}: table {table[0].strip()[:60]!r}"
        if line is None:
            out.append(f"{where} has no 'Machine:' line above it")
        elif not line.startswith(NO_MEASUREMENT) and not (CORES.search(line) and LOAD.search(line)):
            out.append(f"{where}: its Machine line names no core count or no load: {line[:100]!r}")
    for k, line in enumerate(lines):  # every Machine line, table or prose, names cores and a load
        if line.startswith("Machine:") and not line.startswith(NO_MEASUREMENT):
            para = " ".join(x.strip() for x in _paragraph(lines, k))
            if not (CORES.search(para) and LOAD.search(para)):
                out.append(f"{path.name}:{k + 1}: Machine line names no core count or no load: {line[:100]!r}")
    return out


def _paragraph(lines: list[str], k: int) -> list[str]:
    end = k
    while end < len(lines) and lines[end].strip() and not lines[end].startswith("|"):
        end += 1
    return lines[k:end]


def test_the_docs_are_found():
    names = {p.name for p in DOCS}
    assert {"discrete.md", "eval.md", "train.md", "import_kl.md", "gpu.md"} <= names


@pytest.mark.parametrize("path", DOCS, ids=lambda p: p.name)
def test_every_measured_table_names_its_machine(path):
    found = problems(path)
    assert not found, "\n".join(found)


def test_the_checker_catches_a_table_without_a_machine_line():
    text = "# T\n\nSome prose.\n\n| a | s |\n|---|---|\n| x | 1.5 |\n"
    lines = text.splitlines()
    ((start, table),) = tables(lines)
    assert holds_figures(table) and machine_line_for(lines, start) is None
    ok = "# T\n\nMachine: AMD EPYC (2 cores, 24 GiB, no GPU); load: idle\n\n| a | s |\n|---|---|\n| x | 1.5 |\n"
    lines = ok.splitlines()
    ((start, _),) = tables(lines)
    assert machine_line_for(lines, start).startswith("Machine: AMD EPYC")
    settings = "| setting | value |\n|---|---|\n| K | 1024 |\n| batch | 32 |\n"
    ((_, table),) = tables(settings.splitlines())
    assert not holds_figures(table)
    ((_, table),) = tables("| command | peak RSS (MiB) |\n|---|---|\n| tokenize | 199 |\n".splitlines())
    assert holds_figures(table)
    # a Machine line above the heading belongs to the section before, not to this table
    other = "Machine: AMD EPYC (2 cores); load: idle\n\n## Next\n\n| a |\n|---|\n| 2.5 s |\n"
    lines = other.splitlines()
    ((start, _),) = tables(lines)
    assert machine_line_for(lines, start) is None


def _machine_module():
    spec = importlib.util.spec_from_file_location("bench_machine", BENCH / "machine.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_machine_line_is_one_line_with_cores_and_load():
    m = _machine_module()
    info = m.machine_info()
    assert info["logical_cores"] and info["available_cores"] and info["cpu_model"]
    line = m.machine_line("idle (no other\nprocess)")
    assert "\n" not in line and line.startswith("Machine: ")
    assert f"{info['logical_cores']} cores" in line or "threads" in line
    assert CORES.search(line) and LOAD.search(line) and line.endswith("load: idle (no other process)")
    fixed = {"cpu_model": "AMD EPYC", "physical_cores": 2, "logical_cores": 2, "available_cores": 2,
             "memory_gib": 23.5, "gpus": [], "load_average": [0.31, 0.2, 0.1]}  # fmt: skip
    assert m.machine_line("idle", fixed) == (
        "Machine: AMD EPYC, 2 cores (2 available), 24 GiB, no GPU; load average 0.31 at start; load: idle"
    )
