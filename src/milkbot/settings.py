"""Milkbot's one typed settings object.

Every value comes from an environment variable with the ``MILKBOT_`` prefix (or an optional
``.env`` file in the working directory). A bad value stops the program at start with a message
that names the variable and the form it expects (see :func:`load_settings`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import platformdirs
import psycopg
from psycopg.conninfo import conninfo_to_dict
from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from milkbot.logs import LogFormat

ENV_PREFIX = "MILKBOT_"
# Seconds a heartbeat may be dated ahead of the database clock (the write path's default too).
HEARTBEAT_MAX_SKEW_S = 60
# The original bot's bankroll ($992.10): the default of the setting, the simulator and the
# generator (whose seeded output depends on it).
STARTING_BANKROLL_CENTS = 99_210


MIN_TOKEN_LENGTH = 32


def read_token_file(path: Path) -> str:
    """The secret in ``path``: the file must be readable by its owner only (no group or other
    permission bits) and hold at least MIN_TOKEN_LENGTH characters (surrounding space ignored)."""
    try:
        mode = path.stat().st_mode
        text = path.read_text().strip()
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    if mode & 0o077:
        raise ValueError(f"{path} is readable by others (mode {mode & 0o777:o}): chmod 600 it")
    if len(text) < MIN_TOKEN_LENGTH:
        raise ValueError(f"{path} must hold a token of at least {MIN_TOKEN_LENGTH} characters")
    return text


def default_home() -> Path:
    """Directory that holds the embedded database and other local state: the per-user data
    directory, or /var/lib/milkbot for root (the database server then runs as a system user,
    which must be able to reach it without loosening /root)."""
    return state_dir("milkbot", cache=False)


def state_dir(name: str, *, cache: bool) -> Path:
    """A per-user data (or cache) directory named ``name``; for root, under /var/lib (or
    /var/cache), which the embedded server's system user can reach."""
    if os.geteuid() == 0:
        return Path("/var/cache" if cache else "/var/lib") / name
    if cache:
        return Path(platformdirs.user_cache_dir(name, appauthor=False))
    return Path(platformdirs.user_data_dir(name, appauthor=False))


