"""Run configurations: what a user writes in a TOML file to run the model, validated before any work.

A config file holds:

    name = "default"                      # optional
    description = "..."                   # optional
    seed = 1                              # optional; the command line's --seed wins
    driver = "array"                      # "array" (fast, default) or "mesa" (the reference driver)
    timeline = "timeline.toml"            # optional; relative to the config file, else data/timeline.toml

    [params]                              # any parameter of model.params.Params
    n_agents = 2000

Every key is checked: an unknown key, an unknown parameter or a value out of range is an error that
names the file and the key.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

import tomli_w

from model.params import ParameterError, Params
from model.timeline import DEFAULT_TIMELINE, Timeline, TimelineError

DRIVERS = ("array", "mesa")
_TOP_KEYS = {"name", "description", "seed", "driver", "timeline", "params"}


class ConfigError(ValueError):
    """A config file that cannot be run as written."""


@dataclasses.dataclass(frozen=True)
class RunConfig:
    params: Params = dataclasses.field(default_factory=Params)
    timeline_path: Path = DEFAULT_TIMELINE
    seed: int = 1
    driver: str = "array"
    name: str = "default"
    description: str = ""

    def __post_init__(self) -> None:
        if self.driver not in DRIVERS:
            raise ConfigError(f"unknown driver {self.driver!r}; choose one of {DRIVERS}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise ConfigError(f"seed must be a non-negative integer, got {self.seed!r}")

    def timeline(self) -> Timeline:
        return Timeline.load(self.timeline_path)

    def to_toml(self) -> str:
        """The exact configuration, every parameter spelled out, so the run can be repeated from it."""
        doc: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "seed": self.seed,
            "driver": self.driver,
            "timeline": str(self.timeline_path),
            "params": {k: v for k, v in self.params.to_dict().items()},
        }
        return tomli_w.dumps(doc)


def load_config(path: str | Path | None, **overrides) -> RunConfig:
    """Read a config file (or the defaults when ``path`` is None); ``overrides`` are applied on top:
    ``seed``, ``driver`` and any parameter name."""
    raw: dict[str, Any] = {}
    base_dir = Path.cwd()
    source = "<defaults>"
    if path is not None:
        path = Path(path)
        source = str(path)
        if not path.is_file():
            raise ConfigError(f"config file not found: {path}")
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except tomllib.TOMLDecodeError as err:
            raise ConfigError(f"{path}: not valid TOML: {err}") from err
        base_dir = path.parent
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ConfigError(f"{source}: unknown key(s) {sorted(unknown)}; known keys are {sorted(_TOP_KEYS)}")

    param_values = dict(raw.get("params", {}))
    if not isinstance(param_values, dict):
        raise ConfigError(f"{source}: [params] must be a table")
    for key in ("seed", "driver"):
        if overrides.get(key) is not None:
            raw[key] = overrides.pop(key)
    param_values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        params = Params.from_mapping(param_values)
    except ParameterError as err:
        raise ConfigError(f"{source}: {err}") from err

    timeline_path = DEFAULT_TIMELINE
    if "timeline" in raw:
        timeline_path = Path(raw["timeline"])
        if not timeline_path.is_absolute():
            timeline_path = base_dir / timeline_path
    config = RunConfig(
        params=params,
        timeline_path=timeline_path,
        seed=raw.get("seed", 1),
        driver=raw.get("driver", "array"),
        name=str(raw.get("name", Path(source).stem if path else "default")),
        description=str(raw.get("description", "")),
    )
    try:
        config.timeline()   # a bad timeline is an error now, not after the run
    except TimelineError as err:
        raise ConfigError(str(err)) from err
    return config


def make_model(config: RunConfig, seed: int | None = None, timeline: Timeline | None = None):
    """A model of the configured driver, ready to run."""
    from model.array_model import ArrayMigrationModel
    from model.migration_model import MigrationModel

    cls = ArrayMigrationModel if config.driver == "array" else MigrationModel
    return cls(config.params, timeline if timeline is not None else config.timeline(),
               rng=config.seed if seed is None else seed)
