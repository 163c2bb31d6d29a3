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
    "daily_high_temp": Profile(0.40, 0.85, 1.4, 0.0, False, (1.6, 1.0)),
    "mean_reversion": Profile(0.15, 1.0, 1.5, 0.25, False, (1.2, 1.2)),
    "nowcast": Profile(0.15, 0.6, 1.2, 0.0, True, (1.3, 1.3)),
    "ensemble": Profile(0.30, 0.8, 1.2, 0.0, False, (1.5, 1.0)),
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
        )

    def __len__(self) -> int:
        return len(self.ids)


def trading_windows(
    listing: Listing, events: npt.NDArray[np.int64], strategies: Strategies, now_us: int
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """Start and end (us) of each strategy's activity on each event, shape (events, strategies):
    from the listing to the close (or ``now``), daytime of the climate day for intraday ones.
    Empty windows have end <= start."""
    opened = listing.opened_us[events][:, None]
    limit = np.minimum(listing.closes_us[events], now_us)[:, None] - END_MARGIN_US
    day_start = listing.start_us[events][:, None]
    intraday = strategies.intraday[None, :]
    start = np.where(intraday, np.maximum(opened, day_start + INTRADAY_HOURS[0] * HOUR_US), opened)
    end = np.where(intraday, np.minimum(limit, day_start + INTRADAY_HOURS[1] * HOUR_US), limit)
    return start, end


def activity_weights(
    listing: Listing, events: npt.NDArray[np.int64], strategies: Strategies, now_us: int
) -> npt.NDArray[np.float64]:
    """Expected share of looks per (event, strategy), shape (events, strategies): the
    strategy's share times the part of its usual window it can trade (the last days are cut
    short by ``now``)."""
    start, end = trading_windows(listing, events, strategies, now_us)
    full = (listing.closes_us[events] - listing.opened_us[events])[:, None]
    usual = np.where(strategies.intraday[None, :], INTRADAY_HOURS[1] - INTRADAY_HOURS[0], 0)
    usual = np.where(usual > 0, usual * HOUR_US, full)
    span = np.where(end - start >= MIN_WINDOW_US, end - start, 0)
    return strategies.share[None, :] * span / usual
