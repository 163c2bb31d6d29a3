"""The data generator against a real PostgreSQL: determinism, the market and accounting rules
of docs/DOMAIN.md recomputed independently here, refusal and reset, and the CLI's guard rails."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from typer.testing import CliRunner

from milkbot.cli.main import app
from milkbot.generator import GenerationReport, GeneratorError, generate_dataset
from milkbot.generator.climate import normal_highs
from milkbot.market import climate_day
from milkbot.money import CENT_MICROS, rounding_fee_micros, trade_fee_micros
from milkbot.reference import load_reference
from tests.test_migrations import assert_aggregates_equal_a_rebuild, derived_snapshot

# Monday 2026-03-09, 17:30 UTC: the day after the US switch to daylight saving time, after
# Denver's next-day markets opened (10:00 MST = 17:00 UTC) and before Los Angeles's (18:00).
NOW = datetime(2026, 3, 9, 17, 30, tzinfo=UTC)
END = date(2026, 3, 9)
TRADES = 12_000
DAYS = 45


def _generate(url: str, seed: int = 42, trades: int = TRADES, **kw: Any) -> GenerationReport:
    return generate_dataset(url, trades=trades, days=DAYS, seed=seed, end_date=END, now=NOW, **kw)


@pytest.fixture(scope="module")
def generated(make_database: Callable[[], str]) -> tuple[str, GenerationReport]:
    """One generated database shared by the read-only checks of this module."""
    url = make_database()
    return url, _generate(url)


@pytest.fixture
def db(generated: tuple[str, GenerationReport]) -> Iterator[psycopg.Connection[dict[str, Any]]]:
    with psycopg.connect(generated[0], row_factory=dict_row) as conn:
        yield conn


def _rows(conn: psycopg.Connection[Any], query: str, params: Any = None) -> list[dict[str, Any]]:
    return list(conn.cursor(row_factory=dict_row).execute(query.encode(), params).fetchall())


TABLE_DIGEST = sql.SQL("SELECT count(*), md5(string_agg(t::text, '|' ORDER BY id)) FROM {} t")


def _digests(url: str) -> dict[str, tuple[int, str]]:
    with psycopg.connect(url) as conn:
        out = {}
        for table in ("ops.accounts", "ops.markets", "ops.signals", "ops.trades"):
            row = conn.execute(TABLE_DIGEST.format(sql.Identifier(*table.split(".")))).fetchone()
            assert row is not None
            out[table] = (row[0], row[1])
        return out


def test_same_seed_gives_the_same_rows_and_another_seed_does_not(
    make_database: Callable[[], str],
) -> None:
    first, second, other = make_database(), make_database(), make_database()
    _generate(first, seed=7, trades=3000)
    _generate(second, seed=7, trades=3000)
    _generate(other, seed=8, trades=3000)
    assert _digests(first) == _digests(second)
    differs = _digests(other)
    assert differs["ops.trades"] != _digests(first)["ops.trades"]
    assert differs["ops.signals"] != _digests(first)["ops.signals"]


def test_counts_match_the_target_and_the_report(
    db: psycopg.Connection[dict[str, Any]], generated: tuple[str, GenerationReport]
) -> None:
    report = generated[1]
    row = db.execute(
        "SELECT (SELECT count(*) FROM ops.trades) AS trades,"
        " (SELECT count(*) FROM ops.signals) AS signals,"
        " (SELECT count(*) FROM ops.markets) AS markets,"
        " (SELECT count(DISTINCT event_date) FROM ops.markets WHERE event_date <= %s) AS days",
        [END],
    ).fetchone()
    assert row is not None
    assert abs(row["trades"] - TRADES) <= TRADES * 0.02
    assert report.counts["ops.trades"] == row["trades"]
    assert report.counts["ops.signals"] == row["signals"]
    assert report.counts["ops.markets"] == row["markets"]
    assert row["days"] == DAYS == report.days
    assert 1.5 * row["trades"] <= row["signals"] <= 4 * row["trades"]
    assert set(report.phase_seconds) >= {"load", "indexes", "analyze"}


def test_each_event_lists_brackets_and_two_tails_with_kalshi_tickers(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    ref = load_reference()
    events = defaultdict(list)
    for m in _rows(db, "SELECT * FROM ops.markets ORDER BY id"):
        events[m["event_ticker"]].append(m)
    series = {c.code: c.series for c in ref.cities}
    for event_ticker, markets in events.items():
        first = markets[0]
        day = first["event_date"]
        assert event_ticker == f"{series[first['city_code']]}-{day:%y}{day:%b}{day:%d}".upper()
        assert len(markets) == ref.brackets_per_event + 2
        lower, *brackets, upper = sorted(
            markets, key=lambda m: -1000 if m["floor_f"] is None else m["floor_f"]
        )
        assert lower["floor_f"] is None and upper["cap_f"] is None
        assert lower["ticker"] == f"{event_ticker}-T{lower['cap_f']}"
        assert upper["ticker"] == f"{event_ticker}-T{upper['floor_f']}"
        edges = [lower["cap_f"] + 1]
        for b in brackets:
            assert b["cap_f"] - b["floor_f"] + 1 == ref.bracket_width_f
            assert b["ticker"] == f"{event_ticker}-B{b['floor_f'] + 0.5:g}"
            assert b["floor_f"] == edges[-1]
            edges.append(b["cap_f"] + 1)
        assert upper["floor_f"] == edges[-1]
        assert len({(m["opened_at"], m["closes_at"]) for m in markets}) == 1


def test_markets_open_the_morning_before_and_close_at_the_end_of_the_climate_day(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    ref = load_reference()
    for m in _rows(
        db, "SELECT DISTINCT city_code, event_date, opened_at, closes_at FROM ops.markets"
    ):
        offset = ref.city(m["city_code"]).standard_offset()
        day_start = datetime.combine(m["event_date"], datetime.min.time(), UTC) - offset
        assert m["closes_at"] == day_start + timedelta(days=1)
        opened_local = m["opened_at"] + offset
        assert opened_local.date() == m["event_date"] - timedelta(days=1)
        assert 6 <= opened_local.hour <= 12


def test_exactly_one_market_per_settled_event_wins_and_holds_the_observed_high(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    events: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for m in _rows(db, "SELECT * FROM ops.markets WHERE result IS NOT NULL"):
        events[m["event_ticker"]].append(m)
    assert len(events) > 300
    for markets in events.values():
        winners = [m for m in markets if m["result"] == "yes"]
        assert len(winners) == 1
        high = winners[0]["observed_high_f"]
        floor, cap = winners[0]["floor_f"], winners[0]["cap_f"]
        assert (floor is None or floor <= high) and (cap is None or high <= cap)
        assert {m["observed_high_f"] for m in markets} == {high}
        assert len({m["settled_at"] for m in markets}) == 1
        assert all(m["settled_at"] > m["closes_at"] for m in markets)
        assert all(m["settled_at"] <= NOW for m in markets)


def test_daily_highs_follow_each_city_s_climatology(db: psycopg.Connection[dict[str, Any]]) -> None:
    ref = load_reference()
    days = [date(2026, 1, 15), date(2026, 7, 19), date(2024, 2, 29)]
    for city in ref.cities:
        numbers = np.array([(d - date(1970, 1, 1)).days for d in days], dtype=np.int64)
        expected = [city.climate.normal_high(d) for d in days]
        assert np.allclose(normal_highs(city.climate, numbers), expected)
    highs = _rows(
        db,
        "SELECT city_code, avg(observed_high_f)::float AS mean, stddev(observed_high_f)::float"
        " AS sd, count(*) AS n FROM (SELECT DISTINCT city_code, event_date, observed_high_f"
        " FROM ops.markets WHERE observed_high_f IS NOT NULL) d GROUP BY city_code",
    )
    for h in highs:
        climate = ref.city(h["city_code"]).climate
        normal = np.mean([climate.normal_high(END - timedelta(days=k)) for k in range(DAYS)])
        assert abs(h["mean"] - normal) < 2.5 * climate.sd
        assert h["sd"] < 2 * climate.sd


def test_settled_buys_realise_payout_minus_price_on_their_open_contracts(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    rows = _rows(
        db,
        "SELECT t.*, m.result, m.settled_at FROM ops.trades t JOIN ops.markets m"
        " ON m.id = t.market_id WHERE t.action = 'buy'",
    )
    settled = [r for r in rows if r["result"] is not None]
    assert len(settled) > TRADES // 2
    for r in settled:
        payout = 1_000_000 if r["side"] == r["result"] else 0
        assert r["payout_micros"] == payout
        assert r["realized_pnl_micros"] == (payout - r["price_micros"]) * r["open_qty_centi"] // 100
        assert r["realized_at"] == r["settled_at"]
    for r in rows:
        if r["result"] is None:
            assert r["payout_micros"] is None
            assert r["realized_pnl_micros"] is None and r["realized_at"] is None


def test_every_fee_follows_the_reference_formula(db: psycopg.Connection[dict[str, Any]]) -> None:
    ref = load_reference()
    rows = _rows(
        db,
        "SELECT DISTINCT t.action, t.quantity_centi, t.price_micros, t.is_taker, t.trade_fee_micros,"
        " t.rounding_fee_micros, t.rebate_micros, t.fee_micros, a.balance_precision_micros"
        " FROM ops.trades t JOIN ops.accounts a ON a.id = t.account_id",
    )
    assert {r["is_taker"] for r in rows} == {True, False}
    for r in rows:
        rate = ref.taker_fee_rate if r["is_taker"] else ref.maker_fee_rate
        fee = trade_fee_micros(r["price_micros"], r["quantity_centi"], rate)
        assert r["trade_fee_micros"] == fee
        cost = r["price_micros"] * r["quantity_centi"] // 100
        assert r["rounding_fee_micros"] == rounding_fee_micros(
            r["action"], cost, fee, r["balance_precision_micros"]
        )
        assert r["rebate_micros"] == 0
        assert r["fee_micros"] == fee + r["rounding_fee_micros"]


def test_trades_take_the_side_their_model_favours_by_at_least_the_minimum_edge(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    min_edge = load_reference().min_edge
    row = db.execute(
        "SELECT count(*) FILTER (WHERE model_prob - price_micros / 1e6 < %s) AS short,"
        " min(quantity_centi) AS low, max(quantity_centi) AS high,"
        " min(price_micros) AS cheapest, max(price_micros) AS dearest"
        " FROM ops.trades WHERE action = 'buy'",
        [min_edge - 1e-9],
    ).fetchone()
    assert row is not None
    assert row["short"] == 0
    assert row["low"] >= 1 and row["high"] >= 500
    assert row["cheapest"] < 10 * CENT_MICROS and row["dearest"] > 90 * CENT_MICROS
    decisions = _rows(
        db,
        "SELECT decision, min(edge) AS low, max(edge) AS high, count(*) AS n"
        " FROM ops.signals GROUP BY decision",
    )
    by = {d["decision"]: d for d in decisions}
    assert by["BUY"]["low"] >= min_edge
    assert by["SELL"]["high"] <= -min_edge
    assert -min_edge < by["HOLD"]["low"] and by["HOLD"]["high"] < min_edge
    assert by["HOLD"]["n"] > 0.3 * sum(d["n"] for d in decisions)


def test_sales_close_the_oldest_lots_first(db: psycopg.Connection[dict[str, Any]]) -> None:
    trades = _rows(db, "SELECT * FROM ops.trades ORDER BY created_at, id")
    books: dict[tuple[int, int, int, str], list[dict[str, Any]]] = defaultdict(list)
    for t in trades:
        books[(t["account_id"], t["market_id"], t["strategy_id"], t["side"])].append(t)
    sales = [t for t in trades if t["action"] == "sell"]
    positions_with_sales = {
        (t["account_id"], t["market_id"], t["strategy_id"], t["side"]) for t in sales
    }
    assert 0.015 < len(sales) / len(books) < 0.05
    partly = wholly = 0
    for key, book in books.items():
        open_left: dict[int, int] = {
            t["id"]: t["quantity_centi"] for t in book if t["action"] == "buy"
        }
        lots: list[dict[str, Any]] = []
        for t in book:  # replay in execution order, as the write path records them
            if t["action"] == "buy":
                lots.append(t)
                continue
            assert t["open_qty_centi"] == 0 and t["payout_micros"] is None
            assert t["realized_at"] == t["created_at"]
            remaining, cost = t["quantity_centi"], 0
            for lot in lots:
                take = min(remaining, open_left[lot["id"]])
                cost += take * lot["price_micros"]
                open_left[lot["id"]] -= take
                remaining -= take
            assert remaining == 0, "a sale sold more than was held"
            assert (
                t["realized_pnl_micros"] == (t["price_micros"] * t["quantity_centi"] - cost) // 100
            )
            held_before = sum(lot["quantity_centi"] for lot in lots)
            if t["quantity_centi"] == held_before:
                wholly += 1
            else:
                partly += 1
        for buy in (t for t in book if t["action"] == "buy"):
            assert buy["open_qty_centi"] == open_left[buy["id"]]
        if key not in positions_with_sales:
            assert all(t["open_qty_centi"] == t["quantity_centi"] for t in book)
    assert partly and wholly


def test_trades_fall_in_their_market_window_and_nothing_is_later_than_now(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    row = db.execute(
        """
        SELECT count(*) FILTER (WHERE t.created_at < m.opened_at
                                   OR t.created_at > least(m.closes_at, %(now)s)) AS outside,
               count(*) FILTER (WHERE t.event_date <> m.event_date) AS wrong_day,
               count(*) FILTER (WHERE t.recorded_at < t.created_at) AS recorded_early,
               max(t.created_at) AS last_trade,
               (SELECT max(created_at) FROM ops.signals) AS last_signal,
               (SELECT max(observed_at) FROM ops.heartbeats) AS last_beat,
               (SELECT max(observed_at) FROM ops.component_health) AS last_health
        FROM ops.trades t JOIN ops.markets m ON m.id = t.market_id
        """,
        {"now": NOW},
    ).fetchone()
    assert row is not None
    assert row["outside"] == row["wrong_day"] == row["recorded_early"] == 0
    for key in ("last_trade", "last_signal", "last_beat", "last_health"):
        assert row[key] <= NOW, key
    assert NOW - row["last_health"] < timedelta(minutes=2)
    outside_signals = db.execute(
        "SELECT count(*) AS n FROM ops.signals s JOIN ops.markets m ON m.id = s.market_id"
        " WHERE s.created_at < m.opened_at OR s.created_at > m.closes_at"
    ).fetchone()
    assert outside_signals == {"n": 0}


def test_trades_run_on_their_event_s_climate_day_some_already_the_next_utc_date(
    db: psycopg.Connection[dict[str, Any]],
) -> None:
    """Accounts buy an event day once the day before has settled, so on the climate day
    itself; the evening's trades in the east fall on the next UTC date."""
    zones = {c.code: c.timezone for c in load_reference().cities}
    next_utc_date = 0
    for t in _rows(db, "SELECT city_code, event_date, created_at FROM ops.trades"):
        assert climate_day(zones[t["city_code"]], t["created_at"]) == t["event_date"]
        if t["created_at"].astimezone(UTC).date() > t["event_date"]:
            next_utc_date += 1
    assert next_utc_date > 0


