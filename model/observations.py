"""Observations as data: dated figures about the model's observables, each with its source and uncertainty.

An observation file (TOML) holds a ``[meta]`` table, the ``[sources.NAME]`` that the figures come from,
and one ``[[observation]]`` table per figure::

    [meta]
    name = "january-2025"
    description = "..."

    [sources.similarweb]
    description = "Similarweb panel estimates of daily active users, as reported by Reuters"
    # Optional: the source measures the model's people times an unknown coverage ("scale"), inferred with
    # the model's parameters from this prior (uniform or log-uniform over [low, high]).
    scale = { low = 0.3, high = 3.0, log = true }

    [[observation]]
    id = "rednote_dau_jan13"          # unique; how reports and distances name it
    observable = "rednote_dau"        # a column of model.observables.COLUMNS, or an expression of them
    reading = "level"                 # how the figure is read from the run: see READINGS below
    on = 2025-01-13                   # a TOML date, or "start" / "end" of the run
    value = 3_400_000
    uncertainty = { relative = 0.2 }  # one of: sd = X, relative = R (sd = R x |value|), band = [low, high]
    source = "similarweb"
    kind = "estimate"                 # estimate, measurement or claim
    claim = "RedNote DAU about 3.4 million (Reuters, 2025-01-16)"

The readings (``READINGS``), each a function of a run's daily frame (a DataFrame indexed by date whose
columns are ``model.observables.COLUMNS``):

- ``level``: the observable on the date ``on``.
- ``mean``, ``sum``, ``min``, ``max``: that statistic over ``window = [from, to]`` (inclusive); ``sum``
  of a daily flow is a cumulative count (e.g. new users in two days).
- ``change``: the observable at ``window``'s end minus at its start (a count between two dates).
- ``ratio``: ``stat`` (sum, mean, min or max) over ``window`` divided by ``base_stat`` (default ``stat``)
  over ``base``; infinite when the base is 0 (as the article's targets read it).
- ``growth``: month-over-month growth of a cumulative observable, end of ``month`` ("YYYY-MM") over the
  end of the month before (``model.observables.monthly_growth``).
- ``peak_date``: the date of the observable's maximum (over ``window``, default the whole run); its value
  and band are dates, and the reading is a day number (days since 1970-01-01).

An ``observable`` is a column name or an arithmetic expression of column names, numbers, ``+ - * /``,
comparisons (``>``, ``<``, ``>=``, ``<=``, giving 1 or 0) and ``population`` (the number of people the run
stands for: the four states' total on its first day). Names are checked against
``model.observables.COLUMNS`` when the file is read, so a column added there can be observed with no
code change.

A band's edges are figures too, rounded by their source ("under 700,000"), so a band carries the uncertainty
of its edges: ``uncertainty = { band = [0, 700_000], edge = { relative = 0.05 } }`` (each edge's sd is R x
|edge|) or ``edge = { sd = S }`` (in the figure's units; days for a ``peak_date``). A figure beyond a band
misses it by its distance from the edge in units of that edge's sd, as a figure with an sd misses by its
distance from the value in sds (``Observation.miss``): the ABC distance, the point fits' distance
(``model.targets.distance``) and the checks all score a band this one way. When a file declares no edge,
each edge's sd is ``DEFAULT_EDGE_RELATIVE`` (a tenth) of the edge, a band's edge at 0 taking the band's
other edge as its size (a floor such as "under 700,000" = [0, 700_000] is not a claim of its own), and a
date's edge ``DEFAULT_EDGE_DAYS`` (a day). Never the band's width: a one-sided band has none, and a wide
band's edge is no less sharp than a narrow one's.

Readings in people (``level``, ``mean``, ``sum``, ``min``, ``max``, ``change``) are multiplied by their
source's scale when it has one (``scaled = false`` on an observation turns that off, e.g. for a share);
``ratio``, ``growth`` and ``peak_date`` are scale-free. Every error in a file (unknown key, observable,
reading, source or kind; a date in the wrong format; a window outside the run; a missing or
contradictory uncertainty) is an ``ObservationError`` naming the file and line, raised when the file is
read, before any simulation.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import math
import operator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from batch.errors import InputError
from model.observables import COLUMNS, monthly_growth
from model.params import Params
from model.timeline_edits import find_line
from model.tomlfile import read_toml_with_text, unknown_key

OBSERVATIONS_DIR = Path(__file__).resolve().parent.parent / "data" / "observations"
ARTICLE_OBSERVATIONS = OBSERVATIONS_DIR / "article.toml"
JANUARY_2025_OBSERVATIONS = OBSERVATIONS_DIR / "january-2025.toml"

READINGS = ("level", "mean", "sum", "min", "max", "change", "ratio", "growth", "peak_date")
WINDOW_STATS = ("sum", "mean", "min", "max")
SCALED_READINGS = ("level", "mean", "sum", "min", "max", "change")
KINDS = ("estimate", "measurement", "claim")
EPOCH = dt.date(1970, 1, 1)
# The default run's first and last day: a file is checked against it unless told another period.
DEFAULT_PERIOD = (Params().start, Params().end)

_TOP_KEYS = {"meta", "sources", "observation"}
_META_KEYS = {"name", "description", "population", "notes"}
_SOURCE_KEYS = {"description", "scale", "url", "reported_by"}
_SCALE_KEYS = {"low", "high", "log"}
_UNCERTAINTY_KEYS = {"sd", "relative", "band"}
_EDGE_KEYS = {"sd", "relative"}
# The sd of a band's edge when its file declares none, as a share of the edge: a tenth, the sd this
# repository's files give a figure reported to two or three digits (TikTok's 82.2 million users, Sensor
# Tower's "up 194%"), i.e. the source's rounding and noise. Not the band's width: "under 700,000" read as
# [0, 700_000] would otherwise let a reading of 826,000 miss by 0.18 while a figure with an sd misses by 1
# per sd, and a one-sided band has no width at all.
DEFAULT_EDGE_RELATIVE = 0.1
# The sd of a date's edge (a peak_date band) when undeclared: a day, the precision dates are given to.
DEFAULT_EDGE_DAYS = 1.0
# A figure given with a standard deviation is met by a run within two of them (95% of Gaussian noise).
MET_WITHIN_SD = 2.0
_COMMON_KEYS = {"id", "observable", "reading", "source", "kind", "claim", "description", "value",
                "uncertainty", "scaled"}
_READING_KEYS = {
    "level": {"on"},
    "mean": {"window"}, "sum": {"window"}, "min": {"window"}, "max": {"window"}, "change": {"window"},
    "ratio": {"window", "base", "stat", "base_stat"},
    "growth": {"month"},
    "peak_date": {"window"},
}
_REQUIRED_READING_KEYS = {
    "level": {"on"}, "mean": {"window"}, "sum": {"window"}, "min": {"window"}, "max": {"window"},
    "change": {"window"}, "ratio": {"window", "base", "stat"}, "growth": {"month"}, "peak_date": set(),
}


class ObservationError(InputError):
    """An observation file, or an observation, that cannot be read as written."""


# --- dates ---------------------------------------------------------------------------------------

DateSpec = dt.date | str     # a date, or "start" / "end" of the run


def _resolve(when: DateSpec, frame: pd.DataFrame) -> pd.Timestamp:
    if when == "start":
        return frame.index[0]
    if when == "end":
        return frame.index[-1]
    return pd.Timestamp(when)


def _resolve_date(when: DateSpec, period: tuple[dt.date, dt.date]) -> dt.date:
    return period[0] if when == "start" else period[1] if when == "end" else when


def day_number(when: dt.date) -> float:
    """Days since 1970-01-01: how a ``peak_date`` reading, value and band are compared."""
    return float((when - EPOCH).days)


def date_of_day_number(days: float) -> dt.date | None:
    return None if not math.isfinite(days) else EPOCH + dt.timedelta(days=int(round(days)))


def peak_days_as_dates(table: pd.DataFrame, readings, columns) -> pd.DataFrame:
    """A copy of ``table`` (one row per figure, ``readings`` its readings in row order) for a person to read:
    in the rows of a ``peak_date`` reading, ``columns`` hold dates (2025-01-19) instead of day numbers
    (20107.0). Only for files written out: the comparisons stay on day numbers."""
    shown = table.astype({c: object for c in columns})
    rows = [i for i, reading in enumerate(readings) if reading == "peak_date"]
    for c in columns:
        col = shown.columns.get_loc(c)
        for i in rows:
            value = table.iat[i, col]
            shown.iat[i, col] = date_of_day_number(float(value)) if value is not None else None
    return shown


# --- observables: a column or an expression of columns ---------------------------------------------

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv}
_COMPARE = {ast.Gt: operator.gt, ast.Lt: operator.lt, ast.GtE: operator.ge, ast.LtE: operator.le}
POPULATION_NAME = "population"


def parse_observable(text: str, columns=COLUMNS) -> ast.Expression:
    """The observable's expression tree, checked: only known columns, ``population``, numbers, ``+ - * /``,
    unary minus, parentheses and one comparison. Raises ``ObservationError`` naming what is wrong."""
    if not isinstance(text, str) or not text.strip():
        raise ObservationError(f"observable must be a column name or an expression, got {text!r}")
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as err:
        raise ObservationError(f"observable {text!r} is not a valid expression: {err.msg}") from err
    known = set(columns) | {POPULATION_NAME}
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            if node.id not in known:
                raise ObservationError(f"{unknown_key(node.id, known, 'observable')}; the model reports "
                                       f"{', '.join(columns)}")
        elif isinstance(node, ast.Constant):
            if not isinstance(node.value, (int, float)) or isinstance(node.value, bool):
                raise ObservationError(f"observable {text!r}: only numbers may appear as constants")
        elif isinstance(node, ast.Compare):
            if len(node.ops) != 1 or type(node.ops[0]) not in _COMPARE:
                raise ObservationError(f"observable {text!r}: only one comparison of >, <, >= or <=")
        elif isinstance(node, ast.BinOp):
            if type(node.op) not in _BINARY:
                raise ObservationError(f"observable {text!r}: only + - * / are allowed")
        elif isinstance(node, ast.UnaryOp):
            if not isinstance(node.op, ast.USub):
                raise ObservationError(f"observable {text!r}: only unary minus is allowed")
        elif not isinstance(node, (ast.Expression, ast.Load, *_BINARY, *_COMPARE, ast.USub)):
            raise ObservationError(f"observable {text!r}: {type(node).__name__} is not allowed")
    return tree


def observable_series(text: str, frame: pd.DataFrame) -> pd.Series:
    """The observable as a daily series of ``frame`` (floats; a comparison gives 1.0 or 0.0)."""
    if text in frame.columns:
        return frame[text]
    tree = parse_observable(text, tuple(frame.columns))

    def value(node):
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Name):
            if node.id == POPULATION_NAME:
                return frame[["tiktok_only", "rednote_only", "dual_users", "neither"]].iloc[0].sum()
            return frame[node.id]
        if isinstance(node, ast.Constant):
            return float(node.value)
        if isinstance(node, ast.UnaryOp):
            return -value(node.operand)
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        return _COMPARE[type(node.ops[0])](value(node.left), value(node.comparators[0])).astype(float)

    result = value(tree)
    if not isinstance(result, pd.Series):
        result = pd.Series(float(result), index=frame.index)
    return result.astype(float)


# --- one observation -----------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Source:
    """Where figures come from. ``scale``: (low, high, log) prior of the source's coverage, or None when
    the source measures the model's people as they are."""
    name: str
    description: str = ""
    scale: tuple[float, float, bool] | None = None

    @property
    def scale_parameter(self) -> str | None:
        return f"scale_{self.name}" if self.scale is not None else None


