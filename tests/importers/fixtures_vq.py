"""Paths of the VAR / LlamaGen / taming fixtures (made by tests/fixtures/import/make_fixtures_vq.py)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "import"

# family -> the SRC given to ``tokkit import`` (the file or folder in the published layout)
SOURCES = {
    "var": FIXTURES / "var" / "vae_tiny.pth",
    "llamagen": FIXTURES / "llamagen" / "vq_tiny.pt",
    "taming": FIXTURES / "taming" / "vqgan_tiny",
}
IMAGE_SIZE = 32  # the fixtures' image side (f2 models: 16x16 latents)


def imported(family: str, out: Path) -> Path:
    """Import the fixture of ``family`` into ``out`` (once per directory) and return it."""
    from tokkit.importers import import_checkpoint

    if not (out / "config.json").is_file():
        import_checkpoint(family, SOURCES[family], out)
    return out
