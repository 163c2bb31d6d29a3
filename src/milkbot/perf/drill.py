"""A database fault drill: stop the database under load and judge how the platform answers.

The drill serves a generated database on the private platform (:mod:`milkbot.perf.server`:
its own home, embedded PostgreSQL, ``milkbot serve`` as a child process), puts steady load on
it (a fixed number of concurrent clients over a realistic route mix), records a few trades
through :mod:`milkbot.store.writes`, stops the database (fast shutdown, immediate shutdown or
SIGKILL of the postmaster) for ``outage_s`` seconds, starts it again and keeps the load on. A
separate loop polls ``/health`` every 100 ms. The outcome is a typed, versioned
:class:`DrillRecord` judged against the goals (:data:`GOALS`).

Phases: *before* holds the requests answered before the fault, *after* those sent once the
restarted database was ready, *during* everything in between.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import re
import signal
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Final, Literal

import httpx
import psycopg
from rich import box
from rich.console import Group
from rich.table import Table
from rich.text import Text

from milkbot.db.embedded import EmbeddedPostgres
from milkbot.market import Bracket, climate_day_bounds, event_ticker
from milkbot.perf.environment import describe_machine
from milkbot.perf.records import Criterion, Machine, Record
from milkbot.perf.scenarios import Target
from milkbot.perf.screen import criteria_table
from milkbot.perf.server import private_platform
from milkbot.perf.verdict import criterion, passed
from milkbot.reference import load_reference
from milkbot.settings import Settings
from milkbot.store.accounts import create_account
from milkbot.store.models import AccountIn, HeartbeatIn, MarketIn, TradeIn
from milkbot.store.writes import post_heartbeat, record_market, record_trade

SCHEMA_VERSION: Final = 2  # 2: machine is the typed description (milkbot.perf.records)
Mode = Literal["fast", "immediate", "kill"]
MODES: tuple[Mode, ...] = ("fast", "immediate", "kill")
HEALTH_POLL_S = 0.1
REQUEST_TIMEOUT_S = 10.0  # far above the 3 s goal: a hang shows as a slow answer, not a gap
ANSWER_GOAL_S = 3.0
HEALTH_GOAL_S = 2.0
WRITES = 5
# The drill's trades go to an account of its own, private (shown nowhere), so that they fit its
# risk limits whatever the generated accounts hold; the heartbeats are the primary account's
# (the one the server's health check reads).
DRILL_ACCOUNT = AccountIn(
    name="fault_drill", display_name="Fault drill", mode="demo", environment="simulated",
    starting_bankroll_dollars=Decimal(1000), is_public=False, strategies=("daily_high_temp",),
    description="Trades the fault drill writes before it stops the database.",
)  # fmt: skip
_CODE_IN_PAGE = re.compile(r'data-code="([a-z_]+)"')


class DrillError(RuntimeError):
    """The drill could not run (bad option, or the platform failed); the message says why."""


@dataclass(frozen=True)
class DrillOptions:
    """What ``milkbot perf drill`` was asked for: outage and phase lengths in seconds."""

    home: Path
    port: int
    outage_s: float = 10.0
    before_s: float = 10.0
    after_s: float = 15.0
    clients: int = 8
    trades: int = 100_000
    seed: int = 42
    mode: Mode = "fast"


@dataclass(frozen=True, slots=True)
class Sample:
    """One answer: monotonic start and end (s), HTTP status (0 = no answer) and error code."""

    started: float
    ended: float
    status: int
    code: str


class PhaseFigures(Record):
    """Requests of one phase: count, good answers (2xx), answers by status and error code
    (e.g. ``"503 database_unavailable"``; ``"0 ReadTimeout"`` for no answer), 500s, and the
    slowest answer in seconds."""

    requests: int
    ok: int
    by_status: dict[str, int]
    server_errors: int
    slowest_s: float

    @property
    def failed(self) -> int:
        """Requests that did not get a good answer."""
        return self.requests - self.ok


class DrillRecord(Record):
    """The drill's result as saved to JSON (``schema_version`` changes with its shape). Times
    in seconds: ``unhealthy_after_s`` from the fault, ``first_good_after_s`` from the restart
    command, ``healthy_after_s`` from the restarted database being ready (``restart_s`` later);
    None when it never happened."""

    schema_version: Literal[2] = SCHEMA_VERSION
    started_at: datetime
    mode: Mode
    outage_s: float
    clients: int
    trades: int
    seed: int
    machine: Machine
    postgres: str
    phases: dict[str, PhaseFigures]
    restart_s: float
    unhealthy_after_s: float | None
    first_good_after_s: float | None
    healthy_after_s: float | None
    written: int
    lost: int
    goals: list[Criterion]

    @property
    def passed(self) -> bool:
        """Whether every goal held."""
        return passed(self.goals)


def route_mix(rng: random.Random) -> str:
    """A path of the drill's mix: the API's metrics (varied windows, so most miss the cache),
    equity, the public feed, the dashboard's overview and trades pages, and /health."""
    kind = rng.choices(
        ["cities", "equity", "feed", "overview", "trades", "health"], [4, 2, 2, 1, 1, 1]
    )[0]
    if kind == "cities":
        return f"/api/v1/metrics/cities?days={rng.randint(1, 365)}"
    if kind == "equity":
        return f"/api/v1/equity?days={rng.randint(7, 365)}&max_points=200"
    if kind == "feed":
        city = rng.choice(["", "&city=NYC", "&city=CHI", "&side=yes"])
        return f"/api/v1/trades/public?limit={rng.choice([20, 50, 100])}{city}"
    return {"overview": "/", "trades": "/trades", "health": "/health"}[kind]


