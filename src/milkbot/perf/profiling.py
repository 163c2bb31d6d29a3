"""Run each analytics query once against the configured database - the profilers' entry point.

    python -m milkbot.analytics                      # timings, one line per query
    python -m milkbot.analytics --json               # the results themselves
    python -m cProfile -o profile.stats -m milkbot.analytics
    kernprof -l -v src/analytics/api.py              # line by line (line-profiler)

The database is ``MILKBOT_DATABASE_URL`` or the embedded server (started if needed). The cache is
bypassed so every call reaches PostgreSQL. Under ``kernprof -l`` the query functions and the
equity arithmetic are wrapped with its ``profile`` decorator, so ``-v`` shows their lines.
"""

from __future__ import annotations

import argparse
import asyncio
import builtins
import json
import sys
import time
from typing import Any

from milkbot.analytics import feed, health, queries, service
from milkbot.analytics.service import Analytics
from milkbot.db.connect import open_database
from milkbot.db.migrate import apply_migrations
from milkbot.logs import configure_logging
from milkbot.perf.query_bench import service_calls
from milkbot.settings import Settings, SettingsError, load_settings

_PROFILED = {
    service: (
        "read_city_metrics",
        "read_equity_curve",
        "read_public_trades",
        "read_health",
        "read_strategy_metrics",
    ),
    queries: ("build_days", "summarise_equity", "downsample", "max_drawdown"),
    feed: ("encode_cursor",),
    health: ("_component",),
}


def _enable_line_profiling() -> None:
    """Wrap the functions the queries run in kernprof's decorator (no-op outside kernprof)."""
    # kernprof -l puts `profile` in builtins before it runs its script; elsewhere it is absent.
    line_profile = getattr(builtins, "profile", None)
    if line_profile is None:
        return
    for module, names in _PROFILED.items():
        for name in names:
            setattr(module, name, line_profile(getattr(module, name)))


async def run_queries(settings: Settings, url: str, days: int = 30) -> dict[str, tuple[float, Any]]:
    """Run the five queries once each (cache bypassed); return (milliseconds, result) by name."""
    out: dict[str, tuple[float, Any]] = {}
    async with Analytics(settings, url, bypass_cache=True) as analytics:
        for name, call in service_calls(analytics, days, None).items():
            started = time.perf_counter()
            result = await call()
            out[name] = ((time.perf_counter() - started) * 1000, result)
    return out


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``python -m milkbot.analytics``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m milkbot.analytics",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--days", type=int, default=30, help="window in settlement days")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(exc, file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    _enable_line_profiling()
    with open_database(settings) as url:
        apply_migrations(url)
        results = asyncio.run(run_queries(settings, url, args.days))
    if args.json:
        print(json.dumps({name: r.to_dict() for name, (_, r) in results.items()}, indent=2))
    else:
        for name, (ms, _) in results.items():
            print(f"{name:<18} {ms:8.2f} ms")
    return 0
