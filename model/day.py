"""What every user sees on a given day: the ban's status, the population's platform shares, and the
migration's own news and chart.

Both drivers build this once per day from yesterday's states (and yesterday's ``Day``, which carries the
migration's news attention and chart position from day to day) and hand it to the users.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from agents import rules
from model.params import Params
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
    buzz: float = 0.0        # the migration's news attention, 0..1 (rules.update_buzz)
    chart: float = 0.0       # RedNote's chart position as users see it, 0..1 (rules.update_chart)
    install_drive: float = 0.0   # utility pushing a first install apart from use (rules.install_drive)
    tiktok_gone: float = 0.0     # how far users take TikTok to be gone, 0..1 (rules.tiktok_gone)
    attention: float = 0.0       # the moment's attention to the platforms, 0..1 (rules.attention)


def migration_wave(first_installs, users):
    """The size of yesterday's wave as users sense it (App Store charts, the news): first installs of
    RedNote per 1,000 users, both in agents or both as shares of the population. The drivers pass the
    expected first installs (``rules.first_install_chance`` summed over the users), which is what the
    whole population the agents stand for installs; the system-dynamics twin's installs are expected
    values already."""
    return 1000.0 * first_installs / users


def days_dark(signals: BanSignals, index: int) -> int:
    """Consecutive days without TikTok's service up to and including day ``index`` (0 if it runs)."""
    service = np.asarray(signals.tiktok_service[: index + 1], dtype=bool)
    running = np.flatnonzero(service)
    return int(index - running[-1]) if running.size else index + 1


def read_day(signals: BanSignals, index: int, yesterday_states: np.ndarray, p: Params,
             yesterday_first_installs: float = 0.0, yesterday: Day | None = None) -> Day:
    return day_from_counts(signals, index, np.bincount(yesterday_states, minlength=rules.N_OPTIONS), p,
                           yesterday_first_installs, yesterday)


def day_from_counts(signals: BanSignals, index: int, yesterday_counts, p: Params,
                    yesterday_first_installs: float = 0.0, yesterday: Day | None = None) -> Day:
    """The day as ``read_day`` sees it, from yesterday's number of users in each state (a driver that
    keeps those counts need not scan the population again). ``yesterday`` is the day before's ``Day``
    (None on the first day: no buzz, no chart yet)."""
    counts = np.asarray(yesterday_counts, dtype=np.int64)
    n = int(counts.sum())
    states = np.arange(counts.size)
    return day_from_shares(signals, index, int(counts[rules.uses_tiktok(states)].sum()) / n,
                           int(counts[rules.uses_rednote(states)].sum()) / n,
                           migration_wave(float(yesterday_first_installs), n), p, yesterday)


def day_from_shares(signals: BanSignals, index: int, tiktok_user_share: float, rednote_user_share: float,
                    wave: float, p: Params, yesterday: Day | None = None) -> Day:
    """The day from yesterday's platform shares and migration wave (what the system-dynamics twin knows):
    the ban's signals, and the migration's buzz and chart carried on from ``yesterday``."""
    salience, threat = float(signals.salience[index]), float(signals.threat[index])
    in_stores = bool(signals.tiktok_in_stores[index])
    todays_news = rules.wave_news(wave, salience, p, float(signals.migration_news[index]))
    buzz = rules.update_buzz(yesterday.buzz if yesterday else 0.0, todays_news, p)
    chart = rules.update_chart(yesterday.chart if yesterday else 0.0, wave, p)
    return Day(
        index=index,
        tiktok_service=bool(signals.tiktok_service[index]),
        tiktok_in_stores=in_stores,
        threat=threat,
        salience=salience,
        reactance=float(signals.reactance[index]),
        festival=bool(signals.festival[index]),
        tiktok_user_share=tiktok_user_share,
        rednote_user_share=rednote_user_share,
        migration_wave=wave,
        buzz=buzz,
        chart=chart,
        install_drive=rules.install_drive(chart, in_stores, p),
        tiktok_gone=rules.tiktok_gone(days_dark(signals, index), p),
        attention=rules.attention(threat, buzz, p),
    )
