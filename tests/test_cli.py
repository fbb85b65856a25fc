import json
import subprocess
import sys

from tokkit import __version__


def test_help_lists_command_groups(cli):
    r = cli("--help")
    assert r.exit_code == 0
    for group in ("data", "list"):
        assert group in r.stdout


def test_version(cli):
    r = cli("--version")
    assert r.exit_code == 0 and r.stdout.strip() == f"tokkit {__version__}"


def test_usage_error_is_one_line_exit_2(cli):
    r = cli("data", "info", "builtin:shapes", "--no-such-flag")
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "no-such-flag" in lines[0]


def test_unknown_dataset_suggests_and_exits_2(cli):
    r = cli("data", "info", "builtin:photoz")
    assert r.exit_code == 2
    assert "did you mean 'builtin:photos'" in r.stderr
    assert "Traceback" not in r.stderr


def test_expected_failure_is_one_line_exit_1(cli, tmp_path):
    r = cli("data", "info", str(tmp_path / "missing"))
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: no such data")


def test_debug_env_shows_traceback(cli, tmp_path):
    r = cli("data", "info", str(tmp_path / "missing"), env={"TOKKIT_DEBUG": "1"})
    assert r.exit_code == 1 and "Traceback" in r.stderr


def test_json_prints_exactly_one_object(cli):
    r = cli("data", "info", "builtin:shapes:n=5,size=16", "--json")
    assert r.exit_code == 0, r.stderr
    obj = json.loads(r.stdout)  # the whole of stdout is one JSON document
    assert obj["num_images"] == 5 and obj["min_size"] == [16, 16]


def test_every_command_has_common_options_and_example(cli):
    from typer.main import get_command

    from tokkit_cli.app import app

    def leaves(cmd, path):
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, c in sub.items():
                yield from leaves(c, [*path, name])
        else:
            yield path, cmd

    found = list(leaves(get_command(app), []))
    assert len(found) >= 3
    for path, cmd in found:
        opts = {o for p in cmd.params for o in getattr(p, "opts", [])}
        assert {"--json", "--seed", "--device"} <= opts, path
        assert "Example:" in (cmd.help or ""), path
        r = cli(*path, "--help")
        assert r.exit_code == 0 and "Example" in r.stdout


def test_module_entry_point():
    out = subprocess.run([sys.executable, "-m", "tokkit_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and __version__ in out.stdout
