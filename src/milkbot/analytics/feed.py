"""The public, disclosure-delayed trade feed (docs/DOMAIN.md, "Public disclosure").

Reads only the view ``analytics.public_trades``, which hides every trade younger than its
account's public delay (``ops.accounts.public_delay_minutes``, set by an operator), every trade
of a private account, and carries no order ids, strategy or model internals; the query adds the
caller's delay (the server's MILKBOT_PUBLIC_DELAY_MINUTES) on top, so the stricter holds.
Every public account's trades, or one account's. Newest first (the view's own order), paged
by a cursor that holds only a minute and how many of that minute's trades were listed (no
seconds, no trade ids: nothing finer than the feed shows): the next page seeks to the end of
that minute in the index ``trades_created_idx`` (``trades_city_created_idx`` with a city,
``trades_account_created_idx`` with an account) and skips the minute's trades already listed,
so page 1,000 costs what page 1 does. A trade recorded late into a minute already paged past
shifts that minute's rest by one. Each trade names its account: the query returns the
account's id, and the page's few ids are named afterwards (by the service's account
directory, else one lookup by primary key for the page).
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from psycopg import AsyncConnection

from milkbot.analytics.queries import Account, resolve_account
from milkbot.analytics.results import AccountRef, PublicTrade, PublicTradePage
from milkbot.analytics.window import AnalyticsInputError
from milkbot.money import price_dollars, to_count

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500

_SELECT = """
SELECT executed_at, seq, time, account_id, city, ticker, side, action, quantity_centi,
       price_micros
