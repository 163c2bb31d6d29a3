"""The closed sets of words that both the write side (``milkbot.store``) and the read side
(``milkbot.analytics``, the API, the load test's checks) use. Kept here, apart from both, so
each is written once and neither side imports the other.

The database's CHECK constraints (``db/migrations/0001_ops.sql``) hold the same values.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

HealthStatus = Literal["healthy", "degraded", "unhealthy"]
"""A component's health, best first; the overall status is the worst component's."""

HEALTH_STATUSES: Final[tuple[HealthStatus, ...]] = get_args(HealthStatus)

Side = Literal["yes", "no"]
"""A contract's side, and the result a market settles to."""

Action = Literal["buy", "sell"]
"""What a trade did with its side's contracts."""
