"""Wording of the messages people read (CLI output, status messages)."""

from __future__ import annotations


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """``count`` and ``noun``, the noun in the plural unless the count is one: ``1 trade``,
    ``2,000 trades``, ``0 trades`` (thousands separated; ``plural_noun`` for irregular nouns)."""
    word = noun if count == 1 else (plural_noun or noun + "s")
    return f"{count:,} {word}"