@dataclasses.dataclass(frozen=True)
class Observation:
    """One dated figure and how a run's daily frame is read to compare with it.

    ``value`` is in the observable's units (people for counts, a plain number for ratios; a day number for
    ``peak_date``); ``sd`` its standard deviation, or ``band`` the (low, high) range it claims (both
    inclusive, either may be infinite). Exactly one of ``sd`` and ``band`` is set. ``edge_sd``: for a band,
    the sd of its (low, high) edges, in the figure's units (``edge_sds``: declared in the file as ``edge``,
    else the default); ``edge`` the declaration as written, ("sd" or "relative", number), or None."""
    id: str
    observable: str
    reading: str
    source: str
    kind: str
    value: float | None = None
    sd: float | None = None
    band: tuple[float, float] | None = None
    on: DateSpec | None = None
    window: tuple[DateSpec, DateSpec] | None = None
    base: tuple[DateSpec, DateSpec] | None = None
    stat: str | None = None
    base_stat: str | None = None
    month: str | None = None
    claim: str = ""
    description: str = ""
    scaled: bool = True
    line: int | None = None
    edge: tuple[str, float] | None = None
    edge_sd: tuple[float, float] | None = None
    # The line of each key as the file writes it (``on``, ``window``, ...), so that an error found after
    # reading (a date outside the run) names the line of the key at fault, not of [[observation]].
    key_lines: tuple[tuple[str, int], ...] = dataclasses.field(default=(), compare=False, repr=False)

    def __post_init__(self):
        if self.band is not None and self.edge_sd is None:    # a band built in code: its edges' default sds
            object.__setattr__(self, "edge_sd", edge_sds(self.band, self.reading == "peak_date", self.edge))

    @property
    def is_scaled(self) -> bool:
        """Whether the source's scale multiplies this reading (readings in people only)."""
        return self.scaled and self.reading in SCALED_READINGS

    def read(self, frame: pd.DataFrame) -> float:
        """The reading on one run's daily frame: NaN when the run does not cover what it reads (a shorter
        run), so that a run too short for a figure is never mistaken for one that misses it."""
        if self.reading == "growth":
            return float(monthly_growth(frame, self.observable).get(self.month, float("nan")))
        series = observable_series(self.observable, frame)
        if self.reading == "level":
            return float(series.get(_resolve(self.on, frame), float("nan")))
        if self.reading == "peak_date":
            part = series if self.window is None else _window(series, self.window, frame)
            return float("nan") if part is None or part.empty else day_number(part.idxmax().date())
        if self.reading == "change":
            first, last = (_resolve(d, frame) for d in self.window)
            if first not in series.index or last not in series.index:
                return float("nan")
            return float(series[last] - series[first])
        part = _window(series, self.window, frame)
        if part is None:
            return float("nan")
        if self.reading in WINDOW_STATS:
            return float(getattr(part, self.reading)())
        base = _window(series, self.base, frame)
        if base is None:
            return float("nan")
        denominator = float(getattr(base, self.base_stat or self.stat)())
        return float(getattr(part, self.stat)()) / denominator if denominator > 0 else math.inf

    def meets(self, figure: float) -> bool:
        """Whether a figure (a reading, times its source's scale where scaled) agrees with this observation:
        inside its band, or within ``MET_WITHIN_SD`` standard deviations of its value. NaN (a run too short
        to read it) meets nothing."""
        if figure is None or math.isnan(figure):
            return False
        if self.band is not None:
            return self.band[0] <= figure <= self.band[1]
        return abs(figure - self.value) <= MET_WITHIN_SD * self.sd

    def miss(self, figure: float | None) -> float:
        """The signed miss of a figure in units of its uncertainty: (figure - value) / sd for a figure with an
        sd; for a band 0 inside, else the distance beyond the nearer edge over that edge's sd (negative below
        the band). NaN for NaN (a run too short to read it). Every distance and check scores a miss this way."""
        if figure is None or math.isnan(figure):
            return math.nan
        if self.band is None:
            return (figure - self.value) / self.sd
        (low, high), (low_sd, high_sd) = self.band, self.edge_sd
        if figure < low:
            return (figure - low) / low_sd
        if figure > high:
            return (figure - high) / high_sd
        return 0.0

    def dates(self) -> list[DateSpec]:
        """Every date the reading needs, for checking it against a run's period."""
        return [when for _, when in self.dated_keys()]

    def dated_keys(self) -> list[tuple[str, DateSpec]]:
        """Every date the reading needs, each with the key that gives it (``on``, ``window``, ``base``,
        ``month``)."""
        out: list[tuple[str, DateSpec]] = []
        if self.on is not None:
            out.append(("on", self.on))
        for key, pair in (("window", self.window), ("base", self.base)):
            if pair is not None:
                out += [(key, when) for when in pair]
        if self.month is not None:
            month = pd.Period(self.month, "M")
            out += [("month", (month - 1).end_time.date()), ("month", month.end_time.date())]
        return out

    def line_of(self, key: str) -> int | None:
        """The line of ``key`` in the file, else of the observation's [[observation]] header."""
        return dict(self.key_lines).get(key, self.line)

    def format(self, x: float | None) -> str:
        """A value of this observation's figure as a person reads it (a date for a peak, 3.4M, 0.979)."""
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return "n/a"
        return _format_date_value(x) if self.reading == "peak_date" else format_number(x)

    def describe_value(self) -> str:
        """The figure as a person reads it (dates for a peak, a band or a value with its sd)."""
        fmt = self.format
        if self.band is not None:
            return f"[{fmt(self.band[0])}, {fmt(self.band[1])}]"
        return f"{fmt(self.value)} ± {fmt(self.sd) if self.reading != 'peak_date' else f'{self.sd:g} days'}"


