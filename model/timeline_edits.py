"""Timeline edits: how a scenario changes the ban's history (drop, move or add dated events).

A scenario file (a run config, see ``model/config.py``) may hold, besides ``[params]``:

    [[timeline_edits.drop]]                       # remove one event of the base timeline
    match = { date = 2025-02-13, what = "back in the Apple" }

    [[timeline_edits.move]]                       # give one event of the base timeline a new date
    match = { date = 2025-02-13, what = "back in the Apple" }
    to = 2025-06-01

    [[timeline_edits.add]]                        # a full new event, as in data/timeline.toml
    date = 2025-09-17
    what = "Deal collapses: TikTok goes dark"
    tiktok_service = false

``match`` names exactly one event of the base timeline: its date and a piece of its ``what`` text
(case-insensitive). Edits apply in a fixed order, drops, then moves, then adds, so every ``match``
refers to the base timeline as its file spells it and added events are never matched. Added events
must be listed in date order. The edited timeline is sorted by date (stably) and validated again.

This module also finds the line of a key in a TOML file's raw text, so that semantic errors (which
``tomllib`` cannot see) can still name the line.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any

from model.timeline import Event, Timeline, TimelineError, parse_event

EDIT_KINDS = ("drop", "move", "add")
_EDIT_KEYS = {"drop": {"match"}, "move": {"match", "to"}}
_MATCH_KEYS = {"date", "what"}


class TimelineEditError(TimelineError):
    """An edit that cannot be read or applied; ``kind``, ``index`` and ``key`` say where it is written."""

    def __init__(self, message: str, kind: str | None = None, index: int | None = None, key: str | None = None):
        super().__init__(message)
        self.message = message
        self.kind = kind
        self.index = index
        self.key = key


@dataclasses.dataclass(frozen=True)
class EventMatch:
    date: dt.date
    what: str

    def __str__(self) -> str:
        return f"{self.date} / {self.what!r}"

    def hits(self, event: Event) -> bool:
        return event.date == self.date and self.what.casefold() in event.what.casefold()


@dataclasses.dataclass(frozen=True)
class TimelineEdit:
    kind: str                        # "drop", "move" or "add"
    index: int                       # position among the file's edits of this kind (0-based)
    match: EventMatch | None = None  # drop and move
    to: dt.date | None = None        # move
    event: Event | None = None       # add
    raw: dict = dataclasses.field(default_factory=dict, compare=False)

    @property
    def label(self) -> str:
        return f"timeline_edits.{self.kind} #{self.index + 1}"


@dataclasses.dataclass(frozen=True)
class TimelineEdits:
    drop: tuple[TimelineEdit, ...] = ()
    move: tuple[TimelineEdit, ...] = ()
    add: tuple[TimelineEdit, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.drop or self.move or self.add)

    def to_raw(self) -> dict[str, list[dict]]:
        """The edits as a TOML-ready table (what the file said), for saving beside a run."""
        return {kind: [dict(e.raw) for e in getattr(self, kind)] for kind in EDIT_KINDS if getattr(self, kind)}

    def apply(self, base: Timeline) -> Timeline:
        """The base timeline with the edits applied: drops, then moves, then adds; sorted by date."""
        events = list(base.events)
        for edit in self.drop:
            events.pop(_find(events, edit, base.source))
        for edit in self.move:
            i = _find(events, edit, base.source)
            events[i] = dataclasses.replace(events[i], date=edit.to)
        events.extend(edit.event for edit in self.add)
        events.sort(key=lambda e: e.date)   # stable: same-day events keep their written order
        return Timeline(tuple(events), source=f"{base.source} (edited)")


def _find(events: list[Event], edit: TimelineEdit, source: str) -> int:
    hits = [i for i, e in enumerate(events) if edit.match.hits(e)]
    if not hits:
        same_day = [e.what for e in events if e.date == edit.match.date]
        hint = f"; events on {edit.match.date}: {same_day}" if same_day else f"; no event of {source} is dated {edit.match.date}"
        raise TimelineEditError(f"{edit.label}: match {edit.match} matches no event{hint}", edit.kind, edit.index,
                                "match")
    if len(hits) > 1:
        raise TimelineEditError(
            f"{edit.label}: match {edit.match} matches {len(hits)} events "
            f"({[events[i].what for i in hits]}); make 'what' longer", edit.kind, edit.index, "match")
    return hits[0]


def _is_date(value: Any) -> bool:
    return isinstance(value, dt.date) and not isinstance(value, dt.datetime)


def _parse_match(raw: Any, kind: str, index: int, label: str) -> EventMatch:
    if not isinstance(raw, dict):
        raise TimelineEditError(f"{label}: 'match' must be a table like {{ date = 2025-01-19, what = \"...\" }}",
                                kind, index, "match")
    unknown = set(raw) - _MATCH_KEYS
    if unknown:
        raise TimelineEditError(f"{label}: unknown key(s) {sorted(unknown)} in 'match'; known keys are "
                                f"{sorted(_MATCH_KEYS)}", kind, index, sorted(unknown)[0])
    for key in sorted(_MATCH_KEYS - set(raw)):
        raise TimelineEditError(f"{label}: 'match' needs {key!r} (an event's date and a piece of its 'what')",
                                kind, index, "match")
    if not _is_date(raw["date"]):
        raise TimelineEditError(f"{label}: match 'date' must be a TOML date like 2025-01-19, got {raw['date']!r}",
                                kind, index, "match")
    if not isinstance(raw["what"], str) or not raw["what"].strip():
        raise TimelineEditError(f"{label}: match 'what' must be a non-empty piece of the event's text",
                                kind, index, "match")
    return EventMatch(raw["date"], raw["what"])


def parse_edits(raw: Any) -> TimelineEdits:
    """Read a ``timeline_edits`` table; every key and value is checked."""
    if not isinstance(raw, dict):
        raise TimelineEditError("'timeline_edits' must be a table with [[timeline_edits.drop]], "
                                "[[timeline_edits.move]] or [[timeline_edits.add]] entries", key="timeline_edits")
    unknown = set(raw) - set(EDIT_KINDS)
    if unknown:
        raise TimelineEditError(f"unknown key(s) {sorted(unknown)} in timeline_edits; known kinds are "
                                f"{list(EDIT_KINDS)}", key=sorted(unknown)[0])
    parsed: dict[str, list[TimelineEdit]] = {kind: [] for kind in EDIT_KINDS}
    for kind in EDIT_KINDS:
        entries = raw.get(kind, [])
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise TimelineEditError(f"'timeline_edits.{kind}' must be an array of tables ([[timeline_edits.{kind}]])",
                                    key=kind)
        for index, entry in enumerate(entries):
            label = f"timeline_edits.{kind} #{index + 1}"
            if kind == "add":
                event = _parse_added_event(entry, index, label)
                parsed[kind].append(TimelineEdit(kind, index, event=event, raw=entry))
                continue
            unknown = set(entry) - _EDIT_KEYS[kind]
            if unknown:
                raise TimelineEditError(f"{label}: unknown key(s) {sorted(unknown)}; known keys are "
                                        f"{sorted(_EDIT_KEYS[kind])}", kind, index, sorted(unknown)[0])
            for key in sorted(_EDIT_KEYS[kind] - set(entry)):
                raise TimelineEditError(f"{label}: missing required key {key!r}", kind, index)
            match = _parse_match(entry["match"], kind, index, label)
            to = entry.get("to")
            if kind == "move" and not _is_date(to):
                raise TimelineEditError(f"{label}: 'to' must be a TOML date like 2025-09-17, got {to!r}",
                                        kind, index, "to")
            parsed[kind].append(TimelineEdit(kind, index, match=match, to=to, raw=entry))
    added = parsed["add"]
    for earlier, later in zip(added, added[1:], strict=False):
        if later.event.date < earlier.event.date:
            raise TimelineEditError(
                f"{later.label}: added events out of order: {later.event.date} ({later.event.what!r}) is listed "
                f"after {earlier.event.date}; list added events in date order", "add", later.index, "date")
    return TimelineEdits(**{kind: tuple(edits) for kind, edits in parsed.items()})


def _parse_added_event(entry: dict, index: int, label: str) -> Event:
    try:
        return parse_event(entry, label)
    except TimelineError as err:
        raise TimelineEditError(str(err), "add", index, getattr(err, "key", None)) from err


# --- lines in raw TOML text --------------------------------------------------------------------------

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\[\]]+?)\s*\]\]?\s*(#.*)?$")
_DECODE_POSITION = re.compile(r"\(at line (\d+), column (\d+)\)")


def _normalise_table_name(name: str) -> str:
    return ".".join(part.strip().strip("\"'") for part in name.split("."))


def _code_lines(text: str):
    """(line number, line) for lines outside multi-line strings, so their contents are never taken for keys."""
    in_string = None
    for number, line in enumerate(text.splitlines(), start=1):
        if in_string is None:
            yield number, line
        for quote in ('"""', "'''"):
            if in_string in (None, quote) and line.count(quote) % 2 == 1:
                in_string = quote if in_string is None else None


