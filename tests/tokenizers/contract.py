"""The contract every registered tokenizer meets; families add a small build case in CASES.

``CASES[name]`` -> (builder(tmp_path) -> Tokenizer, image_size). Every registered name must have a
case, so no family can skip the contract.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from tokkit.tokenizers import Tokenizer

CASES: dict[str, tuple[Callable[[Path], Tokenizer], int]] = {}


def case(name: str, image_size: int):
    def add(builder: Callable[[Path], Tokenizer]):
        CASES[name] = (builder, image_size)
        return builder

    return add


def check_contract(tok: Tokenizer, image_size: int, tmp_path: Path) -> None:
    from tokkit.io.checkpoint import load_tokenizer, save_checkpoint

    tok.eval()
    torch.manual_seed(0)
    x = torch.rand(2, 3, image_size, image_size) * 2 - 1
    with torch.no_grad():
        tokens = tok.encode(x)
    assert tokens.kind == tok.kind
    shape = tok.token_shape(image_size)
    if tok.kind == "discrete":
        assert tokens.indices.shape == (2, *shape) and tokens.indices.dtype == torch.long
    elif tok.kind == "multiscale":
        maps = tokens.index_maps()
        assert [tuple(m.shape[1:]) for m in maps] == [tuple(s) for s in shape]
    else:
        assert tokens.latents is not None and tokens.latents.shape[0] == 2
        assert tuple(tokens.latents.shape[-2:]) == tuple(shape)
    for m in tokens.index_maps():
        assert int(m.min()) >= 0 and int(m.max()) < tok.codebook_size
    if tok.codebook is not None:
        assert tok.codebook.shape[0] == tok.codebook_size
    if tok.can_decode:
        with torch.no_grad():
            recon = tok.decode(tokens)
        assert recon.shape == x.shape and torch.isfinite(recon).all()
    # same input, same tokens
    with torch.no_grad():
        again = tok.encode(x)
    for a, b in zip(tokens.index_maps(), again.index_maps(), strict=True):
        assert torch.equal(a, b)
    # save -> load gives identical outputs
    path = save_checkpoint(tok, tmp_path / "ckpt")
    loaded = load_tokenizer(path)
    with torch.no_grad():
        t2 = loaded.encode(x)
    for a, b in zip(tokens.index_maps(), t2.index_maps(), strict=True):
        assert torch.equal(a, b)
    if tok.kind == "continuous":
        torch.testing.assert_close(tokens.latents, t2.latents)
    if tok.can_decode:
        with torch.no_grad():
            torch.testing.assert_close(loaded.decode(t2), recon)
