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
    tiktok_service: np.bool_
    tiktok_in_stores: np.bool_
    threat: float
    reactance: float
    festival: np.bool_
    tiktok_user_share: float
    rednote_user_share: float


def read_day(signals: BanSignals, index: int, yesterday_states: np.ndarray) -> Day:
    return day_from_counts(signals, index, np.bincount(yesterday_states, minlength=4))


def day_from_counts(signals: BanSignals, index: int, yesterday_counts) -> Day:
    """The day as ``read_day`` sees it, from yesterday's number of users in each state (a driver that
    keeps those counts need not scan the population again)."""
    counts = np.asarray(yesterday_counts, dtype=np.int64)
    n = int(counts.sum())
    states = np.arange(counts.size)
    return Day(
        index=index,
        tiktok_service=signals.tiktok_service[index],
        tiktok_in_stores=signals.tiktok_in_stores[index],
        threat=signals.threat[index],
        reactance=signals.reactance[index],
        festival=signals.festival[index],
        tiktok_user_share=int(counts[uses_tiktok(states)].sum()) / n,
        rednote_user_share=int(counts[uses_rednote(states)].sum()) / n,
    )


def draw_taste_shocks(rng: np.random.Generator, n_users: int) -> np.ndarray:
    """Today's taste shocks: one standard Gumbel draw per user (row, in user order) and option (column).

    Drawn as -log(-log U), U uniform in float32: a fifth of the cost of ``rng.gumbel`` in float64 (which
    was most of a day's work at a million users), at a resolution (about 1e-7) far below anything a
    logit choice can tell apart. Both drivers draw here, so they see the same shocks; consecutive draws
    continue one stream, so drawing users in blocks gives the same shocks as drawing them all at once.
    """
    shocks = rng.random((n_users, 4), dtype=np.float32)
    with np.errstate(divide="ignore"):   # U == 0 (chance 6e-8) gives -inf: that option is not taken that day
        np.log(shocks, out=shocks)
    np.negative(shocks, out=shocks)
    np.log(shocks, out=shocks)
    np.negative(shocks, out=shocks)
    return shocks