def find_line(text: str, key: str | None, table: str = "", index: int | None = None) -> int | None:
    """The 1-based line where ``key`` is set inside ``[table]`` (or the ``index``-th ``[[table]]``).

    Without a key, or when the key is not written there, the table's header line; when even the
    table is not found, the first line that sets ``key`` anywhere; None if nothing fits."""
    table = _normalise_table_name(table) if table else ""
    key_pattern = None
    if key is not None:
        key_pattern = re.compile(rf"^\s*(?:{re.escape(key)}|\"{re.escape(key)}\"|'{re.escape(key)}')\s*=")
    current, seen, header_line, in_target = "", -1, None, table == ""
    for number, line in _code_lines(text):
        header = _HEADER.match(line)
        if header and not line.lstrip().startswith("#") and "=" not in line.split("]")[0]:
            current = _normalise_table_name(header.group(2))
            in_target = False
            if current == table:
                seen += 1
                if index is None or seen == index:
                    in_target, header_line = True, number
            continue
        if in_target and key_pattern is not None and key_pattern.match(line):
            return number
    if header_line is not None:
        return header_line
    if key_pattern is not None:
        for number, line in _code_lines(text):
            if key_pattern.match(line):
                return number
        # Dotted keys (params.x = 1) and inline tables (params = { x = 1 }).
        loose = re.compile(rf"(^|[\s.{{,])[\"']?{re.escape(key)}[\"']?\s*=")
        for number, line in _code_lines(text):
            if loose.search(line.split("#")[0]):
                return number
    return None


def decode_error_position(err: Exception) -> tuple[int | None, int | None]:
    """Line and column of a ``tomllib.TOMLDecodeError`` (from its attributes, or its message on Python < 3.14)."""
    line, column = getattr(err, "lineno", None), getattr(err, "colno", None)
    if line is None:
        found = _DECODE_POSITION.search(str(err))
        if found:
            line, column = int(found.group(1)), int(found.group(2))
    return line, column