def _code_of(response: httpx.Response) -> str:
    if response.status_code < 400:
        return ""
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            body = response.json()
        except ValueError:
            return "unknown"
        if isinstance(body, dict) and isinstance(body.get("error"), dict):
            return str(body["error"].get("code", "unknown"))
        # /health's own shape: {"status": "unhealthy", "components": {...}}
        return str(body.get("status", "unknown")) if isinstance(body, dict) else "unknown"
    found = _CODE_IN_PAGE.search(response.text)
    return found.group(1) if found else "unknown"


async def _get(client: httpx.AsyncClient, path: str) -> Sample:
    started = time.monotonic()
    try:
        response = await client.get(path)
        status, code = response.status_code, _code_of(response)
    except httpx.HTTPError as exc:
        status, code = 0, type(exc).__name__
    return Sample(started, time.monotonic(), status, code)


async def send_load(
    base: str, clients: int, seed: int, stop: asyncio.Event, samples: list[Sample]
) -> None:
    """``clients`` concurrent clients, each sending the next request of :func:`route_mix` as
    soon as the last is answered, until ``stop``; every answer is appended to ``samples``."""
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def one(rng: random.Random, client: httpx.AsyncClient) -> None:
        while not stop.is_set():
            samples.append(await _get(client, route_mix(rng)))

    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S, limits=limits) as client:
        await asyncio.gather(*(one(random.Random(seed + i), client) for i in range(clients)))


async def poll_health(base: str, stop: asyncio.Event, samples: list[Sample]) -> None:
    """GET /health every ``HEALTH_POLL_S`` seconds until ``stop``, answers to ``samples``."""
    async with httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT_S) as client:
        while not stop.is_set():
            sample = await _get(client, "/health")
            samples.append(sample)
            # A timed cadence: the next poll 100 ms after the start of this one.
            rest = HEALTH_POLL_S - (time.monotonic() - sample.started)
            if rest > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), rest)


def write_before_fault(url: str, run_id: str, primary: str) -> list[str]:
    """Record a drill market, ``WRITES`` trades on it (the drill's own account) and fresh
    trader / market-data heartbeats of account ``primary`` through the write path; the trades'
    client ids."""
    city = load_reference().city("NYC")
    day = datetime.now(UTC).date() + timedelta(days=7)  # beyond the generated history
    event = event_ticker(city, day)
    bracket = Bracket(45, 46)
    start, end = climate_day_bounds(city.timezone, day)
    ids = [f"drill-{run_id}-{n}" for n in range(WRITES)]
    with psycopg.connect(url, autocommit=True) as conn:
        ticker = bracket.ticker(event)
        record_market(
            conn,
            MarketIn(
                ticker=ticker, event_ticker=event, city_code="NYC", event_date=day,
                floor_f=bracket.floor_f, cap_f=bracket.cap_f, opened_at=start - timedelta(days=8), closes_at=end,
            ),
        )  # fmt: skip
        create_account(conn, DRILL_ACCOUNT, exist_ok=True)
        for cid in ids:
            trade = TradeIn(
                account=DRILL_ACCOUNT.name, client_trade_id=cid, ticker=ticker, strategy="daily_high_temp",
                side="yes", action="buy", count=Decimal(1), price_dollars=Decimal("0.40"),
                executed_at=datetime.now(UTC),
            )  # fmt: skip
            record_trade(conn, trade)
        for component in ("trader", "market_data"):
            heartbeat = HeartbeatIn(account=primary, component=component, message="fault drill")
            post_heartbeat(conn, heartbeat)
    return ids


