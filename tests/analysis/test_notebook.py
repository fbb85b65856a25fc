"""notebooks/codebook_anatomy.ipynb runs end to end at small settings (as CI runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "codebook_anatomy.ipynb"


def test_notebook_is_stored_without_outputs():
    nbformat = pytest.importorskip("nbformat")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, "strip the notebook's outputs"


def test_notebook_runs_at_small_settings(tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient", reason="nbclient is a dev extra: pip install -e '.[dev]'")
    pytest.importorskip("ipykernel", reason="ipykernel is a dev extra: pip install -e '.[dev]'")
    monkeypatch.setenv("TOKKIT_NOTEBOOK_SMALL", "1")
    monkeypatch.setenv("TOKKIT_NOTEBOOK_DIR", str(tmp_path / "work"))
    monkeypatch.setenv("TOKKIT_NO_PROGRESS", "1")
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError with the failing cell on any error
    for name in ("k-means", "vqgan"):
        report = tmp_path / "work" / f"report_{name}"
        for f in ("usage.png", "umap.png", "gallery.png", "tokens.png", "report.html"):
            assert (report / f).stat().st_size > 1000, f"{name}/{f}"
    images = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 5  # the side-by-side figures were drawn
