"""Daily highs drawn from each city's seasonal climatology (reference.toml's Climate).

The anomaly from the seasonal normal persists from day to day (an AR(1) process whose
stationary spread is the climatology's ``sd``), as warm and cold spells do.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from milkbot.reference import Climate

# Day-to-day persistence of the anomaly (a warm day tends to follow a warm day).
PERSISTENCE = 0.6


def normal_highs(climate: Climate, days: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
    """Climatological mean high (F) of each day (days since 1970-01-01); Climate.normal_high."""
    dates = np.datetime64("1970-01-01", "D") + days
    day_of_year = (dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1
    phase = 2 * math.pi * (day_of_year - climate.peak_doy) / 365.25
    highs: npt.NDArray[np.float64] = climate.mean + climate.amplitude * np.cos(phase)
    return highs


def draw_highs(
    climate: Climate, days: npt.NDArray[np.int64], rng: np.random.Generator
) -> npt.NDArray[np.int64]:
    """Observed daily highs (whole F, as the NWS climate report gives them) for consecutive
    days: the seasonal normal plus a persistent anomaly with the climatology's spread."""
    shocks = rng.normal(0.0, climate.sd, len(days))
    anomaly = np.empty(len(days))
    carry = math.sqrt(1 - PERSISTENCE**2)
    previous = shocks[0] if len(days) else 0.0
    for i, shock in enumerate(shocks.tolist()):
        previous = PERSISTENCE * previous + carry * shock if i else shock
        anomaly[i] = previous
    return np.rint(normal_highs(climate, days) + anomaly).astype(np.int64)
