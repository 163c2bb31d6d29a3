"""Where a measurement ran and on what: the one description of the machine and of the dataset
that every results record carries (:class:`~milkbot.perf.records.Machine`,
:class:`~milkbot.perf.records.Dataset`)."""

from __future__ import annotations

import os
import platform
from pathlib import Path

import psycopg

from milkbot.perf.records import Dataset, Machine

DATASET_FACTS = """
SELECT current_setting('server_version'),
       (SELECT count(*) FROM ops.trades),
       (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'ops.signals'::regclass),
       (SELECT greatest(reltuples, 0)::bigint FROM pg_class WHERE oid = 'ops.markets'::regclass),
       (SELECT min(event_date) FROM analytics.pnl_by_day),
       (SELECT max(event_date) FROM analytics.pnl_by_day),
       pg_database_size(current_database()),
       (SELECT count(*) FROM ops.accounts)
"""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def describe_machine() -> Machine:
    """This machine: host name, CPU model, logical cores, memory (GiB), OS, Python and the
    current 1/5/15-minute load average."""
    memory = None
    if hasattr(os, "sysconf") and "SC_PHYS_PAGES" in os.sysconf_names:
        memory = round(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 2**30, 1)
    load = None
    if hasattr(os, "getloadavg"):
        one, five, fifteen = (round(x, 2) for x in os.getloadavg())
        load = (one, five, fifteen)
    return Machine(
        hostname=platform.node(),
        cpu=_cpu_model(),
        cores=os.cpu_count() or 1,
        memory_gib=memory,
        os=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        load_average=load,
    )


def describe_dataset(url: str, seed: int | None = None) -> Dataset:
    """The PostgreSQL version and the data volume of the database at ``url`` (exact trade
    count, estimated signals and markets, settlement days, size in MB, accounts); ``seed`` as
    given."""
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        row = conn.execute(DATASET_FACTS).fetchone()
    assert row is not None  # a SELECT without FROM returns one row
    version, trades, signals, markets, first, last, size, accounts = row
    return Dataset(
        postgres=version,
        trades=trades,
        seed=seed,
        signals_estimate=signals,
        markets_estimate=markets,
        first_day=first,
        last_day=last,
        database_mb=round(size / 2**20),
        accounts=accounts,
    )
