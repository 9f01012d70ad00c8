"""Run configurations: what a user writes in a TOML file to run the model, validated before any work.

A config file holds:

    name = "default"                      # optional
    description = "..."                   # optional
    seed = 1                              # optional; the command line's --seed wins
    driver = "array"                      # an engine of batch.engines: "array" (fast, default), "mesa"
                                          # (the reference driver) or "twin" (system dynamics)
    timeline = "timeline.toml"            # optional; relative to the config file, else data/timeline.toml

    [params]                              # any parameter of model.params.Params
    n_agents = 2000

    [[timeline_edits.drop]]               # optional: scenario edits of the timeline (model/timeline_edits.py)
    match = { date = 2025-02-13, what = "back in the Apple" }

Every key is checked: an unknown key, an unknown parameter, a value out of range or an edit that
matches no event is an error that names the file, the line (when the file shows it) and the key.
A scenario (scenarios/*.toml) is such a file.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from batch.engines import ENGINE_NAMES, build
from batch.errors import InputError
from model.params import ParameterError, Params, check_names
from model.timeline import DEFAULT_TIMELINE, Timeline, TimelineError
from model.timeline_edits import TimelineEditError, TimelineEdits, decode_error_position, find_line, parse_edits

DRIVERS = ENGINE_NAMES
# code_version is written into every saved config (what made the run); it is read back as a record only.
_TOP_KEYS = {"name", "description", "seed", "driver", "timeline", "params", "timeline_edits", "code_version"}
_PARAM_NAMED = re.compile(r"parameter '(\w+)'")


class ConfigError(InputError):
    """A config file that cannot be run as written."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    params: Params = dataclasses.field(default_factory=Params)
    timeline_path: Path = DEFAULT_TIMELINE
    seed: int = 1
    driver: str = "array"
    name: str = "default"
    description: str = ""
    timeline_edits: TimelineEdits = dataclasses.field(default_factory=TimelineEdits)

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise ConfigError(f"unknown driver {self.driver!r}; choose one of {DRIVERS}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")

    def timeline(self) -> Timeline:
        """The timeline file, with the scenario's edits applied."""
        base = Timeline.load(self.timeline_path)
        return self.timeline_edits.apply(base) if self.timeline_edits else base

    def to_toml(self, folder: str | Path | None = None) -> str:
        """The exact configuration, every parameter spelled out, so the run can be repeated from it, with
        the code version that ran it (``batch.identity.code_version``). The timeline is left out when it is
        the default one, else written relative to ``folder`` (where this text will be saved), as a config
        file's timeline is read."""
        from batch.identity import code_version

        doc: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "driver": self.driver,
        }
        if Path(self.timeline_path).resolve() != DEFAULT_TIMELINE.resolve():
            path = Path(self.timeline_path).resolve()
            doc["timeline"] = Path(os.path.relpath(path, Path(folder).resolve())).as_posix() if folder else str(path)
        doc["params"] = {k: v for k, v in self.params.to_dict().items()}
        if self.timeline_edits:
            doc["timeline_edits"] = self.timeline_edits.to_raw()
        doc["code_version"] = {k: v for k, v in code_version().items() if v is not None}
        return tomli_w.dumps(doc)


