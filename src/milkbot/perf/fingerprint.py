"""A fingerprint of the analytics outputs, so the regression gate can tell a real speed-up from
one that changed the numbers.

It hashes city metrics, strategy metrics and the equity curve over an explicit window of
settled days of the seeded dataset (not "the last 30 days", which moves with the calendar),
without their ``as_of`` times, with floats rounded to 9 significant digits (summation order may
differ in the last bits between plans). Health and the public feed depend on the clock and are
left out.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from typing import Any

from milkbot.analytics import Analytics


def _canonical(value: Any) -> Any:
    if isinstance(value, float):
        return float(f"{value:.9g}")
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in sorted(value.items()) if k != "as_of"}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


async def analytics_fingerprint(analytics: Analytics, first_day: date, last_day: date) -> str:
    """sha256 (first 16 hex digits) of the analytics outputs over [first_day, last_day]."""
    window = {"from_date": first_day, "to_date": last_day, "bypass_cache": True}
    outputs = {
        "cities": (await analytics.city_metrics(**window)).to_dict(),  # type: ignore[arg-type]
        "strategies": (await analytics.strategy_metrics(**window)).to_dict(),  # type: ignore[arg-type]
        "equity": (await analytics.equity_curve(**window)).to_dict(),  # type: ignore[arg-type]
    }
    text = json.dumps(_canonical(outputs), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def dataset_fingerprint(analytics: Analytics, end_date: date) -> str:
    """The fingerprint over the last settled year of a dataset whose last settlement day is
    ``end_date`` (its final two days may still be settling)."""
    last = end_date - timedelta(days=2)
    return await analytics_fingerprint(analytics, last - timedelta(days=364), last)