def count_kept(url: str, ids: list[str]) -> int:
    """How many of the trades ``ids`` the database holds."""
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute(
            "SELECT count(*) FROM ops.trades WHERE client_trade_id = ANY(%s)", [ids]
        ).fetchone()
    return int(row[0]) if row else 0


def stop_database(server: EmbeddedPostgres, mode: Mode) -> None:
    """Stop the embedded server now: pg_ctl's fast or immediate shutdown, or SIGKILL of the
    postmaster (its backends then end themselves)."""
    if mode == "kill":
        pid = server.postmaster_pid()
        if pid is None:
            raise DrillError("the embedded server is not running: nothing to kill")
        os.kill(pid, signal.SIGKILL)
        return
    if not server.stop_server(mode):
        raise DrillError("the embedded server is not running: nothing to stop")


def _phase(samples: list[Sample]) -> PhaseFigures:
    counts = Counter(f"{s.status} {s.code}".strip() for s in samples)
    return PhaseFigures(
        requests=len(samples),
        ok=sum(200 <= s.status < 300 for s in samples),
        by_status=dict(sorted(counts.items())),
        server_errors=sum(s.status >= 500 and s.status != 503 for s in samples),
        slowest_s=round(max((s.ended - s.started for s in samples), default=0.0), 3),
    )


@dataclass(frozen=True)
class Timeline:
    """Monotonic seconds of the fault, of the restart command and of the database being back."""

    fault: float
    restart: float
    back: float


def _first(samples: list[Sample], after: float, good: bool) -> float | None:
    ends = [s.ended for s in samples if s.ended >= after and (s.status == 200) == good]
    return round(max(min(ends) - after, 0.0), 3) if ends else None


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


def _within(name: str, seconds: float | None, bound_s: float) -> Criterion:
    ok = seconds is not None and seconds <= bound_s
    return criterion(name, None, _seconds(seconds), f"<= {bound_s:g} s", ok)


def judge(
    opts: DrillOptions,
    load: list[Sample],
    health: list[Sample],
    timeline: Timeline,
    written: int,
    kept: int,
    machine: Machine,
    postgres: str,
    started_at: datetime,
) -> DrillRecord:
    """Split the answers into phases, measure the recovery times and judge the goals."""
    before = [s for s in load if s.ended < timeline.fault]
    after = [s for s in load if s.started >= timeline.back]
    during = [s for s in load if s.ended >= timeline.fault and s.started < timeline.back]
    phases = {"before": _phase(before), "during": _phase(during), "after": _phase(after)}
    unhealthy = _first(health, timeline.fault, good=False)
    healthy = _first([s for s in health if s.started >= timeline.fault], timeline.back, True)
    first_good = _first([s for s in load if s.started >= timeline.restart], timeline.restart, True)
    errors_500 = sum(p.server_errors for p in phases.values())
    no_answer = sum(s.status == 0 for s in during)
    slowest = phases["during"].slowest_s
    failed_after = phases["after"].failed
    during_ok = slowest <= ANSWER_GOAL_S and no_answer == 0
    after_ok = failed_after == 0 and phases["after"].requests > 0
    goals = [
        criterion("no 500s", None, str(errors_500), "0", errors_500 == 0),
        criterion(
            "during: every request answered",
            None,
            f"slowest {slowest:.2f} s, {no_answer} unanswered",
            f"<= {ANSWER_GOAL_S:g} s",
            during_ok,
        ),
        _within("/health unhealthy after the fault", unhealthy, HEALTH_GOAL_S),
        criterion("after: no failed request", None, str(failed_after), "0", after_ok),
        _within("/health healthy after the restart", healthy, HEALTH_GOAL_S),
        criterion(
            "nothing written before the fault lost",
            None,
            f"{kept} of {written} kept",
            f"{written} of {written} kept",
            kept == written,
        ),
    ]
    return DrillRecord(
        started_at=started_at,
        mode=opts.mode,
        outage_s=opts.outage_s,
        clients=opts.clients,
        trades=opts.trades,
        seed=opts.seed,
        machine=machine,
        postgres=postgres,
        phases=phases,
        restart_s=round(timeline.back - timeline.restart, 3),
        unhealthy_after_s=unhealthy,
        first_good_after_s=first_good,
        healthy_after_s=healthy,
        written=written,
        lost=written - kept,
        goals=goals,
    )


