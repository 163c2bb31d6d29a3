"""Fixtures of the browser tests: a seeded database, the real app served by granian on a free
loopback port, and Debian's Chromium driven by Playwright (which cannot download browsers here).

Without /usr/bin/chromium (or the playwright package) the tests skip with the reason, unless
MILKBOT_REQUIRE_BROWSER=1 (CI), where they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from milkbot.analytics.window import today_utc
from milkbot.generator import generate_dataset
from milkbot.market import climate_day_bounds
from milkbot.store.accounts import create_account
from milkbot.store.credentials import add_operator
from milkbot.store.models import AccountIn, HeartbeatIn, SettlementIn
from milkbot.store.writes import post_heartbeat, record_trade, settle_event
from tests.helpers import add_event
from tests.net import await_status, free_port
from tests.test_api import OPERATOR, OPERATOR_PASSWORD, trade

CHROMIUM = Path("/usr/bin/chromium")
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
SERVER_LOG = ARTIFACTS / "browser-server.log"
# Small, but a year of days: every range of the performance page has its own curve.
TRADES = 5_000
DAYS = 400
REFRESH_SECONDS = 2


def unavailable(reason: str) -> None:
    """Skip, or fail when the environment demands the browser tests (CI)."""
    if os.environ.get("MILKBOT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (MILKBOT_REQUIRE_BROWSER=1: the browser tests must run)")
    pytest.skip(reason)


# Module scope, not session: Playwright's sync API keeps an event loop running in this thread
# while it is open, and the async tests that follow need the thread's loop to themselves.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("the playwright package is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


# Accounts besides the generated default one: (name, display name, mode, environment,
# bankroll in dollars, public).
EXTRA_ACCOUNTS = (
    ("paper_a", "Paper A", "demo", "demo", "500", True),
    ("replay_b", "Replay B", "replay", "simulated", "2000", True),
    ("secret", "Secret bot", "demo", "demo", "1000", False),
)


def add_accounts(url: str) -> None:
    """EXTRA_ACCOUNTS, each with a few settled trades in NYC on days before the generated
    history (whose markets are settled and take no more trades)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for name, display, mode, environment, bankroll, public in EXTRA_ACCOUNTS:
            create_account(
                conn,
                AccountIn(
                    name=name, display_name=display, mode=mode,  # type: ignore[arg-type]
                    environment=environment,  # type: ignore[arg-type]
                    starting_bankroll_dollars=Decimal(bankroll), is_public=public,
                    strategies=("daily_high_temp",),
                ),
            )  # fmt: skip
        for back in range(3):
            day = today_utc() - timedelta(days=DAYS + 5 + back)
            nyc = add_event(conn, "NYC", day)
            at = climate_day_bounds("America/New_York", day)[0] + timedelta(hours=3)
            for i, (name, *_rest) in enumerate(EXTRA_ACCOUNTS):
                side = "yes" if (i + back) % 2 == 0 else "no"
                record_trade(conn, trade(nyc[1], f"{name}{back}", side, 3 + i, 30 + 5 * back, at,
                                         account=name))  # fmt: skip
            settle_event(conn, SettlementIn(event_ticker=nyc[0].rsplit("-", 1)[0],
                                            observed_high_f=45 + back % 2 * 3))  # fmt: skip


@pytest.fixture(scope="session")
def dashboard_db(make_database: Callable[[], str]) -> str:
    """A database with a seeded history, accounts besides the default one (one private), an
    operator who can sign in (OPERATOR), and the default account's heartbeats now."""
    url = make_database()
    generate_dataset(url, trades=TRADES, days=DAYS, seed=42)
    add_accounts(url)
    with psycopg.connect(url, autocommit=True) as conn:
        add_operator(conn, OPERATOR, OPERATOR_PASSWORD)
        now = datetime.now(UTC)
        for component in ("trader", "market_data"):
            post_heartbeat(
                conn, HeartbeatIn(account="default", component=component, observed_at=now)
            )
    return url


@pytest.fixture(scope="module")
def live_server(dashboard_db: str, browser: Any) -> Iterator[str]:
    """The app as `milkbot serve` runs it (granian, one worker) on a free loopback port."""
    port = free_port()
    env = os.environ | {
        "MILKBOT_DATABASE_URL": dashboard_db,
        "MILKBOT_REFRESH_SECONDS": str(REFRESH_SECONDS),
        "MILKBOT_POOL_SIZE": "4",
        "MILKBOT_MAX_OVERFLOW": "4",
        "MILKBOT_LOG_LEVEL": "WARNING",
    }
    cmd = [
        sys.executable, "-m", "granian", "--interface", "asgi", "--factory",
        "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--no-ws",
        "milkbot.web.app:create_app_from_env",
    ]  # fmt: skip
    SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
    base = f"http://127.0.0.1:{port}"
    with SERVER_LOG.open("w") as log:
        proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
        try:
            await_status(proc, f"{base}/api/v1/ping", timeout_s=60, log=SERVER_LOG)
            yield base
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@dataclass
class Visit:
    """A page of a fresh browser context, with the console errors it logged."""

    page: Any
    base: str
    errors: list[str] = field(default_factory=list)
    responses: list[Any] = field(default_factory=list)

    def open(self, path: str) -> Any:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status == 200, path
        self.page.wait_for_load_state("networkidle")
        return response

    def sign_in(self, name: str = OPERATOR, password: str = OPERATOR_PASSWORD) -> None:
        """Sign in through the form, as an operator does (the operator exists: the
        ``dashboard_db`` fixture makes OPERATOR)."""
        self.page.goto(self.base + "/login")
        self.page.fill("#login-name", name)
        self.page.fill("#login-password", password)
        with self.page.expect_navigation():
            self.page.click("#login-form button[type=submit]")

    def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
def visit(browser: Any, live_server: str) -> Iterator[Callable[..., Visit]]:
    """Factory: ``visit(width, height, javascript=True)`` -> a :class:`Visit`."""
    contexts: list[Any] = []

    def make(width: int = 1280, height: int = 900, javascript: bool = True) -> Visit:
        context = browser.new_context(
            viewport={"width": width, "height": height}, java_script_enabled=javascript
        )
        contexts.append(context)
        v = Visit(context.new_page(), live_server)
        v.page.on("console", lambda m: v.errors.append(m.text) if m.type == "error" else None)
        v.page.on("pageerror", lambda e: v.errors.append(f"uncaught: {e}"))
        v.page.on("response", lambda r: v.responses.append(r))
        return v

    yield make
    for context in contexts:
        context.close()
