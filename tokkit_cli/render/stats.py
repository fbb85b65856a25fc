"""``tokkit eval stats``."""

from __future__ import annotations

from typing import Any

from tokkit_cli.render.common import key_value_table, print_warnings


def render_stats(result: dict[str, Any]) -> None:
    """What was written, from how many images, in which feature space and crop."""
    p = result["protocol"]
    key_value_table(
        "reference statistics",
        [("file", result["out"]), ("images", result["num_images"]), ("feature dim", result["feature_dim"]),
         ("features", p["features"]["spec"]), ("crop", p["crop"]), ("data fingerprint", p["data_fingerprint"])],
    )  # fmt: skip
    print_warnings(result)
