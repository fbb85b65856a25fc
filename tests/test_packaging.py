"""Packaging metadata: faiss-cpu and faiss-gpu install the same files, so no extra may pull both,
and the README's install line keeps giving faiss-cpu. A missing or doubled faiss is one clear line."""

from __future__ import annotations

import itertools
import re
import sys
from pathlib import Path

import pytest
from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[1]
FAISS = {"faiss-cpu", "faiss-gpu", "faiss-gpu-cu11", "faiss-gpu-cu12"}


@pytest.fixture(scope="module")
def project():
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _closure(project, extras: set[str]) -> set[str]:
    """Canonical names of the distributions that tokkit[extras] requires directly, following
    ``tokkit[...]`` self-references between extras."""
    optional = project["optional-dependencies"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    todo, seen = list(extras), set()
    while todo:
        extra = todo.pop()
        if extra in seen:
            continue
        seen.add(extra)
        assert extra in optional, f"unknown extra {extra!r}"
        for r in map(Requirement, optional[extra]):
            if r.name == project["name"]:
                todo += sorted(r.extras)
            else:
                reqs.append(r)
    return {re.sub(r"[-_.]+", "-", r.name).lower() for r in reqs}


def test_no_extra_pulls_two_faiss_wheels(project):
    extras = sorted(project["optional-dependencies"])
    assert not _closure(project, set()) & FAISS, "faiss must come through an extra, not the base dependencies"
    assert _closure(project, {"dev"}) & FAISS == {"faiss-cpu"}  # README: pip install -e ".[dev]"
    assert _closure(project, {"cpu"}) & FAISS == {"faiss-cpu"}
    assert _closure(project, {"gpu"}) & FAISS == {"faiss-gpu"}
    assert _closure(project, {"dev-gpu"}) & FAISS == {"faiss-gpu"}
    assert {"pytest", "ruff"} <= _closure(project, {"dev"}) and {"pytest", "ruff"} <= _closure(project, {"dev-gpu"})
    for extra in extras:
        assert len(_closure(project, {extra}) & FAISS) <= 1, extra
    # Pairs: two faiss wheels only when the user names a CPU and a GPU flavour together.
    flavour = {e: _closure(project, {e}) & FAISS for e in extras}
    for a, b in itertools.combinations(extras, 2):
        both = _closure(project, {a, b}) & FAISS
        assert len(both) <= 1 or (flavour[a] and flavour[b] and flavour[a] != flavour[b]), (a, b, both)


def test_readme_install_line_uses_dev(project):
    readme = (ROOT / "README.md").read_text()
    assert 'pip install -e ".[dev]"' in readme and 'pip install -e ".[dev-gpu]"' in readme


def test_missing_faiss_is_one_line_naming_the_torch_backend(monkeypatch):
    from tokkit.clustering import faiss_import
    from tokkit.errors import TokkitError

    monkeypatch.setitem(sys.modules, "faiss", None)  # import faiss -> ImportError
    monkeypatch.setattr(faiss_import, "installed_faiss", lambda: [])
    with pytest.raises(TokkitError) as e:
        faiss_import.import_faiss()
    assert "--backend torch" in str(e.value) and "tokkit[cpu]" in str(e.value) and "\n" not in str(e.value)
    assert faiss_import.faiss_available() is False


def test_two_faiss_wheels_are_named(monkeypatch):
    from tokkit.clustering import faiss_import
    from tokkit.errors import TokkitError

    monkeypatch.setattr(faiss_import, "installed_faiss", lambda: ["faiss-cpu", "faiss-gpu"])
    with pytest.raises(TokkitError, match="faiss-cpu and faiss-gpu are both installed.*pip uninstall -y faiss-cpu"):
        faiss_import.import_faiss()


def test_fit_kmeans_without_faiss_says_so(cli, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    args = ["fit-kmeans", "--encoder", "pixels", "--layer", "8", "--image-size", "16", "--k", "4",
            "--data", "builtin:shapes:n=4,size=16", "--init", "random"]  # fmt: skip
    r = cli(*args, "--out", tmp_path / "km")
    assert r.exit_code == 1 and "faiss is not installed" in r.stderr and "--backend torch" in r.stderr
    assert r.stderr.strip().count("\n") == 0
    r = cli(*args, "--out", tmp_path / "km2", "--backend", "torch", "--json")
    assert r.exit_code == 0, r.stderr
