"""Component heartbeats: an hourly log for the trader and the market-data feed of each account
that runs live components (the flagship over the whole run, the other live, paper and shadow
bots still running over their last days), each ending with a healthy beat seconds before
``now`` (ops.component_health's latest state). Replays have no components.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt

from milkbot.generator.binary import Column
from milkbot.generator.listing import HOUR_US, Listing
from milkbot.generator.strategy import SECOND_US

# Component, and how long before `now` its last beat came (us range).
COMPONENTS = (
    ("trader", (5 * SECOND_US, 40 * SECOND_US)),
    ("market_data", (10 * SECOND_US, 90 * SECOND_US)),
)
STATUSES = np.array([b"healthy", b"degraded", b"unhealthy"], dtype=np.bytes_)
STATUS_ODDS = (0.985, 0.012, 0.003)
MESSAGES = {
    "trader": np.array([b"", b"order latency above 2 s", b"exchange API errors"], dtype=np.bytes_),
    "market_data": np.array(
        [b"", b"quote feed lagging 90 s", b"forecast feed unreachable"], dtype=np.bytes_
    ),
}
HEARTBEAT_COLUMNS = ("account_id", "component", "observed_at", "status", "message")


@dataclass(frozen=True, slots=True)
class Latest:
    """A component's most recent beat (ops.component_health)."""

    account_id: int
    component: str
    observed_at: datetime
    status: str
    message: str


def heartbeat_rows(
    listing: Listing,
    now_us: int,
    rng: np.random.Generator,
    others: Sequence[int] = (),
    recent_us: int = 48 * HOUR_US,
) -> tuple[list[Column], list[Latest]]:
    """Columns of the hourly heartbeat log, and each component's latest beat: account 1's
    since the first market opened, those of the accounts ``others`` (ids) over the last
    ``recent_us``."""
    first = int(listing.opened_us.min()) if listing.events else now_us - 24 * HOUR_US
    owners: list[npt.NDArray[np.int64]] = []
    names: list[npt.NDArray[np.int64]] = []
    times: list[npt.NDArray[np.int64]] = []
    statuses: list[npt.NDArray[np.int64]] = []
    latest: list[Latest] = []
    for account_id in (1, *others):
        since = first if account_id == 1 else max(first, now_us - recent_us)
        for index, (component, lag) in enumerate(COMPONENTS):
            last = now_us - int(rng.integers(*lag))
            beats = np.arange(last, since, -HOUR_US, dtype=np.int64)[::-1]
            status = rng.choice(len(STATUSES), size=len(beats), p=STATUS_ODDS)
            status[-1] = 0
            owners.append(np.full(len(beats), account_id, dtype=np.int64))
            names.append(np.full(len(beats), index, dtype=np.int64))
            times.append(beats)
            statuses.append(status)
            latest.append(
                Latest(
                    account_id,
                    component,
                    datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=last),
                    "healthy",
                    "",
                )
            )
    owner = np.concatenate(owners)
    who = np.concatenate(names)
    time = np.concatenate(times)
    status = np.concatenate(statuses)
    order = np.lexsort((who, owner, time))
    messages = np.concatenate([MESSAGES[c] for c, _ in COMPONENTS])
    columns = [
        Column("int4", owner[order]),
        Column(
            "text",
            who[order],
            labels=np.array([c.encode() for c, _ in COMPONENTS], dtype=np.bytes_),
        ),
        Column("timestamptz", time[order]),
        Column("text", status[order], labels=STATUSES),
        Column("text", (who * len(STATUSES) + status)[order], labels=messages),
    ]
    return columns, latest
