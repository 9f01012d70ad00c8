"""The ban's timeline: dated events read from TOML, turned into daily signals the users respond to.

Daily signals (one value per simulated day):
- ``tiktok_service``: TikTok works in the US that day.
- ``tiktok_in_stores``: TikTok can be installed that day (out of the stores, only those who kept it can use it).
- ``deadline``: the enforcement deadline in force (None when there is none or the ban is resolved).
- ``threat``: the anticipated ban, rising toward the deadline in force (fatigued by each postponement).
- ``salience``: news attention: threat plus a decaying pulse for every dated event.
- ``reactance``: the population's triggered reactance: follows salience up at once, fades over ``reactance_days``.
- ``festival``: the Lunar New Year festival is on.
- ``migration_news``: the migration itself in the news (a decaying pulse for every ``migration_news`` event:
  #tiktokrefugee trending, RedNote at the top of the App Store). It is news of the migration, not of the
  ban: it feeds the migration's buzz (``rules.wave_news``, weighted by ``migration_news_weight``), not
  salience, so the ban's signals are the same with or without such an event.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
import re
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np

from batch.errors import InputError
from model.params import Params
from model.tomlfile import Locator, read_located, unknown_key

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
DEFAULT_TIMELINE = DATA_DIR / "timeline.toml"

_BOOL_FIELDS = ("tiktok_service", "tiktok_in_app_stores", "ban_resolved", "rednote_festival", "migration_news")
_KNOWN_FIELDS = {"date", "time", "what", "enforcement_deadline", *_BOOL_FIELDS}
# The model's calendar is US Eastern: an event's date and time are read there.
EASTERN = ZoneInfo("America/New_York")
# "HH:MM" (or "HH:MM:SS") US Eastern, optionally with a UTC offset ("Z", "+08:00") to convert from.
_TIME = re.compile(r"(?P<hour>[01]\d|2[0-3]):(?P<minute>[0-5]\d)(?::(?P<second>[0-5]\d))?(?P<offset>Z|[+-](?:[01]\d|2[0-3]):[0-5]\d)?")


class TimelineError(InputError):
    """A timeline file or event that cannot be read as the model's input."""


@dataclasses.dataclass(frozen=True)
class Event:
    date: dt.date
    what: str
    time: str | None = None
    tiktok_service: bool | None = None
    tiktok_in_app_stores: bool | None = None
    enforcement_deadline: dt.date | None = None
    ban_resolved: bool | None = None
    rednote_festival: bool | None = None
    migration_news: bool | None = None

    @property
    def minute_of_day(self) -> int:
        """Minutes after midnight (US Eastern); an event without a time counts as the day's start."""
        if self.time is None:
            return -1
        hour, minute = self.time.split(":")[:2]
        return int(hour) * 60 + int(minute)

    @property
    def effective_date(self) -> dt.date:
        """The first simulated day the event shapes: an afternoon or evening event acts from the next day."""
        if self.time is not None and int(self.time.split(":")[0]) >= 12:
            return self.date + dt.timedelta(days=1)
        return self.date


def parse_event(raw: dict, where: str, locate=None) -> Event:
    """An event from its raw table; errors start with ``where`` (which event), preceded by
    ``locate(key)`` (the file and line of the key at fault, e.g. a ``Locator``) when given."""

    def fail(message: str, key: str | None = None):
        prefix = f"{locate(key)}: {where}" if locate is not None else where
        err = TimelineError(f"{prefix}: {message}")
        err.key = key   # the key at fault, for a caller that finds lines its own way (a scenario's edits)
        raise err

    unknown = set(raw) - _KNOWN_FIELDS
    if unknown:
        first = sorted(unknown)[0]
        fail(f"{unknown_key(first, _KNOWN_FIELDS)}; known keys are {sorted(_KNOWN_FIELDS)}", first)
    for key in ("date", "what"):
        if key not in raw:
            fail(f"missing required key {key!r}")
    if not isinstance(raw["date"], dt.date) or isinstance(raw["date"], dt.datetime):
        fail(f"'date' must be a TOML date like 2025-01-19, got {raw['date']!r}", "date")
    if not isinstance(raw["what"], str):
        fail("'what' must be a string", "what")
    raw = dict(raw)
    if raw.get("time") is not None:
        try:
            raw["date"], raw["time"] = eastern_date_and_time(raw["date"], raw["time"])
        except TimelineError as err:
            fail(str(err), "time")
    for key in _BOOL_FIELDS:
        if key in raw and not isinstance(raw[key], bool):
            fail(f"{key!r} must be true or false, got {raw[key]!r}", key)
    deadline = raw.get("enforcement_deadline")
    if deadline is not None and (not isinstance(deadline, dt.date) or isinstance(deadline, dt.datetime)):
        fail(f"'enforcement_deadline' must be a TOML date, got {deadline!r}", "enforcement_deadline")
    return Event(**raw)