class Settings(BaseSettings):
    """All of Milkbot's configuration. Field descriptions double as the README's settings table."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        frozen=True,
    )

    database_url: str | None = Field(
        default=None,
        description=(
            "PostgreSQL URL (postgresql://user@host:port/db). Unset: Milkbot starts its own "
            "embedded PostgreSQL 18 under MILKBOT_HOME."
        ),
    )
    home: Path = Field(
        default_factory=default_home,
        description="Directory for the embedded database and other local state.",
    )
    pool_size: Annotated[int, Field(ge=1, le=500)] = Field(
        default=20, description="Connections the pool keeps open (guide: SQLALCHEMY_POOL_SIZE)."
    )
    max_overflow: Annotated[int, Field(ge=0, le=500)] = Field(
        default=10,
        description="Extra connections the pool may open under load (guide: SQLALCHEMY_MAX_OVERFLOW).",
    )
    pool_timeout: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=30.0,
        description="Seconds a caller waits for a free connection before a clear error.",
    )
    statement_timeout_ms: Annotated[int, Field(ge=0, le=3_600_000)] = Field(
        default=10_000,
        description="Server-side statement timeout in ms for app queries (0 = none).",
    )
    lock_timeout_ms: Annotated[int, Field(ge=0, le=3_600_000)] = Field(
        default=2_000,
        description=(
            "Server-side lock timeout in ms for app reads: a read blocked behind maintenance "
            "answers 503 database_busy after it (0 = none)."
        ),
    )
    connect_timeout_s: Annotated[int, Field(ge=2, le=300)] = Field(
        default=2,
        description=(
            "Seconds a connection attempt to the database may take (libpq connect_timeout; "
            "whole seconds, at least 2)."
        ),
    )
    health_timeout_s: Annotated[float, Field(gt=0, le=60)] = Field(
        default=1.0,
        description=(
            "Seconds /health may take: slower, or no connection within it, reports unhealthy."
        ),
    )
    cache_ttl: Annotated[float, Field(ge=0, le=3600)] = Field(
        default=5.0,
        description=(
            "Seconds an analytics result stays cached, and the list of public accounts the"
            " queries resolve names from (0 keeps neither)."
        ),
    )
    public_delay_minutes: Annotated[int, Field(ge=0, le=10_080)] = Field(
        default=0,
        description=(
            "Minutes this server holds every public trade back at least, on top of each"
            " account's own delay (ops.accounts.public_delay_minutes, set by an operator):"
            " it can lengthen the delay, never shorten it."
        ),
    )
    starting_bankroll_cents: Annotated[int, Field(gt=0)] = Field(
        default=STARTING_BANKROLL_CENTS,
        description="Starting bankroll in cents (the original bot's $992.10).",
    )
    primary_account: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,62}$")] = Field(
        default="default",
        description=(
            "The account every analytics query and page describes unless told another "
            "(ops.accounts.name)."
        ),
    )
    # Resolved (and a name that does not resolve refused) when the server starts, not here:
    # commands that do not serve must not depend on name resolution (see cli/serve.py).
    host: str = Field(
        default="127.0.0.1",
        description=(
            "Address the web server binds: an IP address (127.0.0.1, 0.0.0.0, ::1) or a host "
            "name resolved when the server starts, IPv4 first (localhost = 127.0.0.1)."
        ),
    )
    port: Annotated[int, Field(ge=1, le=65535)] = Field(
        default=8501, description="Port the web server binds."
    )
    workers: Annotated[int, Field(ge=1, le=64)] = Field(
        default=1, description="Web server worker processes."
    )
    refresh_seconds: Annotated[int, Field(ge=0, le=3600)] = Field(
        default=15, description="Dashboard auto-refresh interval in seconds (0 = off)."
    )
    simulator: bool = Field(
        default=True, description="Run the paper-trading simulator in `milkbot up`."
    )
    simulator_interval: Annotated[float, Field(gt=0, le=3600)] = Field(
        default=5.0, description="Seconds between simulator cycles."
    )
    demo_trades: Annotated[int, Field(ge=0, le=50_000_000)] = Field(
        default=20_000,
        description="Trades `milkbot up` generates when the database is empty (about a year).",
    )
    log_level: str = Field(default="INFO", description="Log level: DEBUG, INFO, WARNING, ERROR.")
    log_format: LogFormat = Field(
        default="console",
        description=(
            "Log lines on stderr: console (one readable line per event) or json (one JSON "
            "object per line, for a log collector)."
        ),
    )
    # Health thresholds, in seconds of age: at or below *_degraded is healthy, above
    # *_unhealthy is unhealthy, in between degraded.
    trader_degraded_s: Annotated[int, Field(gt=0)] = Field(
        default=120, description="Trader heartbeat age (s) above which health is degraded."
    )
    trader_unhealthy_s: Annotated[int, Field(gt=0)] = Field(
        default=600, description="Trader heartbeat age (s) above which health is unhealthy."
    )
    market_data_degraded_s: Annotated[int, Field(gt=0)] = Field(
        default=300, description="Market-data age (s) above which health is degraded."
    )
    market_data_unhealthy_s: Annotated[int, Field(gt=0)] = Field(
        default=1800, description="Market-data age (s) above which health is unhealthy."
    )
    analytics_degraded_s: Annotated[int, Field(gt=0)] = Field(
        default=600, description="Analytics freshness (s) above which health is degraded."
    )
    analytics_unhealthy_s: Annotated[int, Field(gt=0)] = Field(
        default=3600, description="Analytics freshness (s) above which health is unhealthy."
    )
    session_hours: Annotated[int, Field(ge=1, le=720)] = Field(
        default=12, description="Hours an operator stays signed in (then signs in again)."
    )
    metrics_token_file: Path | None = Field(
        default=None,
        description=(
            "A file (mode 0600 or stricter) holding the bearer token that lets Prometheus read"
            " /metrics without signing in (at least 32 characters); unset: operators only."
        ),
    )
    heartbeat_max_skew_s: Annotated[int, Field(ge=0, le=86_400)] = Field(
        default=HEARTBEAT_MAX_SKEW_S,
        description=(
            "Seconds a heartbeat's observed_at may lie ahead of the database clock; a later "
            "one is refused (clock_skew)."
        ),
    )

    @field_validator("database_url")
    @classmethod
    def _check_url(cls, value: str | None) -> str | None:
        if value is None or value.strip() == "":
            return None
        try:
            conninfo_to_dict(value)
        except psycopg.ProgrammingError as exc:
            raise ValueError(
                "must be a PostgreSQL URL (postgresql://user@host:5432/db) or libpq conninfo "
                f"(host=... dbname=...): {exc}"
            ) from None
        return value

    @field_validator("metrics_token_file")
    @classmethod
    def _check_token_file(cls, value: Path | None) -> Path | None:
        if value is None or str(value).strip() == "":
            return None
        read_token_file(value)
        return value

    @property
    def metrics_token(self) -> str | None:
        """The token of ``metrics_token_file``, read afresh (so it can be rotated in place)."""
        if self.metrics_token_file is None:
            return None
        try:
            return read_token_file(self.metrics_token_file)
        except ValueError:
            return None  # removed or loosened since the start: nobody gets in by token

    @field_validator("log_format", mode="before")
    @classmethod
    def _lower_format(cls, value: object) -> object:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("log_level")
    @classmethod
    def _check_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR")
        return level

    @property
    def pool_max_size(self) -> int:
        """Upper bound of open connections: pool_size + max_overflow."""
        return self.pool_size + self.max_overflow


class SettingsError(Exception):
    """A setting has a bad value; the message names the variable and the expected form."""


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment (and ``.env``), turning validation errors into one
    readable message per bad variable, e.g. ``MILKBOT_PORT: Input should be a valid integer``.
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            field = str(err["loc"][0]) if err["loc"] else "?"
            got = err.get("input")
            lines.append(f"{ENV_PREFIX}{field.upper()}={got!r}: {err['msg']}")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
