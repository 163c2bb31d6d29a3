"""Counts in messages take the right plural ("1 trade", not "1 trades")."""

from __future__ import annotations

import pytest

from milkbot.words import plural


@pytest.mark.parametrize(
    ("count", "words"),
    [(0, "0 trades"), (1, "1 trade"), (2, "2 trades"), (20_000, "20,000 trades")],
)
def test_plural_takes_the_count_into_account(count: int, words: str) -> None:
    assert plural(count, "trade") == words
    assert plural(count, "query", "queries").endswith("query" if count == 1 else "queries")
