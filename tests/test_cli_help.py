"""Every `milkbot` command, found by walking the command tree, has clean help."""

from __future__ import annotations

from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from milkbot.cli.main import app


def _paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = [prefix]
    if hasattr(command, "commands"):  # a group (typer's own click, not always click.Group)
        for name, sub in sorted(command.commands.items()):
            found += _paths(sub, (*prefix, name))
    return found


COMMANDS = _paths(typer.main.get_command(app))


def test_the_walk_finds_the_commands() -> None:
    assert {("up",), ("db", "env"), ("perf", "loadtest"), ("alerts", "check")} <= set(COMMANDS)


@pytest.mark.parametrize("path", COMMANDS, ids=lambda p: " ".join(p) or "milkbot")
def test_help_is_clean(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(app, [*path, "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "<bool>" not in result.output  # no type noise beside flags
    assert "issue " not in result.output.lower()
