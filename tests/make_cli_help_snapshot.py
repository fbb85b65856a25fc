"""Render ``--help`` of every tokkit command and subcommand; write or check tests/fixtures/cli_help/.

The snapshot is a deliberate record of the CLI: a change to an option, a help text or a command shows
up as a diff of these files in review. After an intended change, update it with

    python tests/make_cli_help_snapshot.py

(``--check`` compares instead and exits 1 with a unified diff; tests/test_cli_help_snapshot.py runs that.)

Rendering is forced deterministic: 100 columns, no colour, no terminal, whatever the calling shell has.
The environment is fixed before typer is imported (typer reads TERMINAL_WIDTH at import time), so the
rendering runs in a fresh interpreter: ``render_all()`` starts one.
"""

from __future__ import annotations

import difflib
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT_DIR = ROOT / "tests" / "fixtures" / "cli_help"
UPDATE_COMMAND = "python tests/make_cli_help_snapshot.py"
WIDTH = 100
FORCED_ENV = {
    "TERMINAL_WIDTH": str(WIDTH),
    "COLUMNS": str(WIDTH),
    "LINES": "50",
    "NO_COLOR": "1",
    "TERM": "dumb",
    "_TYPER_FORCE_DISABLE_TERMINAL": "1",
}
UNSET_ENV = ("FORCE_COLOR", "PY_COLORS", "GITHUB_ACTIONS", "CLICOLOR_FORCE", "TTY_COMPATIBLE", "TTY_INTERACTIVE")


def file_name(path: list[str]) -> str:
    """``tokkit eval recon`` -> ``tokkit.eval.recon.txt``."""
    return ".".join(["tokkit", *path]) + ".txt"


def _render_here() -> dict[str, str]:
    """{file name: help text} for every command; run only in an interpreter started with FORCED_ENV."""
    from typer.main import get_command
    from typer.testing import CliRunner

    from tokkit_cli.app import app

    def walk(cmd, path):
        yield path
        for name, sub in sorted((getattr(cmd, "commands", None) or {}).items()):
            if not getattr(sub, "hidden", False):
                yield from walk(sub, [*path, name])

    runner = CliRunner()
    env = {**FORCED_ENV, **{k: None for k in UNSET_ENV}}
    out = {}
    for path in walk(get_command(app), []):
        r = runner.invoke(app, [*path, "--help"], prog_name="tokkit", env=env, color=False)
        if r.exit_code != 0:
            raise SystemExit(f"tokkit {' '.join(path)} --help exited {r.exit_code}: {r.output}")
        out[file_name(path)] = "\n".join(line.rstrip() for line in r.stdout.splitlines()) + "\n"
    return out


def render_all() -> dict[str, str]:
    """{file name: help text}, rendered in a fresh interpreter under the forced environment."""
    env = {k: v for k, v in os.environ.items() if k not in UNSET_ENV}
    env.update(FORCED_ENV)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    r = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), "--render-json"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        check=False,
    )
    if r.returncode != 0:
        raise RuntimeError(f"rendering the help failed ({r.returncode}):\n{r.stderr}")
    return json.loads(r.stdout)


def stored() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in sorted(SNAPSHOT_DIR.glob("*.txt"))}


def differences(current: dict[str, str], snapshot: dict[str, str]) -> list[str]:
    """One unified diff per file that differs, appears or disappears."""
    diffs = []
    for name in sorted(set(current) | set(snapshot)):
        old, new = snapshot.get(name), current.get(name)
        if old == new:
            continue
        diff = difflib.unified_diff(
            (old or "").splitlines(keepends=True),
            (new or "").splitlines(keepends=True),
            fromfile=f"snapshot/{name}" if old is not None else "/dev/null (no snapshot)",
            tofile=f"current/{name}" if new is not None else "/dev/null (command gone)",
        )
        diffs.append("".join(diff))
    return diffs


def write(current: dict[str, str]) -> None:
    SNAPSHOT_DIR.mkdir(parents=True, exist_ok=True)
    for p in SNAPSHOT_DIR.glob("*.txt"):
        if p.name not in current:
            p.unlink()
    for name, text in current.items():
        (SNAPSHOT_DIR / name).write_text(text, encoding="utf-8")


def main(argv: list[str]) -> int:
    if argv == ["--render-json"]:
        sys.stdout.write(json.dumps(_render_here()))
        return 0
    current = render_all()
    if argv == ["--check"]:
        diffs = differences(current, stored())
        if diffs:
            print("".join(diffs) + f"\nthe CLI help changed; if intended, update the snapshot: {UPDATE_COMMAND}")
            return 1
        print(f"{len(current)} help texts match {SNAPSHOT_DIR.relative_to(ROOT)}")
        return 0
    if argv:
        print(__doc__)
        return 2
    write(current)
    print(f"wrote {len(current)} help texts to {SNAPSHOT_DIR.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
