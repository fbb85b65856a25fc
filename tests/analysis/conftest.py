"""Test tokenizers registered for this package only, and their checkpoints."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.analysis.toks import (
    FACTORIES,
    ColorPyramid,
    ColorPyramidConfig,
    PatchVQ,
    PatchVQConfig,
    PoolAE,
    PoolAEConfig,
)
from tokkit.io.checkpoint import save_checkpoint
from tokkit.tokenizers import TOKENIZERS, register_tokenizer


@pytest.fixture(scope="package", autouse=True)
def _registered():
    # package scope: unregistered before tests/tokenizers checks that every registered name has a case
    for name, factory in FACTORIES.items():
        register_tokenizer(name, factory)
    yield
    for name in FACTORIES:
        TOKENIZERS.unregister(name)


@pytest.fixture(scope="package")
def ckpts(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("ckpts")
    return {
        "discrete": save_checkpoint(PatchVQ(PatchVQConfig(duplicate=True)), root / "vq"),
        "multiscale": save_checkpoint(ColorPyramid(ColorPyramidConfig()), root / "pyr"),
        "continuous": save_checkpoint(PoolAE(PoolAEConfig()), root / "ae"),
    }
