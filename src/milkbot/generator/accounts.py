"""The accounts of a generated history: who trades, with what bankroll, limits and strategies.

Account ``default`` (id 1, made by migration 0006) is the flagship live bot: the plan's
bankroll, every strategy, active over the whole run. Beside it the generator adds as many
accounts as the trade target needs for each to trade tens of times a day (TRADES_PER_DAY per
active day on average; docs/DOMAIN.md: 10-30k trades a year):

- paper bots (mode ``demo``, on Kalshi's demo venue or the platform's simulator),
- replays (mode ``replay``, simulated) of a strategy over a past period, active only there,
- a few live-sized bots (mode ``live``, production),
- a few shadow runs (mode ``shadow``): signals only, never a trade.

Each runs one strategy, some a second one. Bankrolls are drawn log-uniformly from $500 to
$20,000 in whole dollars (live ones from $1,000 to $10,000): a retail Kalshi account, and at
least enough for the limits' average stake (a quarter percent of equity) to buy one contract.
Some accounts are private, some have tighter limits than docs/DOMAIN.md's defaults, a few are
direct members (balance precision $0.0001), a few receive a deposit. Every property comes from
one pool drawn from the seed, so the first N accounts are the same whatever N is.

``Lanes`` are the (account, strategy) pairs the looks are drawn over: the unit that has a
position, a forecast error and an activity of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from milkbot.generator.plan import Plan, day_number
from milkbot.money import MICROS_PER_DOLLAR

# Average trades per active day of a trading account (DOMAIN: 10-30k a year is 27-82 a day).
TRADES_PER_DAY = 40
# A pool larger than any run needs; its first accounts are used.
POOL = 4000
MODES = ("demo", "replay", "live", "shadow")
MODE_ODDS = (0.55, 0.30, 0.05, 0.10)
# The first pool entries, so that even a small run has one of each kind.
FIRST_MODES = ("demo", "demo", "replay", "shadow", "live", "demo", "replay")
BANKROLL_DOLLARS = {"live": (2_000, 15_000), "other": (1_000, 25_000)}
SHADOW_ACTIVITY = 0.3
# The flagship runs the platform's best-tuned models: it keeps a little less forecast error.
FLAGSHIP_SKILL = 0.93
PRIVATE_SHARE = 0.15
DIRECT_MEMBER_SHARE = 0.1
TIGHT_LIMITS_SHARE = 0.25
SECOND_STRATEGY_SHARE = 0.3
DEPOSIT_SHARE = 0.08
# Replays cover 30-100 % of the run, at most a year; live and paper bots start in the first
# 60 % of it, and some paper bots retire before the end.
REPLAY_SPAN = (0.3, 1.0)
REPLAY_MAX_DAYS = 365
START_WITHIN = 0.6
RETIRED_SHARE = 0.15
# docs/DOMAIN.md's limits (basis points of equity) and a tighter set.
DEFAULT_LIMITS = (200, 300, 500, 1000, 500)
TIGHT_LIMITS = (100, 200, 400, 600, 300)
STRATEGY_LABELS = {
    "daily_high_temp": "Daily high",
    "mean_reversion": "Mean reversion",
    "nowcast": "Nowcast",
    "ensemble": "Ensemble",
}
MODE_LABELS = {"demo": "Paper", "replay": "Replay", "live": "Live", "shadow": "Shadow"}
ENVIRONMENTS = {"live": "production", "replay": "simulated", "shadow": "simulated"}


@dataclass(frozen=True, slots=True)
class Accounts:
    """The run's accounts, index 0 the flagship ``default``. Days count from 1970-01-01;
    money in micros; limits in basis points (trade, city, cluster, open, daily loss)."""

    ids: npt.NDArray[np.int64]
    names: list[str]
    display_names: list[str]
    modes: list[str]
    environments: list[str]
    bankroll: npt.NDArray[np.int64]
    precision: npt.NDArray[np.int64]
    public: npt.NDArray[np.bool_]
    limits: npt.NDArray[np.int64]  # (accounts, 5)
    first_day: npt.NDArray[np.int64]
    last_day: npt.NDArray[np.int64]
    activity: npt.NDArray[np.float64]  # relative trades per active day
    skill: npt.NDArray[np.float64]  # scales the forecast error it keeps (< 1: better)
    stake: npt.NDArray[np.float64]  # scales its stakes
    strategies: list[tuple[int, ...]]  # indexes into the reference strategies
    deposit_day: npt.NDArray[np.int64]  # -1: none
    deposit: npt.NDArray[np.int64]
    descriptions: list[str]

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def trading(self) -> npt.NDArray[np.bool_]:
        """Accounts that may trade (all but shadow runs)."""
        return np.array([m != "shadow" for m in self.modes])


def plan_accounts(
    plan: Plan, strategy_names: tuple[str, ...], first_id: int, rng: np.random.Generator
) -> Accounts:
    """The flagship plus as many generated accounts (ids from ``first_id``) as the plan's
    trades need at TRADES_PER_DAY a trading account's active day."""
    first, last = day_number(plan.first_day), day_number(plan.end_date)
    days = last - first + 1
    n_strategies = len(strategy_names)
    mode = rng.choice(len(MODES), size=POOL, p=MODE_ODDS)
    mode[: len(FIRST_MODES)] = [MODES.index(m) for m in FIRST_MODES]
    live = mode == MODES.index("live")
    lo = np.where(live, BANKROLL_DOLLARS["live"][0], BANKROLL_DOLLARS["other"][0])
    hi = np.where(live, BANKROLL_DOLLARS["live"][1], BANKROLL_DOLLARS["other"][1])
    dollars = np.rint(np.exp(rng.uniform(np.log(lo), np.log(hi)))).astype(np.int64)
    public = rng.random(POOL) >= PRIVATE_SHARE
    direct = rng.random(POOL) < DIRECT_MEMBER_SHARE
    tight = rng.random(POOL) < TIGHT_LIMITS_SHARE
    main = rng.choice(n_strategies, size=POOL, p=_strategy_odds(strategy_names))
    second = (main + 1 + rng.integers(0, max(n_strategies - 1, 1), POOL)) % n_strategies
    has_second = (rng.random(POOL) < SECOND_STRATEGY_SHARE) & (n_strategies > 1)
    replay = mode == MODES.index("replay")
    span = np.minimum(
        np.maximum(np.rint(rng.uniform(*REPLAY_SPAN, POOL) * days), 1), REPLAY_MAX_DAYS
    ).astype(np.int64)
    replay_start = first + (rng.random(POOL) * (days - span + 1)).astype(np.int64)
    start = first + (rng.random(POOL) ** 2 * START_WITHIN * days).astype(np.int64)
    retired = (rng.random(POOL) < RETIRED_SHARE) & (mode == MODES.index("demo"))
    stop = np.where(
        retired, start + ((last - start) * rng.uniform(0.5, 0.95, POOL)).astype(np.int64), last
    )
    first_day = np.where(replay, replay_start, start)
    last_day = np.where(replay, replay_start + span - 1, stop)
    # Shadow runs look less often (one strategy under evaluation, not a trading bot).
    activity = np.exp(rng.normal(0.0, 0.35, POOL)) * np.where(
        mode == MODES.index("shadow"), SHADOW_ACTIVITY, 1.0
    )
    skill = np.exp(rng.normal(0.0, 0.025, POOL))
    stake = np.exp(rng.normal(0.0, 0.3, POOL))
    deposit = (rng.random(POOL) < DEPOSIT_SHARE) & ~replay & (mode != MODES.index("shadow"))
    deposit_day = np.where(
        deposit,
        first_day + ((last_day - first_day) * rng.uniform(0.2, 0.8, POOL)).astype(np.int64),
        -1,
    )
    deposit_dollars = np.rint(dollars * rng.uniform(0.1, 0.5, POOL)).astype(np.int64)

    # How many: enough trading account-days (weighted by activity) for the target.
    trading = mode != MODES.index("shadow")
    need = plan.trades / TRADES_PER_DAY - days  # the flagship trades every day
    weight = np.where(trading, (last_day - first_day + 1) * activity, 0.0)
    n = int(np.searchsorted(np.cumsum(weight), need) + 1) if need > 0 else 0
    n = min(max(n, len(FIRST_MODES)), POOL)

    names, displays, modes, envs, descriptions = (
        ["default"],
        ["Default account"],
        ["live"],
        ["production"],
        [""],
    )
    strategies: list[tuple[int, ...]] = [tuple(range(n_strategies))]
    for k in range(n):
        m = MODES[mode[k]]
        picked = (int(main[k]),) + ((int(second[k]),) if has_second[k] else ())
        label = strategy_names[picked[0]]
        number = first_id + k
        names.append(f"{'paper' if m == 'demo' else m}_{label}_{number:03d}")
        title = " + ".join(
            STRATEGY_LABELS.get(strategy_names[s], strategy_names[s]) for s in picked
        )
        displays.append(f"{MODE_LABELS[m]} {number}: {title}")
        modes.append(m)
        envs.append(ENVIRONMENTS.get(m, "demo" if k % 2 else "simulated"))
        strategies.append(picked)
        span_text = f" over {_day(first_day[k])} .. {_day(last_day[k])}" if m == "replay" else ""
        descriptions.append(
            f"Generated {MODE_LABELS[m].lower()} account running {title.lower()}{span_text}."
        )
    pick = slice(0, n)
    limits = np.where(tight[pick, None], TIGHT_LIMITS, DEFAULT_LIMITS)
    return Accounts(
        ids=np.concatenate([[1], first_id + np.arange(n)]).astype(np.int64),
        names=names,
        display_names=displays,
        modes=modes,
        environments=envs,
        bankroll=np.concatenate(
            [[plan.bankroll_cents * 10_000], dollars[pick] * MICROS_PER_DOLLAR]
        ).astype(np.int64),
        precision=np.concatenate([[10_000], np.where(direct[pick], 100, 10_000)]).astype(np.int64),
        public=np.concatenate([[True], public[pick]]),
        limits=np.concatenate([np.array([DEFAULT_LIMITS]), limits]).astype(np.int64),
        first_day=np.concatenate([[first], first_day[pick]]).astype(np.int64),
        last_day=np.concatenate([[last], last_day[pick]]).astype(np.int64),
        activity=np.concatenate([[1.0], activity[pick]]),
        skill=np.concatenate([[FLAGSHIP_SKILL], skill[pick]]),
        stake=np.concatenate([[1.0], stake[pick]]),
        strategies=strategies,
        deposit_day=np.concatenate([[-1], deposit_day[pick]]).astype(np.int64),
        deposit=np.concatenate([[0], deposit_dollars[pick] * MICROS_PER_DOLLAR]).astype(np.int64),
        descriptions=descriptions,
    )


def _strategy_odds(names: tuple[str, ...]) -> npt.NDArray[np.float64]:
    from milkbot.generator.strategy import DEFAULT_PROFILE, PROFILES

    share = np.array([PROFILES.get(n, DEFAULT_PROFILE).share for n in names])
    odds: npt.NDArray[np.float64] = share / share.sum()
    return odds


def _day(number: int) -> str:
    return (date(1970, 1, 1) + timedelta(days=int(number))).isoformat()
