"""Locust load test of the Milkbot dashboard and API, modelled on real traffic.

Interactive (the guide):   locust -f tests/performance/locustfile.py --host=http://localhost:8501
                           then open http://localhost:8089
Headless, with a verdict:  ./deployment/scripts/run-load-test.sh   (or: milkbot perf loadtest)

Users:
- DashboardVisitor opens a page (fetching its scripts and styles once, as a browser cache
  would), then does what that page's script does: auto-refresh, pick a range, scroll the trade
  feed through ``next_cursor``, re-sort the comparison page. Think time 2-5 s.
- ApiClient polls the JSON API directly, following the feed's cursor now and then, and reads
  the comparison across accounts. Think time 1-3 s.

Accounts: each user first reads the account list (``/api/v1/accounts``, as the switcher does)
and then follows one account: the primary one (no ``account=`` parameter) or, as often as not,
another public account (``?account=NAME`` on every page and API call); a visitor switches
account now and then. A response describing another account than the one asked for is a
failure.

Every request is named by its route (not the raw URL) so Locust's statistics group by route, and
a response the page or client could not use (wrong status, body that is not JSON, missing
field) is counted as a failure (see ``milkbot.perf.contract``).

Environment (the first two are for you, the others are set by ``milkbot perf loadtest``):
  LOAD_TEST_WEIGHTS=dashboard:3,api:1   user mix (weight 0 leaves a kind out)
  LOAD_TEST_CEILING_PATH=/api/v1/ping   the bare endpoint of the ceiling phase
  LOAD_TEST_PHASE=scenario|capacity|ceiling   capacity: the same mix without think time;
                                        ceiling: only the bare endpoint, without think time
  LOAD_TEST_STRESS_PLAN={json}          adds the breaking-point search shape (stress scenario)
  LOAD_TEST_SNAPSHOT=path.json          where to write the run's counters when it stops
"""

from __future__ import annotations

import json
import os
import random
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

from locust import FastHttpUser, LoadTestShape, between, constant, events, task

from milkbot.perf import contract
from milkbot.perf.histograms import Hold, RunSnapshot, snapshot_locust
from milkbot.perf.scenarios import StressPlan, parse_weights
from milkbot.perf.search import BreakpointSearch
from milkbot.reference import load_reference
from milkbot.web import dashboard
from milkbot.web.compare import COLUMNS

PHASE = os.environ.get("LOAD_TEST_PHASE", "scenario")
WEIGHTS = parse_weights(os.environ.get("LOAD_TEST_WEIGHTS"))
CEILING_PATH = os.environ.get("LOAD_TEST_CEILING_PATH", "/api/v1/ping")
THINK = PHASE == "scenario"

CITIES = load_reference().city_codes
STRATEGIES = load_reference().strategy_names
RANGES = tuple(days for _, days in dashboard.RANGES)  # the dashboard's range links, in days
# How often visitors open each page, by its name in the dashboard's navigation (a page added
# there needs a weight here).
VISITS = {
    "overview": 4,
    "performance": 2,
    "cities": 2,
    "trades": 3,
    "strategies": 1,
    "status": 1,
    "compare": 1,
}
PAGES = {path: VISITS[name] for name, path, _ in dashboard.NAV}
FEED_PAGE = dashboard.FEED_PAGE_SIZE  # the trade page's page size
MAX_SCROLL = 3  # older pages a visitor scrolls through at most, per scroll
EQUITY_POINTS = dashboard.EQUITY_MAX_POINTS  # the performance page's max_points
JSON_HEADERS = {"Accept": "application/json"}
SORTS = tuple(name for name, _, _ in COLUMNS)  # the comparison page's column sort links
OTHER_ACCOUNT = 0.5  # the share of users who follow another account than the primary one
SWITCH_ACCOUNT = 0.1  # how often a visitor opening a page picks another account first
ASSET = re.compile(r'(?:src|href)="(/static/[^"]+)"')
CURSOR = re.compile(r'data-cursor="([^"]*)"')


