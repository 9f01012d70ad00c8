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
    reactance: float
    festival: bool
    tiktok_user_share: float
    rednote_user_share: float


def read_day(signals: BanSignals, index: int, yesterday_states: np.ndarray) -> Day:
    n = yesterday_states.size
    return Day(
        index=index,
        tiktok_service=bool(signals.tiktok_service[index]),
        tiktok_in_stores=bool(signals.tiktok_in_stores[index]),
        threat=float(signals.threat[index]),
        reactance=float(signals.reactance[index]),
        festival=bool(signals.festival[index]),
        tiktok_user_share=int(np.count_nonzero(uses_tiktok(yesterday_states))) / n,
        rednote_user_share=int(np.count_nonzero(uses_rednote(yesterday_states))) / n,
    )
