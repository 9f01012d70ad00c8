"""A run's identity: everything that made it, so a saved result is reused only when all of it is the same.

The identity of a run is its resolved parameters (every one, the size ``n_agents`` among them), the
timeline's content after any edits (its events, not the file's path), the engine and its options, the seed
and the model's code version. ``code_version()`` is a hash of the source under ``agents/`` and ``model/``
(what decides a run's numbers; the commit alone would miss uncommitted edits) with the git commit recorded
beside it when there is one. ``describe_change`` says in words what differs between two identities.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
CODE_FOLDERS = ("agents", "model")


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def canonical(obj: Any) -> str:
    """One text for equal content: sorted keys, dates as ISO text."""
    return json.dumps(_jsonable(obj), sort_keys=True, separators=(",", ":"))


def digest(obj: Any, length: int = 16) -> str:
    return hashlib.sha256(canonical(obj).encode()).hexdigest()[:length]


@functools.cache
def source_hash() -> str:
    """SHA-256 (first 16 hex digits) of every ``.py`` file under agents/ and model/, path and bytes."""
    sha = hashlib.sha256()
    for folder in CODE_FOLDERS:
        for path in sorted((ROOT / folder).rglob("*.py")):
            sha.update(path.relative_to(ROOT).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()[:16]


@functools.cache
def git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() or None if done.returncode == 0 else None


def code_version() -> dict:
    """``{"source": hash of agents/ and model/, "commit": git commit or None}``; recorded in every saved
    config. Reuse compares ``source``: what decides a run's numbers."""
    return {"source": source_hash(), "commit": git_commit()}


def timeline_content(timeline) -> list[dict]:
    """The timeline's events as plain data, in order: what the model reads, whatever file it came from."""
    return [_jsonable(dataclasses.asdict(event)) for event in timeline.events]


def run_identity(engine: str, params, timeline, seed: int, options: dict | None = None) -> dict:
    """Everything that makes one run (see the module's text), as plain data."""
    return {
        "engine": engine,
        "engine_options": _jsonable(options or {}),
        "n_agents": params.n_agents,
        "params": _jsonable(params.to_dict()),
        "timeline": timeline_content(timeline),
        "seed": int(seed),
        "code": source_hash(),
    }


_WORDS = {"engine": "engine", "engine_options": "engine options", "n_agents": "number of agents",
          "seed": "seed", "code": "model code (agents/, model/)", "timeline": "timeline events", "params": "parameters"}


def describe_change(saved: dict | None, now: dict) -> str:
    """What differs between a saved identity and the one asked for, in words; '' when they are equal."""
    if saved is None:
        return "it records no identity (made by another version of this project)"
    parts = []
    for key in _WORDS:
        old, new = saved.get(key), now.get(key)
        if old == new:
            continue
        if key == "params":
            old, new = old or {}, new or {}
            names = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k) and k != "n_agents"]
            if names:
                parts.append("parameters " + ", ".join(f"{k} {old.get(k)!r} -> {new.get(k)!r}" for k in names[:5])
                             + (f" and {len(names) - 5} more" if len(names) > 5 else ""))
        elif key == "timeline":
            parts.append(_timeline_change(old or [], new or []))
        else:
            parts.append(f"{_WORDS[key]} {old!r} -> {new!r}")
    return "; ".join(parts)


def _timeline_change(old: list[dict], new: list[dict]) -> str:
    if len(old) != len(new):
        return f"timeline events: {len(old)} saved, {len(new)} now"
    for a, b in zip(old, new, strict=True):
        if a != b:
            fields = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            return (f"timeline event {a.get('date')} ({a.get('what')!r}): "
                    + ", ".join(f"{k} {a.get(k)!r} -> {b.get(k)!r}" for k in fields))
    return "timeline events differ"
