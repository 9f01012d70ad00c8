"""What every user sees on a given day: the ban's status and the population's platform shares.

Both drivers build this once per day from yesterday's states and hand it to the users.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from agents.rules import uses_rednote, uses_tiktok
from model.timeline import BanSignals


@dataclasses.dataclass(frozen=True)
class Day:
    index: int
    tiktok_service: bool
    tiktok_in_stores: bool
    threat: float
    salience: float          # news attention to the ban, 0..1
    reactance: float
    festival: bool
    tiktok_user_share: float
    rednote_user_share: float
    migration_wave: float   # yesterday's expected first installs of RedNote per 1,000 users


def migration_wave(first_installs, users):
    """The size of yesterday's wave as users sense it (App Store charts, the news): first installs of
    RedNote per 1,000 users, both in agents or both as shares of the population. The drivers pass the
    expected first installs (``rules.first_install_chance`` summed over the users), which is what the
    whole population the agents stand for installs; the system-dynamics twin's installs are expected
    values already."""
    return 1000.0 * first_installs / users


def read_day(signals: BanSignals, index: int, yesterday_states: np.ndarray, yesterday_first_installs: float = 0.0) -> Day:
    return day_from_counts(signals, index, np.bincount(yesterday_states, minlength=4), yesterday_first_installs)


def day_from_counts(signals: BanSignals, index: int, yesterday_counts, yesterday_first_installs: float = 0.0) -> Day:
    """The day as ``read_day`` sees it, from yesterday's number of users in each state (a driver that
    keeps those counts need not scan the population again)."""
    counts = np.asarray(yesterday_counts, dtype=np.int64)
    n = int(counts.sum())
    states = np.arange(counts.size)
    return Day(
        index=index,
        tiktok_service=bool(signals.tiktok_service[index]),
        tiktok_in_stores=bool(signals.tiktok_in_stores[index]),
        threat=float(signals.threat[index]),
        salience=float(signals.salience[index]),
        reactance=float(signals.reactance[index]),
        festival=bool(signals.festival[index]),
        tiktok_user_share=int(counts[uses_tiktok(states)].sum()) / n,
        rednote_user_share=int(counts[uses_rednote(states)].sum()) / n,
        migration_wave=migration_wave(float(yesterday_first_installs), n),
    )
