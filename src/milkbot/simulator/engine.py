"""The paper bot: one :meth:`Simulator.cycle` lists, signals, trades, settles and reports health.

Every write goes through :mod:`milkbot.store.writes` (the path the real bot uses) on the
simulator's own synchronous connection; the few reads it needs (which events exist, what is
held, what is left to settle) are the constants below. Time comes from an injected clock, and
every random draw from the seed and that time (see :mod:`milkbot.simulator.weather`), so tests
drive cycles without sleeping and two runs with the same seed and clock write the same rows.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import psycopg
import structlog

from milkbot.market import (
    Bracket,
    climate_day,
    climate_day_bounds,
    event_brackets,
    event_ticker,
    trading_hours,
)
from milkbot.reference import City, Reference, load_reference
from milkbot.settings import HEARTBEAT_MAX_SKEW_S, STARTING_BANKROLL_CENTS
from milkbot.simulator.weather import DayWeather, bracket_probability, day_weather, yes_price
from milkbot.store.models import HeartbeatIn, MarketIn, SettlementIn, SignalIn, TradeIn
from milkbot.store.writes import (
    WriteError,
    post_heartbeat,
    record_market,
    record_signal,
    record_trade,
    settle_event,
)
from milkbot.words import plural

log = structlog.get_logger(__name__)

_LISTED_EVENTS_SQL = "SELECT DISTINCT event_ticker FROM ops.markets WHERE event_ticker = ANY(%s)"

_EVENT_MARKETS_SQL = """
SELECT id, ticker, floor_f, cap_f, opened_at, closes_at
FROM ops.markets
WHERE event_ticker = %s AND result IS NULL
ORDER BY floor_f NULLS FIRST, id
"""

_HELD_SQL = """
SELECT p.market_id, p.side, p.open_qty
FROM ops.positions p JOIN ops.strategies s ON s.id = p.strategy_id
WHERE s.name = %s AND p.market_id = ANY(%s) AND p.open_qty > 0
"""

# Candidates only: a climate day D ends between 05:00 and 08:00 UTC on D + 1 for these cities,
# so any event that can have ended has event_date <= the UTC date - 1; the exact end is checked
# per city.
_UNSETTLED_EVENTS_SQL = """
SELECT DISTINCT event_ticker, city_code, event_date
FROM ops.markets
WHERE result IS NULL AND event_date <= %s
ORDER BY event_date, event_ticker
"""


def utc_now() -> datetime:
    """The real clock, in UTC (the default for :class:`Simulator`)."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class CycleReport:
    """What one cycle wrote: markets listed, signals, trades (buys and sells) and settled
    events, at the cycle's time (UTC)."""

    at: datetime
    markets_listed: int
    signals: int
    trades: int
    settled_events: int

    def log_fields(self) -> dict[str, object]:
        """This report as structured-log fields."""
        return {
            "at": self.at.isoformat(),
            "markets_listed": self.markets_listed,
            "signals": self.signals,
            "trades": self.trades,
            "settled_events": self.settled_events,
        }


@dataclass(frozen=True, slots=True)
class _Quote:
    market_id: int
    ticker: str
    yes_price: int
    model_prob: float


