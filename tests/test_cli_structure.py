"""The layout of tokkit_cli, checked: one module per command, command bodies of at most 40 lines, tables
only in tokkit_cli/render/, option aliases only in tokkit_cli/options.py, imports one way
(app -> commands -> render/options/console), and ``tokkit --help`` loads neither torch nor the renderers.
How to add a command: CONTRIBUTING.md, "Adding a CLI command"."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CLI = ROOT / "tokkit_cli"
MAX_BODY_LINES = 40


def _modules(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def _imports(path: Path) -> list[str]:
    """Every module a file imports, at any depth (function-level imports count)."""
    names = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names += [node.module] + [f"{node.module}.{a.name}" for a in node.names]
    return names


def _commands():
    """(command path, original function) for every leaf command of the tokkit app."""
    from typer.main import get_command

    from tokkit_cli.app import app

    def walk(cmd, path):
        sub = getattr(cmd, "commands", None)
        if sub:
            for name, c in sub.items():
                yield from walk(c, [*path, name])
        else:
            yield " ".join(path), inspect.unwrap(cmd.callback)

    return list(walk(get_command(app), []))


def test_one_module_per_command():
    found = _commands()
    assert len(found) >= 15
    modules = [fn.__module__ for _, fn in found]
    for path, fn in found:
        assert fn.__module__.startswith("tokkit_cli.commands."), path
        assert fn.__qualname__ == "command", f"tokkit {path}: the command function of its module is named 'command'"
    assert len(set(modules)) == len(modules), "two commands share a module"


def test_command_bodies_are_at_most_40_lines():
    """The lines after the signature's closing ``) -> None:`` (docstring included); options do not count."""
    too_long = []
    for path, fn in _commands():
        file = Path(inspect.getsourcefile(fn))
        tree = ast.parse(file.read_text())
        node = next(
            n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.lineno == fn.__code__.co_firstlineno
        )
        body = node.end_lineno - node.body[0].lineno + 1
        if body > MAX_BODY_LINES:
            too_long.append(f"tokkit {path} ({file.relative_to(ROOT)}:{node.name}): {body} lines")
    assert not too_long, (
        f"command bodies over {MAX_BODY_LINES} lines (move rendering to tokkit_cli/render/, logic to tokkit/): "
        + "; ".join(too_long)
    )


def test_no_rendering_in_commands():
    """Commands hand their result to tokkit_cli.render.show; rich and the console are the renderers' business."""
    offenders = []
    for path in _modules(CLI / "commands"):
        tree = ast.parse(path.read_text())
        bad = [m for m in _imports(path) if m.split(".")[0] == "rich" or m.startswith("tokkit_cli.console")]
        bad += [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in ("Table", "stdout", "print_json")]
        bad += [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "print"]
        if bad:
            offenders.append(f"{path.relative_to(ROOT)}: {sorted(set(bad))}")
    assert not offenders, "rendering belongs in tokkit_cli/render/: " + "; ".join(offenders)


def test_option_aliases_only_in_options_module():
    offenders = []
    for path in _modules(CLI):
        if path == CLI / "options.py":
            continue
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
            for t in targets:
                if isinstance(t, ast.Name) and (t.id.endswith("Opt") or t.id.endswith("Arg")):
                    offenders.append(f"{path.relative_to(ROOT)}: {t.id}")
    assert not offenders, "declare option aliases in tokkit_cli/options.py: " + "; ".join(offenders)


@pytest.mark.parametrize(
    ("folder", "forbidden"),
    [
        ("render", ("tokkit_cli.commands", "tokkit_cli.app", "tokkit_cli.options", "typer")),
        ("commands", ("tokkit_cli.app",)),
    ],
)
def test_imports_go_one_way(folder, forbidden):
    """app -> commands -> render | options | console; render -> console; nothing imports back up."""
    offenders = [
        f"{p.relative_to(ROOT)} imports {m}"
        for p in _modules(CLI / folder)
        for m in _imports(p)
        if any(m == f or m.startswith(f + ".") for f in forbidden)
    ]
    for p in _modules(CLI / "render") + [CLI / "console.py", CLI / "options.py"]:
        offenders += [f"{p.relative_to(ROOT)} imports {m}" for m in _imports(p) if m.startswith("tokkit_cli.commands")]
    assert not offenders, "; ".join(offenders)


def test_help_imports_no_torch_and_no_renderer():
    code = (
        "import sys\n"
        "from tokkit_cli.app import app\n"
        "heavy = [m for m in sys.modules if m.split('.')[0] in ('torch', 'numpy', 'h5py')\n"
        "         or m.startswith(('tokkit_cli.render', 'rich.table', 'tokkit_cli.console'))]\n"
        "print(sorted(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]", out.stdout
