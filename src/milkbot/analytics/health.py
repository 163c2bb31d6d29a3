"""Health status of one account: the database, its trader's heartbeat, its market data and
analytics freshness.

Each account's bot reports its own components (``ops.component_health`` is keyed by account
and component), so health is asked of one account - the primary account unless told another;
the database and the pre-aggregates' freshness are shared by all. One small query: the latest
heartbeat of the account's ``trader`` and ``market_data`` components (one row each, written by
``post_heartbeat``) and the time the pre-aggregates last changed (``analytics.freshness``). A component is healthy while its age is at
most its *degraded* threshold, unhealthy past its *unhealthy* threshold and degraded in between;
a heartbeat that itself reports a worse status keeps it. A component never heard from is
unhealthy. The overall status is the worst component's.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from psycopg import AsyncConnection

from milkbot.analytics.queries import resolve_account
from milkbot.analytics.results import ComponentStatus, HealthReport
from milkbot.settings import Settings
from milkbot.vocabulary import HEALTH_STATUSES, HealthStatus

TRADER = "trader"
MARKET_DATA = "market_data"
ANALYTICS = "analytics"
DATABASE = "database"

# HEALTH_STATUSES lists them best first.
_RANK: Final[dict[HealthStatus, int]] = {s: rank for rank, s in enumerate(HEALTH_STATUSES)}

HEALTH_SQL: Final = """
SELECT now(), c.name, h.observed_at, h.status, h.message
FROM (VALUES (1, 'trader'), (2, 'market_data')) AS c(ord, name)
LEFT JOIN ops.component_health h ON h.account_id = %(account_id)s AND h.component = c.name
UNION ALL
SELECT now(), 'analytics', f.updated_at, NULL, NULL FROM analytics.freshness f
"""

# Statement and lock timeouts of the health query alone (SET LOCAL: this transaction only).
BOUNDED_SQL: Final = (
    "SELECT set_config('statement_timeout', %s, true), set_config('lock_timeout', %s, true)"
)


@dataclass(frozen=True, slots=True)
class Thresholds:
    """Ages (seconds) past which a component is degraded / unhealthy."""

    degraded_s: float
    unhealthy_s: float

    def status(self, age_seconds: float) -> HealthStatus:
        """healthy while age <= degraded_s, unhealthy when age > unhealthy_s, else degraded."""
        if age_seconds > self.unhealthy_s:
            return "unhealthy"
        if age_seconds > self.degraded_s:
            return "degraded"
        return "healthy"


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    """Per-component thresholds (the ``*_degraded_s`` / ``*_unhealthy_s`` settings)."""

    trader: Thresholds
    market_data: Thresholds
    analytics: Thresholds

    @classmethod
    def from_settings(cls, settings: Settings) -> HealthThresholds:
        """Thresholds from ``MILKBOT_TRADER_DEGRADED_S`` and its siblings."""
        return cls(
            trader=Thresholds(settings.trader_degraded_s, settings.trader_unhealthy_s),
            market_data=Thresholds(
                settings.market_data_degraded_s, settings.market_data_unhealthy_s
            ),
            analytics=Thresholds(settings.analytics_degraded_s, settings.analytics_unhealthy_s),
        )

    def of(self, component: str) -> Thresholds:
        """The thresholds of ``component`` (trader, market_data or analytics)."""
        found: Thresholds = getattr(self, component)
        return found


def worst(statuses: list[HealthStatus]) -> HealthStatus:
    """The worst of ``statuses`` (healthy < degraded < unhealthy); healthy for none."""
    return max(statuses, key=_RANK.__getitem__, default="healthy")


def _component(
    name: str,
    now: datetime,
    seen: datetime | None,
    reported: str | None,
    message: str | None,
    thresholds: Thresholds,
) -> ComponentStatus:
    if seen is None:
        return ComponentStatus(name, "unhealthy", None, f"no sign of life from {name} yet")
    age = max((now - seen).total_seconds(), 0.0)
    status = thresholds.status(age)
    for level in ("degraded", "unhealthy"):
        if reported == level and _RANK[level] > _RANK[status]:
            status = level
    text = message or ""
    if name == ANALYTICS:
        text = f"pre-aggregates last changed {age:.0f} s ago"
    elif not text:
        text = f"last heartbeat {age:.0f} s ago"
    if status != "healthy":
        limits = f"degraded after {thresholds.degraded_s:g} s"
        text += f" ({limits}, unhealthy after {thresholds.unhealthy_s:g} s)"
    return ComponentStatus(name, status, age, text)


async def read_health(
    conn: AsyncConnection[Any],
    thresholds: HealthThresholds,
    timeout_ms: int | None = None,
    *,
    account: str,
) -> HealthReport:
    """The components' status of public ``account`` (else UnknownAccountError), age
    (seconds, from the database clock) and message, and the overall status. The database component is healthy when this query answers; its message
    gives the round trip in ms. With ``timeout_ms`` the query runs under that statement and
    lock timeout (ms) instead of the connection's, so a health check never waits long."""
    started = time.perf_counter()
    if timeout_ms is None:
        found = await resolve_account(conn, account)
        rows = await (await conn.execute(HEALTH_SQL, {"account_id": found.id})).fetchall()
    else:
        async with conn.transaction():
            await conn.execute(BOUNDED_SQL, [str(timeout_ms), str(timeout_ms)])
            found = await resolve_account(conn, account)
            rows = await (await conn.execute(HEALTH_SQL, {"account_id": found.id})).fetchall()
    round_trip_ms = (time.perf_counter() - started) * 1000
    now = rows[0][0]
    components = [ComponentStatus(DATABASE, "healthy", 0.0, f"answered in {round_trip_ms:.1f} ms")]
    order = {TRADER: 0, MARKET_DATA: 1, ANALYTICS: 2}
    for _, name, seen, reported, message in sorted(rows, key=lambda r: order[r[1]]):
        components.append(_component(name, now, seen, reported, message, thresholds.of(name)))
    return HealthReport(
        status=worst([c.status for c in components]),
        checked_at=now,
        account=found.ref,
        components=components,
    )


def unreachable_report(now: datetime, error: str) -> HealthReport:
    """The report when the database cannot be reached: everything unhealthy, with the reason."""
    names = (DATABASE, TRADER, MARKET_DATA, ANALYTICS)
    components = [
        ComponentStatus(n, "unhealthy", None, error if n == DATABASE else "unknown: no database")
        for n in names
    ]
    return HealthReport(status="unhealthy", checked_at=now, account=None, components=components)


def public_health(report: HealthReport) -> HealthReport:
    """``report`` as the public may see it: each component's status alone (no ages, no
    messages), and without the pre-aggregates' freshness, which changes with every trade
    recorded and so would tell of trades the public delay still hides; the overall status is
    the worst of what is left."""
    components = [
        ComponentStatus(c.name, c.status, None, "")
        for c in report.components
        if c.name != ANALYTICS
    ]
    return HealthReport(
        status=worst([c.status for c in components]),
        checked_at=report.checked_at,
        account=report.account,
        components=components,
    )