def format_number(x: float | None) -> str:
    """A number as the reports print it: 3.4M, 700k, 0.979, inf."""
    if x is None:
        return ""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if abs(x) >= 1e6:
        return f"{x / 1e6:.3g}M"
    if abs(x) >= 1e4:
        return f"{x / 1e3:.4g}k"
    return f"{x:.3g}"


def _format_date_value(x: float | None) -> str:
    when = date_of_day_number(x) if x is not None else None
    return str(when) if when is not None else format_number(x)


def _window(series: pd.Series, window, frame: pd.DataFrame) -> pd.Series | None:
    """The series over an inclusive window, or None when the run does not cover the whole window."""
    first, last = (_resolve(d, frame) for d in window)
    if first < frame.index[0] or last > frame.index[-1]:
        return None
    return series.loc[first:last]


# --- a file of observations ------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class ObservationSet:
    """The observations of one file, with their sources. ``path`` names the file in messages."""
    observations: tuple[Observation, ...]
    sources: Mapping[str, Source]
    name: str = ""
    description: str = ""
    path: Path | None = None

    def __iter__(self):
        return iter(self.observations)

    def __len__(self) -> int:
        return len(self.observations)

    def __getitem__(self, key: str) -> Observation:
        for observation in self.observations:
            if observation.id == key:
                return observation
        raise KeyError(key)

    @property
    def ids(self) -> list[str]:
        return [o.id for o in self.observations]

    def read(self, frame: pd.DataFrame) -> dict[str, float]:
        """Every observation's reading on one run (unscaled: in the model's people), by id."""
        return {o.id: o.read(frame) for o in self.observations}

    def fit_scales(self, readings: Mapping[str, float]) -> dict[str, float]:
        """Each scaled source's scale (its coverage of the model's people) that best fits one run's
        readings, for checking a run without inferring the scale: the least-squares fit, in units of each
        figure's sd, over the source's scaled figures with an sd, held inside its prior's range; the prior's
        midpoint (geometric for a log prior) where the source has no such figure with a reading.
        Keys are the scale parameters (``scale_<source>``)."""
        scales = {}
        for source in self.sources.values():
            if source.scale is None:
                continue
            low, high, log = source.scale
            weighted = [(readings[o.id], o.value, o.sd) for o in self.observations
                        if o.source == source.name and o.is_scaled and o.sd
                        and math.isfinite(readings.get(o.id, math.nan))]
            fit = (sum(r * v / sd**2 for r, v, sd in weighted) / sum(r * r / sd**2 for r, v, sd in weighted)
                   if weighted and any(r for r, _, _ in weighted) else math.nan)
            midpoint = math.sqrt(low * high) if log else 0.5 * (low + high)
            scales[source.scale_parameter] = min(high, max(low, fit)) if math.isfinite(fit) else midpoint
        return scales

    def figures(self, readings: Mapping[str, float], scales: Mapping[str, float]) -> dict[str, float]:
        """The readings as each source would report them: a scaled figure times its source's scale."""
        return {o.id: readings[o.id] * (scales.get(self.sources[o.source].scale_parameter, 1.0)
                                        if o.is_scaled else 1.0) for o in self.observations}

    def met(self, readings: Mapping[str, float], scales: Mapping[str, float] | None = None) -> dict[str, bool]:
        """Whether one run meets each observation (``Observation.meets``), its scaled figures read with
        ``scales`` (default: ``fit_scales`` of these readings)."""
        scales = self.fit_scales(readings) if scales is None else scales
        figures = self.figures(readings, scales)
        return {o.id: o.meets(figures[o.id]) for o in self.observations}

    def scale_priors(self) -> dict[str, tuple[float, float, bool]]:
        """The scale parameters of the sources that have one, used by at least one scaled observation."""
        used = {o.source for o in self.observations if o.is_scaled}
        return {s.scale_parameter: s.scale for s in self.sources.values() if s.scale is not None and s.name in used}

    def last_date(self, period: tuple[dt.date, dt.date]) -> dt.date:
        """The last day any observation reads: a run to this day is long enough for all of them."""
        return max(_resolve_date(d, period) for o in self.observations for d in o.dates())

    def check_period(self, start: dt.date, end: dt.date) -> None:
        """Refuse observations that read outside a run from ``start`` to ``end``: an error naming the
        file and line of the first one."""
        for o in self.observations:
            for key, when in o.dated_keys():
                day = _resolve_date(when, (start, end))
                if not start <= day <= end:
                    raise ObservationError(
                        f"{_where(self.path, o.line_of(key))}observation {o.id!r}: {day} ({key}) is outside "
                        f"the run ({start} to {end})")
            if o.window is not None and o.reading != "peak_date":
                first, last = (_resolve_date(d, (start, end)) for d in o.window)
                if first > last:
                    raise ObservationError(f"{_where(self.path, o.line_of('window'))}observation {o.id!r}: "
                                           f"window {first} to {last} ends before it starts")


