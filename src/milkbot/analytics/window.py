"""The span of settlement days an analytics query covers, and the input errors it raises.

A window is a closed range of settlement (climate) days ``start..end``. The usual one is the last
N days ending at the latest settlement day; the latest settlement day is today's date in UTC,
because every Milkbot city lies west of Greenwich, so no city's climate day is ever ahead of the
UTC date (markets listed for tomorrow fall outside the window until tomorrow).

Dates a caller sends must lie in ``MIN_DATE..MAX_DATE``: the span Milkbot's data can have
(Kalshi's weather markets date from the 2020s), with room on both sides, and far enough inside
``date``'s own range (years 1..9999) that no window arithmetic near the bounds can overflow.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

DEFAULT_DAYS = 30
MAX_DAYS = 3650
# The one home of the accepted date range (API, pages and CLI callers all come through here).
MIN_DATE = date(2000, 1, 1)
MAX_DATE = date(2100, 12, 31)


class AnalyticsInputError(ValueError):
    """A query parameter is out of range; ``field`` names it and ``message`` says what to send."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class UnknownAccountError(AnalyticsInputError):
    """No public account has this name. Private accounts are refused exactly like unknown
    ones, so that their existence does not leak (the web answers 404 ``unknown_account``)."""

    def __init__(self, name: str) -> None:
        super().__init__("account", f"no account named {name!r}; GET /api/v1/accounts lists them")
        self.name = name


def check_date(field: str, value: date) -> date:
    """``value`` if it lies in MIN_DATE..MAX_DATE, else AnalyticsInputError naming ``field``."""
    if not MIN_DATE <= value <= MAX_DATE:
        raise AnalyticsInputError(
            field, f"{value.isoformat()} is out of range; send a date from {MIN_DATE} to {MAX_DATE}"
        )
    return value


def today_utc() -> date:
    """The latest settlement day: today's date in UTC."""
    return datetime.now(UTC).date()


@dataclass(frozen=True, slots=True)
class Window:
    """Settlement days ``start`` to ``end``, both included. ``days`` is their count."""

    start: date
    end: date

    def __post_init__(self) -> None:
        if self.start > self.end:
            raise AnalyticsInputError("from_date", "must be on or before to_date")
        if self.days > MAX_DAYS:
            raise AnalyticsInputError("to_date", f"a window spans at most {MAX_DAYS} days")

    @property
    def days(self) -> int:
        """Number of settlement days in the window (end - start + 1)."""
        return (self.end - self.start).days + 1

    @classmethod
    def last(cls, days: int = DEFAULT_DAYS, end: date | None = None) -> Window:
        """The last ``days`` settlement days (1..3650) ending at ``end`` (default: today UTC;
        MIN_DATE..MAX_DATE, else an error naming to_date), starting no earlier than MIN_DATE:
        a window never reaches outside the accepted dates, so its start can be sent back as a
        from_date."""
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
            raise AnalyticsInputError("days", f"must be a whole number from 1 to {MAX_DAYS}")
        last_day = check_date("to_date", end) if end is not None else today_utc()
        # No overflow: MIN_DATE - MAX_DAYS is still a valid date.
        return cls(max(last_day - timedelta(days=days - 1), MIN_DATE), last_day)

    @classmethod
    def resolve(
        cls,
        days: int | None = None,
        from_date: date | None = None,
        to_date: date | None = None,
        *,
        today: date | None = None,
    ) -> Window:
        """Build a window from the parameters a caller sends.

        ``days`` alone (or nothing: 30) is the last N days ending today (UTC) or at ``to_date``;
        ``from_date`` with ``to_date`` (default today) is an explicit range. ``days`` together
        with ``from_date`` is ambiguous and refused. Both dates must lie in MIN_DATE..MAX_DATE.
        """
        if to_date is not None:
            check_date("to_date", to_date)
        if from_date is not None:
            check_date("from_date", from_date)
            if days is not None:
                raise AnalyticsInputError("days", "give days or from_date, not both")
            end = to_date if to_date is not None else (today or today_utc())
            return cls(from_date, end)
        return cls.last(DEFAULT_DAYS if days is None else days, to_date or today)

    def to_dict(self) -> dict[str, object]:
        """JSON-ready form: ISO dates and the day count."""
        return {"start": self.start.isoformat(), "end": self.end.isoformat(), "days": self.days}
