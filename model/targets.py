"""The article's claims as checkable targets, evaluated on a run's daily series.

Bands come from ``data/article_targets.toml`` (a copy of the shared reference, never loosened). The
qualitative claims are turned into checks on the model's own observables; the reading of each is in
``Target.reading``. Each target is an observation (``model.observations``) with a band: the article's
targets as an observation file are ``data/observations/article.toml``, generated from the targets file
(``python -m model.targets --write-observations``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import math
import re
import sys
import tomllib
from pathlib import Path

import pandas as pd
import tomli_w

from batch.cli import command
from batch.errors import InputError
from model.observations import (
    ARTICLE_OBSERVATIONS,
    Observation,
    ObservationError,
    ObservationSet,
    date_of_day_number,
    parse_observations,
)
from model.tomlfile import read_located, unknown_key

DEFAULT_TARGETS = Path(__file__).resolve().parent.parent / "data" / "article_targets.toml"

# The qualitative return-migration claim "few by the end of March": at most this share of the
# migrants so far have gone back to TikTok only by then (the article: return "not significant").
SMALL_RETURN_SHARE = 0.25
# "After the surge": TikTok's blackout ends on this day; the coexistence checks run from here.
AFTER_BLACKOUT = dt.date(2025, 1, 20)
# The edge sd of a yes/no check ("at least one agent went back", "dual users outnumber RedNote-only users
# every day"): a failed check misses by one unit, as a figure one sd off. Their edges are not rounded figures,
# and the default (a tenth of the edge) would make a failed yes/no check weigh ten figures.
YES_NO_EDGE_SD = 1.0
# Sections of the targets file that hold the article's numbers (rather than qualitative checks).
NUMERIC_SECTIONS = ("surge", "short_term", "medium_term", "long_term")


@dataclasses.dataclass(frozen=True)
class Target:
    key: str            # e.g. "short_term.cumulative_downloads"
    claim: str          # which claim of the article it tests (A2-A5, D1-D4)
    low: float
    high: float
    reading: str
    # The sd of each edge (``Observation.edge_sd``): a miss beyond an edge counts in these units.
    low_sd: float = 1.0
    high_sd: float = 1.0

    def passes(self, value: float) -> bool:
        return (not math.isnan(value)) and self.low <= value <= self.high


@dataclasses.dataclass(frozen=True)
class TargetResult:
    target: Target
    value: float

    @property
    def passed(self) -> bool:
        return self.target.passes(self.value)


class TargetsError(InputError):
    """A targets file that cannot be read as the article's claims."""


_PHASE_KEYS = frozenset({"cumulative_downloads_on", "cumulative_downloads", "mom_growth_months", "mom_growth"})
# Every section of a targets file and the keys it takes (``article_observations`` reads them).
_TARGET_KEYS = {
    "meta": frozenset({"source", "population_us_tiktok_users"}),
    "surge": frozenset({"week_start", "downloads_week_ratio", "dau_week_ratio", "peak_daily_downloads_between"}),
    "short_term": _PHASE_KEYS, "medium_term": _PHASE_KEYS, "long_term": _PHASE_KEYS,
    "return_migration": frozenset({"exists", "small_by", "creators_return_more"}),
    "coexistence": frozenset({"dual_users_largest_group_among_rednote_users_from", "tiktok_keeps_majority_through",
                              "rednote_active_above_pre_surge_through"}),
}