def test_the_last_days_stay_open(db: psycopg.Connection[dict[str, Any]]) -> None:
    """At 17:30 UTC the last day's markets trade but its buying has not started (it waits for
    the day before to settle everywhere); some of the day before is still unsettled, with
    its buys open; the next day is listed where its markets have opened."""
    days = _rows(
        db,
        "SELECT m.event_date, count(DISTINCT m.id) FILTER (WHERE m.result IS NULL) AS open_markets,"
        " count(t.id) AS trades,"
        " count(t.id) FILTER (WHERE t.action = 'buy' AND t.open_qty_centi > 0"
        "   AND t.realized_pnl_micros IS NULL) AS open_buys"
        " FROM ops.markets m LEFT JOIN ops.trades t ON t.market_id = m.id"
        " WHERE m.event_date >= %s GROUP BY 1 ORDER BY 1",
        [END - timedelta(days=1)],
    )
    by_day = {d["event_date"]: d for d in days}
    assert by_day[END]["open_markets"] == 10 * (load_reference().brackets_per_event + 2)
    assert by_day[END]["trades"] == 0
    assert by_day[END - timedelta(days=1)]["open_buys"] > 0
    assert 0 < by_day[END - timedelta(days=1)]["open_markets"] < by_day[END]["open_markets"]
    tomorrow = END + timedelta(days=1)
    assert tomorrow in by_day and by_day[tomorrow]["trades"] == 0
    listed = {
        r["city_code"]
        for r in _rows(
            db, "SELECT DISTINCT city_code FROM ops.markets WHERE event_date = %s", [tomorrow]
        )
    }
    assert "DEN" in listed and "LAX" not in listed


