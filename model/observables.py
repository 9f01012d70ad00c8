"""What is measured each day, scaled from agents to people, and summaries of a finished run."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from agents.rules import (
    N_OPTIONS,
    STATE_NAMES,
    TIKTOK,
    activity_probability,
    rednote_moment,
    tiktok_activity_probability,
    uses_rednote,
    uses_tiktok,
)
from model.params import Params

# The cohort whose retention is followed: first installs on 13 and 14 January 2025, the days of the
# company's "more than 700,000 new users" (Reuters, 2025-01-16; issue 15).
COHORT = (dt.date(2025, 1, 13), dt.date(2025, 1, 14))

# Columns of the daily series, in order (people unless stated). The users in each state come first, one
# column per option of agents.rules.OPTION_TABLE.
COLUMNS = (
    *STATE_NAMES,
    "tiktok_users", "rednote_users",
    "downloads", "cumulative_downloads",
    "tiktok_dau", "rednote_dau",
    "knows_rednote",
    "dormant_accounts", "cohort_size", "cohort_rednote_users", "cohort_retention",
    "buzz", "chart",
    "migrants", "return_migrants", "creator_migrants", "creator_return_migrants",
    "cumulative_migrants", "cumulative_return_migrants",
    "cumulative_creator_migrants", "cumulative_creator_return_migrants",
    "tiktok_service", "tiktok_in_stores", "threat", "salience", "reactance",
)


# Population totals of real numbers (DAU, familiarity, the expected first installs) are summed in chunks
# of this many users, each chunk from its first user to its last and the chunks' sums in user order: one
# fixed order, so the total is the same number in every engine, whatever the number of threads that
# computed the chunks (model/compiled_day.py sums the same chunks in the same order).
SUM_CHUNK = 1 << 12


def ordered_sum(values) -> float:
    """The sum of a population's values (shape (n_users,)) in the fixed order described at SUM_CHUNK."""
    values = np.asarray(values, dtype=np.float64).ravel()
    if values.size == 0:
        return 0.0
    chunks = np.zeros(-(-values.size // SUM_CHUNK) * SUM_CHUNK)   # the last chunk padded with zeros: +0 changes nothing
    chunks[: values.size] = values
    chunks = chunks.reshape(-1, SUM_CHUNK)
    np.cumsum(chunks, axis=1, out=chunks)   # a cumulative sum runs left to right, as the compiled loop does
    return float(np.cumsum(chunks[:, -1])[-1])


def moved_to_rednote(previous_state, state):
    """Joined RedNote today (from TikTok only or neither): a migrant."""
    return uses_rednote(state) & ~uses_rednote(previous_state)


def went_back(previous_state, state, has_migrated):
    """Went from RedNote (alone or dual) back to TikTok only, having migrated during the run."""
    return (state == TIKTOK) & uses_rednote(previous_state) & has_migrated


class MigrationLedger:
    """Who has migrated to RedNote during the run: only they can be return migrants, so users already
    on RedNote before the surge who drop it are not counted as going back."""

    def __init__(self, n_users: int):
        self.has_migrated = np.zeros(n_users, dtype=bool)

    def record(self, previous_state, state, users=None):
        """Today's (migrated, returned) masks over ``users`` (all when None), remembering the migrants."""
        migrated = moved_to_rednote(previous_state, state)
        before = self.has_migrated if users is None else self.has_migrated[users]
        returned = went_back(previous_state, state, before)
        if users is None:
            self.has_migrated |= migrated
        else:
            self.has_migrated[users[migrated]] = True
        return migrated, returned


def cohort_window(p: Params) -> tuple[int, int]:
    """The ``COHORT``'s first and last day as day indices of a run of ``p`` (either may lie outside it)."""
    return (COHORT[0] - p.start).days, (COHORT[1] - p.start).days


def observe_day(
    previous_state: np.ndarray,
    state: np.ndarray,
    first_installs: np.ndarray,
    is_creator: np.ndarray,
    tiktok_stickiness: np.ndarray,
    rednote_stickiness: np.ndarray,
    familiarity: np.ndarray,
    rednote_days: np.ndarray,
    day,
    p: Params,
    ledger: MigrationLedger,
    switchers: np.ndarray | None = None,
) -> dict[str, float]:
    """One day's observables (people) from yesterday's and today's states, after the day (``day`` is
    its ``model.day.Day``; ``rednote_days`` the users' days since first using RedNote, updated).

    A migrant joins RedNote (from a state without it); a return migrant is a user who migrated
    during the run and goes from RedNote (alone or dual) back to TikTok only (``ledger`` remembers who
    migrated). DAU counts each user of a platform by its chance of opening it that day (RedNote's with
    the moment's engagement, ``rules.rednote_moment``); ``dormant_accounts`` are the RedNote accounts
    (everyone who ever used it) not opened that day, the expected number. ``knows_rednote`` counts each
    user by its familiarity with RedNote. The cohort columns follow the users whose first RedNote day
    was in ``COHORT`` (0 before it). A driver that knows which users changed state (``switchers``, their
    indices) may pass them: every move and first install is among them, so those counts need not scan
    the population.
    """
    counts = np.bincount(state, minlength=N_OPTIONS)
    on_tiktok = uses_tiktok(state)
    on_rednote = uses_rednote(state)
    # Stored habits are single precision: the rules' arithmetic is double, as in every engine.
    rednote_activity = np.where(on_rednote, activity_probability(rednote_stickiness.astype(np.float64), p,
                                                                 rednote_moment(rednote_days, day.attention, p)), 0.0)
    # A user's time on RedNote comes out of TikTok's (rules.tiktok_activity_probability).
    tiktok_activity = np.where(on_tiktok, tiktok_activity_probability(tiktok_stickiness.astype(np.float64),
                                                                      rednote_activity, p), 0.0)
    shortest, longest = cohort_days(day.index, p)
    joined = (rednote_days >= shortest) & (rednote_days <= longest)
    accounts, cohort_size = int(np.count_nonzero(rednote_days)), int(np.count_nonzero(joined))
    cohort_users = int(np.count_nonzero(joined & on_rednote))
    if switchers is not None:
        previous_state, state = previous_state[switchers], state[switchers]
        first_installs, is_creator = first_installs[switchers], is_creator[switchers]
    migrated, returned = ledger.record(previous_state, state, switchers)
    tallies = {
        "downloads": int(first_installs.sum()), "migrants": int(migrated.sum()), "return_migrants": int(returned.sum()),
        "creator_migrants": int((migrated & is_creator).sum()), "creator_return_migrants": int((returned & is_creator).sum()),
        "accounts": accounts, "cohort_size": cohort_size, "cohort_users": cohort_users,
    }
    return daily_record(counts, tallies, ordered_sum(tiktok_activity), ordered_sum(rednote_activity),
                        ordered_sum(familiarity), day, p)


# The day's whole-number tallies besides the users per state, as ``daily_record`` reads them.
TALLIES = ("downloads", "migrants", "return_migrants", "creator_migrants", "creator_return_migrants",
           "accounts", "cohort_size", "cohort_users")


def cohort_days(day_index: int, p: Params) -> tuple[int, int]:
    """The fewest and most days on RedNote a user of the ``COHORT`` has on day ``day_index`` (day t's
    users whose first day was d have t - d + 1 days on it); an empty range before the cohort's first day."""
    first, last = cohort_window(p)
    if day_index < first:
        return 1, 0
    return day_index - last + 1, day_index - first + 1


def daily_record(counts, tallies: dict[str, int], tiktok_activity: float, rednote_activity: float,
                 familiarity: float, day, p: Params) -> dict[str, float]:
    """A day's observables in people from its tallies in agents: ``counts`` (users per state), the
    ``TALLIES``, and the expected users opening each platform and the familiarity, each summed as
    ``ordered_sum`` does. Every engine's day ends here."""
    scale = p.people_per_agent
    rednote_dau = rednote_activity * scale
    return {
        **{name: counts[code] * scale for code, name in enumerate(STATE_NAMES)},
        "tiktok_users": int(counts[uses_tiktok(np.arange(N_OPTIONS))].sum()) * scale,
        "rednote_users": int(counts[uses_rednote(np.arange(N_OPTIONS))].sum()) * scale,
        "downloads": tallies["downloads"] * scale,
        "tiktok_dau": tiktok_activity * scale,
        "rednote_dau": rednote_dau,
        "knows_rednote": familiarity * scale,
        "dormant_accounts": tallies["accounts"] * scale - rednote_dau,
        "cohort_size": tallies["cohort_size"] * scale,
        "cohort_rednote_users": tallies["cohort_users"] * scale,
        "buzz": day.buzz,
        "chart": day.chart,
        "migrants": tallies["migrants"] * scale,
        "return_migrants": tallies["return_migrants"] * scale,
        "creator_migrants": tallies["creator_migrants"] * scale,
        "creator_return_migrants": tallies["creator_return_migrants"] * scale,
    }


def to_frame(records: list[dict], dates, initial_rednote_users: float, signals) -> pd.DataFrame:
    """Daily records as a DataFrame indexed by date, with running totals and the ban's signals."""
    frame = pd.DataFrame.from_records(records, index=pd.DatetimeIndex(list(dates), name="date"))
    n = len(frame)
    frame["cumulative_downloads"] = initial_rednote_users + frame["downloads"].cumsum()
    for column in ("migrants", "return_migrants", "creator_migrants", "creator_return_migrants"):
        frame[f"cumulative_{column}"] = frame[column].cumsum()
    with np.errstate(divide="ignore", invalid="ignore"):
        frame["cohort_retention"] = np.where(frame["cohort_size"] > 0,
                                             frame["cohort_rednote_users"] / frame["cohort_size"], np.nan)
    frame["tiktok_service"] = signals.tiktok_service[:n]
    frame["tiktok_in_stores"] = signals.tiktok_in_stores[:n]
    frame["threat"] = signals.threat[:n]
    frame["salience"] = signals.salience[:n]
    frame["reactance"] = signals.reactance[:n]
    return frame[list(COLUMNS)]


def monthly_growth(frame: pd.DataFrame, column: str = "cumulative_downloads") -> pd.Series:
    """Month-over-month growth of a cumulative series, month end over month end, indexed 'YYYY-MM'.

    A month's growth needs the previous month's end in the run; earlier months are left out."""
    month_end = frame[column].groupby(frame.index.to_period("M")).last()
    growth = month_end / month_end.shift(1) - 1.0
    growth = growth.iloc[1:]
    growth.index = growth.index.astype(str)
    return growth


def return_share(frame: pd.DataFrame, on: dt.date | str, creators: bool | None = None) -> float:
    """Return migrants as a share of migrants, cumulative to a date; creators only, others only, or all."""
    row = frame.loc[pd.Timestamp(on)]
    if creators is None:
        moved, back = row["cumulative_migrants"], row["cumulative_return_migrants"]
    elif creators:
        moved, back = row["cumulative_creator_migrants"], row["cumulative_creator_return_migrants"]
    else:
        moved = row["cumulative_migrants"] - row["cumulative_creator_migrants"]
        back = row["cumulative_return_migrants"] - row["cumulative_creator_return_migrants"]
    return float(back / moved) if moved > 0 else float("nan")