def load_config(path: str | Path | None, override_source: str = "given on the command line",
                **overrides) -> RunConfig:
    """Read a config file (or the defaults when ``path`` is None); ``overrides`` are applied on top:
    ``seed``, ``driver`` and any parameter name (an override the parameters refuse is blamed on
    ``override_source``, not on the file)."""
    raw: dict[str, Any] = {}
    text = ""
    base_dir = Path.cwd()
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        text = path.read_text(encoding="utf-8")
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as err:
            line, column = decode_error_position(err)
            at = f":{line}:{column}" if line is not None else ""
            raise ConfigError(f"{path}{at}: not valid TOML: {err}") from err
        base_dir = path.parent

    def where(key: str | None, table: str = "", index: int | None = None) -> str:
        """The file and, when the raw text shows it, the line: ``file:line``."""
        line = find_line(text, key, table, index) if text else None
        return f"{source}:{line}" if line is not None else source

    def edit_where(err: TimelineEditError) -> str:
        if err.kind is not None:
            return where(err.key, f"timeline_edits.{err.kind}", err.index)
        # An unknown kind is written as a header, [[timeline_edits.<kind>]], or as a key of [timeline_edits].
        if err.key and text and find_line(text, None, f"timeline_edits.{err.key}", 0) is not None:
            return where(None, f"timeline_edits.{err.key}", 0)
        return where(err.key, "timeline_edits")

    unknown = sorted(set(raw) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"{where(unknown[0])}: unknown key(s) {unknown}; known keys are {sorted(_TOP_KEYS)}")

    param_values = raw.get("params", {})
    if not isinstance(param_values, dict):
        raise ConfigError(f"{where('params')}: [params] must be a table")
    param_values = dict(param_values)
    written = set(param_values)
    for key in ("seed", "driver"):
        if overrides.get(key) is not None:
            raw[key] = overrides.pop(key)
    given = {k: v for k, v in overrides.items() if v is not None}
    for name in sorted(written):
        try:
            check_names([name])
        except ParameterError as err:
            raise ConfigError(f"{where(name, 'params')}: {err}") from err

    def refused(err: ParameterError, names: set) -> str | None:
        named = _PARAM_NAMED.search(str(err))
        return named.group(1) if named and named.group(1) in names else None

    # The file's own values are checked as written, even those an override replaces: a wrong file is
    # an error whatever the command line says.
    try:
        Params.from_mapping(param_values)
    except ParameterError as err:
        name = refused(err, written)
        if name is not None or not given:
            raise ConfigError(f"{where(name, 'params') if name else source}: {err}") from err
    param_values.update(given)
    try:
        params = Params.from_mapping(param_values)
    except ParameterError as err:
        name = refused(err, set(given))
        if name is not None:   # the override is to blame, not the file
            raise ConfigError(f"{name} = {given[name]!r} ({override_source}): {err}") from err
        name = refused(err, written)
        raise ConfigError(f"{where(name, 'params') if name else source}: {err}") from err

    try:
        edits = parse_edits(raw.get("timeline_edits", {}))
    except TimelineEditError as err:
        raise ConfigError(f"{edit_where(err)}: {err.message}") from err

    for key in ("name", "description", "timeline"):
        if key in raw and not isinstance(raw[key], str):
            raise ConfigError(f"{where(key)}: '{key}' must be a string, got {raw[key]!r}")
    timeline_path = DEFAULT_TIMELINE
    if "timeline" in raw:
        timeline_path = Path(raw["timeline"])
        if not timeline_path.is_absolute():
            timeline_path = base_dir / timeline_path
    try:
        config = RunConfig(
            params=params,
            timeline_path=timeline_path,
            seed=raw.get("seed", 1),
            driver=raw.get("driver", "array"),
            name=str(raw.get("name", Path(source).stem if path else "default")),
            description=str(raw.get("description", "")),
            timeline_edits=edits,
        )
    except ConfigError as err:
        key = "driver" if "driver" in str(err) else "seed"
        raise ConfigError(f"{where(key)}: {err}") from err
    try:
        config.timeline()   # a bad timeline or edit is an error now, not after the run
    except TimelineEditError as err:
        raise ConfigError(f"{edit_where(err)}: {err.message}") from err
    except TimelineError as err:
        prefix = f"{where('timeline')}: " if edits or "timeline" in raw else ""   # which config led there
        raise ConfigError(f"{prefix}{err}") from err
    return config


def make_model(config: RunConfig, seed: int | None = None, timeline: Timeline | None = None, **options):
    """A model of the configured engine (``batch.engines``), ready to run."""
    return build(config.driver, config.params, timeline if timeline is not None else config.timeline(),
                 config.seed if seed is None else seed, **options)
