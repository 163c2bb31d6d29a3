"""The query performance results as the guide's text file (``current.txt`` / ``baseline.txt``).

The guide compares runs with ``diff baseline.txt current.txt`` and promotes one with ``cp
current.txt baseline.txt``, so the text file is a full record, not a summary: one ``key: value``
line per fact of the run (machine, PostgreSQL, data, accounts timed, analytics fingerprint) and
one fixed-column line per query (``<query>@typical``: the typical account's), with no
timestamp, so two runs differ only where their figures do. It is written from a
:class:`~milkbot.perf.records.QueryBenchmark` by :func:`render_query_text` and read back into
one by :func:`parse_query_text` (the figures it keeps: P50/P95/P99, the thresholds and the
status of each query), which is what the regression gate reads.
"""

from __future__ import annotations

from datetime import date

from milkbot.perf.records import Dataset, Machine, QueryBenchmark, QueryFigures

TITLE = "# Milkbot query performance (tests/performance/test_query_performance.py)"
TIMING = "timing: warm, cache bypassed, wall clock of one call through the pool, ms"
COLUMNS = ("p50", "p95", "p99", "target_ms", "critical_ms")


class QueryTextError(ValueError):
    """The text is not a query results file; the message names the line."""


def render_query_text(record: QueryBenchmark) -> str:
    """The text file of a query benchmark (figures in ms)."""
    m, d = record.machine, record.dataset
    lines = [
        TITLE,
        f"cpu: {m.cpu}",
        f"cores: {m.cores}",
        f"memory: {m.memory_gib} GiB",
        f"os: {m.os}",
        f"postgresql: {d.postgres}",
        f"analytics fingerprint: {record.fingerprint}",
        f"trades: {d.trades:,} (seed {d.seed})",
        f"signals: ~{d.signals_estimate or 0:,}",
        f"markets: ~{d.markets_estimate or 0:,}",
        f"settlement days: {d.first_day}..{d.last_day}",
        *([f"accounts: {d.accounts:,}"] if d.accounts is not None else []),
        *(
            ["accounts timed: " + ", ".join(f"{r}={n}" for r, n in record.accounts.items())]
            if record.accounts
            else []
        ),
        TIMING,
        "",
        f"{'query':<28}{'p50':>10}{'p95':>10}{'p99':>10}{'target':>10}{'critical':>10}  status",
    ]
    for name, q in sorted(record.queries.items()):
        lines.append(
            f"{name:<28}{q.p50:>10.3f}{q.p95:>10.3f}{q.p99:>10.3f}"
            f"{q.target_ms:>10g}{q.critical_ms:>10g}  {q.status}"
        )
    return "\n".join(lines) + "\n"


def _count(text: str) -> int:
    return int(text.lstrip("~").replace(",", ""))


def parse_query_text(text: str) -> QueryBenchmark:
    """The record :func:`render_query_text` was given, back from its text (figures rounded to
    the microsecond as printed). Raises :class:`QueryTextError` naming what is wrong."""
    lines = text.splitlines()
    if not lines or lines[0] != TITLE:
        raise QueryTextError(f"not a query results file (its first line is not {TITLE!r})")
    facts: dict[str, str] = {}
    queries: dict[str, QueryFigures] = {}
    table = False
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        if line.startswith("query "):
            table = True
            continue
        try:
            if table:
                name, *figures, status = line.split()
                values = [float(f) for f in figures]
                if len(values) != len(COLUMNS) or status not in ("ok", "FAIL"):
                    raise ValueError(f"expected {len(COLUMNS)} figures and ok or FAIL")
                queries[name] = QueryFigures.model_validate(
                    {**dict(zip(COLUMNS, values, strict=True)), "status": status}
                )
            else:
                key, sep, value = line.partition(": ")
                if not sep:
                    raise ValueError("expected 'key: value'")
                facts[key] = value
        except ValueError as exc:
            raise QueryTextError(f"line {number}: {exc}: {line!r}") from None
    try:
        trades, _, seed = facts["trades"].partition(" (seed ")
        first, _, last = facts["settlement days"].partition("..")
        return QueryBenchmark(
            machine=Machine(
                cpu=facts["cpu"],
                cores=int(facts["cores"]),
                memory_gib=float(facts["memory"].removesuffix(" GiB")),
                os=facts["os"],
            ),
            dataset=Dataset(
                postgres=facts["postgresql"],
                trades=_count(trades),
                seed=int(seed.rstrip(")")),
                signals_estimate=_count(facts["signals"]),
                markets_estimate=_count(facts["markets"]),
                first_day=date.fromisoformat(first),
                last_day=date.fromisoformat(last),
                # Files written before accounts existed have neither accounts line.
                accounts=_count(facts["accounts"]) if "accounts" in facts else None,
            ),
            fingerprint=facts["analytics fingerprint"],
            accounts=dict(
                pair.split("=", 1) for pair in facts.get("accounts timed", "").split(", ") if pair
            ),
            queries=queries,
        )
    except (KeyError, ValueError) as exc:
        raise QueryTextError(f"missing or malformed line: {exc}") from None
