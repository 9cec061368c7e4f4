"""The `llmkit` command line as a user first meets it: --help, --version, every command's help with
a runnable example. Commands are discovered from the app, so a newly registered one is covered."""

import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from llmkit import __version__
from llmkit.cli.app import app

REPO = Path(__file__).resolve().parents[2]


def _walk(command, path: tuple[str, ...] = ()):
    """(path, command) for every group and command below `command`."""
    for name, sub in sorted(getattr(command, "commands", {}).items()):
        yield (*path, name), sub
        yield from _walk(sub, (*path, name))


ROOT = typer.main.get_command(app)
ALL = dict(_walk(ROOT))
LEAVES = [path for path, cmd in ALL.items() if not getattr(cmd, "commands", None)]
GROUPS = [path for path, cmd in ALL.items() if getattr(cmd, "commands", None)]


def _flat(text: str) -> str:
    """Help text with rich's line wrapping undone."""
    return " ".join(text.split())


def test_help_lists_every_command(cli):
    result = cli("--help")
    assert result.exit_code == 0
    listed = set(re.findall(r"│ (\w[\w-]*) ", result.output))
    assert {path[0] for path in ALL} <= listed
    assert {"preprocess", "tokenizer", "config"} <= listed  # the foundation's commands


def test_version_prints_the_package_version(cli):
    result = cli("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"llmkit {__version__}"
    assert importlib.metadata.version("llmkit") == __version__


@pytest.mark.parametrize("path", LEAVES, ids=" ".join)
def test_every_command_help_runs_and_shows_an_example(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    assert f"Example: llmkit {' '.join(path)}" in _flat(result.output)


@pytest.mark.parametrize("path", GROUPS, ids=" ".join)
def test_every_command_group_lists_its_subcommands(cli, path):
    result = cli(*path, "--help")
    assert result.exit_code == 0, result.output
    for name in ALL[path].commands:
        assert re.search(rf"│ {re.escape(name)} ", result.output), name


def test_config_files_named_in_help_examples_exist():
    mentioned = set()
    for cmd in ALL.values():
        mentioned |= set(re.findall(r"configs/[\w./-]+\.yaml", cmd.epilog or ""))
    missing = sorted(name for name in mentioned if not (REPO / name).is_file())
    assert not missing, f"help examples name configs that do not ship: {missing}"


def test_unknown_command_exits_2_with_usage(cli):
    result = cli("pretrian")
    assert result.exit_code == 2
    assert "No such command" in result.output


def test_help_does_not_import_the_heavy_libraries():
    code = (
        "import sys\n"
        "from llmkit.cli.app import app\n"
        "try:\n    app(['--help'], prog_name='llmkit')\n"
        "except SystemExit:\n    pass\n"
        "heavy = ('torch', 'transformers', 'datasets', 'tokenizers', 'accelerate')\n"
        "print('HEAVY:' + ','.join(m for m in heavy if m in sys.modules))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip().splitlines()[-1] == "HEAVY:"
