"""`eval compare` end to end on the real tiny tokenizer families (untrained: this checks the
plumbing between the families and the metrics, not their quality)."""

from __future__ import annotations

import json


def test_compare_real_tiny_tokenizers(cli, tmp_path):
    from tokkit.io.checkpoint import save_checkpoint
    from tokkit.tokenizers import create_tokenizer

    ckpts = [
        save_checkpoint(create_tokenizer("vqgan-tiny"), tmp_path / "vqgan-tiny"),
        save_checkpoint(create_tokenizer("msvq-tiny", patch_nums=[1, 2, 4]), tmp_path / "msvq-tiny"),
        save_checkpoint(create_tokenizer("vae-tiny"), tmp_path / "vae-tiny"),
    ]
    out = tmp_path / "cmp"
    r = cli(
        "eval", "compare", *ckpts, "--data", "builtin:photos:n=5,size=32", "--out", out,
        "--fid-features", "test-pixfeat", "--snr-db", "10", "--probe-steps", "2", "--samples", "2", "--json",
    )  # fmt: skip
    assert r.exit_code == 0, r.stderr
    summary = json.loads(r.stdout)
    rows = {row["tokenizer"]: row for row in summary["rows"]}
    assert rows["vqgan-tiny"]["tokens_per_image"] == 16 and rows["msvq-tiny"]["tokens_per_image"] == 1 + 4 + 16
    assert rows["vae-tiny"]["bits_per_token"] is None and rows["vae-tiny"]["utilization"] is None
    assert rows["vae-tiny"]["head"] == "diffusion" and rows["msvq-tiny"]["order"] == "next-scale"
    for name in ("vqgan-tiny", "msvq-tiny", "vae-tiny"):
        assert rows[name]["rfid"] > 0 and rows[name]["gfid"] > 0
        gen = summary["results"][name]["generation"]  # 5 images: one held out, too few for the floor
        assert rows[name]["gfid_floor"] is None and "2 held-out" in gen["probe"]["not_defined"]["gfid_floor"]
    assert 0 <= rows["vqgan-tiny"]["change@10dB"] <= 1 and rows["vae-tiny"]["change@10dB"] > 0  # latent relative change
    assert json.loads((out / "compare.json").read_text())["rows"] == summary["rows"]
    assert (out / "recon_vs_generation.png").stat().st_size > 10_000
