"""Training tests share 2 CPU cores with other work: one thread avoids oversubscription stalls."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# A model small enough for a few CPU steps in a test (f4, 16 px).
MICRO = {"ch": 8, "ch_mult": [1, 2, 2], "num_res_blocks": 1, "attn_levels": [], "mid_attn": False}