class Simulator:
    """A paper-trading bot over the ten cities' daily-high events.

    ``now`` is the clock (UTC-aware datetimes); ``seed`` fixes every draw; ``cities_per_cycle``
    is how many cities' events the bot prices each cycle; ``max_buys_per_cycle`` bounds new
    positions per cycle; ``heartbeat_max_skew_s`` is how far ahead of the database clock its
    heartbeats may be dated (MILKBOT_HEARTBEAT_MAX_SKEW_S). Call :meth:`cycle` repeatedly and
    :meth:`close` at the end.
    """

    def __init__(
        self,
        url: str,
        *,
        seed: int = 42,
        now: Callable[[], datetime] = utc_now,
        strategy: str = "daily_high_temp",
        bankroll_cents: int = STARTING_BANKROLL_CENTS,
        cities_per_cycle: int = 1,
        max_buys_per_cycle: int = 1,
        heartbeat_max_skew_s: float = HEARTBEAT_MAX_SKEW_S,
    ) -> None:
        self.url = url
        self.seed = seed
        self.strategy = strategy
        self.bankroll_cents = bankroll_cents
        self.cities_per_cycle = cities_per_cycle
        self.max_buys_per_cycle = max_buys_per_cycle
        self.heartbeat_max_skew_s = heartbeat_max_skew_s
        self._now = now
        self._ref: Reference = load_reference()
        self._conn: psycopg.Connection | None = None

    def close(self) -> None:
        """Close the simulator's database connection (the next cycle reopens it)."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed or self._conn.broken:
            self._conn = psycopg.connect(self.url, autocommit=True)
        return self._conn

    def cycle(self) -> CycleReport:
        """Run one cycle at the clock's current time and return what it wrote."""
        at = self._now()
        if at.tzinfo is None:
            raise ValueError("the simulator clock must return timezone-aware datetimes")
        at = at.astimezone(UTC)
        conn = self._connection()
        listed = sum(self._list_events(conn, city, at) for city in self._ref.cities)
        settled = self._settle_ended(conn, at)
        rng = random.Random(f"{self.seed}:cycle:{at.isoformat()}")
        k = min(self.cities_per_cycle, len(self._ref.cities))
        cities = sorted(rng.sample(list(self._ref.cities), k), key=lambda c: c.code)
        quotes: list[_Quote] = []
        for city in cities:
            for day in self._trading_days(city, at):
                quotes += self._price_event(conn, city, day, at)
        trades = self._trade(conn, quotes, at, rng)
        post_heartbeat(
            conn,
            HeartbeatIn(
                component="trader",
                message=f"paper cycle: {plural(len(quotes), 'signal')}, {plural(trades, 'trade')}",
                observed_at=at,
            ),
            self.heartbeat_max_skew_s,
        )
        post_heartbeat(
            conn,
            HeartbeatIn(
                component="market_data",
                message=(
                    f"prices for {plural(len(quotes), 'market')} in "
                    f"{plural(len(cities), 'city', 'cities')}"
                ),
                observed_at=at,
            ),
            self.heartbeat_max_skew_s,
        )
        report = CycleReport(at, listed, len(quotes), trades, settled)
        log.debug("simulator_cycle", **report.log_fields())
        return report

    def _trading_days(self, city: City, at: datetime) -> tuple[date, date]:
        today = climate_day(city.timezone, at)
        return today, today + timedelta(days=1)

    def _list_events(self, conn: psycopg.Connection, city: City, at: datetime) -> int:
        """List today's and tomorrow's events of ``city`` unless they exist; markets written."""
        days = self._trading_days(city, at)
        tickers = [event_ticker(city, d) for d in days]
        listed = {row[0] for row in conn.execute(_LISTED_EVENTS_SQL, [tickers])}
        written = 0
        for day, event in zip(days, tickers, strict=True):
            if event in listed:
                continue
            weather = day_weather(self.seed, city, day)
            opens, closes = trading_hours(city.timezone, day)
            brackets = event_brackets(
                weather.bot_forecast_f, self._ref.bracket_width_f, self._ref.brackets_per_event
            )
            with conn.transaction():  # the event's markets together, or none of them
                for bracket in brackets:
                    record_market(
                        conn,
                        MarketIn(
                            ticker=bracket.ticker(event),
                            event_ticker=event,
                            city_code=city.code,
                            event_date=day,
                            floor_f=bracket.floor_f,
                            cap_f=bracket.cap_f,
                            title=bracket.title(city, day),
                            opened_at=opens,
                            closes_at=closes,
                        ),
                    )
                    written += 1
        return written

    def _price_event(
        self, conn: psycopg.Connection, city: City, day: date, at: datetime
    ) -> list[_Quote]:
        """Price every open market of the city's event on ``day`` and record a signal for each."""
        weather = day_weather(self.seed, city, day)
        quotes: list[_Quote] = []
        markets = conn.execute(_EVENT_MARKETS_SQL, [event_ticker(city, day)]).fetchall()
        # One commit for the event's signals (each write's own transaction becomes a savepoint).
        with conn.transaction():
            for market in markets:
                quote = self._price_market(conn, market, weather, at)
                if quote is not None:
                    quotes.append(quote)
        return quotes

    def _price_market(
        self, conn: psycopg.Connection, market: tuple[Any, ...], weather: DayWeather, at: datetime
    ) -> _Quote | None:
        market_id, ticker, floor_f, cap_f, opened_at, closes_at = market
        if not opened_at <= at < closes_at:
            return None
        sigma = self._ref.model_sigma_f
        bracket = Bracket(floor_f, cap_f)
        price = yes_price(self.seed, at, ticker, bracket, weather, sigma)
        prob = bracket_probability(bracket, weather.bot_forecast_f, sigma)
        edge = prob - price / 100
        min_edge = self._ref.min_edge
        decision = "BUY" if edge >= min_edge else "SELL" if edge <= -min_edge else "HOLD"
        record_signal(
            conn,
            SignalIn(
                strategy=self.strategy,
                ticker=ticker,
                created_at=at,
                model_prob=round(prob, 6),
                yes_price=price,
                decision=decision,
                forecast_high_f=round(weather.bot_forecast_f, 1),
            ),
        )
        return _Quote(int(market_id), ticker, price, prob)

    def _trade(
        self, conn: psycopg.Connection, quotes: list[_Quote], at: datetime, rng: random.Random
    ) -> int:
        """Sell positions the model now thinks overpriced, then buy the best edges (YES when the
        model is above the price, NO when below). Returns the number of fills recorded."""
        if not quotes:
            return 0
        held = {
            (int(mid), str(side)): int(qty)
            for mid, side, qty in conn.execute(
                _HELD_SQL, [self.strategy, [q.market_id for q in quotes]]
            )
        }
        min_edge = self._ref.min_edge
        fills = 0
        for q in quotes:
            for side in ("yes", "no"):
                qty = held.get((q.market_id, side), 0)
                price, prob = _side_terms(q, side)
                if qty and prob < price / 100 - min_edge:
                    fills += self._fill(conn, q, side, "sell", qty, at)
        held_markets = {mid for mid, _ in held}
        candidates = sorted(
            (q for q in quotes if q.market_id not in held_markets),
            key=lambda q: abs(q.model_prob - q.yes_price / 100),
            reverse=True,
        )
        for q in candidates[: self.max_buys_per_cycle]:
            edge = q.model_prob - q.yes_price / 100
            if abs(edge) < min_edge:
                break
            side = "yes" if edge > 0 else "no"
            price, _ = _side_terms(q, side)
            # At most 2 % of the bankroll on one trade (docs/DOMAIN.md's per-trade limit).
            cap = max(1, self.bankroll_cents * 2 // 100 // price)
            fills += self._fill(conn, q, side, "buy", min(rng.randint(1, 10), cap), at)
        return fills

    def _fill(
        self, conn: psycopg.Connection, q: _Quote, side: str, action: str, qty: int, at: datetime
    ) -> int:
        price, prob = _side_terms(q, side)
        try:
            recorded = record_trade(
                conn,
                TradeIn(
                    client_trade_id=f"sim{self.seed}-{q.ticker}-{side}-{action}-{at:%Y%m%dT%H%M%S%f}",
                    ticker=q.ticker,
                    strategy=self.strategy,
                    side=side,
                    action=action,
                    quantity=qty,
                    price=price,
                    executed_at=at,
                    model_prob=round(prob, 6),
                ),
            )
        except WriteError as exc:
            log.warning("simulator_trade_refused", ticker=q.ticker, error=exc.message)
            return 0
        return 0 if recorded.duplicate else 1

    def _settle_ended(self, conn: psycopg.Connection, at: datetime) -> int:
        """Settle every event whose climate day has ended, from the day's drawn actual high."""
        settled = 0
        for event, city_code, day in conn.execute(
            _UNSETTLED_EVENTS_SQL, [at.date() - timedelta(days=1)]
        ).fetchall():
            city = self._ref.city(city_code)
            if climate_day_bounds(city.timezone, day)[1] > at:
                continue
            high = day_weather(self.seed, city, day).actual_high_f
            try:
                settle_event(
                    conn,
                    SettlementIn(event_ticker=event, observed_high_f=high, settled_at=at),
                )
            except WriteError as exc:
                # An event listed by something else may not cover every temperature.
                log.warning("simulator_settlement_refused", event=event, error=exc.message)
                continue
            settled += 1
        return settled


def _side_terms(q: _Quote, side: str) -> tuple[int, float]:
    """Price (cents) and model probability of winning for one side of a quoted market."""
    if side == "yes":
        return q.yes_price, q.model_prob
    return 100 - q.yes_price, 1.0 - q.model_prob