def _where(path: Path | None, line: int | None) -> str:
    if path is None:
        return f"line {line}: " if line else ""
    return f"{path}:{line}: " if line else f"{path}: "


def load_observations(path: str | Path, period: tuple[dt.date, dt.date] | None = DEFAULT_PERIOD,
                      columns=COLUMNS) -> ObservationSet:
    """Read and check an observation file. Every date must lie inside ``period``, the first and last day of
    the runs it will be read on (default: the default run, 2024-12-01 to 2025-12-31; None: unchecked).
    Raises ``ObservationError`` naming the file and line."""
    path = Path(path)
    document, text = read_toml_with_text(path, ObservationError, "observation file")
    result = parse_observations(document, text=text, path=path, columns=columns)
    if period is not None:
        result.check_period(*period)
    return result


def parse_observations(document: dict, text: str = "", path: Path | None = None,
                       columns=COLUMNS) -> ObservationSet:
    """An ``ObservationSet`` from a parsed observation document (``text``, the raw file, finds lines)."""

    def fail(message: str, table: str = "", key: str | None = None, index: int | None = None):
        line = find_line(text, key, table, index) if text else None
        raise ObservationError(f"{_where(path, line)}{message}")

    unknown = set(document) - _TOP_KEYS
    if unknown:
        fail(f"unknown top-level key(s) {sorted(unknown)}; expected [meta], [sources.NAME] and [[observation]]",
             key=sorted(unknown)[0])
    meta = document.get("meta", {})
    if not isinstance(meta, dict):
        fail("meta must be a table", key="meta")
    if set(meta) - _META_KEYS:
        bad = sorted(set(meta) - _META_KEYS)[0]
        fail(f"[meta]: {unknown_key(bad, _META_KEYS)}; expected {sorted(_META_KEYS)}", "meta", bad)

    sources: dict[str, Source] = {}
    raw_sources = document.get("sources", {})
    if not isinstance(raw_sources, dict):
        fail("sources must be tables [sources.NAME]", key="sources")
    for name, entry in raw_sources.items():
        table = f"sources.{name}"
        if not isinstance(entry, dict):
            fail(f"[{table}] must be a table", key=name)
        if not name.isidentifier():
            fail(f"source name {name!r} must be letters, digits and underscores", table)
        bad = sorted(set(entry) - _SOURCE_KEYS)
        if bad:
            fail(f"[{table}]: {unknown_key(bad[0], _SOURCE_KEYS)}; expected {sorted(_SOURCE_KEYS)}", table, bad[0])
        scale = entry.get("scale")
        if scale is not None:
            scale = _parse_scale(scale, lambda m, t=table: fail(f"[{t}] scale: {m}", t, "scale"))
        sources[name] = Source(name, str(entry.get("description", "")), scale)

    raw = document.get("observation", [])
    if not isinstance(raw, list) or not raw:
        fail("no observations: add [[observation]] tables")
    observations: list[Observation] = []
    seen: set[str] = set()
    for index, entry in enumerate(raw):
        def bad(message: str, key: str | None = None, _index=index, _entry=entry):
            label = f"observation {_entry.get('id')!r}" if isinstance(_entry.get("id"), str) else f"observation #{_index + 1}"
            fail(f"{label}: {message}", "observation", key, _index)

        observation = _parse_observation(entry, bad, sources, columns)
        if observation.id in seen:
            bad(f"duplicate id {observation.id!r}", "id")
        seen.add(observation.id)
        line = find_line(text, None, "observation", index) if text else None
        key_lines = tuple((key, found) for key in entry
                          if text and (found := find_line(text, key, "observation", index)) not in (None, line))
        observations.append(dataclasses.replace(observation, line=line, key_lines=key_lines))
    return ObservationSet(tuple(observations), sources, str(meta.get("name", path.stem if path else "")),
                          str(meta.get("description", "")), path)


