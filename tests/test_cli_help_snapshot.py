"""``--help`` of every command equals tests/fixtures/cli_help/ (a deliberate record of the CLI).

After an intended change to an option, a help text or a command: ``python tests/make_cli_help_snapshot.py``
and commit the changed snapshot files with the change."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

_SPEC = importlib.util.spec_from_file_location(
    "make_cli_help_snapshot", Path(__file__).with_name("make_cli_help_snapshot.py")
)
snapshot = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(snapshot)


@pytest.fixture(scope="module")
def current() -> dict[str, str]:
    return snapshot.render_all()


def test_help_matches_snapshot(current):
    diffs = snapshot.differences(current, snapshot.stored())
    hint = f"the CLI help changed; if intended, update the snapshot: {snapshot.UPDATE_COMMAND}"
    assert not diffs, "".join(diffs) + "\n" + hint


def test_snapshot_covers_every_command(current):
    assert "tokkit.txt" in current and "tokkit.eval.recon.txt" in current
    assert set(current) == set(snapshot.stored())


def test_rendering_is_deterministic(current):
    assert snapshot.render_all() == current
    assert all("\x1b" not in text for text in current.values())  # no colour codes
    widths = {len(line) for text in current.values() for line in text.splitlines()}
    assert max(widths) <= snapshot.WIDTH