def test_aggregates_equal_a_fresh_rebuild(generated: tuple[str, GenerationReport]) -> None:
    """Every pre-aggregate and roll-up the generator COPYs (with the roll-up triggers
    disabled) equals what analytics.rebuild_aggregates() and the triggers make of the rows."""
    url, report = generated
    rolled_up = {
        "analytics.pnl_city_day",
        "analytics.pnl_strategy_day",
        "analytics.signal_strategy_day",
        "analytics.account_totals",
    }
    assert all(report.counts[table] > 0 for table in rolled_up)
    with psycopg.connect(url) as conn:
        assert set(derived_snapshot(conn)) >= rolled_up
        assert_aggregates_equal_a_rebuild(conn)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            "ALTER TABLE analytics.pnl_daily ADD COLUMN hedged_cents bigint NOT NULL DEFAULT 0",
            r"analytics\.pnl_daily has column hedged_cents that the generator does not compute",
        ),
        (
            "ALTER TABLE analytics.signal_daily DROP COLUMN sq_err_sum",
            r"the generator expects column sq_err_sum that analytics\.signal_daily lacks",
        ),
    ],
    ids=["column added to the table", "column dropped from the table"],
)
def test_a_pre_aggregate_column_the_generator_does_not_define_stops_the_load(
    make_database: Callable[[], str], change: str, message: str
) -> None:
    """The generator's numpy aggregates and the migrations' must name the same columns: a
    measure added on one side only is refused before anything loads, naming the column."""
    url = make_database()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(change.encode())
    with pytest.raises(GeneratorError, match=message):
        _generate(url, trades=500)
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT count(*) FROM ops.markets").fetchone() == (0,)