FROM analytics.public_trades
WHERE executed_at <= now() - make_interval(mins => %(delay)s)
  AND (%(side)s::text IS NULL OR side = %(side)s::text)"""
_ACCOUNT = "\n  AND account_id = %(account_id)s"
# After a cursor: the trades of its minute and older, less the ones of its minute already
# listed (the cursor says how many).
_AFTER = "\n  AND executed_at < %(before)s"
_CITY = "\n  AND city = %(city)s"
# No ORDER BY here: the view returns newest first (migration 0003 explains why the order lives
# there); an outer ORDER BY would make PostgreSQL sort every visible trade instead.
_LIMIT = "\nLIMIT %(limit)s OFFSET %(skip)s"

# One text per shape, so each gets its own (prepared) plan: the city filter must be an index
# condition on trades_city_created_idx, which a "city IS NULL OR ..." test would prevent (and
# the account filter one on trades_account_created_idx).
PUBLIC_TRADES_SQL: Final = _SELECT + _LIMIT
PUBLIC_TRADES_AFTER_SQL: Final = _SELECT + _AFTER + _LIMIT
PUBLIC_TRADES_CITY_SQL: Final = _SELECT + _CITY + _LIMIT
PUBLIC_TRADES_CITY_AFTER_SQL: Final = _SELECT + _CITY + _AFTER + _LIMIT
PUBLIC_TRADES_ACCOUNT_SQL: Final = _SELECT + _ACCOUNT + _LIMIT
PUBLIC_TRADES_ACCOUNT_AFTER_SQL: Final = _SELECT + _ACCOUNT + _AFTER + _LIMIT
PUBLIC_TRADES_ACCOUNT_CITY_SQL: Final = _SELECT + _ACCOUNT + _CITY + _LIMIT
PUBLIC_TRADES_ACCOUNT_CITY_AFTER_SQL: Final = _SELECT + _ACCOUNT + _CITY + _AFTER + _LIMIT
# (account?, city?, after?) -> the text.
_SHAPES: Final = {
    (False, False, False): PUBLIC_TRADES_SQL,
    (False, False, True): PUBLIC_TRADES_AFTER_SQL,
    (False, True, False): PUBLIC_TRADES_CITY_SQL,
    (False, True, True): PUBLIC_TRADES_CITY_AFTER_SQL,
    (True, False, False): PUBLIC_TRADES_ACCOUNT_SQL,
    (True, False, True): PUBLIC_TRADES_ACCOUNT_AFTER_SQL,
    (True, True, False): PUBLIC_TRADES_ACCOUNT_CITY_SQL,
    (True, True, True): PUBLIC_TRADES_ACCOUNT_CITY_AFTER_SQL,
}

LEAST_DELAY_SQL: Final = (
    "SELECT coalesce(min(public_delay_minutes), 0) FROM ops.accounts WHERE is_public"
)
ACCOUNT_NAMES_SQL: Final = "SELECT id, name FROM ops.accounts WHERE id = ANY(%s)"

AccountNames = Callable[[AsyncConnection[Any], Collection[int]], Awaitable[Mapping[int, str]]]
"""``names(conn, ids)``: the names of accounts ``ids`` (every one of them)."""


async def account_names(conn: AsyncConnection[Any], ids: Collection[int]) -> dict[int, str]:
    """The names of accounts ``ids``, read from ops.accounts."""
    cur = await conn.execute(ACCOUNT_NAMES_SQL, [list(ids)])
    return {int(i): str(name) for i, name in await cur.fetchall()}


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MINUTE = timedelta(minutes=1)
# Minutes since 1970 and how many of that minute's trades were listed: 12 bytes.
_CURSOR = struct.Struct(">qI")
# A minute's trades of one feed: far more than a platform records a minute.
MAX_SKIP: Final = 10_000_000
_CITY_CODE = re.compile(r"^[A-Z]{3}$")


def encode_cursor(minute: datetime, listed: int) -> str:
    """Opaque cursor for the page after the first ``listed`` trades (newest first) of the
    feed's trades in ``minute`` (a time rounded down to the minute): all it holds is that
    minute and that number, nothing finer about any trade (no seconds, no ids)."""
    minutes = (minute - _EPOCH) // _MINUTE
    return base64.urlsafe_b64encode(_CURSOR.pack(minutes, listed)).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Inverse of :func:`encode_cursor`; anything else raises AnalyticsInputError('cursor')."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        minutes, listed = _CURSOR.unpack(raw)
        minute = _EPOCH + minutes * _MINUTE
        if listed > MAX_SKIP:
            raise ValueError(listed)
        return minute, listed
    except (ValueError, binascii.Error, struct.error, OverflowError):
        raise AnalyticsInputError(
            "cursor", "not a cursor from this feed; send next_cursor as received"
        ) from None


def cursor_after(minutes: Sequence[datetime], after: tuple[datetime, int] | None) -> str:
    """The cursor for the page after the trades whose minutes are ``minutes`` (a page, in its
    order), that page having followed the cursor ``after`` (decoded; None for the first)."""
    last = minutes[-1]
    listed = 0
    for minute in reversed(minutes):
        if minute != last:
            break
        listed += 1
    if listed == len(minutes) and after is not None and after[0] == last:
        listed += after[1]  # the whole page lay in the cursor's minute: count on from it
    return encode_cursor(last, listed)


async def least_public_delay(conn: AsyncConnection[Any]) -> int:
    """The shortest public delay of any public account (minutes; 0 when there is none)."""
    cur = await conn.execute(LEAST_DELAY_SQL)
    row = await cur.fetchone()
    return int(row[0]) if row else 0


def _check(delay_minutes: int, limit: int, city: str | None, side: str | None) -> str | None:
    if delay_minutes < 0:
        raise AnalyticsInputError("delay_minutes", "must be 0 or more")
    if isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise AnalyticsInputError("limit", f"must be from 1 to {MAX_PAGE_SIZE}")
    if side is not None and side not in ("yes", "no"):
        raise AnalyticsInputError("side", "must be 'yes' or 'no'")
    if city is None:
        return None
    code = city.upper()
    if not _CITY_CODE.match(code):
        raise AnalyticsInputError("city", "must be a three-letter city code such as NYC")
    return code


async def read_public_trades(
    conn: AsyncConnection[Any],
    delay_minutes: int,
    limit: int = DEFAULT_PAGE_SIZE,
    cursor: str | None = None,
    city: str | None = None,
    side: str | None = None,
    *,
    account: str | Account | None = None,
    names: AccountNames = account_names,
    least_delay: Callable[[AsyncConnection[Any]], Awaitable[int]] = least_public_delay,
) -> PublicTradePage:
    """One page (``limit`` 1..500, default 100) of trades executed at least ``delay_minutes``
    ago and at least their account's own public delay, newest first, times rounded down to the
    minute (UTC); ``account`` (a public account's name, or the account resolved; None: every
    public account), ``city`` (code) and ``side`` ('yes'/'no') filter it. Pass the returned ``next_cursor`` to get the
    following page; it is ``None`` on the last page. An unknown or private account raises
    UnknownAccountError. ``names`` names the page's accounts (default: from ops.accounts)."""
    code = _check(delay_minutes, limit, city, side)
    params: dict[str, object] = {"delay": delay_minutes, "side": side, "limit": limit + 1}
    ref: AccountRef | None = None
    found: Account | None = None
    if account is not None:
        found = account if isinstance(account, Account) else await resolve_account(conn, account)
        params["account_id"], ref = found.id, found.ref
    after = decode_cursor(cursor) if cursor is not None else None
    params["skip"] = 0
    if after is not None:
        params["before"], params["skip"] = after[0] + _MINUTE, after[1]
    if code is not None:
        params["city"] = code
    query = _SHAPES[(account is not None, code is not None, cursor is not None)]
    cur = await conn.execute(query, params)
    rows = await cur.fetchall()
    next_cursor = None
    if len(rows) > limit:
        rows = rows[:limit]
        next_cursor = cursor_after([row[2] for row in rows], after)
    named = await names(conn, {row[3] for row in rows}) if rows else {}
    # Positional: a frozen dataclass's keyword __init__ costs several times more per row.
    trades = [
        PublicTrade(
            time.astimezone(UTC), named[account_id], row_city, ticker, row_side, action,
            to_count(quantity), price_dollars(price),
        )
        for _, _, time, account_id, row_city, ticker, row_side, action, quantity, price in rows
    ]  # fmt: skip
    # The delay the page honours: the caller's, or the account's own when longer (every
    # public account's: at least the shortest of them).
    own = found.public_delay_minutes if found is not None else await least_delay(conn)
    return PublicTradePage(
        delay_minutes=max(delay_minutes, own),
        account=ref,
        trades=trades,
        next_cursor=next_cursor,
    )
