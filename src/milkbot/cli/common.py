"""What every CLI command shares: settings from the environment, logging, and the database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import typer

from milkbot.db.connect import open_database
from milkbot.db.embedded import EmbeddedError, install_signal_exit
from milkbot.db.migrate import apply_migrations
from milkbot.logs import configure_logging
from milkbot.settings import Settings, SettingsError, load_settings


def get_settings(**overrides: object) -> Settings:
    """Settings from the environment; a bad value ends the program with a message naming it."""
    try:
        settings = load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(2) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


@contextmanager
def database(settings: Settings, migrate: bool = True) -> Iterator[str]:
    """The database URL for a command: the configured server or the embedded one (started or
    reused, released on exit), migrated unless ``migrate`` is False."""
    install_signal_exit()
    try:
        with open_database(settings) as url:
            if migrate:
                apply_migrations(url)
            yield url
    except EmbeddedError as exc:
        typer.secho(str(exc), fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None
    except psycopg.OperationalError as exc:
        where = "MILKBOT_DATABASE_URL" if settings.database_url else "the embedded server"
        typer.secho(f"cannot reach the database ({where}): {exc}", fg=typer.colors.RED, err=True)
        raise typer.Exit(1) from None


def utc_minute(when: datetime | None) -> str:
    """``when`` in UTC to the minute, for listings ("-" for never)."""
    return "-" if when is None else f"{when.astimezone(UTC):%Y-%m-%d %H:%M} UTC"
