"""Logging: structlog to stderr, JSON lines when not on a terminal (or when asked)."""

from __future__ import annotations

import logging
import sys
from typing import Any

import structlog


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # Resolve sys.stderr per logger, not once at configure time: test runners and CliRunner
    # swap (and close) the stream, and a logger must not keep writing to a closed one.
    return structlog.PrintLogger(sys.stderr)


def configure_logging(level: str = "INFO", json: bool | None = None) -> None:
    """Configure structlog for the process: ``level`` filters, ``json`` picks JSON lines
    (default: JSON unless stderr is a terminal)."""
    if json is None:
        json = not sys.stderr.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=False,
    )