def load_targets(path: str | Path = DEFAULT_TARGETS) -> dict:
    """The parsed targets file, checked by reading it as observations (``article_observations``) now, so a
    bad band or date is an error naming the file and the line of its key before any run."""
    spec, where = read_located(path, TargetsError, "targets file")
    # Unknown keys first, at their line: 'week_strat' is the typo of the 'week_start' it would be missing,
    # and a misspelt optional claim ('exist') would otherwise be a target silently not checked.
    for section in spec:
        if section not in _TARGET_KEYS:
            raise TargetsError(f"{where(None, section) if isinstance(spec[section], dict) else where(section)}: "
                               f"{unknown_key(section, _TARGET_KEYS, 'section')}; the file has "
                               f"{', '.join(f'[{s}]' for s in _TARGET_KEYS)}")
        keys = spec[section] if isinstance(spec[section], dict) else {}
        for key in keys:
            if key not in _TARGET_KEYS[section]:
                raise TargetsError(f"{where(key, section)}: [{section}] {unknown_key(key, _TARGET_KEYS[section])}; "
                                   f"it takes {', '.join(sorted(_TARGET_KEYS[section]))}")
    try:
        article_observations(spec)
    except KeyError as err:
        key = err.args[0]
        section = next((s for s, keys in _TARGET_KEYS.items() if key in keys), None)
        at = where(None, section) if section in spec else where.source
        raise TargetsError(f"{at}: missing key {key!r}" + (f" in [{section}]" if section else "")) from err
    except (ObservationError, TypeError, ValueError) as err:
        named = _TARGET_NAMED.search(str(err))
        section, _, key = named.group(1).partition(".") if named else ("", "", "")
        key = key.split("[")[0] or None
        raise TargetsError(f"{where(key, section) if named else where.source}: {err}") from err
    return spec


# How an error about one target names it: "observation 'short_term.mom_growth[2025-02]': ..." (its id is
# the section and key it is read from).
_TARGET_NAMED = re.compile(r"observation '([^']+)'")


def _window_after(day: dt.date, days: int) -> dt.date:
    return day + dt.timedelta(days=days)