def eastern_date_and_time(date: dt.date, time) -> tuple[dt.date, str]:
    """An event's date and ``time`` ("HH:MM", US Eastern) checked strictly; a time with a UTC offset
    ("14:30Z", "09:00+08:00") is converted to the US Eastern date and time it falls on."""
    found = _TIME.fullmatch(time) if isinstance(time, str) else None
    if found is None:
        raise TimelineError(f"'time' must be 'HH:MM' (24-hour, US Eastern; optionally with a UTC offset "
                            f"such as '14:30Z' or '09:00+08:00'), got {time!r}")
    if found["offset"] is None:
        return date, f"{found['hour']}:{found['minute']}"
    offset = dt.UTC if found["offset"] == "Z" else dt.datetime.strptime(found["offset"], "%z").tzinfo
    moment = dt.datetime.combine(date, dt.time(int(found["hour"]), int(found["minute"])), tzinfo=offset)
    local = moment.astimezone(EASTERN)
    return local.date(), f"{local:%H:%M}"


@dataclasses.dataclass(frozen=True)
class Timeline:
    """Dated events in the order they happened: by date, and within a day by time (untimed first); events
    of the same date and time keep their written order."""

    events: tuple[Event, ...]
    source: str = "<events>"

    def __post_init__(self) -> None:
        for earlier, later in zip(self.events, self.events[1:], strict=False):
            if later.date < earlier.date:
                raise TimelineError(
                    f"{self.source}: events out of order: {later.date} ({later.what!r}) comes after {earlier.date}"
                )
        # Same-day events apply in the order of their times, not of the file: a morning blackout listed
        # after the noon restoration must not outlast it.
        ordered = tuple(sorted(self.events, key=lambda e: (e.date, e.minute_of_day)))
        object.__setattr__(self, "events", ordered)

    @classmethod
    def load(cls, path: str | Path = DEFAULT_TIMELINE) -> Timeline:
        raw, where = read_located(path, TimelineError, "timeline file")
        return cls.from_raw(raw, source=str(path), where=where)

    @classmethod
    def from_raw(cls, raw: dict, source: str = "<events>", where: Locator | None = None) -> Timeline:
        """The timeline of a parsed timeline file; ``where`` (the file's ``Locator``) puts the line of the
        key at fault in errors."""
        where = where or Locator(source)
        extra = set(raw) - {"event"}
        if extra:
            raise TimelineError(f"{where(sorted(extra)[0])}: unknown top-level key(s) {sorted(extra)}; expected "
                                "[[event]] tables")
        events = raw.get("event", [])
        if not isinstance(events, list):
            raise TimelineError(f"{where('event')}: 'event' must be an array of tables ([[event]])")
        if not events:
            # An empty file is a mistake far more often than a world without a ban, and a run on it would
            # look like an ordinary result; a world without the ban is a scenario's [timeline] edits.
            raise TimelineError(f"{source}: no [[event]] tables: a timeline needs at least one dated event")
        parsed = []
        for i, e in enumerate(events):
            label = f"event {i + 1} ({e.get('date', '?') if isinstance(e, dict) else '?'})"
            if not isinstance(e, dict):
                raise TimelineError(f"{where('event')}: {label}: must be a table ([[event]])")
            event = parse_event(e, label, lambda key, _i=i: where(key, "event", _i))
            # The file's order is checked on the dates as written: a time with a UTC offset may move an
            # event to the US Eastern day before, past one written earlier, and that is not a mistake.
            if i and isinstance(e.get("date"), dt.date) and e["date"] < events[i - 1]["date"]:
                raise TimelineError(f"{where('date', 'event', i)}: {label}: events out of order: written on "
                                    f"{e['date']}, after an event written on {events[i - 1]['date']}")
            parsed.append(event)
        # Then in the order they happened, US Eastern (stable: same date and time keep the written order).
        parsed.sort(key=lambda e: (e.date, e.minute_of_day))
        return cls(tuple(parsed), source=source)

    def signals(self, params: Params) -> BanSignals:
        return BanSignals.compute(self, params)


