"""The article's claims as checkable targets, evaluated on a run's daily series.

Bands come from ``data/article_targets.toml`` (a copy of the shared reference, never loosened). The
qualitative claims are turned into checks on the model's own observables; the reading of each is in
``Target.reading``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import tomllib
from pathlib import Path

import pandas as pd

from model.observables import monthly_growth, return_share

DEFAULT_TARGETS = Path(__file__).resolve().parent.parent / "data" / "article_targets.toml"

# The qualitative return-migration claim "few by the end of March": at most this share of the
# migrants so far have gone back to TikTok only by then (the article: return "not significant").
SMALL_RETURN_SHARE = 0.25
# "After the surge": TikTok's blackout ends on this day; the coexistence checks run from here.
AFTER_BLACKOUT = dt.date(2025, 1, 20)
# Sections of the targets file that hold the article's numbers (rather than qualitative checks).
NUMERIC_SECTIONS = ("surge", "short_term", "medium_term", "long_term")


@dataclasses.dataclass(frozen=True)
class Target:
    key: str            # e.g. "short_term.cumulative_downloads"
    claim: str          # which claim of the article it tests (A2-A5, D1-D4)
    low: float
    high: float
    reading: str

    def passes(self, value: float) -> bool:
        return (not math.isnan(value)) and self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class TargetResult:
    target: Target
    value: float

    @property
    def passed(self) -> bool:
        return self.target.passes(self.value)


def load_targets(path: str | Path = DEFAULT_TARGETS) -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"targets file not found: {path}")
    return tomllib.loads(path.read_text(encoding="utf-8"))


def _d(value) -> pd.Timestamp:
    return pd.Timestamp(value)


def _week_ratio(frame: pd.DataFrame, column: str, start: dt.date, how: str) -> float:
    week = frame.loc[_d(start) : _d(start) + pd.Timedelta(days=6), column]
    before = frame.loc[_d(start) - pd.Timedelta(days=7) : _d(start) - pd.Timedelta(days=1), column]
    if len(week) < 7 or len(before) < 7:
        return float("nan")
    base = getattr(before, how)()
    return float(getattr(week, how)() / base) if base > 0 else float("inf")


def evaluate(frame: pd.DataFrame, spec: dict | None = None) -> list[TargetResult]:
    """Every target of the article on one run's daily series (as returned by the drivers)."""
    spec = spec if spec is not None else load_targets()
    out: list[TargetResult] = []

    def add(key, claim, band, value, reading):
        out.append(TargetResult(Target(key, claim, float(band[0]), float(band[1]), reading), float(value)))

    surge = spec["surge"]
    add("surge.downloads_week_ratio", "A3", surge["downloads_week_ratio"],
        _week_ratio(frame, "downloads", surge["week_start"], "sum"),
        "RedNote downloads in the 7 days from 2025-01-13 over the 7 days before")
    add("surge.dau_week_ratio", "A3", surge["dau_week_ratio"],
        _week_ratio(frame, "rednote_dau", surge["week_start"], "mean"),
        "mean RedNote DAU in the 7 days from 2025-01-13 over the 7 days before")
    first, last = surge["peak_daily_downloads_between"]
    peak_day = frame["downloads"].idxmax().date()
    add("surge.peak_daily_downloads_between", "A2, A4", (0, 0),
        0.0 if first <= peak_day <= last else float((peak_day - (first if peak_day < first else last)).days),
        f"days by which the peak of daily downloads falls outside {first}..{last} (0 = inside)")

    growth = monthly_growth(frame)
    for phase, claim in (("short_term", "D4 short term"), ("medium_term", "D4 medium term"),
                         ("long_term", "D4 long term")):
        section = spec[phase]
        if "cumulative_downloads_on" in section:
            on = section["cumulative_downloads_on"]
            value = frame["cumulative_downloads"].get(_d(on), float("nan"))
            add(f"{phase}.cumulative_downloads", claim, section["cumulative_downloads"], value,
                f"cumulative US downloads on {on}")
        for month in section["mom_growth_months"]:
            add(f"{phase}.mom_growth[{month}]", claim, section["mom_growth"], growth.get(month, float("nan")),
                f"growth of cumulative downloads, end of {month} over the month before")

    ret = spec["return_migration"]
    end = frame.index[-1].date()
    early = ret["small_by"]
    if ret.get("exists"):
        add("return_migration.exists", "D2, A5", (1, math.inf), frame["cumulative_return_migrants"].iloc[-1],
            "people who went back from RedNote to TikTok only by the end of the run (at least one agent)")
    add("return_migration.small_by", "D2, A5", (0, SMALL_RETURN_SHARE), return_share(frame, early),
        f"share of migrants who went back to TikTok only by {early} (few: at most {SMALL_RETURN_SHARE:.0%})")
    add("return_migration.more_later", "D2", (1, math.inf),
        frame["cumulative_return_migrants"].iloc[-1] - frame.loc[_d(early), "cumulative_return_migrants"],
        f"people who went back after {early} (more later: at least one agent)")
    if ret.get("creators_return_more"):
        creators, others = return_share(frame, end, creators=True), return_share(frame, end, creators=False)
        add("return_migration.creators_return_more", "M6, D2", (1, math.inf),
            creators / others if others > 0 else (math.inf if creators > 0 else float("nan")),
            f"creators' return share over other users' by {end} (above 1: creators return more)")

    co = spec["coexistence"]
    after = frame.loc[_d(co["dual_users_largest_group_among_rednote_users_from"]) :]
    add("coexistence.dual_users_largest", "D3", (1, 1),
        float((after["dual_users"] > after["rednote_only"]).all()),
        f"dual users outnumber RedNote-only users every day from {co['dual_users_largest_group_among_rednote_users_from']}")
    window = frame.loc[_d(AFTER_BLACKOUT) : _d(co["tiktok_keeps_majority_through"])]
    total = frame[["tiktok_only", "rednote_only", "dual_users", "neither"]].iloc[0].sum()
    add("coexistence.tiktok_keeps_majority", "D3", (0.5, 1.0), window["tiktok_users"].min() / total,
        f"lowest share of users on TikTok from {AFTER_BLACKOUT} (after the blackout) through "
        f"{co['tiktok_keeps_majority_through']}")
    pre = frame.loc[: _d(surge["week_start"]) - pd.Timedelta(days=8), "rednote_dau"].mean()
    window = frame.loc[_d(surge["week_start"]) : _d(co["rednote_active_above_pre_surge_through"]), "rednote_dau"]
    add("coexistence.rednote_above_pre_surge", "D3", (1.0, math.inf),
        window.min() / pre if pre > 0 else float("inf"),
        "lowest RedNote DAU from the surge week through the year's end over its mean before the week "
        "preceding the surge (above 1: RedNote stays above its pre-surge level)")
    return out


