"""The paper bots: one :meth:`Simulator.cycle` lists, settles, and lets every bot signal, trade
and report health, each as its own account.

Every write goes through :mod:`milkbot.store.writes` (the path the real bot uses) on the
simulator's own synchronous connection; the few reads it needs (which events exist, what is
held, what is left to settle, how much room the account's limits leave) are the constants
below and :func:`milkbot.store.limits.headroom`. Time comes from an injected clock, and every
random draw from the seed and that time (see :mod:`milkbot.simulator.weather`), so tests drive
cycles without sleeping and two runs with the same seed and clock write the same rows.

Each bot (:class:`Bot`) trades one strategy for one account. Its buys are sized inside the
room the account's risk limits leave (docs/DOMAIN.md, "Accounts, limits and fees"), so in
normal running the write path never refuses one; if another writer of the same account takes
the room first, the refusal is logged and the bot moves on. Simulated fills carry no fee
parts: the write path charges Kalshi's formula. A share of the markets it lists trade on the
``tapered_deci_cent`` grid with fractional counts, as some of Kalshi's do.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import structlog

from milkbot import money
from milkbot.market import (
    Bracket,
    climate_day,
    climate_day_bounds,
    event_brackets,
    event_ticker,
    trading_hours,
)
from milkbot.money import PriceLevelStructure
from milkbot.reference import City, Reference, load_reference
from milkbot.settings import HEARTBEAT_MAX_SKEW_S
from milkbot.simulator.weather import DayWeather, bracket_probability, day_weather, yes_price
from milkbot.store.limits import account_named, headroom
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

# The strategies the simulator has a model for (reference.toml's [[strategies]]).
STRATEGIES = ("daily_high_temp", "mean_reversion", "nowcast", "ensemble")
# Every third city (in reference order) lists its markets on the tapered grid, with
# fractional counts.
TAPERED_EVERY = 3


@dataclass(frozen=True, slots=True)
class Bot:
    """One paper bot: the account it trades as, its strategy, at most how many new positions
    a cycle, how many cities it prices a cycle, and what share (basis points) of the room its
    limits leave one buy may use."""

    account: str
    strategy: str = "daily_high_temp"
    max_buys_per_cycle: int = 1
    cities_per_cycle: int = 1
    size_bp: int = 5_000

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(
                f"no simulated model for strategy {self.strategy!r}; known: {', '.join(STRATEGIES)}"
            )
        if not 1 <= self.size_bp <= 10_000:
            raise ValueError(f"size_bp must be 1..10000 basis points, not {self.size_bp}")
        if self.max_buys_per_cycle < 0 or self.cities_per_cycle < 1:
            raise ValueError("max_buys_per_cycle must be >= 0 and cities_per_cycle >= 1")


def market_structure(ref: Reference, city: City) -> PriceLevelStructure:
    """The tick grid the simulator lists ``city``'s markets on."""
    index = ref.city_codes.index(city.code)
    return "tapered_deci_cent" if index % TAPERED_EVERY == TAPERED_EVERY - 1 else "linear_cent"


def model_probability(
    strategy: str,
    bracket: Bracket,
    weather: DayWeather,
    city: City,
    day: date,
    at: datetime,
    sigma_f: float,
) -> float:
    """The probability ``strategy``'s model gives ``bracket`` at ``at`` (0..1).

    daily_high_temp: normal around the bot's forecast. mean_reversion: the forecast pulled a
    quarter of the way back to climatology, a wider sigma. nowcast: the forecast drawn toward
    the day's observed high as the climate day passes, sigma shrinking with it. ensemble: the
    mean of the three."""
    if strategy == "daily_high_temp":
        return bracket_probability(bracket, weather.bot_forecast_f, sigma_f)
    if strategy == "mean_reversion":
        pulled = 0.75 * weather.bot_forecast_f + 0.25 * city.climate.normal_high(day)
        return bracket_probability(bracket, pulled, sigma_f * 1.2)
    if strategy == "nowcast":
        start, end = climate_day_bounds(city.timezone, day)
        elapsed = min(max((at - start) / (end - start), 0.0), 1.0)
        drawn = weather.bot_forecast_f + 0.8 * elapsed * (
            weather.actual_high_f - weather.bot_forecast_f
        )
        return bracket_probability(bracket, drawn, sigma_f * (1.0 - 0.6 * elapsed))
    if strategy == "ensemble":
        parts = [
            model_probability(s, bracket, weather, city, day, at, sigma_f)
            for s in ("daily_high_temp", "mean_reversion", "nowcast")
        ]
        return sum(parts) / len(parts)
    raise ValueError(f"no simulated model for strategy {strategy!r}")


_LISTED_EVENTS_SQL = "SELECT DISTINCT event_ticker FROM ops.markets WHERE event_ticker = ANY(%s)"

_EVENT_MARKETS_SQL = """
SELECT id, ticker, floor_f, cap_f, opened_at, closes_at, price_level_structure,
       fractional_trading_enabled
FROM ops.markets
WHERE event_ticker = %s AND result IS NULL
ORDER BY floor_f NULLS FIRST, id
"""

