"""`milkbot bench queries`: the analytics queries' latencies against generated datasets (each
per-account query for the primary account and a typical generated one, and the comparison across
all accounts), beside the naive SQL over raw trades and the round-trip floor, and their growth
from 100k trades, judged against issue 12's goals."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterator
from contextlib import AsyncExitStack, contextmanager
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from milkbot.analytics.service import Analytics
from milkbot.cli.common import get_settings
from milkbot.db.embedded import EmbeddedPostgres, install_signal_exit
from milkbot.logs import LogFormat, configure_logging
from milkbot.perf.datasets import GeneratedDatabase, ensure_dataset
from milkbot.perf.environment import describe_dataset, describe_machine
from milkbot.perf.query_bench import (
    FLOOR_RATIO_GOAL,
    GROWTH_GOAL,
    TYPICAL,
    dataset_fingerprint,
    guide_of,
    make_calls,
    per_account,
    query_figures,
    time_calls,
)
from milkbot.perf.records import Growth, QueryBenchmark, QueryFigures, Timing
from milkbot.settings import Settings
from milkbot.words import plural

app = typer.Typer(help="Benchmarks against generated datasets.", no_args_is_help=True)

ROWS = (
    "city_metrics",
    "equity_curve",
    "public_trades",
    "public_trades_deep",
    "health_status",
    "strategy_metrics",
    "calibration",
)
"""The per-account queries in the table's order (each account's rows, then the comparison)."""


@contextmanager
def server_admin_url(settings: Settings) -> Iterator[str]:
    """A URL on the configured server that may create databases: MILKBOT_DATABASE_URL as is, or
    the embedded server's superuser (the server is started for the command)."""
    if settings.database_url:
        yield settings.database_url
        return
    install_signal_exit()
    server = EmbeddedPostgres(settings.home)
    server.start()
    try:
        yield server.admin_url
    finally:
        server.stop()


def _quiet_timing_logs(log_format: LogFormat) -> None:
    """Keep the per-query log lines, rendered as MILKBOT_LOG_FORMAT has them (their cost is
    part of every call), but send them to /dev/null so the table stays readable."""
    configure_logging("INFO", log_format, stream=open(os.devnull, "w"))  # noqa: SIM115


async def _measure(
    settings: Settings,
    dataset: GeneratedDatabase,
    base: GeneratedDatabase | None,
    iterations: int,
    naive_iterations: int,
    days: int,
    account: str | None,
) -> QueryBenchmark:
    """Our queries and the floor on ``dataset`` (and on ``base``, interleaved with them so
    the growth ratio compares like with like), then the naive SQL on ``dataset``. The
    per-account queries are timed for the primary account and for ``account`` (default: each
    dataset's typical generated account)."""
    # No statement timeout: the naive baseline over 10M trades takes seconds.
    bench = settings.model_copy(update={"statement_timeout_ms": 0})
    chosen = None if account is None else {"primary": bench.primary_account, TYPICAL: account}
    async with AsyncExitStack() as stack:
        main = await stack.enter_async_context(Analytics(bench, dataset.url, bypass_cache=True))
        calls = await make_calls(main, dataset.end_date, days, chosen)
        timed = {f"ours:{n}": c for n, c in calls.ours.items()} | {"floor:": calls.floor}
        if base is not None:
            other = await stack.enter_async_context(Analytics(bench, base.url, bypass_cache=True))
            base_calls = await make_calls(other, base.end_date, days, chosen)
            timed |= {f"base:{n}": c for n, c in base_calls.ours.items()}
            timed |= {"base_floor:": base_calls.floor}
        timings = await time_calls(timed, iterations, rounds=10)
        naive = {}
        if naive_iterations:
            naive = await time_calls(calls.naive, naive_iterations, warmup=1)
        fingerprint = await dataset_fingerprint(
            main, dataset.end_date, list(calls.accounts.values())
        )
    by_kind: dict[str, dict[str, Timing]] = {}
    for key, timing in timings.items():
        kind, name = key.split(":", 1)
        by_kind.setdefault(kind, {})[name] = timing
    return QueryBenchmark(
        machine=describe_machine(),
        dataset=describe_dataset(dataset.url, dataset.seed),
        fingerprint=fingerprint,
        days=days,
        accounts=calls.accounts,
        queries={n: query_figures(n, t, iterations) for n, t in by_kind["ours"].items()},
        naive=naive,
        floor=by_kind["floor"][""],
        growth=None
        if base is None
        else Growth(trades=base.trades, queries=by_kind["base"], floor=by_kind["base_floor"][""]),
    )