CATALOG = """
SELECT 'constraint' AS kind, conrelid::regclass::text AS owner, conname AS name,
       pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END AS def
FROM pg_constraint WHERE connamespace::regnamespace::text IN ('ops', 'analytics')
UNION ALL
SELECT 'index', tablename, indexname, indexdef FROM pg_indexes
WHERE schemaname IN ('ops', 'analytics')
UNION ALL
SELECT 'trigger', tgrelid::regclass::text, tgname, tgenabled::text FROM pg_trigger
WHERE NOT tgisinternal
ORDER BY 1, 2, 3
"""


def test_keys_indexes_and_triggers_are_back_as_the_migrations_made_them(
    generated: tuple[str, GenerationReport], make_database: Callable[[], str]
) -> None:
    with psycopg.connect(make_database()) as fresh, psycopg.connect(generated[0]) as loaded:
        expected = fresh.execute(CATALOG).fetchall()
        assert len(expected) > 40
        assert loaded.execute(CATALOG).fetchall() == expected


def test_the_write_path_carries_on_after_a_load(make_database: Callable[[], str]) -> None:
    """The ids continue after the loaded ones and the re-enabled triggers keep the positions
    (a row written the way the write path writes it, in SQL: the write path itself is tested
    on its own)."""
    url = make_database()
    _generate(url, trades=2000)
    with psycopg.connect(url, autocommit=True) as conn:
        market = conn.execute(
            "SELECT ticker, id, city_code, event_date FROM ops.markets WHERE result IS NULL"
            " AND event_date = %s ORDER BY id LIMIT 1",
            [END],
        ).fetchone()
        assert market is not None
        row = conn.execute(
            "INSERT INTO ops.trades (account_id, client_trade_id, created_at, market_id, ticker,"
            " city_code, event_date, strategy_id, side, action, quantity_centi, price_micros,"
            " open_qty_centi, trade_fee_micros, is_taker)"
            " SELECT 1, 'after-load-1', %s, %s, %s, %s, %s, id, 'yes', 'buy', 300, 400000,"
            " 300, 5100, true FROM ops.strategies WHERE name = 'daily_high_temp' RETURNING id",
            [NOW, market[1], market[0], market[2], market[3]],
        ).fetchone()
        assert row is not None
        top = conn.execute("SELECT max(id) FROM ops.trades WHERE id <> %s", [row[0]]).fetchone()
        assert top is not None and row[0] == top[0] + 1
        assert_aggregates_equal_a_rebuild(conn)


