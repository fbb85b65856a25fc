"""The metric test tokenizers (tests/metrics/helpers.py) plus one without features; one thread (2 shared cores:
small tensors stall on a second, busy thread); the feature cache inside the test's temp dir."""

from __future__ import annotations

import pytest
import torch

from tests.metrics.helpers import NAMES, MetricVQ, VQConfig, registered, save_all
from tokkit.generation import ProbeConfig
from tokkit.tokenizers import TokenBatch

# A budget a test can afford: every order and head in a few seconds.
TINY = ProbeConfig(d_model=32, n_layer=2, n_head=2, steps=8, batch_size=8, head_width=32, head_depth=2,
                   diffusion_steps=100, sampling_steps=8, eval_batch_size=64)  # fmt: skip
DATA = "builtin:shapes:n=15,size=16"


class NoFeatureVQ(MetricVQ):
    """A discrete tokenizer that exposes codes only (no latents, no pre-quantization features)."""

    architecture = "test-gen-nofeat"

    def encode(self, images):
        return TokenBatch("discrete", indices=super().encode(images).indices)


GEN_NAMES = {**NAMES, "test-gen-nofeat": lambda **kw: NoFeatureVQ(VQConfig(**kw))}


@pytest.fixture(autouse=True, scope="package")
def _registered():
    with registered(GEN_NAMES):
        yield


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("TOKKIT_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("TOKKIT_OFFLINE", "1")
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def ckpts(tmp_path):
    return save_all(GEN_NAMES, tmp_path)
