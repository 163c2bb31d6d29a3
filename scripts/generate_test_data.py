"""The guide's `python scripts/generate_test_data.py [options]`: the `milkbot generate-data`
command under another name, with the same options (see `--help`)."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

try:
    from milkbot.cli.generate import generate_data
except ModuleNotFoundError:  # run from a checkout without installing the package
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from milkbot.cli.generate import generate_data

app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
app.command()(generate_data)

if __name__ == "__main__":
    app()