def test_refuses_to_mix_with_existing_data_and_writes_nothing(
    generated: tuple[str, GenerationReport],
) -> None:
    url, report = generated
    with pytest.raises(
        GeneratorError, match=r"already holds [\d,]+ trades .*`milkbot generate-data --reset --yes`"
    ):
        _generate(url, seed=99)
    assert _digests(url)["ops.trades"][0] == report.counts["ops.trades"]


def test_reset_replaces_the_data(make_database: Callable[[], str]) -> None:
    url = make_database()
    _generate(url, seed=1, trades=2000)
    old = _digests(url)
    report = _generate(url, seed=2, trades=1000, reset=True)
    new = _digests(url)
    assert new["ops.trades"][0] == report.counts["ops.trades"]
    assert abs(report.counts["ops.trades"] - 1000) <= 20
    assert new["ops.trades"] != old["ops.trades"]
    with psycopg.connect(url) as conn:
        assert conn.execute("SELECT min(id) FROM ops.trades").fetchone() == (1,)


def test_a_failed_reset_leaves_the_old_data_intact(
    make_database: Callable[[], str],
) -> None:
    url = make_database()
    _generate(url, seed=1, trades=2000)
    before = _digests(url)
    with psycopg.connect(url) as conn:
        catalog = conn.execute(CATALOG).fetchall()

    def fail_halfway(phase: str, done: int, total: int) -> None:
        if phase == "trades" and done > 0:
            raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        _generate(url, seed=2, trades=2000, reset=True, progress=fail_halfway)
    assert _digests(url) == before
    with psycopg.connect(url) as conn:
        assert conn.execute(CATALOG).fetchall() == catalog


