"""Resolve the database a command works on: ``MILKBOT_DATABASE_URL``, or the embedded server."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from milkbot.db.embedded import EmbeddedPostgres
from milkbot.settings import Settings


@contextmanager
def open_database(settings: Settings) -> Iterator[str]:
    """Yield a libpq URL for the application database.

    With ``settings.database_url`` set, that URL as is. Otherwise the embedded server under
    ``settings.home`` is started (or reused if another Milkbot process runs it) and released on
    exit; the server stops when its last user is gone.
    """
    if settings.database_url:
        yield settings.database_url
        return
    server = EmbeddedPostgres(settings.home)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


def database_url(settings: Settings) -> str:
    """The URL commands print (``milkbot db url``): external, or the embedded server's socket."""
    if settings.database_url:
        return settings.database_url
    return EmbeddedPostgres(settings.home).start()
