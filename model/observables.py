"""What is measured each day, scaled from agents to people, and summaries of a finished run."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd

from agents.rules import BOTH, NEITHER, REDNOTE, TIKTOK, activity_probability, uses_rednote, uses_tiktok
from model.params import Params

# Columns of the daily series, in order (people unless stated).
COLUMNS = (
    "tiktok_only", "rednote_only", "dual_users", "neither",
    "tiktok_users", "rednote_users",
    "downloads", "cumulative_downloads",
    "tiktok_dau", "rednote_dau",
    "knows_rednote",
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


def observe_day(
    previous_state: np.ndarray,
    state: np.ndarray,
    first_installs: np.ndarray,
    is_creator: np.ndarray,
    tiktok_stickiness: np.ndarray,
    rednote_stickiness: np.ndarray,
    familiarity: np.ndarray,
    p: Params,
    ledger: MigrationLedger,
    switchers: np.ndarray | None = None,
) -> dict[str, float]:
    """One day's observables (people) from yesterday's and today's states.

    A migrant joins RedNote (from TikTok only or neither); a return migrant is a user who migrated
    during the run and goes from RedNote (alone or dual) back to TikTok only (``ledger`` remembers who
    migrated). DAU counts each user of a platform by its chance of opening it that day; ``knows_rednote``
    counts each user by its familiarity with RedNote. A driver that
    knows which users changed state (``switchers``, their indices) may pass them: every move and first
    install is among them, so those counts need not scan the population.
    """
    counts = np.bincount(state, minlength=4)
    on_tiktok = uses_tiktok(state)
    on_rednote = uses_rednote(state)
    # Stored habits may be single precision: the rule's arithmetic is double, as in every engine.
    tiktok_activity = np.where(on_tiktok, activity_probability(tiktok_stickiness.astype(np.float64), p), 0.0)
    rednote_activity = np.where(on_rednote, activity_probability(rednote_stickiness.astype(np.float64), p), 0.0)
    if switchers is not None:
        previous_state, state = previous_state[switchers], state[switchers]
        first_installs, is_creator = first_installs[switchers], is_creator[switchers]
    migrated, returned = ledger.record(previous_state, state, switchers)
    return daily_record(
        counts, int(first_installs.sum()), int(migrated.sum()), int(returned.sum()),
        int((migrated & is_creator).sum()), int((returned & is_creator).sum()),
        ordered_sum(tiktok_activity), ordered_sum(rednote_activity), ordered_sum(familiarity), p,
    )


def daily_record(counts, downloads: int, migrants: int, return_migrants: int, creator_migrants: int,
                 creator_return_migrants: int, tiktok_activity: float, rednote_activity: float,
                 familiarity: float, p: Params) -> dict[str, float]:
    """A day's observables in people from the day's tallies in agents (``counts``: users per state;
    the activity and familiarity totals summed as ``ordered_sum`` does)."""
    scale = p.people_per_agent
    return {
        "tiktok_only": counts[TIKTOK] * scale,
        "rednote_only": counts[REDNOTE] * scale,
        "dual_users": counts[BOTH] * scale,
        "neither": counts[NEITHER] * scale,
        "tiktok_users": (counts[TIKTOK] + counts[BOTH]) * scale,
        "rednote_users": (counts[REDNOTE] + counts[BOTH]) * scale,
        "downloads": downloads * scale,
        "tiktok_dau": tiktok_activity * scale,
        "rednote_dau": rednote_activity * scale,
        "knows_rednote": familiarity * scale,
        "migrants": migrants * scale,
        "return_migrants": return_migrants * scale,
        "creator_migrants": creator_migrants * scale,
        "creator_return_migrants": creator_return_migrants * scale,
    }


def to_frame(records: list[dict], dates, initial_rednote_users: float, signals) -> pd.DataFrame:
    """Daily records as a DataFrame indexed by date, with running totals and the ban's signals."""
    frame = pd.DataFrame.from_records(records, index=pd.DatetimeIndex(list(dates), name="date"))
    n = len(frame)
    frame["cumulative_downloads"] = initial_rednote_users + frame["downloads"].cumsum()
    for column in ("migrants", "return_migrants", "creator_migrants", "creator_return_migrants"):
        frame[f"cumulative_{column}"] = frame[column].cumsum()
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