def test_bad_arguments_name_what_to_fix(db_url: str) -> None:
    with pytest.raises(GeneratorError, match="trades"):
        generate_dataset(db_url, trades=-1)
    with pytest.raises(GeneratorError, match="days"):
        generate_dataset(db_url, days=0)
    with pytest.raises(GeneratorError, match="--end-date"):
        generate_dataset(db_url, end_date=NOW.date() + timedelta(days=3), now=NOW)


runner = CliRunner()


def test_cli_refuses_to_reset_without_yes_when_not_on_a_terminal(
    generated: tuple[str, GenerationReport],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, report = generated
    monkeypatch.setenv("MILKBOT_DATABASE_URL", url)
    result = runner.invoke(app, ["generate-data", "--trades", "100", "--reset"])
    assert result.exit_code != 0
    assert "--yes" in result.output
    assert _digests(url)["ops.trades"][0] == report.counts["ops.trades"]


@pytest.mark.parametrize(
    ("args", "flag"),
    [
        (["--trades", "-5"], "--trades"),
        (["--days", "0"], "--days"),
        (["--days", "4000"], "--days"),
        (["--end-date", "26-11-2026"], "--end-date"),
    ],
)
def test_cli_rejects_bad_values_naming_the_flag(
    args: list[str],
    flag: str,
    monkeypatch: pytest.MonkeyPatch,
    db_url: str,
) -> None:
    monkeypatch.setenv("MILKBOT_DATABASE_URL", db_url)
    result = runner.invoke(app, ["generate-data", *args])
    assert result.exit_code != 0
    assert flag in result.output


def test_cli_generates_and_prints_a_summary(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MILKBOT_DATABASE_URL", db_url)
    result = runner.invoke(
        app,
        [
            "generate-data",
            "--trades",
            "500",
            "--days",
            "30",
            "--seed",
            "3",
            "--end-date",
            "2026-03-01",
        ],
    )
    assert result.exit_code == 0, result.output
    with psycopg.connect(db_url) as conn:
        count = conn.execute("SELECT count(*) FROM ops.trades").fetchone()
    assert count is not None and f"{count[0]:,}" in result.output
    assert "ops.trades" in result.output


def test_cli_sizes_trades_on_the_bankroll_setting(
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A $100 bankroll is the default account's: its first day's buys cost at most 2 % of it,
    $2, each (one contract at most $2, or nothing)."""
    monkeypatch.setenv("MILKBOT_DATABASE_URL", db_url)
    monkeypatch.setenv("MILKBOT_STARTING_BANKROLL_CENTS", "10000")
    args = ["generate-data", "--trades", "500", "--days", "30", "--end-date", "2026-03-01"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT (SELECT starting_bankroll_micros FROM ops.accounts WHERE id = 1),"
            " count(*), max(price_micros * quantity_centi / 100) FROM ops.trades"
            " WHERE action = 'buy' AND account_id = 1"
            " AND event_date = (SELECT min(event_date) FROM ops.trades WHERE account_id = 1)"
        ).fetchone()
    assert row is not None and row[0] == 100_000_000 and row[1] > 0
    assert row[2] <= 2_000_000
