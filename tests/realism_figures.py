"""Per-account figures of a generated dataset, recomputed from the raw rows (not the
generator's arrays): daily equity, annualised return, max drawdown, daily Sharpe, win rate,
trades per active day. Shared by tests/test_generator_realism.py and the 10M measurement."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import psycopg

DAILY_SQL = """
SELECT t.account_id, t.event_date,
       count(*) AS trades,
       sum(CASE WHEN t.realized_pnl_micros IS NOT NULL
                THEN t.realized_pnl_micros - t.fee_micros ELSE 0 END)::bigint AS net,
       count(*) FILTER (WHERE t.realized_pnl_micros - t.fee_micros > 0) AS wins,
       count(*) FILTER (WHERE t.realized_pnl_micros - t.fee_micros < 0) AS losses,
       bool_and(t.realized_pnl_micros IS NOT NULL OR t.action = 'sell') AS settled
FROM ops.trades t GROUP BY 1, 2 ORDER BY 1, 2
"""
ACCOUNTS_SQL = """
SELECT a.id, a.name, a.mode, a.starting_bankroll_micros AS bankroll,
       coalesce((SELECT sum(amount_micros) FROM ops.account_transfers x WHERE x.account_id = a.id), 0)
           AS transfers
FROM ops.accounts a ORDER BY a.id
"""


@dataclass(frozen=True)
class Figures:
    account_id: int
    name: str
    mode: str
    days: int  # active (trading) days
    trades_per_day: float
    annual_return: float
    max_drawdown: float
    sharpe: float
    win_rate: float
    lowest_equity: int


def account_figures(conn: psycopg.Connection[Any]) -> list[Figures]:
    """Figures of every account with at least one settled trading day."""
    accounts = {r[0]: r[1:] for r in conn.execute(ACCOUNTS_SQL).fetchall()}
    days: dict[int, list[tuple[date, int, int, int, int, bool]]] = defaultdict(list)
    for account_id, day, trades, net, wins, losses, settled in conn.execute(DAILY_SQL):
        days[account_id].append((day, trades, int(net), wins, losses, settled))
    out = []
    for account_id, rows in days.items():
        name, mode, bankroll, transfers = accounts[account_id]
        settled = [r for r in rows if r[5]]
        if not settled:
            continue
        start = int(bankroll) + int(transfers)
        equity = start + np.cumsum([r[2] for r in settled])
        before = np.concatenate([[start], equity[:-1]])
        returns = np.array([r[2] for r in settled]) / before
        peak = np.maximum.accumulate(np.concatenate([[start], equity]))
        drawdown = float(((peak - np.concatenate([[start], equity])) / peak).max())
        span = (settled[-1][0] - settled[0][0]).days + 1
        growth = equity[-1] / start
        annual = growth ** (365.0 / max(span, 1)) - 1 if growth > 0 else -1.0
        sd = float(returns.std())
        wins, losses = sum(r[3] for r in settled), sum(r[4] for r in settled)
        out.append(
            Figures(
                account_id=account_id,
                name=name,
                mode=mode,
                days=len(rows),
                trades_per_day=sum(r[1] for r in rows) / len(rows),
                annual_return=float(annual),
                max_drawdown=drawdown,
                sharpe=float(returns.mean() / sd * math.sqrt(365)) if sd > 0 else 0.0,
                win_rate=wins / max(wins + losses, 1),
                lowest_equity=int(min(start, int(equity.min()))),
            )
        )
    return out


def percentiles(values: list[float], points: tuple[int, ...] = (5, 25, 50, 75, 95)) -> str:
    """ "P5 x / P25 y / ..." of ``values``."""
    array = np.array(values)
    return " / ".join(f"P{p} {np.percentile(array, p):.3g}" for p in points)


def summary(figures: list[Figures], min_days: int = 60) -> dict[str, str]:
    """Percentiles of each figure over the accounts active at least ``min_days`` days."""
    chosen = [f for f in figures if f.days >= min_days]
    return {
        "accounts": str(len(chosen)),
        "annual_return": percentiles([f.annual_return for f in chosen]),
        "max_drawdown": percentiles([f.max_drawdown for f in chosen]),
        "sharpe": percentiles([f.sharpe for f in chosen]),
        "win_rate": percentiles([f.win_rate for f in chosen]),
        "trades_per_day": percentiles([f.trades_per_day for f in chosen]),
    }