def _parse_scale(scale: Any, fail) -> tuple[float, float, bool]:
    if not isinstance(scale, dict) or set(scale) - _SCALE_KEYS or not {"low", "high"} <= set(scale):
        fail("must be { low = ..., high = ..., log = true|false }")
    low, high, log = scale["low"], scale["high"], scale.get("log", False)
    if not all(_is_number(x) for x in (low, high)) or not isinstance(log, bool):
        fail("low and high must be numbers and log true or false")
    if not 0 < low < high or not math.isfinite(high):
        fail(f"needs 0 < low < high (finite), got [{low}, {high}]")
    return float(low), float(high), log


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool)


def _parse_date(value: Any, key: str, bad) -> DateSpec:
    if isinstance(value, dt.datetime) or not isinstance(value, (dt.date, str)):
        bad(f"{key} must be a TOML date (2025-01-13) or \"start\"/\"end\", got {value!r}", key)
    if isinstance(value, str) and value not in ("start", "end"):
        bad(f"{key} = {value!r}: a date in the wrong format; write a bare TOML date such as 2025-01-13 "
            f"(no quotes), or \"start\"/\"end\"", key)
    return value


def _parse_window(value: Any, key: str, bad) -> tuple[DateSpec, DateSpec]:
    if not isinstance(value, list) or len(value) != 2:
        bad(f"{key} must be [first, last] (two dates), got {value!r}", key)
    first, last = (_parse_date(v, key, bad) for v in value)
    if isinstance(first, dt.date) and isinstance(last, dt.date) and first > last:
        bad(f"{key} [{first}, {last}] ends before it starts", key)
    return first, last