def article_observations(spec: dict) -> ObservationSet:
    """The article's targets (a parsed ``article_targets.toml``) as observations, each read as the article
    is read (see each one's ``description``). ``data/observations/article.toml`` is this set written out
    (``write_article_observations``); a test checks the two agree, band for band."""
    surge = spec["surge"]
    week = surge["week_start"]
    entries: list[dict] = []

    def add(key, claim, band, description, edge_sd=None, **reading):
        uncertainty = {"band": list(band)} | ({"edge": {"sd": edge_sd}} if edge_sd is not None else {})
        entries.append({"id": key, "source": "article", "kind": "claim", "claim": claim,
                        "description": description, "uncertainty": uncertainty, **reading})

    add("surge.downloads_week_ratio", "A3", surge["downloads_week_ratio"],
        f"RedNote downloads in the 7 days from {week} over the 7 days before",
        observable="downloads", reading="ratio", stat="sum",
        window=[week, _window_after(week, 6)], base=[_window_after(week, -7), _window_after(week, -1)])
    add("surge.dau_week_ratio", "A3", surge["dau_week_ratio"],
        f"mean RedNote DAU in the 7 days from {week} over the 7 days before",
        observable="rednote_dau", reading="ratio", stat="mean",
        window=[week, _window_after(week, 6)], base=[_window_after(week, -7), _window_after(week, -1)])
    first, last = surge["peak_daily_downloads_between"]
    add("surge.peak_daily_downloads_between", "A2, A4", [first, last],
        f"the day of the peak of daily downloads, inside {first}..{last}",
        observable="downloads", reading="peak_date")
    for phase, claim in (("short_term", "D4 short term"), ("medium_term", "D4 medium term"),
                         ("long_term", "D4 long term")):
        section = spec[phase]
        if "cumulative_downloads_on" in section:
            on = section["cumulative_downloads_on"]
            add(f"{phase}.cumulative_downloads", claim, section["cumulative_downloads"],
                f"cumulative US downloads on {on}", observable="cumulative_downloads", reading="level", on=on)
        for month in section["mom_growth_months"]:
            add(f"{phase}.mom_growth[{month}]", claim, section["mom_growth"],
                f"growth of cumulative downloads, end of {month} over the month before",
                observable="cumulative_downloads", reading="growth", month=month)

    ret = spec["return_migration"]
    early = ret["small_by"]
    if ret.get("exists"):
        add("return_migration.exists", "D2, A5", [1, math.inf],
            "people who went back from RedNote to TikTok only by the end of the run (at least one agent)",
            observable="cumulative_return_migrants", reading="level", on="end", edge_sd=YES_NO_EDGE_SD)
    add("return_migration.small_by", "D2, A5", [0, SMALL_RETURN_SHARE],
        f"share of migrants who went back to TikTok only by {early} (few: at most {SMALL_RETURN_SHARE:.0%})",
        observable="cumulative_return_migrants / cumulative_migrants", reading="level", on=early, scaled=False)
    add("return_migration.more_later", "D2", [1, math.inf],
        f"people who went back after {early} (more later: at least one agent)",
        observable="cumulative_return_migrants", reading="change", window=[early, "end"], edge_sd=YES_NO_EDGE_SD)
    if ret.get("creators_return_more"):
        add("return_migration.creators_return_more", "M6, D2", [1, math.inf],
            "creators' return share over other users' by the end of the run (above 1: creators return more)",
            observable=CREATORS_OVER_OTHERS, reading="level", on="end", scaled=False)

    co = spec["coexistence"]
    dual_from = co["dual_users_largest_group_among_rednote_users_from"]
    add("coexistence.dual_users_largest", "D3", [1, 1],
        f"dual users outnumber RedNote-only users every day from {dual_from}",
        observable="dual_users > rednote_only", reading="min", window=[dual_from, "end"], scaled=False,
        edge_sd=YES_NO_EDGE_SD)
    add("coexistence.tiktok_keeps_majority", "D3", [0.5, 1.0],
        f"lowest share of users on TikTok from {AFTER_BLACKOUT} (after the blackout) through "
        f"{co['tiktok_keeps_majority_through']}",
        observable="tiktok_users / population", reading="min",
        window=[AFTER_BLACKOUT, co["tiktok_keeps_majority_through"]], scaled=False)
    add("coexistence.rednote_above_pre_surge", "D3", [1.0, math.inf],
        "lowest RedNote DAU from the surge week through the year's end over its mean before the week "
        "preceding the surge (above 1: RedNote stays above its pre-surge level)",
        observable="rednote_dau", reading="ratio", stat="min", base_stat="mean",
        window=[week, co["rednote_active_above_pre_surge_through"]], base=["start", _window_after(week, -8)])

    document = {"meta": {"name": "article", "description": ARTICLE_DESCRIPTION},
                "sources": {"article": {"description": ARTICLE_SOURCE}},
                "observation": entries}
    return parse_observations(document)


# The creators' return share over the other users', by the end of the run (model.observables.return_share).
CREATORS_OVER_OTHERS = (
    "(cumulative_creator_return_migrants / cumulative_creator_migrants)"
    " / ((cumulative_return_migrants - cumulative_creator_return_migrants)"
    " / (cumulative_migrants - cumulative_creator_migrants))")
ARTICLE_DESCRIPTION = ("The source article's claims (article.md) as bands on the default scenario's run; "
                       "written from data/article_targets.toml by model.targets.write_article_observations")
ARTICLE_SOURCE = "the source article (shared/reference/article.md), claim by claim"


