"""Register the metric test tokenizers and feature network for this package only, and keep the
feature-statistics cache inside the test's temp dir."""

from __future__ import annotations

import pytest

from tests.metrics.helpers import NAMES, PixFeatures


@pytest.fixture(autouse=True, scope="package")
def _registered():
    from tokkit.metrics.fid import FID_FEATURES
    from tokkit.tokenizers import TOKENIZERS, register_tokenizer

    for name, factory in NAMES.items():
        register_tokenizer(name, factory)
    FID_FEATURES.register("test-pixfeat", PixFeatures)
    yield
    for name in NAMES:
        TOKENIZERS.unregister(name)
    FID_FEATURES.unregister("test-pixfeat")


@pytest.fixture(autouse=True)
def _cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TOKKIT_OFFLINE", "1")


@pytest.fixture
def ckpts(tmp_path):
    """Saved checkpoints of the three test tokenizers: {name: path}."""
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    return {name: save_checkpoint(create_tokenizer(name), tmp_path / name) for name in NAMES}