@dataclasses.dataclass(frozen=True)
class BanSignals:
    """Daily inputs for days ``start .. end`` (index 0 is ``start``)."""

    dates: tuple[dt.date, ...]
    tiktok_service: np.ndarray
    tiktok_in_stores: np.ndarray
    ban_resolved: np.ndarray
    deadline: tuple[dt.date | None, ...]
    threat: np.ndarray
    salience: np.ndarray
    reactance: np.ndarray
    festival: np.ndarray
    migration_news: np.ndarray

    @classmethod
    def compute(cls, timeline: Timeline, params: Params) -> BanSignals:
        # Attention accumulates from the first event on, so the series starts there when it is earlier.
        first = min([params.start, *(e.effective_date for e in timeline.events)])
        n = (params.end - first).days + 1
        offset = (params.start - first).days
        dates = [first + dt.timedelta(days=i) for i in range(n)]

        service = np.ones(n, dtype=bool)
        stores = np.ones(n, dtype=bool)
        resolved = np.zeros(n, dtype=bool)
        festival = np.zeros(n, dtype=bool)
        deadlines: list[dt.date | None] = [None] * n
        postponements = np.zeros(n, dtype=int)
        news = np.zeros(n)
        migration_news = np.zeros(n)

        for e in timeline.events:
            i = (e.effective_date - first).days
            if i >= n:
                continue
            tail = slice(i, n)
            if e.tiktok_service is not None:
                service[tail] = e.tiktok_service
            if e.tiktok_in_app_stores is not None:
                stores[tail] = e.tiktok_in_app_stores
            if e.ban_resolved is not None:
                resolved[tail] = e.ban_resolved
            if e.rednote_festival:
                festival[i : min(n, i + params.festival_days)] = True
            if e.enforcement_deadline is not None:
                had_deadline = any(d is not None for d in deadlines[:i])
                deadlines[i:] = [e.enforcement_deadline] * (n - i)
                if had_deadline:
                    postponements[tail] += 1
            age = np.arange(n - i)
            if e.migration_news:
                # News of the migration, not of the ban: it fades as the ban's news do, unfatigued (the
                # ban's postponements tire attention to the ban, not to a new story), and adds no salience.
                migration_news[tail] += np.exp(-age / params.news_decay_days)
                continue
            fatigue = params.news_fatigue ** postponements[i]
            news[tail] += params.news_weight * fatigue * np.exp(-age / params.news_decay_days)

        threat = np.zeros(n)
        for i, deadline in enumerate(deadlines):
            if deadline is None or resolved[i]:
                continue
            days_left = (deadline - dates[i]).days
            fatigue = params.news_fatigue ** postponements[i]
            # Within `imminence_days` of the deadline (and past one nobody postponed) the ban is felt as
            # certain: the threat is at its full height.
            threat[i] = fatigue * math.exp(-max(days_left - params.imminence_days, 0) / params.anticipation_days)
        threat[~service] = 1.0
        deadlines = [None if r else d for d, r in zip(deadlines, resolved, strict=True)]

        salience = np.minimum(1.0, threat + news)
        # Reactance is triggered by attention at once and fades slowly after it, so it outlives the news.
        fade = math.exp(-1.0 / params.reactance_days)
        reactance = np.zeros(n)
        level = 0.0
        for i in range(n):
            level = max(salience[i], level * fade)
            reactance[i] = level

        window = slice(offset, n)
        return cls(
            dates=tuple(dates[window]),
            tiktok_service=service[window],
            tiktok_in_stores=stores[window],
            ban_resolved=resolved[window],
            deadline=tuple(deadlines[window]),
            threat=threat[window],
            salience=salience[window],
            reactance=reactance[window],
            festival=festival[window],
            migration_news=np.minimum(1.0, migration_news[window]),
        )

    def __len__(self) -> int:
        return len(self.dates)


def load_timeline(path: str | Path | None = None) -> Timeline:
    return Timeline.load(DEFAULT_TIMELINE if path is None else path)