_HELD_SQL = """
SELECT p.market_id, p.side, p.open_qty_centi
FROM ops.positions p JOIN ops.strategies s ON s.id = p.strategy_id
JOIN ops.accounts a ON a.id = p.account_id
WHERE a.name = %s AND s.name = %s AND p.market_id = ANY(%s) AND p.open_qty_centi > 0
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
    city: City
    event_date: date
    fractional: bool
    yes_price: int  # micros
    model_prob: float


class Simulator:
    """Paper-trading bots over the ten cities' daily-high events.

    ``now`` is the clock (UTC-aware datetimes); ``seed`` fixes every draw; ``bots`` are the
    bots, each trading as its own account (default: one bot, ``account`` trading ``strategy``,
    pricing ``cities_per_cycle`` cities and opening at most ``max_buys_per_cycle`` positions a
    cycle); ``heartbeat_max_skew_s`` is how far ahead of the database clock heartbeats may be
    dated (MILKBOT_HEARTBEAT_MAX_SKEW_S). Call :meth:`cycle` repeatedly and :meth:`close` at
    the end.
    """

    def __init__(
        self,
        url: str,
        *,
        seed: int = 42,
        now: Callable[[], datetime] = utc_now,
        bots: Sequence[Bot] | None = None,
        account: str = "default",
        strategy: str = "daily_high_temp",
        cities_per_cycle: int = 1,
        max_buys_per_cycle: int = 1,
        heartbeat_max_skew_s: float = HEARTBEAT_MAX_SKEW_S,
    ) -> None:
        self.url = url
        self.seed = seed
        self.bots: tuple[Bot, ...] = (
            tuple(bots)
            if bots is not None
            else (Bot(account, strategy, max_buys_per_cycle, cities_per_cycle),)
        )
        if not self.bots:
            raise ValueError("the simulator needs at least one bot")
        accounts = [b.account for b in self.bots]
        if len(set(accounts)) != len(accounts):
            raise ValueError(f"each bot needs its own account; given {accounts}")
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
        """Run one cycle at the clock's current time and return what it wrote (over all
        bots)."""
        at = self._now()
        if at.tzinfo is None:
            raise ValueError("the simulator clock must return timezone-aware datetimes")
        at = at.astimezone(UTC)
        conn = self._connection()
        listed = sum(self._list_events(conn, city, at) for city in self._ref.cities)
        settled = self._settle_ended(conn, at)
        signals = trades = 0
        for bot in self.bots:
            s, t = self._bot_cycle(conn, bot, at)
            signals += s
            trades += t
        report = CycleReport(at, listed, signals, trades, settled)
        log.debug("simulator_cycle", **report.log_fields())
        return report

    def _bot_cycle(self, conn: psycopg.Connection, bot: Bot, at: datetime) -> tuple[int, int]:
        """One bot's turn: price its cities' events, trade, post its heartbeats."""
        account_named(conn, bot.account)  # an unknown account fails the cycle, naming it
        rng = random.Random(f"{self.seed}:cycle:{bot.account}:{at.isoformat()}")
        k = min(bot.cities_per_cycle, len(self._ref.cities))
        cities = sorted(rng.sample(list(self._ref.cities), k), key=lambda c: c.code)
        quotes: list[_Quote] = []
        for city in cities:
            for day in self._trading_days(city, at):
                quotes += self._price_event(conn, bot, city, day, at)
        trades = self._trade(conn, bot, quotes, at, rng)
        post_heartbeat(
            conn,
            HeartbeatIn(
                account=bot.account,
                component="trader",
                message=f"paper cycle: {plural(len(quotes), 'signal')}, {plural(trades, 'trade')}",
                observed_at=at,
            ),
            self.heartbeat_max_skew_s,
        )
        post_heartbeat(
            conn,
            HeartbeatIn(
                account=bot.account,
                component="market_data",
                message=(
                    f"prices for {plural(len(quotes), 'market')} in "
                    f"{plural(len(cities), 'city', 'cities')}"
                ),
                observed_at=at,
            ),
            self.heartbeat_max_skew_s,
        )
        return len(quotes), trades

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
            structure = market_structure(self._ref, city)
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
                            price_level_structure=structure,
                            fractional_trading_enabled=structure != "linear_cent",
                        ),
                    )
                    written += 1
        return written

    def _price_event(
        self, conn: psycopg.Connection, bot: Bot, city: City, day: date, at: datetime
    ) -> list[_Quote]:
        """Price every open market of the city's event on ``day`` and record the bot's signal
        for each."""
        weather = day_weather(self.seed, city, day)
        quotes: list[_Quote] = []
        markets = conn.execute(_EVENT_MARKETS_SQL, [event_ticker(city, day)]).fetchall()
        # One commit for the event's signals (each write's own transaction becomes a savepoint).
        with conn.transaction():
            for market in markets:
                quote = self._price_market(conn, bot, market, city, day, weather, at)
                if quote is not None:
                    quotes.append(quote)
        return quotes

    def _price_market(
        self,
        conn: psycopg.Connection,
        bot: Bot,
        market: tuple[Any, ...],
        city: City,
        day: date,
        weather: DayWeather,
        at: datetime,
    ) -> _Quote | None:
        market_id, ticker, floor_f, cap_f, opened_at, closes_at, structure, fractional = market
        if not opened_at <= at < closes_at:
            return None
        sigma = self._ref.model_sigma_f
        bracket = Bracket(floor_f, cap_f)
        price = yes_price(self.seed, at, ticker, bracket, weather, sigma, structure)
        prob = model_probability(bot.strategy, bracket, weather, city, day, at, sigma)
        edge = prob - price / money.MICROS_PER_DOLLAR
        min_edge = self._ref.min_edge
        decision = "BUY" if edge >= min_edge else "SELL" if edge <= -min_edge else "HOLD"
        record_signal(
            conn,
            SignalIn(
                account=bot.account,
                strategy=bot.strategy,
                ticker=ticker,
                created_at=at,
                model_prob=round(prob, 6),
                yes_price_dollars=money.to_dollars(price),
                decision=decision,
                forecast_high_f=round(weather.bot_forecast_f, 1),
            ),
        )
        return _Quote(int(market_id), ticker, city, day, bool(fractional), price, prob)

    def _trade(
        self,
        conn: psycopg.Connection,
        bot: Bot,
        quotes: list[_Quote],
        at: datetime,
        rng: random.Random,
    ) -> int:
        """Sell positions the model now thinks overpriced, then buy the best edges (YES when the
        model is above the price, NO when below), each sized inside the room the account's
        limits leave. Returns the number of fills recorded."""
        if not quotes:
            return 0
        held = {
            (int(mid), str(side)): int(qty)
            for mid, side, qty in conn.execute(
                _HELD_SQL, [bot.account, bot.strategy, [q.market_id for q in quotes]]
            )
        }
        min_edge = self._ref.min_edge
        fills = 0
        for q in quotes:
            for side in ("yes", "no"):
                qty = held.get((q.market_id, side), 0)
                price, prob = _side_terms(q, side)
                if qty and prob < price / money.MICROS_PER_DOLLAR - min_edge:
                    fills += self._fill(conn, bot, q, side, "sell", qty, at)
        held_markets = {mid for mid, _ in held}
        candidates = sorted(
            (q for q in quotes if q.market_id not in held_markets),
            key=lambda q: abs(q.model_prob - q.yes_price / money.MICROS_PER_DOLLAR),
            reverse=True,
        )
        account = account_named(conn, bot.account)
        for q in candidates[: bot.max_buys_per_cycle]:
            edge = q.model_prob - q.yes_price / money.MICROS_PER_DOLLAR
            if abs(edge) < min_edge:
                break
            side = "yes" if edge > 0 else "no"
            price, _ = _side_terms(q, side)
            room = headroom(conn, account, q.city.code, q.city.cluster, q.event_date)
            budget = room.max_cost_micros * bot.size_bp // 10_000
            # The most contracts the budget buys: hundredths where the market allows them.
            unit = 1 if q.fractional else money.CENTI_PER_CONTRACT
            cap = budget * money.CENTI_PER_CONTRACT // price // unit * unit
            wanted = rng.randint(1, 10) * money.CENTI_PER_CONTRACT
            if q.fractional:
                wanted += rng.randrange(0, money.CENTI_PER_CONTRACT)
            qty = min(wanted, cap)
            if qty <= 0:
                continue
            fills += self._fill(conn, bot, q, side, "buy", qty, at)
        return fills

    def _fill(
        self,
        conn: psycopg.Connection,
        bot: Bot,
        q: _Quote,
        side: str,
        action: str,
        quantity_centi: int,
        at: datetime,
    ) -> int:
        price, prob = _side_terms(q, side)
        try:
            recorded = record_trade(
                conn,
                TradeIn(
                    account=bot.account,
                    client_trade_id=f"sim{self.seed}-{q.ticker}-{side}-{action}-{at:%Y%m%dT%H%M%S%f}",
                    ticker=q.ticker,
                    strategy=bot.strategy,
                    side=side,
                    action=action,
                    count=Decimal(money.format_count(quantity_centi)),
                    price_dollars=money.to_dollars(price),
                    executed_at=at,
                    model_prob=round(prob, 6),
                ),
            )
        except WriteError as exc:
            event = (
                "simulator_buy_refused" if exc.code == "risk_limit" else "simulator_trade_refused"
            )
            log.warning(event, account=bot.account, ticker=q.ticker, error=exc.message)
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
    """Price (micros) and model probability of winning for one side of a quoted market."""
    if side == "yes":
        return q.yes_price, q.model_prob
    return money.MICROS_PER_DOLLAR - q.yes_price, 1.0 - q.model_prob