def _parse_observation(entry: Any, bad, sources: Mapping[str, Source], columns) -> Observation:
    if not isinstance(entry, dict):
        bad("must be a table")
    # Unknown keys first, at their line: 'kindd = ...' is the typo of the 'kind' it would be missing.
    known = _COMMON_KEYS.union(*_READING_KEYS.values())
    unknown = sorted(set(entry) - known)
    if unknown:
        bad(f"{unknown_key(unknown[0], known)}; an observation takes {', '.join(sorted(_COMMON_KEYS))} and "
            f"its reading's ({', '.join(sorted(known - _COMMON_KEYS))})", unknown[0])
    for key in ("id", "observable", "reading", "source", "kind"):
        if key not in entry:
            bad(f"missing {key!r}", key)
    ident = entry["id"]
    if not isinstance(ident, str) or not ident:
        bad("id must be a non-empty string", "id")
    reading = entry["reading"]
    if reading not in READINGS:
        bad(f"unknown reading {reading!r}; choose one of {', '.join(READINGS)}", "reading")
    unknown = sorted(set(entry) - _COMMON_KEYS - _READING_KEYS[reading])
    if unknown:
        bad(f"unknown key {unknown[0]!r} for a {reading} reading (it takes "
            f"{', '.join(sorted(_READING_KEYS[reading]))})", unknown[0])
    missing = sorted(_REQUIRED_READING_KEYS[reading] - set(entry))
    if missing:
        bad(f"a {reading} reading needs {missing[0]!r}", missing[0] if missing[0] in entry else "reading")
    try:
        parse_observable(entry["observable"], columns)
    except ObservationError as err:
        bad(str(err), "observable")
    if entry["source"] not in sources:
        bad(f"unknown source {entry['source']!r}; declare it as [sources.{entry['source']}] "
            f"(declared: {', '.join(sources) or 'none'})", "source")
    if entry["kind"] not in KINDS:
        bad(f"unknown kind {entry['kind']!r}; choose one of {', '.join(KINDS)}", "kind")
    scaled = entry.get("scaled", True)
    if not isinstance(scaled, bool):
        bad("scaled must be true or false", "scaled")

    fields: dict[str, Any] = {}
    if "on" in entry:
        fields["on"] = _parse_date(entry["on"], "on", bad)
    for key in ("window", "base"):
        if key in entry:
            fields[key] = _parse_window(entry[key], key, bad)
    for key in ("stat", "base_stat"):
        if key in entry:
            if entry[key] not in WINDOW_STATS:
                bad(f"{key} must be one of {', '.join(WINDOW_STATS)}, got {entry[key]!r}", key)
            fields[key] = entry[key]
    if "month" in entry:
        month = entry["month"]
        try:
            if not isinstance(month, str) or len(month) != 7:
                raise ValueError
            pd.Period(month, "M")
        except ValueError:
            bad(f"month must be \"YYYY-MM\", got {month!r}", "month")
        fields["month"] = month

    is_date = reading == "peak_date"
    value = _parse_value(entry.get("value"), "value", is_date, bad) if "value" in entry else None
    sd, band, edge = _parse_uncertainty(entry.get("uncertainty"), value, is_date, bad)
    for key in ("claim", "description"):
        if key in entry and not isinstance(entry[key], str):
            bad(f"{key} must be text", key)
    return Observation(id=ident, observable=entry["observable"].strip(), reading=reading, source=entry["source"],
                       kind=entry["kind"], value=value, sd=sd, band=band, edge=edge, claim=entry.get("claim", ""),
                       description=entry.get("description", ""), scaled=scaled, **fields)


