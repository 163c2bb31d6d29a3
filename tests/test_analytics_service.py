"""The Analytics service: cache in front of the database (single flight, TTL, keys), the pool's
limits (exhaustion, statement timeout), timing logs, JSON-ready results, and accounts (the
primary one by default, unknown and private names refused alike, the comparison)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import pytest
import structlog
from structlog.testing import capture_logs

from milkbot.analytics import (
    Analytics,
    AnalyticsInputError,
    PoolExhaustedError,
    QueryTimeoutError,
    UnknownAccountError,
    Window,
)
from milkbot.analytics.window import today_utc
from milkbot.logs import configure_logging
from milkbot.settings import Settings
from milkbot.store.accounts import create_account
from milkbot.store.models import AccountIn, SettlementIn, TradeIn
from milkbot.store.settlement import settle_event
from milkbot.store.writes import record_trade
from tests.helpers import add_event


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def settings(db_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "database_url": db_url,
        "pool_size": 2,
        "max_overflow": 2,
        "pool_timeout": 5.0,
        "cache_ttl": 5.0,
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
async def make_service(db_url: str) -> AsyncIterator[Callable[..., Analytics]]:
    opened: list[Analytics] = []

    def make(**overrides: object) -> Analytics:
        clock = overrides.pop("clock", None)
        tick = clock or time.monotonic
        service = Analytics(settings(db_url, **overrides), clock=tick)  # type: ignore[arg-type]
        opened.append(service)
        return service

    yield make
    for service in opened:
        await service.close()


def settled_trade(
    conn: psycopg.Connection, day: date, price: int, account: str = "default"
) -> None:
    tickers = add_event(conn, "NYC", day)
    record_trade(
        conn,
        TradeIn(
            account=account,
            client_trade_id=uuid.uuid4().hex,
            ticker=tickers[1],
            strategy="daily_high_temp",
            side="yes",
            action="buy",
            count=Decimal(1),
            price_dollars=Decimal(price) / 100,
            executed_at=f"{day}T12:00:00Z",  # type: ignore[arg-type]
        ),
    )
    settle_event(conn, SettlementIn(event_ticker=tickers[1].rsplit("-", 1)[0], observed_high_f=46))


async def test_two_hundred_concurrent_callers_make_one_database_query(
    make_service: Callable[..., Analytics],
) -> None:
    service = make_service()
    await service.open()
    before = service.pool.stats().get("requests_num", 0)
    with capture_logs() as logs:
        reports = await asyncio.gather(*(service.city_metrics(days=30) for _ in range(200)))
    assert service.pool.stats().get("requests_num", 0) - before == 1  # one connection borrowed
    assert service.cache_stats().misses == 1
    assert service.cache_stats().coalesced + service.cache_stats().hits == 199
    assert all(r is reports[0] for r in reports)
    lines = [e for e in logs if e["event"] == "analytics_query"]
    assert len(lines) == 200 and sum(not e["cached"] for e in lines) == 1


async def test_cached_value_lives_ttl_seconds(
    make_service: Callable[..., Analytics], conn: psycopg.Connection
) -> None:
    clock = Clock()
    service = make_service(clock=clock)
    await service.open()
    day = today_utc() - timedelta(days=2)
    settled_trade(conn, day, 40)
    first = await service.city_metrics(days=7)
    settled_trade(conn, day - timedelta(days=1), 30)  # a new trade the cache has not seen
    clock.now += 4.9
    assert await service.city_metrics(days=7) is first
    clock.now += 0.2
    fresh = await service.city_metrics(days=7)
    assert sum(c.trades for c in fresh.cities) == sum(c.trades for c in first.cities) + 1
    assert service.cache_stats().misses == 2 and service.cache_stats().hits == 1


async def test_cache_key_holds_every_parameter(make_service: Callable[..., Analytics]) -> None:
    service = make_service()
    await service.open()
    today = today_utc()
    await service.city_metrics(days=30)
    await service.city_metrics(days=7)
    await service.city_metrics(days=30, strategy="nowcast")
    await service.city_metrics(from_date=today - timedelta(days=29), to_date=today)  # = days=30
    await service.equity_curve(days=30)
    await service.equity_curve(days=30, max_points=10)
    await service.equity_curve(days=30, account="default")  # = the primary account: a hit
    await service.public_trades(limit=10)
    await service.public_trades(limit=10, account="default")  # one account, not every one
    await service.public_trades(limit=10, side="no")
    await service.public_trades(limit=10, city="NYC")
    await service.strategy_metrics(days=30)
    await service.calibration(days=30)
    await service.calibration(days=30, strategy="nowcast")
    await service.accounts()
    window = Window.last(30)
    await service.comparison(window)
    await service.comparison(window, mode="demo")
    await service.comparison(window, sort="equity")
    await service.comparison(window, descending=False)
    await service.comparison(window, max_points=5)
    stats = service.cache_stats()
    assert (stats.misses, stats.hits) == (18, 2)


async def test_no_cache_when_bypassed(make_service: Callable[..., Analytics]) -> None:
    service = make_service()
    await service.open()
    a = await service.strategy_metrics(bypass_cache=True)
    b = await service.strategy_metrics(bypass_cache=True)
    assert a is not b and a.strategies == b.strategies
    assert service.cache_stats().misses == 0


async def test_exhausted_pool_raises_after_the_timeout(
    make_service: Callable[..., Analytics],
) -> None:
    service = make_service(pool_size=1, max_overflow=0, pool_timeout=0.3)
    await service.open()
    async with service.pool.connection():
        started = time.perf_counter()
        with pytest.raises(PoolExhaustedError, match="MILKBOT_POOL_SIZE"):
            await asyncio.wait_for(service.city_metrics(bypass_cache=True), timeout=10)
        waited = time.perf_counter() - started
        assert 0.25 <= waited < 5
        report = await asyncio.wait_for(service.health(bypass_cache=True), timeout=10)
        assert report.status == "unhealthy"
        assert report.components[0].name == "database"
        assert report.components[0].status == "unhealthy"
    assert (await service.city_metrics(bypass_cache=True)).cities  # free again


async def test_statement_timeout_cancels_long_queries(
    make_service: Callable[..., Analytics],
) -> None:
    service = make_service(statement_timeout_ms=100)
    await service.open()
    with pytest.raises(QueryTimeoutError, match="MILKBOT_STATEMENT_TIMEOUT_MS"):
        async with service.pool.connection() as conn:
            await conn.execute("SELECT pg_sleep(5)")
    async with service.pool.connection() as conn:  # the connection is usable again
        cur = await conn.execute("SHOW statement_timeout")
        assert await cur.fetchone() == ("100ms",)


async def test_one_json_timing_line_per_query(
    make_service: Callable[..., Analytics], capsys: pytest.CaptureFixture[str]
) -> None:
    service = make_service()
    await service.open()
    seen: list[tuple[str, bool]] = []
    service.on_query = lambda name, seconds, cached: seen.append((name, cached))
    configure_logging("INFO", "json")
    try:
        capsys.readouterr()
        await service.city_metrics(days=3, strategy="nowcast")
        await service.city_metrics(days=3, strategy="nowcast")
        with pytest.raises(AnalyticsInputError):
            await service.city_metrics(days=3, strategy="nope")
        err = capsys.readouterr().err
    finally:
        structlog.reset_defaults()
    lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    timing = [x for x in lines if x["event"] == "analytics_query"]
    assert [(x["query"], x["cached"]) for x in timing] == [
        ("city_metrics", False),
        ("city_metrics", True),
        ("city_metrics", False),
    ]
    assert timing[0]["params"]["strategy"] == "nowcast"
    assert timing[0]["params"]["end"] == today_utc().isoformat()
    assert all(isinstance(x["duration_ms"], float) for x in timing)
    assert timing[2]["error"] == "AnalyticsInputError" and timing[2]["level"] == "warning"
    assert seen == [("city_metrics", False), ("city_metrics", True), ("city_metrics", False)]


async def test_every_result_is_json_ready(
    make_service: Callable[..., Analytics], conn: psycopg.Connection
) -> None:
    settled_trade(conn, today_utc() - timedelta(days=1), 45)
    service = make_service()
    await service.open()
    results = [
        await service.city_metrics(),
        await service.equity_curve(max_points=5),
        await service.public_trades(),
        await service.health(),
        await service.strategy_metrics(),
        await service.comparison(Window.last(30)),
    ]
    for r in results:
        json.dumps(r.to_dict(), allow_nan=False)
    json.dumps([b.to_dict() for b in await service.calibration()], allow_nan=False)
    json.dumps([a.to_dict() for a in await service.accounts()], allow_nan=False)
    assert results[1].to_dict()["window"]["days"] == 30
    # Money is exact: a decimal string in JSON, never a float.
    assert results[0].to_dict()["cities"][0]["net_pnl_dollars"] == "0.00"
    nyc = next(c for c in results[0].to_dict()["cities"] if c["city"] == "NYC")
    # $0.55 won less $0.0174 fee and $0.0026 rounding fee (to the cent precision).
    assert (nyc["net_pnl_dollars"], nyc["contracts"]) == ("0.53", "1.00")


async def test_a_server_s_delay_setting_lengthens_but_never_shortens_or_writes(
    make_service: Callable[..., Analytics], db_url: str
) -> None:
    async with make_service(public_delay_minutes=0) as service:
        # The account's own delay (the default hour) holds against a server set to 0 ...
        page = await service.public_trades(delay_minutes=5, account="default")
        assert page.delay_minutes == 60
    async with make_service(public_delay_minutes=90) as service:
        # ... and a server may hold its readers back longer.
        assert (await service.public_trades(account="default")).delay_minutes == 90
    with psycopg.connect(db_url) as c:  # nothing of the server's got into the database
        assert c.execute("SELECT public_delay_minutes FROM ops.accounts").fetchall() == [(60,)]


def test_service_needs_a_database_url() -> None:
    with pytest.raises(ValueError, match="MILKBOT_DATABASE_URL"):
        Analytics(Settings(database_url=None))


@pytest.mark.parametrize(
    ("method", "kwargs", "field"),
    [
        ("city_metrics", {"days": 0}, "days"),
        ("city_metrics", {"strategy": "no_such_strategy"}, "strategy"),
        ("equity_curve", {"max_points": 1}, "max_points"),
        ("equity_curve", {"account": "nobody"}, "account"),
        ("strategy_metrics", {"account": "Not A Name"}, "account"),
        ("public_trades", {"account": "nobody"}, "account"),
        ("health", {"account": "nobody"}, "account"),
        ("public_trades", {"limit": 501}, "limit"),
        ("public_trades", {"cursor": "garbage"}, "cursor"),
        (
            "strategy_metrics",
            {"from_date": date(2026, 3, 2), "to_date": date(2026, 3, 1)},
            "from_date",
        ),
        ("calibration", {"days": 3651}, "days"),
    ],
)
async def test_bad_parameters_name_the_field(
    make_service: Callable[..., Analytics], method: str, kwargs: dict, field: str
) -> None:
    service = make_service()
    await service.open()
    with pytest.raises(AnalyticsInputError) as err:
        await getattr(service, method)(**kwargs)
    assert err.value.field == field and field in str(err.value)


def add_account(conn: psycopg.Connection, name: str, *, public: bool = True) -> None:
    create_account(
        conn,
        AccountIn(
            name=name,
            display_name=name.title(),
            mode="demo",
            environment="simulated",
            starting_bankroll_dollars=Decimal(250),
            is_public=public,
            strategies=("nowcast", "ensemble"),
        ),
    )


async def test_the_primary_account_is_the_default(
    make_service: Callable[..., Analytics], conn: psycopg.Connection
) -> None:
    add_account(conn, "paper")
    add_account(conn, "hidden", public=False)
    settled_trade(conn, today_utc() - timedelta(days=1), 45, account="paper")
    default = make_service()
    paper = make_service(primary_account="paper")
    await default.open()
    await paper.open()
    assert (await default.city_metrics()).account.name == "default"
    report = await paper.city_metrics()
    assert (report.account.name, report.account.display_name, report.account.mode) == (
        "paper",
        "Paper",
        "demo",
    )
    assert sum(c.trades for c in report.cities) == 1
    assert sum(c.trades for c in (await default.city_metrics()).cities) == 0
    assert (await paper.equity_curve()).starting_bankroll_dollars == Decimal("250.00")
    assert (await paper.health()).account.name == "paper"  # type: ignore[union-attr]
    listed = await paper.accounts()
    assert [(a.name, a.primary) for a in listed] == [("default", False), ("paper", True)]
    assert listed[1].strategies == ["ensemble", "nowcast"]
    assert listed[1].starting_bankroll_dollars == Decimal("250.00")
    for service in (default, paper):
        with pytest.raises(UnknownAccountError) as err:
            await service.city_metrics(account="hidden")
        assert err.value.field == "account"
    hidden = make_service(primary_account="hidden")
    await hidden.open()
    with pytest.raises(UnknownAccountError):
        await hidden.strategy_metrics()
    comparison = await default.comparison(Window.last(30), mode="demo")
    assert [r.account.name for r in comparison.accounts] == ["paper"]
    assert comparison.total_trades == 1


def test_the_primary_account_setting_is_an_account_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().primary_account == "default"
    monkeypatch.setenv("MILKBOT_PRIMARY_ACCOUNT", "paper_bot_2")
    assert Settings().primary_account == "paper_bot_2"
    for bad in ("Paper Bot", "2bots", ""):
        with pytest.raises(ValueError, match="primary_account"):
            Settings(primary_account=bad)


async def test_the_account_directory_bounds_staleness_and_lookups(
    make_service: Callable[..., Analytics], conn: psycopg.Connection
) -> None:
    """Accounts are resolved from a copy kept for the cache TTL (even when a call bypasses the
    result cache): a private account is refused at the latest one TTL after the change, a new
    one is found within the directory's retry interval, and a flood of made-up names reloads
    the copy at most once per interval."""
    clock = Clock()
    add_account(conn, "paper")
    service = make_service(clock=clock, cache_ttl=5.0)
    await service.open()
    directory = service.accounts_directory
    assert (await service.city_metrics(account="paper", bypass_cache=True)).account.name == "paper"
    loads = directory.loads
    conn.execute("UPDATE ops.accounts SET is_public = false WHERE name = 'paper'")
    clock.now += 4.9
    assert (await service.equity_curve(account="paper", bypass_cache=True)).account.name == "paper"
    assert directory.loads == loads  # answered from the copy
    clock.now += 0.1
    with pytest.raises(UnknownAccountError):
        await service.equity_curve(account="paper", bypass_cache=True)
    loads = directory.loads
    for i in range(200):
        with pytest.raises(UnknownAccountError):
            await service.city_metrics(account=f"nobody_{i}", bypass_cache=True)
    assert directory.loads == loads  # the copy is fresh: no reload for names it lacks
    add_account(conn, "fresh")
    clock.now += 0.5
    with pytest.raises(UnknownAccountError):
        await service.city_metrics(account="fresh", bypass_cache=True)
    clock.now += 0.5
    assert (await service.city_metrics(account="fresh", bypass_cache=True)).account.name == "fresh"
    assert directory.loads == loads + 1


async def test_without_a_cache_each_call_resolves_its_account(
    make_service: Callable[..., Analytics], conn: psycopg.Connection
) -> None:
    add_account(conn, "paper")
    service = make_service(cache_ttl=0)
    await service.open()
    assert (await service.strategy_metrics(account="paper")).account.name == "paper"
    conn.execute("UPDATE ops.accounts SET is_public = false WHERE name = 'paper'")
    with pytest.raises(UnknownAccountError):
        await service.strategy_metrics(account="paper")
    assert service.accounts_directory.loads == 0
