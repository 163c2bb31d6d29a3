"""The seeded, realistic data generator shared by the CLI, the tests and the benchmarks.

:func:`generate_dataset` fills a migrated database with a history of Milkbot accounts trading the
ten cities' daily-high markets (docs/DOMAIN.md, "Generated data"): the flagship ``default``
account and as many paper, replay, live and shadow accounts as the trade target needs
(accounts.py), daily highs from each city's climatology, one event per city and climate day
with its bracket markets (some on the tapered deci-cent grid, some with fractional counts),
each account's signals and the trades where their edge cleared the threshold, sized within the
account's risk limits day by day (trades.py), a few sales before settlement, settlements that
follow from the drawn highs (so the P&L follows from the data), open positions at the end,
deposits, heartbeats. The same arguments give the same rows, ids included.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import numpy as np
import psycopg

from milkbot.generator import loader
from milkbot.generator.accounts import Accounts, plan_accounts
from milkbot.generator.aggregates import (
    AGGREGATE_TABLE_COLUMNS,
    AGGREGATE_TABLES,
    RUN_AGGREGATES,
    Grouped,
    merge,
)
from milkbot.generator.blocks import (
    SIGNAL_COLUMNS,
    TRADE_COLUMNS,
    EncodedBlock,
    generate_blocks,
    plan_blocks,
    prefetch,
)
from milkbot.generator.heartbeats import HEARTBEAT_COLUMNS, heartbeat_rows
from milkbot.generator.listing import MARKET_COLUMNS, build_listing, market_columns
from milkbot.generator.plan import GeneratorError, Plan, day_number, make_plan
from milkbot.generator.strategy import Strategies
from milkbot.generator.trades import Book
from milkbot.money import CENT_MICROS
from milkbot.reference import load_reference
from milkbot.settings import STARTING_BANKROLL_CENTS

__all__ = ["GenerationReport", "GeneratorError", "Progress", "generate_dataset"]

Progress = Callable[[str, int, int], None]
"""``progress(phase, done, total)``: phases "markets", "trades", "aggregates", "analyze",
"indexes", "heartbeats"; for "trades" the counts are trades loaded and the target."""


@dataclass(frozen=True, slots=True)
class GenerationReport:
    """What a run loaded: rows per table, the days covered, and seconds per phase."""

    seed: int
    days: int
    first_day: date
    end_date: date
    now: datetime
    counts: dict[str, int]
    sales: int
    open_trades: int
    phase_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    server_version: str = ""


def generate_dataset(
    url: str,
    *,
    trades: int | None = None,
    days: int | None = None,
    seed: int = 42,
    end_date: date | None = None,
    now: datetime | None = None,
    bankroll_cents: int = STARTING_BANKROLL_CENTS,
    reset: bool = False,
    progress: Progress | None = None,
) -> GenerationReport:
    """Generate a history into the migrated database at ``url`` and return what was loaded.

    ``trades`` is the target trade count (the result is within 2 %, normally exact); ``days``
    the number of settlement days ending at ``end_date`` (default: today's UTC date); ``now``
    the generation instant (default: the clock; no trade, signal or heartbeat is later);
    ``bankroll_cents`` the bankroll the trades are sized to (default: the setting's default,
    MILKBOT_STARTING_BANKROLL_CENTS, so seeded output does not follow the environment). With
    data already present it raises :class:`GeneratorError` unless ``reset``, which wipes the
    ops and analytics data in the same transaction as the load. Raises GeneratorError for bad
    arguments, naming them.
    """
    plan = make_plan(
        trades=trades,
        days=days,
        seed=seed,
        end_date=end_date,
        now=now,
        bankroll_cents=bankroll_cents,
    )
    run = _Run(plan, progress or (lambda phase, done, total: None))
    with psycopg.connect(url, autocommit=True) as conn:
        with conn.transaction():
            run.load(conn, reset)
        run.lap("commit")  # includes removing the files of wiped tables
    return run.result()


def _instant(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


class _Run:
    """One generation: the phases of the load transaction and their timings."""

    def __init__(self, plan: Plan, progress: Progress) -> None:
        self.plan = plan
        self.progress = progress
        self.seconds: dict[str, float] = {}
        self.counts: dict[str, int] = {}
        self.sales = 0
        self.open_trades = 0
        self.version = ""
        self.accounts = 0
        self.started = self._clock = time.perf_counter()

    def lap(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._clock
        self._clock = now

    def load(self, conn: psycopg.Connection, reset: bool) -> None:
        plan, ref = self.plan, load_reference()
        version = conn.execute("SHOW server_version").fetchone()
        self.version = str(version[0]) if version else ""
        ids = loader.prepare(conn, reset, ref.strategy_names)
        loader.set_default_bankroll(conn, plan.bankroll_cents * CENT_MICROS)
        loader.check_columns(conn, AGGREGATE_TABLE_COLUMNS)
        first_id = loader.clear_generated_accounts(conn)
        accounts = plan_accounts(
            plan, ref.strategy_names, first_id, np.random.default_rng([plan.seed, 4])
        )
        self._insert_accounts(conn, accounts, ids, ref.strategy_names)
        strategies = Strategies.lanes(ids, ref.strategy_names, accounts)
        book = Book.opening(accounts)
        listing = build_listing(
            plan, ref, np.random.default_rng([plan.seed, 0]), np.random.default_rng([plan.seed, 3])
        )
        specs = plan_blocks(plan, listing, strategies)
        aside = loader.set_aside(conn)
        self.lap("prepare")

        markets = listing.events * listing.per_event
        self.progress("markets", 0, markets)
        loader.copy_columns(conn, "ops.markets", MARKET_COLUMNS, market_columns(listing))
        loader.set_fee_rates(conn, ref.taker_fee_rate, ref.maker_fee_rate)
        self.counts["ops.markets"] = markets
        self.progress("markets", markets, markets)
        self.lap("markets")

        self.counts["ops.signals"] = self.counts["ops.trades"] = 0
        self.progress("trades", 0, plan.trades)
        # No group of an aggregate spans two blocks but account_totals', and the aggregates'
        # triggers are disabled during the load (loader.set_aside), so each block's rows go in
        # with the block's; account_totals' partial sums are added up after the last block.
        partial: dict[str, list[Grouped]] = {a.table: [] for a in RUN_AGGREGATES}
        produced = generate_blocks(plan, ref, listing, strategies, accounts, book, specs)
        for block in prefetch(produced):
            self._copy_block(conn, block)
            for table, rows in block.aggregates.rows.items():
                loader.copy_rows(conn, table, AGGREGATE_TABLES[table], [rows])
                self.counts[table] = self.counts.get(table, 0) + block.aggregates.counts[table]
            for table, part in block.aggregates.partial.items():
                partial[table].append(part)
        self.lap("load")

        self.progress("aggregates", 0, len(partial))
        for done, (table, parts) in enumerate(partial.items(), 1):
            if parts:
                totals = merge(parts)
                loader.copy_rows(conn, table, AGGREGATE_TABLES[table], [totals.encode()])
                self.counts[table] = totals.count
            self.progress("aggregates", done, len(partial))
        loader.mark_fresh(conn)
        self.lap("aggregates")

        self.progress("analyze", 0, 1)
        loader.analyze_loaded(conn)
        self.progress("analyze", 1, 1)
        self.lap("analyze")

        loader.restore(conn, aside, lambda done, total: self.progress("indexes", done, total))
        self.lap("indexes")

        loader.insert_rows(
            conn,
            "ops.account_transfers",
            loader.TRANSFER_COLUMNS,
            (
                [
                    int(accounts.ids[a]),
                    f"gen-deposit-{int(accounts.ids[a])}-{when}",
                    _instant(when),
                    amount,
                    "Generated deposit",
                ]
                for a, when, amount in book.deposits
            ),
        )
        self.counts["ops.account_transfers"] = len(book.deposits)
        self.progress("heartbeats", 0, 1)
        end = day_number(plan.end_date)
        running = [
            int(accounts.ids[a])
            for a in range(1, len(accounts))
            if accounts.modes[a] != "replay" and accounts.last_day[a] >= end
        ]
        columns, latest = heartbeat_rows(
            listing, plan.now_us, np.random.default_rng([plan.seed, 2]), running
        )
        loader.copy_columns(conn, "ops.heartbeats", HEARTBEAT_COLUMNS, columns, freeze=reset)
        self.counts["ops.heartbeats"] = len(columns[0].values)
        loader.record_health(conn, latest)
        self.counts["ops.component_health"] = len(latest)
        loader.finish(conn)
        self.progress("heartbeats", 1, 1)
        self.lap("heartbeats")

    def _insert_accounts(
        self,
        conn: psycopg.Connection,
        accounts: Accounts,
        strategy_ids: dict[str, int],
        names: tuple[str, ...],
    ) -> None:
        rows = [
            [
                int(accounts.ids[a]),
                accounts.names[a],
                accounts.display_names[a],
                accounts.modes[a],
                accounts.environments[a],
                int(accounts.bankroll[a]),
                int(accounts.precision[a]),
                bool(accounts.public[a]),
                *(int(v) for v in accounts.limits[a]),
                accounts.descriptions[a],
                _instant((int(accounts.first_day[a]) - 1) * 86_400_000_000),
            ]
            for a in range(1, len(accounts))
        ]
        loader.insert_rows(conn, "ops.accounts", loader.ACCOUNT_COLUMNS, rows)
        loader.insert_rows(
            conn,
            "ops.account_strategies",
            ("account_id", "strategy_id"),
            (
                [int(accounts.ids[a]), strategy_ids[names[s]]]
                for a in range(1, len(accounts))
                for s in accounts.strategies[a]
            ),
        )
        loader.add_default_strategies(
            conn, [strategy_ids[names[s]] for s in accounts.strategies[0]]
        )
        loader.set_account_sequence(conn)
        self.counts["ops.accounts"] = len(accounts)
        self.accounts = len(accounts)

    def _copy_block(self, conn: psycopg.Connection, block: EncodedBlock) -> None:
        loader.copy_rows(conn, "ops.signals", SIGNAL_COLUMNS, [block.signal_rows])
        loader.copy_rows(conn, "ops.trades", TRADE_COLUMNS, [block.trade_rows])
        self.counts["ops.signals"] += block.signals
        self.counts["ops.trades"] += block.trades
        self.sales += block.sales
        self.open_trades += block.open_trades
        self.progress("trades", self.counts["ops.trades"], self.plan.trades)

    def result(self) -> GenerationReport:
        plan = self.plan
        return GenerationReport(
            seed=plan.seed,
            days=plan.days,
            first_day=plan.first_day,
            end_date=plan.end_date,
            now=plan.now,
            counts=dict(self.counts),
            sales=self.sales,
            open_trades=self.open_trades,
            phase_seconds=dict(self.seconds),
            total_seconds=time.perf_counter() - self.started,
            server_version=self.version,
        )