def _parse_value(value: Any, key: str, is_date: bool, bad) -> float:
    if is_date:
        if isinstance(value, dt.datetime) or not isinstance(value, dt.date):
            bad(f"{key} of a peak_date reading must be a TOML date (2025-01-14), got {value!r}", key)
        return day_number(value)
    if isinstance(value, str) and value.lower() in ("inf", "-inf"):
        return math.inf if value.lower() == "inf" else -math.inf
    if not _is_number(value) or math.isnan(value):
        bad(f"{key} must be a number, got {value!r}", key)
    return float(value)


def edge_sds(band: tuple[float, float], is_date: bool = False, edge: tuple[str, float] | None = None
             ) -> tuple[float, float]:
    """The sd of a band's (low, high) edges: ``edge`` as declared ("sd", S: both S; "relative", R: R x the
    edge's size), else ``DEFAULT_EDGE_DAYS`` for dates and ``DEFAULT_EDGE_RELATIVE`` x the edge's size. An
    edge's size is its magnitude; for an edge at 0, the band's largest finite edge (1 if it has none). An
    infinite edge, never crossed, gets an infinite sd."""
    kind, given = edge if edge is not None else ("sd" if is_date else "relative",
                                                  DEFAULT_EDGE_DAYS if is_date else DEFAULT_EDGE_RELATIVE)
    if kind == "sd":
        return tuple(given if math.isfinite(e) else math.inf for e in band)
    finite = [abs(e) for e in band if math.isfinite(e) and e != 0]
    floor_size = max(finite, default=1.0)
    return tuple(given * (abs(e) if e != 0 else floor_size) if math.isfinite(e) else math.inf for e in band)


