"""Logging: structlog to stderr, readable console lines or JSON lines (MILKBOT_LOG_FORMAT)."""

from __future__ import annotations

import logging
import sys
from typing import Any, Literal, TextIO

import structlog

# MILKBOT_LOG_FORMAT: "console" for people (one readable line per event), "json" for log
# collectors (one JSON object per line).
LogFormat = Literal["console", "json"]


def _stderr_logger(*_args: Any) -> structlog.PrintLogger:
    # Resolve sys.stderr per logger, not once at configure time: test runners and CliRunner
    # swap (and close) the stream, and a logger must not keep writing to a closed one.
    return structlog.PrintLogger(sys.stderr)


def configure_logging(
    level: str = "INFO", fmt: LogFormat = "console", stream: TextIO | None = None
) -> None:
    """Configure structlog for the process: ``level`` filters, ``fmt`` picks console lines
    (coloured only on a terminal) or JSON lines, written to ``stream`` (default: stderr)."""
    out = stream or sys.stderr
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # No colour codes in a file or a pipe: they would be noise to whoever reads it.
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(stream) if stream else _stderr_logger,
        cache_logger_on_first_use=False,
    )
