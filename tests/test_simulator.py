"""The paper-trading simulator against a real database, driven by an injected clock: its cycles
list events, record signals and trades, settle ended days and post heartbeats through the write
path, so the public feed, health and metrics move."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from structlog.testing import capture_logs

from milkbot import money
from milkbot.market import climate_day_bounds
from milkbot.reference import load_reference
from milkbot.simulator import Bot, Simulator, SimulatorThread
from milkbot.simulator.weather import day_weather
from milkbot.store.accounts import AccountIn, create_account
from milkbot.store.limits import account_named, headroom
from tests.test_api import api_client


class Clock:
    """A settable clock for the simulator."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def run(url: str, start: datetime, steps: int, step: timedelta, seed: int = 7) -> Simulator:
    clock = Clock(start)
    sim = Simulator(url, seed=seed, now=clock, cities_per_cycle=3, max_buys_per_cycle=2)
    try:
        for _ in range(steps):
            sim.cycle()
            clock.now += step
    finally:
        sim.close()
    return sim


def rows(conn: psycopg.Connection, query: str) -> list[tuple[Any, ...]]:
    return conn.execute(query).fetchall()


def test_cycles_record_signals_trades_settlements_and_heartbeats(db_url: str) -> None:
    start = datetime(2026, 3, 9, 12, 0, tzinfo=UTC)
    run(db_url, start, steps=25, step=timedelta(hours=2))  # two days of cycles
    last = start + timedelta(hours=48)  # the 25th cycle
    ref = load_reference()
    with psycopg.connect(db_url) as conn:
        events = rows(
            conn,
            "SELECT event_ticker, city_code, event_date, count(*),"
            " count(*) FILTER (WHERE result = 'yes'), count(result), min(observed_high_f)"
            " FROM ops.markets GROUP BY 1, 2, 3 ORDER BY 3, 2",
        )
        signals = rows(conn, "SELECT count(*), count(DISTINCT created_at) FROM ops.signals")[0]
        trades = rows(conn, "SELECT action, count(*) FROM ops.trades GROUP BY 1 ORDER BY 1")
        beats = rows(conn, "SELECT component, count(*) FROM ops.heartbeats GROUP BY 1 ORDER BY 1")
        latest = rows(conn, "SELECT component, observed_at FROM ops.component_health")
        unsettled_buys = rows(
            conn,
            "SELECT count(*) FROM ops.trades t JOIN ops.markets m ON m.id = t.market_id"
            " WHERE m.result IS NOT NULL AND t.action = 'buy' AND t.realized_pnl_micros IS NULL",
        )[0]
    per_event = ref.brackets_per_event + 2
    # Every city gets its events for the climate days the clock crossed, each with its brackets
    # and tails; every event whose day ended is settled with exactly one YES market, at the
    # high the simulated weather drew.
    assert {city for _, city, *_ in events} == set(ref.city_codes)
    for event, city, day, n, yes, settled, high in events:
        assert n == per_event, event
        assert event.endswith(f"{day:%y}{day.strftime('%b').upper()}{day:%d}")
        ended = climate_day_bounds(ref.city(city).timezone, day)[1] <= last
        if ended:
            assert (yes, settled) == (1, n), event
            assert high == day_weather(7, ref.city(city), day).actual_high_f
        else:
            assert settled == 0, event
    assert signals[0] > 0 and signals[1] == 25
    assert dict(trades)["buy"] > 0
    assert unsettled_buys == (0,)  # settlement realised every buy of a settled market
    assert dict(beats) == {"market_data": 25, "trader": 25}
    assert dict(latest) == {"market_data": last, "trader": last}


PAPER_BOTS = (
    Bot("paper_daily", "daily_high_temp", max_buys_per_cycle=3, cities_per_cycle=2),
    Bot("paper_reversion", "mean_reversion", max_buys_per_cycle=2, cities_per_cycle=2),
    Bot("paper_nowcast", "nowcast", max_buys_per_cycle=3, cities_per_cycle=2, size_bp=10_000),
    Bot("paper_ensemble", "ensemble", max_buys_per_cycle=2, cities_per_cycle=2),
)


