"""How each strategy of reference.toml behaves in the generated history.

They share the bot's model (docs/DOMAIN.md: a normal around the forecast high, sigma
``model_sigma_f``) and differ in the forecast they feed it, when they trade and how much of the
activity is theirs. Every forecast starts from the public forecast the market prices from;
a skilled strategy keeps less of its error, and each adds an error of its own. A strategy the
profiles don't know gets the default profile.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from milkbot.generator.accounts import Accounts
from milkbot.generator.listing import HOUR_US, Listing

SECOND_US = 1_000_000
# Nothing happens in the last seconds before a market closes or before `now`.
END_MARGIN_US = 3 * SECOND_US
# Intraday strategies trade the climate day's daytime, hours from its start (local standard).
INTRADAY_HOURS = (7, 19)
# Windows shorter than this get no activity.
MIN_WINDOW_US = 60 * SECOND_US


@dataclass(frozen=True, slots=True)
class Profile:
    """One strategy's behaviour; errors in degrees F."""

    share: float  # relative share of the looks (and so of the trades)
    public_error: float  # share of the public forecast's error its forecast keeps (1: none)
    own_error_sd: float  # its own forecast error (F) at the listing; shrinks toward the close
    climatology_weight: float  # pull of the forecast toward the seasonal normal
    intraday: bool  # only during the climate day's daytime (INTRADAY_HOURS)
    timing: tuple[float, float]  # Beta(a, b) of when it looks within its window


PROFILES: dict[str, Profile] = {
    "daily_high_temp": Profile(0.40, 0.8, 1.2, 0.0, False, (1.6, 1.0)),
    "mean_reversion": Profile(0.15, 0.82, 1.25, 0.05, False, (1.2, 1.2)),
    "nowcast": Profile(0.15, 0.82, 1.25, 0.0, True, (1.3, 1.3)),
    "ensemble": Profile(0.30, 0.81, 1.22, 0.0, False, (1.5, 1.0)),
}
DEFAULT_PROFILE = Profile(0.10, 1.0, 1.0, 0.0, False, (1.4, 1.0))


@dataclass(frozen=True, slots=True)
class Strategies:
    """The strategies of a run: database ids and profiles, in reference order."""

    ids: npt.NDArray[np.int64]
    share: npt.NDArray[np.float64]
    public_error: npt.NDArray[np.float64]
    own_error_sd: npt.NDArray[np.float64]
    climatology_weight: npt.NDArray[np.float64]
    intraday: npt.NDArray[np.bool_]
    timing_a: npt.NDArray[np.float64]
    timing_b: npt.NDArray[np.float64]
    account_id: npt.NDArray[np.int64]  # ops.accounts.id running it
    account: npt.NDArray[np.int64]  # index into the run's accounts
    first_day: npt.NDArray[np.int64]  # active over these days (since 1970-01-01)
    last_day: npt.NDArray[np.int64]
    trades: npt.NDArray[np.bool_]  # False: signals only (shadow accounts)

    @classmethod
    def of(cls, ids: dict[str, int], names: tuple[str, ...]) -> Strategies:
        """Profiles for ``names`` with their ids (``ids`` maps name to ops.strategies.id)."""
        profiles = [PROFILES.get(name, DEFAULT_PROFILE) for name in names]
        return cls(
            ids=np.array([ids[name] for name in names], dtype=np.int64),
            share=np.array([p.share for p in profiles]),
            public_error=np.array([p.public_error for p in profiles]),
            own_error_sd=np.array([p.own_error_sd for p in profiles]),
            climatology_weight=np.array([p.climatology_weight for p in profiles]),
            intraday=np.array([p.intraday for p in profiles]),
            timing_a=np.array([p.timing[0] for p in profiles]),
            timing_b=np.array([p.timing[1] for p in profiles]),
            account_id=np.ones(len(names), dtype=np.int64),
            account=np.zeros(len(names), dtype=np.int64),
            first_day=np.zeros(len(names), dtype=np.int64),
            last_day=np.full(len(names), 1 << 40, dtype=np.int64),
            trades=np.ones(len(names), dtype=bool),
        )

    @classmethod
    def lanes(cls, ids: dict[str, int], names: tuple[str, ...], accounts: Accounts) -> Strategies:
        """One entry (a lane) per account and strategy it runs: the strategy's profile, its
        share of the looks scaled by the account's activity (split between its strategies)
        and its errors by the account's skill."""
        base = cls.of(ids, names)
        account = np.array(
            [a for a, picked in enumerate(accounts.strategies) for _ in picked], dtype=np.int64
        )
        strategy = np.array([s for picked in accounts.strategies for s in picked], dtype=np.int64)
        share = base.share[strategy] / base.share[strategy].sum()
        per_account = np.bincount(account, share, minlength=len(accounts))[account]
        skill = accounts.skill[account]
        return cls(
            ids=base.ids[strategy],
            share=accounts.activity[account] * share / per_account,
            public_error=np.minimum(base.public_error[strategy] * skill, 1.0),
            own_error_sd=base.own_error_sd[strategy] * skill,
            climatology_weight=base.climatology_weight[strategy],
            intraday=base.intraday[strategy],
            timing_a=base.timing_a[strategy],
            timing_b=base.timing_b[strategy],
            account_id=accounts.ids[account],
            account=account,
            first_day=accounts.first_day[account],
            last_day=accounts.last_day[account],
            trades=accounts.trading[account],
        )

    def __len__(self) -> int:
        return len(self.ids)


def trading_windows(
    listing: Listing, events: npt.NDArray[np.int64], strategies: Strategies, now_us: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end (us) of each lane's buying on each event, shape (events, lanes): the
    event day's buying window (:attr:`Listing.buys_from_us` to :attr:`Listing.sales_from_us`,
    or ``now``), daytime of the climate day for intraday strategies, nothing on days the
    lane's account is not active. Empty windows have end <= start."""
    opened = listing.buys_from_us[events][:, None]
    limit = np.minimum(listing.sales_from_us[events], now_us)[:, None] - END_MARGIN_US
    day_start = listing.start_us[events][:, None]
    intraday = strategies.intraday[None, :]
    start = np.where(intraday, np.maximum(opened, day_start + INTRADAY_HOURS[0] * HOUR_US), opened)
    end = np.where(intraday, np.minimum(limit, day_start + INTRADAY_HOURS[1] * HOUR_US), limit)
    day = listing.day[events][:, None]
    active = (strategies.first_day[None, :] <= day) & (day <= strategies.last_day[None, :])
    return start, np.where(active, end, start)


def activity_weights(
    listing: Listing, events: npt.NDArray[np.int64], strategies: Strategies, now_us: int
) -> npt.NDArray[np.float64]:
    """Expected share of looks per (event, strategy), shape (events, strategies): the
    strategy's share times the part of its usual window it can trade (the last days are cut
    short by ``now``)."""
    start, end = trading_windows(listing, events, strategies, now_us)
    full = (listing.sales_from_us[events] - listing.buys_from_us[events])[:, None]
    usual = np.where(strategies.intraday[None, :], INTRADAY_HOURS[1] - INTRADAY_HOURS[0], 0)
    usual = np.where(usual > 0, usual * HOUR_US, full)
    span = np.where(end - start >= MIN_WINDOW_US, end - start, 0)
    return strategies.share[None, :] * span / usual
