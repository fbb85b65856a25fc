"""Register the metric test tokenizers and feature network for this package only, and keep the
feature-statistics cache inside the test's temp dir."""

from __future__ import annotations

import pytest

from tests.metrics.helpers import NAMES, registered, save_all


@pytest.fixture(autouse=True, scope="package")
def _registered():
    with registered(NAMES):
        yield


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TOKKIT_OFFLINE", "1")


@pytest.fixture
def ckpts(tmp_path):
    """Saved checkpoints of the three test tokenizers: {name: path}."""
    return save_all(NAMES, tmp_path)