class MilkbotUser(FastHttpUser):
    """What both kinds of user share: JSON requests checked against the API contract."""

    abstract = True
    network_timeout = 30.0
    connection_timeout = 10.0

    def on_start(self) -> None:
        self.accounts: list[str] = []
        self.account: str | None = None
        body = self.get_json("/api/v1/accounts", "/api/v1/accounts", contract.check_accounts)
        if body is not None:
            self.accounts = [a["name"] for a in body["accounts"]]
        self.pick_account()

    def pick_account(self) -> None:
        """Follow the primary account (no parameter) or another public one."""
        others = self.accounts
        self.account = random.choice(others) if others and random.random() < OTHER_ACCOUNT else None

    def of_account(self, url: str) -> str:
        """``url`` with the followed account's parameter (none for the primary account)."""
        if self.account is None:
            return url
        return f"{url}{'&' if '?' in url else '?'}account={quote(self.account, safe='')}"

    def get_account_json(self, url: str, name: str, check: contract.Check) -> Any:
        """GET ``url`` for the followed account; its body must describe that account."""
        return self.get_json(self.of_account(url), name, contract.of_account(check, self.account))

    def get_json(self, url: str, name: str, check: contract.Check) -> Any:
        """GET ``url`` as request ``name``; the parsed body, or ``None`` after a failure."""
        with self.client.get(url, name=name, headers=JSON_HEADERS, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"{name}: HTTP {resp.status_code}")
                return None
            try:
                body = json.loads(resp.content or b"")
            except ValueError:
                resp.failure(f"{name}: body is not JSON")
                return None
            problem = check(body)
            if problem:
                resp.failure(problem)
                return None
            resp.success()
            return body

    def feed_page(self, cursor: str | None, city: str | None, limit: int) -> str | None:
        """One page of the public feed; its ``next_cursor`` (``None`` at the end or on error)."""
        url = f"/api/v1/trades/public?limit={limit}"
        if city:
            url += f"&city={city}"
        if cursor:
            url += f"&cursor={quote(cursor, safe='')}"
        body = self.get_account_json(
            url,
            "/api/v1/trades/public",
            lambda b: contract.check_public_trades(b, limit=limit, city=city),
        )
        return None if body is None else body["next_cursor"]

    def comparison(self, days: int) -> None:
        sort = random.choice(SORTS)
        order = random.choice(("", "&order=asc", "&order=desc"))
        self.get_json(
            f"/api/v1/comparison?days={days}&sort={sort}{order}",
            "/api/v1/comparison",
            lambda b: contract.check_comparison(b, sort=sort),
        )

    def equity(self, days: int, max_points: int) -> None:
        self.get_account_json(
            f"/api/v1/equity?days={days}&max_points={max_points}",
            "/api/v1/equity",
            lambda b: contract.check_equity(b, max_points=max_points),
        )


class DashboardVisitor(MilkbotUser):
    """A person on the dashboard: opens pages and stays on them a while."""

    weight = WEIGHTS["dashboard"]
    abstract = PHASE == "ceiling" or WEIGHTS["dashboard"] == 0
    wait_time = between(2, 5) if THINK else constant(0)

    def on_start(self) -> None:
        super().on_start()
        self.assets: set[str] = set()
        self.page = "/"
        self.days = 30
        self.city: str | None = None
        self.cursor: str | None = None
        self.open("/")

    def open(self, page: str) -> None:
        """Load ``page`` as a browser would: the HTML, then any asset not in its cache yet."""
        self.page = page
        self.days = random.choice(RANGES)
        self.city = None
        url = page
        if page in ("/performance", "/cities", "/strategies", "/compare"):
            url += f"?days={self.days}"
        if page == "/compare":
            url += f"&sort={random.choice(SORTS)}"
        with self.client.get(self.of_account(url), name=page, catch_response=True) as resp:
            text = resp.text or ""
            problem = contract.check_page(
                resp.status_code, resp.headers.get("content-type", ""), text
            )
            if problem:
                resp.failure(problem)
                return
            resp.success()
        found = CURSOR.search(text)
        self.cursor = (found.group(1) or None) if found else None
        for asset in ASSET.findall(text):
            if asset not in self.assets:
                self.assets.add(asset)
                self.client.get(asset, name="/static/[asset]")

    @task(2)
    def open_page(self) -> None:
        if random.random() < SWITCH_ACCOUNT:
            self.pick_account()  # the account switcher
        self.open(random.choices(list(PAGES), weights=list(PAGES.values()))[0])
        self.use_page()

    @task(3)
    def use_page(self) -> None:
        """What the current page's script does next: refresh, a range pick, or a scroll."""
        if random.random() < 0.3:
            self.days = random.choice(RANGES)
        if self.page == "/":
            self.get_account_json("/api/v1/summary", "/api/v1/summary", contract.check_summary)
        elif self.page == "/compare":
            self.open("/compare")  # a column's sort link reloads the page
        elif self.page == "/cities":
            self.get_account_json(
                f"/api/v1/metrics/cities?days={self.days}",
                "/api/v1/metrics/cities",
                contract.check_city_metrics,
            )
        elif self.page == "/performance":
            self.equity(self.days, EQUITY_POINTS)
        elif self.page == "/strategies":
            self.get_account_json(
                f"/api/v1/metrics/strategies?days={self.days}",
                "/api/v1/metrics/strategies",
                contract.check_strategy_metrics,
            )
            self.get_account_json(
                f"/api/v1/calibration?days={self.days}",
                "/api/v1/calibration",
                contract.check_calibration,
            )
        elif self.page == "/trades":
            self.scroll()
        else:
            self.get_account_json("/api/v1/health", "/api/v1/health", contract.check_health)

    def scroll(self) -> None:
        """Scroll down the feed (older pages by cursor), or refresh it with a new filter."""
        if self.cursor is None or random.random() < 0.25:
            self.city = random.choice(CITIES) if random.random() < 0.3 else None
            self.cursor = self.feed_page(None, self.city, FEED_PAGE)
            return
        for _ in range(random.randint(1, MAX_SCROLL)):
            self.cursor = self.feed_page(self.cursor, self.city, FEED_PAGE)
            if self.cursor is None:
                break