def all_pass(results: list[TargetResult]) -> bool:
    return all(r.passed for r in results)


def distance(results: list[TargetResult], margin: float = 0.0) -> float:
    """One pattern-oriented distance over every target: 0 inside a band, else the miss relative to the
    band's width (or its bound, for a one-sided band), so every target weighs alike.

    ``margin`` narrows the article's numeric bands (surge ratios, cumulative downloads, monthly growth)
    on both sides by that share of the band's width, or of its lower bound if smaller (a "double-digit"
    band [0.10, 0.99] becomes [0.12, 0.97], not [0.28, 0.81]), so a calibration aims where run-to-run
    noise keeps most seeds inside. A one-sided band [low, inf) with low > 0 (a ratio such as "creators
    return more", or a count) is raised to low x (1 + margin), for the same reason: a ratio of 1.01 passes
    on one seed and fails on the next. It never widens a band; the yes/no checks keep their bands."""
    if not 0.0 <= margin < 0.5:
        raise ValueError(f"margin must be in [0, 0.5), got {margin}")
    total = 0.0
    for r in results:
        t, v = r.target, r.value
        if math.isnan(v):
            total += 10.0
            continue
        two_sided = math.isfinite(t.high - t.low) and t.high > t.low
        width = (t.high - t.low) if two_sided else max(abs(t.low), 1.0)
        if two_sided and t.key.split(".")[0] in NUMERIC_SECTIONS:
            inset = margin * min(width, abs(t.low))
        elif math.isinf(t.high) and t.low > 0:
            inset = margin * t.low
        else:
            inset = 0.0
        low, high = t.low + inset, t.high - (inset if two_sided else 0.0)
        if low <= v <= high:
            continue
        total += min(10.0, (low - v if v < low else v - high) / width)
    return total


def mean_distance(per_seed: list[list[TargetResult]], margin: float = 0.0) -> float:
    """The mean over an ensemble's seeds of each seed's ``distance``."""
    return sum(distance(results, margin) for results in per_seed) / len(per_seed)


def share_passing(per_seed: list[list[TargetResult]]) -> float:
    """The share of an ensemble's seeds that pass every target (the article's acceptance counts it)."""
    return sum(all_pass(results) for results in per_seed) / len(per_seed)


def envelope(per_seed: list[list[TargetResult]]) -> tuple[list[TargetResult], list[TargetResult]]:
    """Each target's lowest and highest value over an ensemble's seeds (NaN if any seed has none): the
    edges of the ensemble's envelope, as two result lists in the targets' order."""
    if not per_seed:
        raise ValueError("an envelope needs at least one seed's results")
    lows, highs = [], []
    for i, first in enumerate(per_seed[0]):
        values = [results[i].value for results in per_seed]
        if any(math.isnan(v) for v in values):
            lows.append(TargetResult(first.target, float("nan")))
            highs.append(TargetResult(first.target, float("nan")))
        else:
            lows.append(TargetResult(first.target, min(values)))
            highs.append(TargetResult(first.target, max(values)))
    return lows, highs


def envelope_distance(per_seed: list[list[TargetResult]], margin: float = 0.0) -> float:
    """``distance`` of an ensemble's envelope: the mean of the distances of every target's lowest and of
    its highest value over the seeds. It is 0 only when every seed passes every target (inside the
    margin), so it rewards parameters whose runs agree, where the mean distance over seeds can be
    bought by one seed far inside and another just out."""
    lows, highs = envelope(per_seed)
    return 0.5 * (distance(lows, margin) + distance(highs, margin))
