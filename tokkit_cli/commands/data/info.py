"""``tokkit data info``."""

from __future__ import annotations

from tokkit_cli.options import DeviceOpt, JsonOpt, SeedOpt, SpecArg, VerifyOpt, session


def command(
    spec: SpecArg, verify: VerifyOpt = False, json: JsonOpt = False, seed: SeedOpt = 0, device: DeviceOpt = "auto"
) -> None:
    """Count images, name unreadable ones, report min/max size and the class count.

    A folder is read by headers only (fast at ImageNet scale); --verify decodes every file.

    Example: tokkit data info builtin:photos --json
    """
    from tokkit.data.pack import data_info
    from tokkit_cli.render import show
    from tokkit_cli.render.data import render_info

    with session(seed):
        result = data_info(spec, verify=verify).to_dict()
    show(result, json, render_info, spec)