class ApiClient(MilkbotUser):
    """A program polling the JSON API (an integrator, a monitoring job)."""

    weight = WEIGHTS["api"]
    abstract = PHASE == "ceiling" or WEIGHTS["api"] == 0
    wait_time = between(1, 3) if THINK else constant(0)

    @task(3)
    def trades(self) -> None:
        city = random.choice(CITIES) if random.random() < 0.3 else None
        limit = random.choice((20, 100, 500))
        cursor = self.feed_page(None, city, limit)
        if cursor and random.random() < 0.3:
            self.feed_page(cursor, city, limit)

    @task(2)
    def cities(self) -> None:
        strategy = f"&strategy={random.choice(STRATEGIES)}" if random.random() < 0.2 else ""
        self.get_account_json(
            f"/api/v1/metrics/cities?days={random.choice(RANGES)}{strategy}",
            "/api/v1/metrics/cities",
            contract.check_city_metrics,
        )

    @task(2)
    def equity_curve(self) -> None:
        self.equity(random.choice(RANGES), random.choice((100, 400, 1000)))

    @task(1)
    def strategies(self) -> None:
        self.get_account_json(
            f"/api/v1/metrics/strategies?days={random.choice(RANGES)}",
            "/api/v1/metrics/strategies",
            contract.check_strategy_metrics,
        )

    @task(1)
    def health(self) -> None:
        self.get_account_json("/api/v1/health", "/api/v1/health", contract.check_health)

    @task(1)
    def compare_accounts(self) -> None:
        self.comparison(random.choice(RANGES))

    @task(1)
    def load_balancer_health(self) -> None:
        with self.client.get("/health", name="/health", catch_response=True) as resp:
            try:
                body = json.loads(resp.content or b"")
            except ValueError:
                resp.failure("/health: body is not JSON")
                return
            problem = contract.check_load_balancer_health(resp.status_code, body)
            if problem:
                resp.failure(problem)
            else:
                resp.success()

    @task(1)
    def summary(self) -> None:
        self.get_account_json("/api/v1/summary", "/api/v1/summary", contract.check_summary)


class BareEndpointUser(FastHttpUser):
    """The ceiling phase: the bare endpoint (no database, no cache) as fast as it answers."""

    abstract = PHASE != "ceiling"
    wait_time = constant(0)

    @task
    def ping(self) -> None:
        with self.client.get(CEILING_PATH, name=CEILING_PATH, catch_response=True) as resp:
            if resp.status_code == 200:
                resp.success()
            else:
                resp.failure(f"{CEILING_PATH}: HTTP {resp.status_code}")


_PLAN = json.loads(os.environ.get("LOAD_TEST_STRESS_PLAN") or "null")


class StressShape(LoadTestShape):
    """The stress scenario: hold, then step users up until the server breaks (or a cap)."""

    abstract = _PLAN is None

    def __init__(self) -> None:
        super().__init__()
        plan = dict(_PLAN or {})
        hold = {key: plan.pop(key) for key in ("hold_users", "spawn_rate", "hold_s")}
        self.search = BreakpointSearch(StressPlan(**plan), **hold)
        self.hold_wall: float | None = None
        self.wall0 = time.time()

    def tick(self) -> tuple[int, float] | None:
        assert self.runner is not None
        t = self.get_run_time()
        self.wall0 = time.time() - t  # stage times are relative to this
        load = self.search.tick(t, lambda: snapshot_locust(self.runner.stats))
        if self.hold_wall is None and self.search.state.hold is not None:
            self.hold_wall = time.time()
        return load


_started: dict[str, float] = {}


@events.test_start.add_listener
def _on_start(environment: Any, **_kwargs: Any) -> None:
    _started["wall"] = time.time()


@events.test_stop.add_listener
def _on_stop(environment: Any, **_kwargs: Any) -> None:
    """Write the run's counters (and the stress search) for ``milkbot perf loadtest``."""
    path = os.environ.get("LOAD_TEST_SNAPSHOT")
    if not path:
        return
    run = RunSnapshot(
        phase=PHASE,
        started=_started["wall"],
        stopped=time.time(),
        final=snapshot_locust(environment.stats),
    )
    shape = environment.shape_class
    if isinstance(shape, StressShape):
        hold, held_until = shape.search.state.hold, shape.hold_wall
        run = run.model_copy(
            update={
                "search": shape.search.outcome(wall0=shape.wall0),
                "hold": None
                if hold is None or held_until is None
                else Hold(stopped=held_until, counts=hold[1]),
            }
        )
    Path(path).write_text(run.model_dump_json())