def _parse_edge(raw: Any, is_date: bool, bad) -> tuple[str, float]:
    if not isinstance(raw, dict) or len(raw) != 1 or set(raw) - _EDGE_KEYS:
        bad(f"edge must be {{ sd = S }} or {{ relative = R }} (the uncertainty of the band's edges), got {raw!r}",
            "uncertainty")
    (kind, given), = raw.items()
    if not _is_number(given) or not math.isfinite(given) or given <= 0:
        bad(f"edge {kind} must be a positive number, got {given!r}", "uncertainty")
    if kind == "relative" and is_date:
        bad("a date's edge uncertainty is an sd in days (edge = { sd = 1 }), not relative", "uncertainty")
    return kind, float(given)


def _parse_uncertainty(raw: Any, value: float | None, is_date: bool, bad
                       ) -> tuple[float | None, tuple[float, float] | None, tuple[str, float] | None]:
    if raw is None:
        bad("missing uncertainty: give uncertainty = { sd = ... }, { relative = ... } or { band = [low, high] }",
            "uncertainty")
    stray = sorted(set(raw) - _UNCERTAINTY_KEYS - {"edge"}) if isinstance(raw, dict) else []
    if stray:      # 'sdd' is the sd the uncertainty would lack
        bad(f"uncertainty: {unknown_key(stray[0], _UNCERTAINTY_KEYS | {'edge'})}; give {{ sd = ... }}, "
            "{ relative = ... } or { band = [low, high] } (a band with an optional edge)", "uncertainty")
    if isinstance(raw, dict) and "edge" in raw:
        if "band" not in raw:
            bad("edge is the uncertainty of a band's edges: give it with band = [low, high]", "uncertainty")
        raw = dict(raw)
        edge = _parse_edge(raw.pop("edge"), is_date, bad)
    else:
        edge = None
    if not isinstance(raw, dict) or len(raw) != 1 or set(raw) - _UNCERTAINTY_KEYS:
        bad(f"uncertainty must be exactly one of sd, relative or band (a band with an optional edge), got {raw!r}",
            "uncertainty")
    (kind, given), = raw.items()
    if kind == "band":
        if not isinstance(given, list) or len(given) != 2:
            bad(f"band must be [low, high], got {given!r}", "uncertainty")
        low, high = (_parse_value(v, "band", is_date, bad) for v in given)
        if not low <= high:
            bad(f"band [{given[0]}, {given[1]}] is inverted", "uncertainty")
        if value is not None and not low <= value <= high:
            bad(f"value {given} lies outside its own band", "value")
        return None, (low, high), edge
    if value is None:
        bad(f"an uncertainty given as {kind} needs a value", "value")
    if not math.isfinite(value):
        bad("a value with an sd must be finite", "value")
    if not _is_number(given) or not math.isfinite(given) or given <= 0:
        bad(f"{kind} must be a positive number, got {given!r}", "uncertainty")
    if kind == "relative":
        if is_date:
            bad("a date's uncertainty is an sd in days, not relative", "uncertainty")
        if value == 0:
            bad("a relative uncertainty needs a value other than 0", "uncertainty")
        return float(given) * abs(value), None, None
    return float(given), None, None