def goal_lines(run: QueryBenchmark) -> list[tuple[str, bool]]:
    """Issue 12's goals on a benchmark, each as (line, met): every per-account query's P95
    within 5x the floor's P95, the comparison's P95 within its 20 ms, and every query's P95
    growth from the smaller dataset at most 1.5x."""
    lines: list[tuple[str, bool]] = []
    floor = run.floor
    assert floor is not None  # measured by _measure
    order = _row_order(run.queries)
    for name in order:
        q = run.queries[name]
        if per_account(name):
            ratio = q.p95 / floor.p95
            met = ratio <= FLOOR_RATIO_GOAL
            lines.append(
                (f"{name}: P95 {ratio:.1f}x the floor (goal <= {FLOOR_RATIO_GOAL:g}x)", met)
            )
        else:
            goal = guide_of(name).goal_ms
            lines.append((f"{name}: P95 {q.p95:.2f} ms (goal <= {goal:g} ms)", q.p95 <= goal))
    if run.growth is not None:
        for name in order:
            q, smaller = run.queries[name], run.growth.queries.get(name)
            if smaller is None:
                continue
            growth = q.p95 / smaller.p95
            lines.append(
                (
                    f"{name}: P95 growth {growth:.2f}x from {run.growth.trades:,} trades "
                    f"(goal <= {GROWTH_GOAL:g}x)",
                    growth <= GROWTH_GOAL,
                )
            )
    return lines


def _row_order(queries: dict[str, QueryFigures]) -> list[str]:
    """The table's rows: the primary account's queries, each other account's, the comparison."""
    roles = sorted({n.partition("@")[2] for n in queries})  # "" (primary) sorts first
    names = [f"{q}@{r}" if r else q for r in roles for q in ROWS]
    return [n for n in (*names, "comparison") if n in queries]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}" if value < 10 else f"{value:,.1f}"


def _p50_p95(timing: Timing | None) -> tuple[float | None, float | None]:
    return (timing.p50, timing.p95) if timing else (None, None)


def _ratio(a: float | None, b: float | None) -> str:
    return "-" if a is None or not b else f"{a / b:,.1f}x"