def write_article_observations(path: str | Path = ARTICLE_OBSERVATIONS, spec: dict | None = None) -> Path:
    """Write the article's targets as an observation file (the one shipped is this function's output)."""
    spec = spec if spec is not None else load_targets()
    observations = article_observations(spec)
    header = ("# GENERATED from data/article_targets.toml (the source copy; never loosen a band) by\n"
              "#     python -m model.targets --write-observations\n"
              "# tests/test_observations.py checks that this file and the targets file agree, band for band.\n"
              "# Format: model/observations.py. peak_date values and bands are dates.\n\n")
    lines = ["[meta]", f"name = {_toml_value(observations.name)}",
             f"description = {_toml_value(observations.description)}", "",
             "[sources.article]", f"description = {_toml_value(ARTICLE_SOURCE)}", ""]
    for o in observations:
        lines.append("[[observation]]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in _observation_table(o).items()]
        lines.append("")
    path = Path(path)
    path.write_text(header + "\n".join(lines), encoding="utf-8")
    return path


def _toml_value(value) -> str:
    """One value as TOML on one line (inline tables and arrays), so every observation reads as one block."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return f"{int(value):_}"
    return tomli_w.dumps({"x": value}).split("=", 1)[1].strip()


def _observation_table(o: Observation) -> dict:
    out: dict = {"id": o.id, "claim": o.claim, "description": o.description, "observable": o.observable,
                 "reading": o.reading}
    for key in ("on", "window", "base", "stat", "base_stat", "month"):
        value = getattr(o, key)
        if value is not None:
            out[key] = list(value) if isinstance(value, tuple) else value
    if not o.scaled:
        out["scaled"] = False
    low, high = o.band
    if o.reading == "peak_date":
        low, high = date_of_day_number(low), date_of_day_number(high)
    out["uncertainty"] = {"band": [low, high]} | ({"edge": {o.edge[0]: o.edge[1]}} if o.edge is not None else {})
    out["source"], out["kind"] = o.source, o.kind
    return out


@functools.lru_cache(maxsize=8)
def _observations_for(spec_key: str) -> ObservationSet:
    return article_observations(tomllib.loads(spec_key))


def _as_observations(spec: dict | ObservationSet | None) -> ObservationSet:
    if isinstance(spec, ObservationSet):
        return spec
    spec = spec if spec is not None else load_targets()
    return _observations_for(tomli_w.dumps(spec))


def target_of(observation: Observation) -> Target:
    """The ``Target`` an observation with a band checks (a peak's date band becomes (0, 0) days outside)."""
    if observation.band is None:
        raise ValueError(f"observation {observation.id!r} has no band (it has a value with an sd)")
    low, high = (0.0, 0.0) if observation.reading == "peak_date" else observation.band
    low_sd, high_sd = observation.edge_sd      # a peak's in days, as its value then is
    return Target(observation.id, observation.claim, float(low), float(high), observation.description,
                  low_sd, high_sd)


def target_value(observation: Observation, reading: float) -> float:
    """The value the target compares with its band: the reading, or for a peak's date, the days by which it
    falls outside the band (0 inside)."""
    if observation.reading != "peak_date" or math.isnan(reading):
        return reading
    low, high = observation.band
    return 0.0 if low <= reading <= high else float(low - reading if reading < low else reading - high)


def evaluate(frame: pd.DataFrame, spec: dict | ObservationSet | None = None) -> list[TargetResult]:
    """Every target of the article on one run's daily series (as returned by the drivers).

    ``spec``: a parsed targets file (``load_targets()``, the default) or an ``ObservationSet`` whose
    observations all have bands. Each target is one observation (``article_observations``), read by
    ``model.observations``."""
    observations = _as_observations(spec)
    return [TargetResult(target_of(o), target_value(o, o.read(frame))) for o in observations]


def all_pass(results: list[TargetResult]) -> bool:
    return all(r.passed for r in results)


def distance(results: list[TargetResult], margin: float = 0.0) -> float:
    """One pattern-oriented distance over every target: 0 inside a band, else the miss beyond the nearer
    edge in units of that edge's sd (``Observation.miss``: the source's rounding of the edge, declared in
    the observation file or a tenth of the edge; never the band's width, which a one-sided band lacks),
    each target's miss capped at 10, so no target outweighs ten others.

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
        total += min(10.0, (low - v) / t.low_sd if v < low else (v - high) / t.high_sd)
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


@command
def main(argv=None) -> int:
    """``python -m model.targets --write-observations``: write data/observations/article.toml from the
    targets file (``write_article_observations``)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m model.targets", description=main.__doc__)
    parser.add_argument("--write-observations", action="store_true", required=True,
                        help="write the article's targets as an observation file")
    parser.parse_args(argv)
    print(f"wrote {write_article_observations()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