def _create_paper_accounts(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        for bot in PAPER_BOTS:
            create_account(
                conn,
                AccountIn(
                    name=bot.account,
                    display_name=bot.account.replace("_", " ").title(),
                    mode="demo",
                    environment="simulated",
                    starting_bankroll_dollars="500.00",
                    strategies=(bot.strategy,),
                ),
            )


def test_each_bot_trades_as_its_own_account_within_its_limits(db_url: str) -> None:
    """Four bots, one strategy each, three days of three-hourly cycles: every fill is its own
    account's, none is refused for a limit, and at every cycle's end each account's open cost
    is within its limits; the limits bind (some city's open cost comes close to its limit)."""
    _create_paper_accounts(db_url)
    clock = Clock(datetime(2026, 6, 1, 12, 0, tzinfo=UTC))
    sim = Simulator(db_url, seed=5, now=clock, bots=PAPER_BOTS)
    ref = load_reference()
    fullest = 0.0  # the largest share of a city limit any account used (for the report only)
    with capture_logs() as logs, psycopg.connect(db_url, autocommit=True) as conn:
        try:
            for _ in range(24):
                sim.cycle()
                clock.now += timedelta(hours=3)
                for bot in PAPER_BOTS:
                    account = account_named(conn, bot.account)
                    for city in ref.cities:
                        room = headroom(conn, account, city.code, city.cluster, clock.now.date())
                        limit = room.equity_micros * account.max_open_bp // 10_000
                        assert room.total_open_micros <= limit, bot
                        city_limit = room.equity_micros * account.max_city_bp // 10_000
                        assert room.city_open_micros <= city_limit, (bot, city.code)
                        fullest = max(fullest, room.city_open_micros / city_limit)
        finally:
            sim.close()
        per_account = dict(
            rows(
                conn,
                "SELECT a.name, count(*) FROM ops.trades t JOIN ops.accounts a"
                " ON a.id = t.account_id GROUP BY 1",
            )
        )
        strategies = rows(
            conn,
            "SELECT DISTINCT a.name, s.name FROM ops.trades t JOIN ops.accounts a"
            " ON a.id = t.account_id JOIN ops.strategies s ON s.id = t.strategy_id ORDER BY 1",
        )
        fills = rows(
            conn,
            "SELECT t.price_micros, t.quantity_centi, t.trade_fee_micros, t.is_taker,"
            " m.price_level_structure, m.taker_fee_rate FROM ops.trades t"
            " JOIN ops.markets m ON m.id = t.market_id",
        )
        beats = rows(
            conn,
            "SELECT a.name, count(*) FROM ops.component_health h JOIN ops.accounts a"
            " ON a.id = h.account_id GROUP BY 1 ORDER BY 1",
        )
    assert set(per_account) == {b.account for b in PAPER_BOTS}
    assert sorted(strategies) == sorted((b.account, b.strategy) for b in PAPER_BOTS)
    assert not [
        e for e in logs if e["event"] in ("simulator_buy_refused", "simulator_trade_refused")
    ]
    # Simulated fills pay Kalshi's formula; tapered markets trade sub-cent prices and
    # fractional counts.
    for price, qty, fee, taker, structure, rate in fills:
        assert taker and fee == money.trade_fee_micros(price, qty, rate)
        assert money.price_off_grid(structure, price) is None
        assert structure != "linear_cent" or qty % 100 == 0
    assert any(price % 10_000 for price, *_ in fills)
    assert any(qty % 100 for _, qty, *_ in fills)
    assert beats == [(b.account, 2) for b in sorted(PAPER_BOTS, key=lambda b: b.account)]
    assert fullest > 0.75, fullest


def test_a_bot_needs_a_known_strategy_and_its_own_account() -> None:
    with pytest.raises(ValueError, match="no simulated model for strategy 'alchemy'"):
        Bot("paper", "alchemy")
    with pytest.raises(ValueError, match="its own account"):
        Simulator("postgresql://unused", bots=[Bot("paper"), Bot("paper", "nowcast")])


def test_same_seed_and_clock_write_the_same_rows(make_database: Callable[[], str]) -> None:
    start = datetime(2026, 7, 1, 3, 0, tzinfo=UTC)
    urls = [make_database(), make_database()]
    for url in urls:
        run(url, start, steps=8, step=timedelta(hours=3), seed=11)
    other = make_database()
    run(other, start, steps=8, step=timedelta(hours=3), seed=12)
    query = (
        "SELECT account_id, client_trade_id, ticker, side, action, quantity_centi, price_micros,"
        " fee_micros, created_at, realized_pnl_micros FROM ops.trades"
        " ORDER BY account_id, client_trade_id"
    )
    signals = (
        "SELECT account_id, market_id, created_at, model_prob, yes_price_micros, decision"
        " FROM ops.signals ORDER BY id"
    )
    seen = []
    for url in [*urls, other]:
        with psycopg.connect(url) as conn:
            seen.append((rows(conn, query), rows(conn, signals)))
    assert seen[0][0] and seen[0] == seen[1]
    assert seen[2][0] != seen[0][0]


async def test_feed_health_and_metrics_move(db_url: str) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    async with api_client(db_url) as client:
        before = {
            "health": (await client.get("/api/v1/health")).json(),
            "feed": (await client.get("/api/v1/trades/public")).json(),
            "summary": (await client.get("/api/v1/summary")).json(),
        }
        # A day and a half of cycles ending just now: yesterday's events end and settle, the
        # early trades are older than the public delay, the last heartbeat is fresh.
        run(db_url, now - timedelta(hours=36), steps=19, step=timedelta(hours=2))
        after = {
            "health": (await client.get("/api/v1/health")).json(),
            "feed": (await client.get("/api/v1/trades/public")).json(),
            "summary": (await client.get("/api/v1/summary")).json(),
        }
    status = {c["name"]: c["status"] for c in after["health"]["components"]}
    assert before["health"]["status"] == "unhealthy"
    assert status["trader"] == "healthy" and status["market_data"] == "healthy"
    assert before["feed"]["trades"] == [] and after["feed"]["trades"]
    newest = datetime.fromisoformat(after["feed"]["trades"][0]["time"])
    assert newest <= now - timedelta(minutes=60)
    assert before["summary"]["trades"] == 0 and after["summary"]["trades"] > 0
    assert after["summary"]["wins"] + after["summary"]["losses"] > 0  # settled trades
    assert after["summary"]["equity_dollars"] != before["summary"]["equity_dollars"]


def test_thread_cycles_until_stopped(db_url: str) -> None:
    sim = Simulator(db_url, seed=3, cities_per_cycle=1)
    thread = SimulatorThread(sim, interval_s=0.01)
    thread.start()
    try:
        _wait_for(lambda: _heartbeats(db_url) >= 3)
    finally:
        thread.stop(timeout_s=10)
    assert not thread.alive
    settled = _heartbeats(db_url)
    assert settled >= 3
    assert _heartbeats(db_url) == settled  # nothing runs after stop


def test_a_failing_cycle_does_not_end_the_loop(server_url: str) -> None:
    missing = psycopg.conninfo.make_conninfo(server_url, dbname="milkbot_no_such_database")
    thread = SimulatorThread(Simulator(missing), interval_s=0.01)
    with capture_logs() as logs:
        thread.start()
        try:
            _wait_for(lambda: sum(e["event"] == "simulator_cycle_failed" for e in logs) >= 2)
            assert thread.alive
        finally:
            thread.stop(timeout_s=10)
    assert not thread.alive


def _heartbeats(url: str) -> int:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ops.heartbeats WHERE component = 'trader'"
        ).fetchone()
    return int(row[0]) if row else 0


def _wait_for(condition: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll ``condition`` until true (bounded): the thread runs on its own schedule."""
    done = threading.Event()
    deadline = datetime.now(UTC) + timedelta(seconds=timeout_s)
    while datetime.now(UTC) < deadline:
        if condition():
            return
        done.wait(0.02)
    pytest.fail("condition not met in time")