@app.command()
def queries(
    trades: int = typer.Option(1_000_000, "--trades", min=1_000, help="Dataset size (trades)."),
    seed: int = typer.Option(42, "--seed", help="Generator seed."),
    iterations: int = typer.Option(200, "--iterations", min=5, help="Timed calls per query."),
    naive_iterations: int = typer.Option(
        10, "--naive-iterations", min=0, help="Timed calls per naive query (0: skip them)."
    ),
    baseline_trades: int = typer.Option(
        100_000, "--baseline-trades", min=1_000, help="Size of the dataset growth is measured from."
    ),
    days: int = typer.Option(30, "--days", min=1, max=3650, help="Window in settlement days."),
    account: str | None = typer.Option(
        None,
        "--account",
        help="Account timed besides the primary one (default: each dataset's typical "
        "generated account, the one of median trade count).",
    ),
    json_path: Path | None = typer.Option(None, "--json", help="Also write the figures here."),
) -> None:
    """Each query's P50/P95 (ms, warm, cache bypassed) on a generated database of --trades
    trades: the per-account queries for the primary account (MILKBOT_PRIMARY_ACCOUNT) and a
    typical generated one, the comparison across all accounts, against the naive SQL over
    ops.trades and a SELECT 1 through the same pool, and their P95 growth from a
    --baseline-trades database; then whether each goal is met (P95 within 5x the floor,
    comparison within 20 ms, growth within 1.5x). Datasets are generated on the configured server once
    and reused (milkbot_perf_<trades>_s<seed>)."""
    settings = get_settings()
    # Piped (CI logs, docs): wide enough that no column is cut.
    console = Console() if sys.stdout.isatty() else Console(width=240)
    _quiet_timing_logs(settings.log_format)
    with server_admin_url(settings) as admin:
        dataset = ensure_dataset(admin, trades, seed, progress=console.print)
        base = None
        if baseline_trades != trades:
            base = ensure_dataset(admin, baseline_trades, seed, progress=console.print)
        against = f" and {base.name}" if base else ""
        console.print(f"measuring {dataset.name}{against}: {iterations} calls per query ...")
        run = asyncio.run(
            _measure(settings, dataset, base, iterations, naive_iterations, days, account)
        )
    machine, info = run.machine, run.dataset
    console.print(
        f"{machine.cpu}, {machine.cores} cores, {machine.memory_gib} GiB; "
        f"PostgreSQL {info.postgres}; {info.trades:,} trades, {info.accounts or 0:,} accounts, "
        f"~{info.signals_estimate or 0:,} signals, days {info.first_day}..{info.last_day}; "
        f"load average {list(machine.load_average or ())}"
    )
    console.print(
        "accounts timed: " + ", ".join(f"{role} = {name}" for role, name in run.accounts.items())
    )
    table = Table(
        title=f"Query latency, ms ({plural(trades, 'trade')}, window {plural(days, 'day')})"
    )
    # Ratios and growth on P50 and on P95: on a shared machine the P95 is mostly the noise
    # of other work, the P50 the query's own cost.
    at = f"@{baseline_trades:,}"
    columns = (
        "P50", "P95", "naive P50", "naive P95", "naive/ours P50", "naive/ours P95",
        "ours/floor P50", "ours/floor P95", f"P50 {at}", f"P95 {at}", "growth P50",
        "growth P95", "goal / critical",
    )  # fmt: skip
    table.add_column("query")
    for column in columns:
        table.add_column(column, justify="right")
    floor = run.floor
    assert floor is not None  # measured above
    for name in _row_order(run.queries):
        ours, naive = run.queries[name], run.naive.get(name)
        smaller = run.growth.queries.get(name) if run.growth else None
        guide = guide_of(name)
        table.add_row(
            name,
            *(_ms(v) for v in (ours.p50, ours.p95, *_p50_p95(naive))),
            _ratio(naive.p50 if naive else None, ours.p50),
            _ratio(naive.p95 if naive else None, ours.p95),
            _ratio(ours.p50, floor.p50),
            _ratio(ours.p95, floor.p95),
            *(_ms(v) for v in _p50_p95(smaller)),
            _ratio(ours.p50, smaller.p50 if smaller else None),
            _ratio(ours.p95, smaller.p95 if smaller else None),
            f"{guide.goal_ms:g} / {guide.critical_ms:g}",
        )
    base_floor = _p50_p95(run.growth.floor if run.growth else None)
    blank = ("",) * 4
    table.add_row(
        "SELECT 1 (floor)", _ms(floor.p50), _ms(floor.p95), *blank, "1.0x", "1.0x",
        *(_ms(v) for v in base_floor), *blank[:3],
    )  # fmt: skip
    console.print(table)
    goals = goal_lines(run)
    for line, met in goals:
        console.print(f"{'met   ' if met else 'MISSED'} {line}")
    missed = sum(not met for _, met in goals)
    console.print(
        f"issue 12's goals: {len(goals) - missed} of {len(goals)} met"
        + (
            " (the P95s of a shared machine measure its load too: see the load average)"
            if missed
            else ""
        )
    )
    if json_path is not None:
        run.write(json_path)
        console.print(f"wrote {json_path}")
