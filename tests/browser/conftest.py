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
from pathlib import Path
from typing import Any

import pytest

from milkbot.generator import generate_dataset
from milkbot.simulator import Simulator
from tests.net import await_status, free_port

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


@pytest.fixture(scope="session")
def dashboard_db(make_database: Callable[[], str]) -> str:
    """A database with a seeded history and one simulator cycle now (fresh heartbeats)."""
    url = make_database()
    generate_dataset(url, trades=TRADES, days=DAYS, seed=42)
    sim = Simulator(url, seed=42)
    try:
        sim.cycle()
    finally:
        sim.close()
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
