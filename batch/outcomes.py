"""The outcome registry: every figure a run is summarised by, declared once from its daily series.

An outcome is a function of one run's daily frame (``model.observables.COLUMNS``): a column's value on a
date, its peak, the date of its peak, or a share on a date. Every summary uses this table: the one-run
summary (``HEADLINE``), the sweep's metrics (``SWEEP``), the sensitivity analysis (``SENSITIVITY``), the
scenario comparison (``SCENARIO``), and the twin comparison's series (``COMPARED_SERIES``). The states come
from ``agents.rules.STATE_NAMES``, so a new state is summarised everywhere without a new list.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

import pandas as pd

from agents.rules import STATE_NAMES
from model.observables import COLUMNS, return_share

DAY_ZERO = pd.Timestamp("2025-01-01")   # dates as numbers: days after this one


@dataclasses.dataclass(frozen=True)
class Outcome:
    key: str
    label: str
    measure: Callable[[pd.DataFrame], float | str]
    kind: str = "count"       # count (people), level (people, not cumulative), share, date

    def value(self, frame: pd.DataFrame):
        """The outcome of one run; NaN (or None for a date) when the run does not reach its date."""
        return self.measure(frame)

    def number(self, frame: pd.DataFrame) -> float:
        """The outcome as a number: a date becomes days after 2025-01-01."""
        value = self.measure(frame)
        if self.kind == "date":
            return math.nan if value is None else float((pd.Timestamp(value) - DAY_ZERO).days)
        return float(value)


def _on(column: str, date: str):
    stamp = pd.Timestamp(date)

    def measure(frame):
        return float(frame.at[stamp, column]) if stamp in frame.index else math.nan
    return measure


def _peak(column: str):
    return lambda frame: float(frame[column].max())


def _peak_date(column: str):
    return lambda frame: frame[column].idxmax().date().isoformat()


def _share_of(part: str, whole: str, date: str):
    part_on, whole_on = _on(part, date), _on(whole, date)

    def measure(frame):
        whole_value = whole_on(frame)
        return part_on(frame) / whole_value if whole_value > 0 else math.nan
    return measure


def _return_share(date: str):
    def measure(frame):
        return return_share(frame, date) if pd.Timestamp(date) in frame.index else math.nan
    return measure


def _last(column: str):
    return lambda frame: float(frame[column].iloc[-1])


def _label(column: str) -> str:
    return LABELS.get(column, column.replace("_", " "))


LABELS = {
    "cumulative_downloads": "RedNote cumulative US downloads",
    "downloads": "RedNote daily downloads",
    "rednote_dau": "RedNote daily active users",
    "tiktok_dau": "TikTok daily active users",
    "dual_users": "dual users (TikTok and RedNote)",
    "cumulative_return_migrants": "return migrants to TikTok",
    "rednote_users": "RedNote users",
    "tiktok_users": "TikTok users",
}


def on_date(column: str, date: str, kind: str = "count") -> Outcome:
    # Counts of moves are cumulative: "by" the date; stocks are "on" it.
    word = "by" if column.endswith("migrants") else "on"
    return Outcome(f"{column}_{date.replace('-', '_')}", f"{_label(column)} {word} {date}", _on(column, date), kind)


def _outcomes() -> dict[str, Outcome]:
    found = [
        *(on_date("cumulative_downloads", d) for d in ("2025-03-31", "2025-06-30", "2025-12-31")),
        Outcome("peak_daily_downloads", "peak daily downloads", _peak("downloads"), "level"),
        Outcome("peak_daily_downloads_date", "day of peak downloads", _peak_date("downloads"), "date"),
        Outcome("peak_rednote_dau", "peak RedNote daily active users", _peak("rednote_dau"), "level"),
        *(on_date(c, d) for c in ("dual_users", "cumulative_return_migrants") for d in ("2025-06-30", "2025-12-31")),
        *(on_date(c, "2025-12-31") for c in ("rednote_users", "tiktok_users")),
        *(Outcome(f"dual_share_{d.replace('-', '_')}", f"dual users / RedNote users, {d}",
                  _share_of("dual_users", "rednote_users", d), "share") for d in ("2025-06-30", "2025-12-31")),
        *(Outcome(f"return_share_{d.replace('-', '_')}", f"return share, {d}", _return_share(d), "share")
          for d in ("2025-06-30", "2025-12-31")),
        # The run so far, on its last simulated day (the browser's status panel).
        *(Outcome(f"{column}_now", label, _last(column)) for column, label in (
            ("rednote_users", "RedNote users now"), ("dual_users", "of whom also on TikTok"),
            ("tiktok_users", "TikTok users now"), ("cumulative_downloads", "RedNote cumulative downloads"),
            ("cumulative_migrants", "migrants so far"), ("cumulative_return_migrants", "return migrants so far"))),
    ]
    return {o.key: o for o in found}


OUTCOMES: dict[str, Outcome] = _outcomes()

HEADLINE = ("peak_daily_downloads", "peak_daily_downloads_date", "cumulative_downloads_2025_03_31",
            "cumulative_downloads_2025_06_30", "dual_users_2025_06_30", "peak_rednote_dau")
SWEEP = ("cumulative_downloads_2025_03_31", "cumulative_downloads_2025_06_30", "peak_daily_downloads",
         "peak_daily_downloads_date", "peak_rednote_dau", "dual_share_2025_06_30", "dual_share_2025_12_31",
         "return_share_2025_06_30", "return_share_2025_12_31")
SENSITIVITY = tuple(SWEEP)
SCENARIO = ("cumulative_downloads_2025_03_31", "cumulative_downloads_2025_06_30", "cumulative_downloads_2025_12_31",
            "peak_rednote_dau", "dual_users_2025_06_30", "dual_users_2025_12_31",
            "cumulative_return_migrants_2025_06_30", "cumulative_return_migrants_2025_12_31",
            "rednote_users_2025_12_31", "tiktok_users_2025_12_31")
BROWSER = ("rednote_users_now", "dual_users_now", "tiktok_users_now", "cumulative_downloads_now",
           "peak_daily_downloads", "cumulative_migrants_now", "cumulative_return_migrants_now")
# Daily series the twin is compared on: every state, then downloads and activity.
COMPARED_SERIES = (*STATE_NAMES, "downloads", "cumulative_downloads", "tiktok_dau", "rednote_dau")
assert set(COMPARED_SERIES) <= set(COLUMNS)


def measure(frame: pd.DataFrame, keys=tuple(OUTCOMES)) -> dict:
    """The named outcomes of one run."""
    return {key: OUTCOMES[key].value(frame) for key in keys}


# A 5-95% range needs each tail to hold at least one seed: with fewer than 20 the range is an
# interpolation between the extremes, and is flagged wherever it is written.
MIN_SEEDS_FOR_RANGE = 20


def range_note(seeds: int) -> str | None:
    """None when ``seeds`` runs can give a 5-95% range; else the warning written beside the range."""
    if seeds >= MIN_SEEDS_FOR_RANGE:
        return None
    return (f"5-95% ranges from {seeds} seed(s) are not to be trusted (each tail needs a seed: at least "
            f"{MIN_SEEDS_FOR_RANGE}); they are interpolations between the extremes")
