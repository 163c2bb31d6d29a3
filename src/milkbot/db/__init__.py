"""Database access: where the server is (embedded or external), migrations and pools."""

from milkbot.db.connect import database_url, open_database

__all__ = ["database_url", "open_database"]