async def _drill(
    opts: DrillOptions, base: str, url: str, echo: Callable[[str], None]
) -> DrillRecord:
    started_at = datetime.now(UTC)
    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    postgres = f"PostgreSQL {row[0] if row else '?'} (embedded)"
    machine = describe_machine()
    primary = Settings().primary_account  # the served account, as the server reads it
    ids = await asyncio.to_thread(write_before_fault, url, uuid.uuid4().hex[:12], primary)
    server = EmbeddedPostgres(opts.home)
    stop = asyncio.Event()
    load_samples: list[Sample] = []
    health_samples: list[Sample] = []
    load = asyncio.create_task(send_load(base, opts.clients, opts.seed, stop, load_samples))
    health = asyncio.create_task(poll_health(base, stop, health_samples))
    echo(f"load: {opts.clients} clients for {opts.before_s:g} s before the fault")
    await asyncio.sleep(opts.before_s)  # the drill's timed phases
    echo(f"fault: {opts.mode} stop of the database for {opts.outage_s:g} s")
    fault = time.monotonic()
    await asyncio.to_thread(stop_database, server, opts.mode)
    await asyncio.sleep(max(0.0, fault + opts.outage_s - time.monotonic()))
    echo("restart: starting the database again")
    restart = time.monotonic()
    await asyncio.to_thread(server.start_server)
    back = time.monotonic()
    echo(f"load: {opts.after_s:g} s after the restart")
    await asyncio.sleep(opts.after_s)
    stop.set()
    await asyncio.gather(load, health)
    kept = await asyncio.to_thread(count_kept, url, ids)
    return judge(
        opts, load_samples, health_samples, Timeline(fault, restart, back),
        len(ids), kept, machine, postgres, started_at,
    )  # fmt: skip


def render_drill(record: DrillRecord) -> Group:
    """The record as rich tables: requests by phase, recovery times, and the goals."""
    m = record.machine
    context = Text(
        f"{m.cpu}, {m.cores} cores · {record.postgres} · {record.trades:,} trades · "
        f"{record.clients} clients · {record.mode} stop for {record.outage_s:g} s",
        style="dim",
    )
    phases = Table(title="Requests by phase", box=box.SIMPLE_HEAD, title_justify="left")
    for column in ("phase", "requests", "good", "answers by status", "slowest"):
        phases.add_column(
            column, justify="left" if column in ("phase", "answers by status") else "right"
        )
    for name, p in record.phases.items():
        answers = ", ".join(f"{k}: {v:,}" for k, v in p.by_status.items()) or "-"
        phases.add_row(name, f"{p.requests:,}", f"{p.ok:,}", answers, f"{p.slowest_s:.2f} s")
    times = Table(title="Recovery", box=box.SIMPLE_HEAD, title_justify="left")
    times.add_column("moment")
    times.add_column("seconds", justify="right")
    times.add_row("/health unhealthy, after the fault", _seconds(record.unhealthy_after_s))
    times.add_row("database restart (pg_ctl start)", _seconds(record.restart_s))
    times.add_row("first good answer, after the restart began", _seconds(record.first_good_after_s))
    times.add_row("/health healthy, after the database was back", _seconds(record.healthy_after_s))
    goals = criteria_table(record.goals, "Goals")
    overall = Text(
        "PASS" if record.passed else "FAIL", style="bold green" if record.passed else "bold red"
    )
    return Group(context, phases, times, goals, overall)


def run_drill(opts: DrillOptions, logs: Path, echo: Callable[[str], None]) -> DrillRecord:
    """Prepare the private platform under ``opts.home`` (dataset reused when it matches), run
    the drill against it and return the judged record; the platform is stopped on return."""
    if os.environ.get("MILKBOT_DATABASE_URL"):
        raise DrillError(
            "MILKBOT_DATABASE_URL is set: the drill stops and restarts a database, so it only "
            "runs on its own embedded server; unset MILKBOT_DATABASE_URL (its home is --home)"
        )
    target = Target(url=f"http://127.0.0.1:{opts.port}", host="127.0.0.1", port=opts.port)
    ours = False
    try:
        with private_platform(
            target, trades=opts.trades, seed=opts.seed, home=opts.home, logs=logs, echo=echo
        ) as plat:
            ours = True  # past the platform's one-run-per-home lock
            return asyncio.run(_drill(opts, target.url, plat.database_url, echo))
    finally:
        # The restarted postmaster is not the one the embedded handle started, so releasing
        # the handle does not stop it.
        if ours:
            EmbeddedPostgres(opts.home).stop_server("fast")
