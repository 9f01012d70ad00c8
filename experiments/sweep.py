"""Parameter sweeps that lose nothing: local worker processes or a Dask cluster, resumable, one SQLite file.

    python -m experiments.sweep --config sweep.toml --out DIR [--scheduler tcp://host:port] [--workers K]
                                [--daily] [--retry-failed] [--quiet]

The same from Python: ``run_sweep("sweep.toml", "DIR")`` returns one row per run as a pandas DataFrame.

A sweep config (TOML; see ``experiments/sweeps/example.toml``):

    name = "example"
    design = "lhs"                 # grid | lhs | sobol (alias saltelli) | morris
    samples = 16                   # lhs: points; sobol: base N (power of 2); morris: trajectories. Not for grid.
    replications = 2               # R runs per design point, each with its own seed
    root_seed = 2025               # optional; else the base config's seed
    common_random_numbers = false  # true: replication r uses the same seed at every design point
    base_config = "../my.toml"     # optional model config (model/config.py), relative to this file
    space = "../space.toml"        # optional: sweep every parameter of a calibration search space too

    [options]
    agents = 2000                  # optional n_agents for every run
    driver = "array"               # array | mesa
    daily = false                  # store each run's daily series too
    morris_levels = 4              # morris only
    second_order = false           # sobol only: also sample for second-order indices

    [fixed]                        # optional parameter values for every run (on top of base_config)
    end = 2025-06-30

    [parameters]                   # what is swept: any model.params.Params name
    network_pull = [1.0, 5.0]                     # a range
    ban_push = { low = 0.5, high = 4.0, levels = 3 }   # grid: evenly spaced levels (default 3)
    stickiness_decay = { low = 0.002, high = 0.2, log = true }   # sampled (or spaced) on a log scale
    mean_degree = { low = 6, high = 14, step = 2 }     # integers are rounded to the step
    festival_days = { values = [0, 15, 30] }      # grid only: listed values

Everything is checked before the first run (unknown parameter, empty or inverted range, a range outside the
parameter's admissible range, an unknown design, zero replications, an unreachable scheduler, a folder holding
another sweep); every run's parameters are built and validated up front too.

Storage: one SQLite file, ``DIR/sweep.sqlite``, in WAL mode with synchronous=FULL, written only by the process
that runs the sweep, one transaction per finished run. Why not Parquet part files: a transaction with the run
index as primary key makes "every run present exactly once" hold by construction (a kill mid-write leaves the
previous state, never half a part file or a duplicate), resuming is one query instead of a directory scan of
thousands of small files, it needs nothing beyond the standard library, and readers (a notebook watching the
sweep) can read while it is written. Dask workers need no shared disk: results come back to the client, which
writes them. ``DIR/sweep.toml`` is the resolved, self-contained config; rerunning the same command resumes.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import contextlib
import dataclasses
import datetime as dt
import itertools
import json
import math
import sqlite3
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import tomli_w

from batch import engines
from batch import outcomes as registry
from batch.cli import add_executor_arguments, add_output_arguments, command
from batch.engines import ENGINE_NAMES
from batch.errors import InputError
from batch.executor import ExecutorError, check_workers, open_executor, run_tasks
from batch.identity import code_version, timeline_content
from batch.outputs import check_out_dir, folder_lock, record, staged_output
from model.config import ConfigError, RunConfig, load_config
from model.params import ParameterError, Params
from model.targets import evaluate, load_targets
from model.timeline import Timeline
from model.tomlfile import Locator, read_located

DESIGNS = ("grid", "lhs", "sobol", "morris")
DESIGN_ALIASES = {"saltelli": "sobol"}
STORE_FILE = "sweep.sqlite"
SAVED_CONFIG = "sweep.toml"
_TOP_KEYS = {"name", "description", "design", "samples", "replications", "root_seed", "common_random_numbers",
             "base_config", "options", "fixed", "parameters", "code_version", "space"}
_OPTION_KEYS = {"agents", "driver", "daily", "morris_levels", "second_order"}
_AXIS_KEYS = {"low", "high", "levels", "step", "values", "log"}

# Summary metrics of one run, in storage order: the registry's sweep outcomes (batch.outcomes), then the
# article targets passed.
METRICS = (*registry.SWEEP, "targets_passed", "targets_total")
RESULTS_TABLE = "results.csv"
SUMMARY_FILE = "summary.md"


class SweepError(InputError):
    """A sweep that cannot be run as asked; raised before any run starts."""


# --- the config ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Axis:
    """One swept parameter: a range [low, high] (sampled, or ``levels`` evenly spaced for a grid) or values."""

    name: str
    low: float | None = None
    high: float | None = None
    levels: int | None = None
    step: float | None = None
    values: tuple | None = None
    log: bool = False

    @property
    def kind(self) -> str:
        return type(Params.spec(self.name)["default"]).__name__

    @property
    def bounds(self) -> list[float]:
        """The range the samplers draw from: [low, high], or its logarithms for a log axis."""
        if self.log:
            return [math.log(self.low), math.log(self.high)]
        return [float(self.low), float(self.high)]

    def to_sampled(self, value: float) -> float:
        """A parameter value back in the samplers' space (the inverse of ``snap`` up to rounding)."""
        return math.log(value) if self.log else float(value)

    def snap(self, x: float) -> Any:
        """A sampled number as a value of the parameter's type: integers (and any ``step``) rounded."""
        if self.log:
            x = min(max(math.exp(x), self.low), self.high)
        if self.step is not None:
            x = self.low + round((x - self.low) / self.step) * self.step
            x = min(max(x, self.low), self.high)
        if self.kind == "int":
            return int(round(x))
        return float(x)

    def grid_values(self) -> list:
        if self.values is not None:
            return list(self.values)
        raw = np.linspace(*self.bounds, self.levels or 3)
        return list(dict.fromkeys(self.snap(float(x)) for x in raw))

    def to_toml(self) -> Any:
        if self.values is not None:
            return {"values": list(self.values)}
        out = {"low": self.low, "high": self.high}
        if self.levels is not None:
            out["levels"] = self.levels
        if self.step is not None:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        return out


@dataclasses.dataclass(frozen=True)
class Run:
    """One run of a sweep. Its identity: index, swept values and seed; ``params`` follow from them."""

    index: int
    point: int
    replication: int
    seed: int
    values: dict
    params: Params

    def identity(self) -> str:
        return _canonical({"index": self.index, "values": self.values, "seed": self.seed})


@dataclasses.dataclass(frozen=True)
class SweepConfig:
    design: str
    axes: tuple[Axis, ...]
    replications: int
    root_seed: int
    base: RunConfig
    samples: int | None = None
    common_random_numbers: bool = False
    daily: bool = False
    morris_levels: int = 4
    second_order: bool = False
    name: str = "sweep"
    description: str = ""

    @property
    def names(self) -> list[str]:
        return [axis.name for axis in self.axes]

    def problem(self) -> dict:
        """The SALib problem: the swept parameters and their ranges."""
        return {"num_vars": len(self.axes), "names": self.names,
                "bounds": [a.bounds for a in self.axes]}

    def unit_samples(self) -> np.ndarray:
        """The design's sample matrix (one row per point) before rounding, from SALib's samplers."""
        from SALib.sample import latin, sobol
        from SALib.sample.morris import sample as morris_sample

        problem = self.problem()
        if self.design == "lhs":
            return latin.sample(problem, self.samples, seed=self.root_seed)
        if self.design == "sobol":
            return sobol.sample(problem, self.samples, calc_second_order=self.second_order, seed=self.root_seed)
        if self.design == "morris":
            return morris_sample(problem, self.samples, num_levels=self.morris_levels, seed=self.root_seed)
        raise AssertionError(self.design)

    def design_points(self) -> list[dict]:
        """The parameter values of each design point, in design order (SALib's analysers rely on it)."""
        if self.design == "grid":
            return [dict(zip(self.names, combo, strict=True))
                    for combo in itertools.product(*(a.grid_values() for a in self.axes))]
        return [{a.name: a.snap(float(x)) for a, x in zip(self.axes, row, strict=True)}
                for row in self.unit_samples()]

    def plan(self) -> list[Run]:
        """Every run, its parameters built and validated now, so a bad combination fails before any run."""
        runs = []
        for point, values in enumerate(self.design_points()):
            try:
                params = Params.from_mapping(values, base=self.base.params)
            except ParameterError as err:
                raise SweepError(f"design point {point} ({_describe(values)}): {err}") from err
            for replication in range(self.replications):
                index = point * self.replications + replication
                seed = run_seed(self.root_seed, replication if self.common_random_numbers else index)
                runs.append(Run(index, point, replication, seed, _jsonable(values), params))
        return runs

    def to_toml(self) -> str:
        """The resolved config, self-contained: every fixed parameter spelled out, the timeline's path absolute."""
        swept = set(self.names)
        doc = {
            "name": self.name, "description": self.description, "design": self.design,
            "replications": self.replications, "root_seed": self.root_seed,
            "common_random_numbers": self.common_random_numbers,
            "timeline": str(Path(self.base.timeline_path).resolve()),
            "options": {"driver": self.base.driver, "daily": self.daily, "morris_levels": self.morris_levels,
                        "second_order": self.second_order},
            "fixed": {k: v for k, v in self.base.params.to_dict().items() if k not in swept},
            "parameters": {a.name: a.to_toml() for a in self.axes},
        }
        if self.samples is not None:
            doc["samples"] = self.samples
        doc["code_version"] = {k: v for k, v in code_version().items() if v is not None}
        return tomli_w.dumps(doc)

    def fingerprint(self) -> dict:
        """What must match for a folder's finished runs to belong to this sweep."""
        return {
            "design": self.design, "samples": self.samples, "replications": self.replications,
            "root_seed": self.root_seed, "common_random_numbers": self.common_random_numbers,
            "morris_levels": self.morris_levels if self.design == "morris" else None,
            "second_order": self.second_order if self.design == "sobol" else None,
            "driver": self.base.driver, "daily": self.daily,
            "parameters": {a.name: a.to_toml() for a in self.axes},
            "base_params": _jsonable(self.base.params.to_dict()),
            "timeline": timeline_content(self.base.timeline()),
            "code": code_version()["source"],
        }


def run_seed(root_seed: int, key: int) -> int:
    """The seed of stream ``key``: SeedSequence(root_seed).spawn(n)[key], as one integer (63 bits, so it fits
    SQLite's INTEGER) that reruns that run alone."""
    child = np.random.SeedSequence(root_seed, spawn_key=(key,))
    return int(child.generate_state(1, np.uint64)[0] >> np.uint64(1))


def load_sweep(path: str | Path, **changes) -> SweepConfig:
    """Read and check a sweep config; ``changes`` (e.g. ``daily=True``) override its fields."""
    path = Path(path)
    raw, where = read_located(path, SweepError, "sweep config")
    try:
        config = parse_sweep(raw, base_dir=path.parent, source=str(path), where=where)
    except (ConfigError, ParameterError) as err:
        raise SweepError(f"{path}: {err}") from err
    return dataclasses.replace(config, **changes) if changes else config


def parse_sweep(raw: dict, base_dir: Path = Path("."), source: str = "<sweep>",
                where: Locator | None = None) -> SweepConfig:
    """A sweep config from its parsed file; errors name ``source`` and, with the file's ``where``, the line
    of the key at fault."""
    where = where or Locator(source)
    unknown = set(raw) - _TOP_KEYS - {"timeline"}
    if unknown:
        raise SweepError(f"{where(sorted(unknown)[0])}: unknown key(s) {sorted(unknown)}; known keys are "
                         f"{sorted(_TOP_KEYS)}")
    for key in ("name", "description", "design", "base_config", "timeline", "space"):
        if key in raw and not isinstance(raw[key], str):
            raise SweepError(f"{where(key)}: '{key}' must be a string, got {raw[key]!r}")
    options = _table(raw, "options", where)
    unknown = set(options) - _OPTION_KEYS
    if unknown:
        raise SweepError(f"{where(sorted(unknown)[0], 'options')}: unknown option(s) {sorted(unknown)}; known "
                         f"options are {sorted(_OPTION_KEYS)}")

    design = str(raw.get("design", ""))
    design = DESIGN_ALIASES.get(design, design)
    if design not in DESIGNS:
        raise SweepError(f"{where('design')}: unknown design {raw.get('design')!r}; choose one of "
                         f"{', '.join(DESIGNS)} (or 'saltelli' for sobol)")

    replications = raw.get("replications", 1)
    if not _is_int(replications) or replications < 1:
        raise SweepError(f"{where('replications')}: replications must be a positive integer, got {replications!r}")

    samples = raw.get("samples")
    if design == "grid":
        if samples is not None:
            raise SweepError(f"{where('samples')}: 'samples' has no meaning for a grid (its size is the product "
                             "of levels)")
    elif not _is_int(samples) or samples < 1:
        raise SweepError(f"{where('samples')}: design {design!r} needs 'samples', a positive integer, got {samples!r}")
    elif design == "sobol" and samples & (samples - 1):
        raise SweepError(f"{where('samples')}: the sobol design needs 'samples' a power of 2 (Sobol' sequence), "
                         f"got {samples}")

    # The base: a model config file, then [fixed], then options.agents; swept values go on top per run.
    base_path = raw.get("base_config")
    if base_path is not None:
        base_path = Path(base_path)
        base_path = base_path if base_path.is_absolute() else base_dir / base_path
    fixed = _table(raw, "fixed", where)
    agents = options.get("agents")
    if agents is not None:
        if "n_agents" in fixed:
            raise SweepError(f"{where('agents', 'options')}: n_agents is set both in [fixed] and as options.agents")
        fixed = {**fixed, "n_agents": agents}
    driver = options.get("driver")
    if driver is not None and driver not in ENGINE_NAMES:
        raise SweepError(f"{where('driver', 'options')}: unknown driver {driver!r}; choose one of {ENGINE_NAMES}")
    try:
        base = load_config(base_path, f"set in {source}'s [fixed] or options.agents", driver=driver, **fixed)
    except ConfigError as err:
        # A value of [fixed] the parameters refuse is named by its key: point at its line.
        named = next((name for name in fixed if str(err).startswith(f"{name} = ")), None)
        if named is None:   # the base config's own fault (its message names its file and line): say which key named it
            if base_path is None:
                raise
            raise SweepError(f"{where('base_config')}: {err}") from err
        table = "options" if named == "n_agents" and "n_agents" not in _table(raw, "fixed", where) else "fixed"
        raise SweepError(f"{where('agents' if table == 'options' else named, table)}: {err}") from err
    if "timeline" in raw:
        timeline_path = Path(raw["timeline"])
        timeline_path = timeline_path if timeline_path.is_absolute() else base_dir / timeline_path
        base = dataclasses.replace(base, timeline_path=timeline_path)
        base.timeline()

    parameters = _table(raw, "parameters", where)
    if "space" in raw:
        # Every free parameter of a calibration search space (data/calibration/space.toml), with its range:
        # a screening then covers exactly what calibration searches, however the space changes.
        space_path = Path(raw["space"])
        space_path = space_path if space_path.is_absolute() else base_dir / space_path
        space, space_where = read_located(space_path, SweepError, "search space file")
        written_in = {name: space_where for name in space} | {name: where for name in parameters}
        parameters = {**{name: dict(bounds) for name, bounds in space.items()}, **parameters}
    else:
        written_in = {name: where for name in parameters}
    if not parameters:
        raise SweepError(f"{where(None, 'parameters')}: [parameters] names no parameter to sweep")
    axes = tuple(_parse_axis(name, spec, design, written_in[name]) for name, spec in parameters.items())
    overlap = set(fixed) & {a.name for a in axes}
    if overlap:
        raise SweepError(f"{where(sorted(overlap)[0], 'parameters')}: parameter(s) {sorted(overlap)} are both "
                         "fixed and swept")

    root_seed = raw.get("root_seed", base.seed)
    if not _is_int(root_seed) or root_seed < 0:
        raise SweepError(f"{where('root_seed')}: root_seed must be a non-negative integer, got {root_seed!r}")
    for key in ("daily", "second_order"):
        if key in options and not isinstance(options[key], bool):
            raise SweepError(f"{where(key, 'options')}: options.{key} must be true or false, got {options[key]!r}")
    crn = raw.get("common_random_numbers", False)
    if not isinstance(crn, bool):
        raise SweepError(f"{where('common_random_numbers')}: common_random_numbers must be true or false, got {crn!r}")
    levels = options.get("morris_levels", 4)
    if not _is_int(levels) or levels < 2 or levels % 2:
        raise SweepError(f"{where('morris_levels', 'options')}: options.morris_levels must be an even integer "
                         f">= 2, got {levels!r}")

    return SweepConfig(
        design=design, axes=axes, replications=replications, root_seed=root_seed, base=base, samples=samples,
        common_random_numbers=crn, daily=options.get("daily", False), morris_levels=levels,
        second_order=options.get("second_order", False),
        name=str(raw.get("name", Path(source).stem)), description=str(raw.get("description", "")),
    )


def _parse_axis(name: str, spec: Any, design: str, written: Locator) -> Axis:
    """One swept parameter; ``written`` locates the file it is written in (the sweep, or the space it names)."""

    def where(key: str | None = None) -> str:
        # [parameters.NAME] (or a space's [NAME]) as a table, else NAME = [...] in [parameters].
        for table in (f"parameters.{name}", name):
            if written.text and written.line(None, table) is not None:
                return f"{written(key, table)}: [parameters] {name}"
        return f"{written(name, 'parameters')}: [parameters] {name}"

    try:
        info = Params.spec(name)
    except ParameterError as err:   # an unknown name, with a suggestion
        raise SweepError(f"{where()}: {err}") from err
    kind = type(info["default"]).__name__
    if isinstance(spec, list):
        if len(spec) != 2:
            raise SweepError(f"{where()}: a range is [low, high], got {spec!r}")
        spec = {"low": spec[0], "high": spec[1]}
    if not isinstance(spec, dict):
        raise SweepError(f"{where()}: give a range [low, high], {{low=, high=}} or {{values=[...]}}, got {spec!r}")
    unknown = set(spec) - _AXIS_KEYS
    if unknown:
        raise SweepError(f"{where(sorted(unknown)[0])}: a range is [low, high]; unknown key(s) {sorted(unknown)} "
                         f"(known: {sorted(_AXIS_KEYS)})")
    if "values" in spec:
        if design != "grid":
            raise SweepError(f"{where('values')}: design {design!r} samples ranges; listed values need design = 'grid'")
        values = spec["values"]
        if not isinstance(values, list) or not values:
            raise SweepError(f"{where('values')}: 'values' must be a non-empty list")
        repeated = sorted({repr(v) for v in values if values.count(v) > 1})
        if repeated:
            raise SweepError(f"{where('values')}: value(s) {', '.join(repeated)} listed more than once (each would run "
                             "again as another design point); list each value once, or raise replications")
        for value in values:
            try:
                Params.from_mapping({name: value})
            except ParameterError as err:
                raise SweepError(f"{where('values')}: {err}") from err
        return Axis(name, values=tuple(values))
    if kind == "date":
        raise SweepError(f"{where()}: a date cannot be sampled from a range; list its values (grid design)")
    low, high = spec.get("low"), spec.get("high")
    for bound in (low, high):
        if not isinstance(bound, int | float) or isinstance(bound, bool) or not math.isfinite(bound):
            raise SweepError(f"{where('low')}: range bounds must be numbers, got [{low!r}, {high!r}]")
    if low == high:
        raise SweepError(f"{where('low')}: empty range [{low}, {high}]; to fix a value put it under [fixed]")
    if low > high:
        raise SweepError(f"{where('low')}: inverted range [{low}, {high}] (low must be below high)")
    if low < info["low"] or high > info["high"]:
        raise SweepError(f"{where('low' if low < info['low'] else 'high')}: range [{low}, {high}] lies outside the "
                         "parameter's admissible range "
                         f"[{info['low']}, {info['high']}] ({info['unit']}: {info['meaning']})")
    levels = spec.get("levels")
    if levels is not None:
        if design != "grid":
            raise SweepError(f"{where('levels')}: 'levels' is for the grid design only")
        if not _is_int(levels) or levels < 2:
            raise SweepError(f"{where('levels')}: levels must be an integer >= 2, got {levels!r}")
    log = spec.get("log", False)
    if not isinstance(log, bool):
        raise SweepError(f"{where('log')}: log must be true or false, got {log!r}")
    if log and low <= 0:
        raise SweepError(f"{where('low')}: a log range needs low > 0, got [{low}, {high}]")
    step = spec.get("step")
    if step is not None and (not isinstance(step, int | float) or isinstance(step, bool) or step <= 0):
        raise SweepError(f"{where('step')}: step must be a positive number, got {step!r}")
    if kind == "int" and (int(math.floor(high)) < int(math.ceil(low))):
        raise SweepError(f"{where('low')}: the integer range [{low}, {high}] holds no integer")
    return Axis(name, low=low, high=high, levels=levels, step=step, log=log)


# --- one run -------------------------------------------------------------------------------------------------

def run_metrics(frame: pd.DataFrame) -> dict:
    """The summary figures of one run's daily series (``batch.outcomes.SWEEP``; NaN where the run does not
    reach the date)."""
    return registry.measure(frame, registry.SWEEP)


def targets_period(spec: dict) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The days a run must cover for every article target to be evaluated: from two weeks before the surge
    week (its week-on-week ratios) to the latest date or month the targets name."""
    latest = pd.Timestamp(spec["surge"]["week_start"])
    for section in spec.values():
        for value in section.values() if isinstance(section, dict) else ():
            for item in value if isinstance(value, list) else [value]:
                if isinstance(item, dt.date):
                    latest = max(latest, pd.Timestamp(item))
                elif isinstance(item, str) and len(item) == 7 and item[4] == "-":
                    latest = max(latest, pd.Period(item, "M").end_time.normalize())
    return pd.Timestamp(spec["surge"]["week_start"]) - pd.Timedelta(days=14), latest


def run_targets(frame: pd.DataFrame) -> dict | None:
    """Each article target as [value, passed], or None when the run is too short to evaluate them."""
    spec = load_targets()
    first, last = targets_period(spec)
    if frame.index[0] > first or frame.index[-1] < last:
        return None
    return {r.target.key: [_finite_or_none(r.value), bool(r.passed)] for r in evaluate(frame, spec)}


def build_model(base: RunConfig, params: Params, seed: int, timeline: Timeline | None = None):
    """The run's model, from the engine registry (a worker imports only the engine it runs)."""
    return engines.build(base.driver, params, timeline if timeline is not None else base.timeline(), seed)


def execute_run(index: int, base: RunConfig, params: Params, seed: int, timeline: Timeline, daily: bool) -> dict:
    """Run one simulation (in a worker). A model error is returned as data so the sweep goes on."""
    started = time.perf_counter()
    try:
        frame = build_model(base, params, seed, timeline).run()
        result = {"index": index, "status": "ok", "error": None, "metrics": run_metrics(frame),
                  "targets": run_targets(frame), "daily": frame if daily else None}
    except Exception as err:  # noqa: BLE001 - any model error is recorded with the run
        result = {"index": index, "status": "error", "daily": None, "metrics": None, "targets": None,
                  "error": f"{type(err).__name__}: {err}\n{traceback.format_exc()}"}
    result["seconds"] = time.perf_counter() - started
    return result


def rerun(out: str | Path, index: int) -> pd.DataFrame:
    """Run one finished run of a sweep again, alone, from the config and seed saved in its folder."""
    out = Path(out)
    sweep = load_sweep(out / SAVED_CONFIG)
    runs = sweep.plan()
    if not 0 <= index < len(runs):
        raise SweepError(f"run {index} is not in the sweep in {out} (it has runs 0..{len(runs) - 1})")
    run = runs[index]
    return build_model(sweep.base, run.params, run.seed).run()


# --- storage -------------------------------------------------------------------------------------------------

class SweepStore:
    """The sweep's SQLite file: its config, one row per finished run, optionally the daily series."""

    def __init__(self, path: Path):
        self.path = path
        self.db = sqlite3.connect(path, isolation_level=None)   # transactions are explicit
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")   # a committed run survives a power cut too, not only a kill
        self.db.execute("PRAGMA busy_timeout=10000")
        metric_columns = ", ".join(
            f"{m} {'TEXT' if m.endswith('_date') else 'INTEGER' if m.startswith('targets_') else 'REAL'}"
            for m in METRICS)
        with self.transaction():
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            self.db.execute(
                "CREATE TABLE IF NOT EXISTS runs (run_index INTEGER PRIMARY KEY, point INTEGER NOT NULL, "
                "replication INTEGER NOT NULL, seed INTEGER NOT NULL, values_json TEXT NOT NULL, "
                "status TEXT NOT NULL, error TEXT, seconds REAL, finished_at TEXT NOT NULL, "
                f"{metric_columns}, all_targets_pass INTEGER, targets_json TEXT)")

    @contextlib.contextmanager
    def transaction(self):
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def set_meta(self, **items: str) -> None:
        with self.transaction():
            self.db.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)", items.items())

    def finished(self) -> dict[int, tuple[str, str]]:
        """run index -> (identity, status) of every recorded run."""
        rows = self.db.execute("SELECT run_index, seed, values_json, status FROM runs")
        return {i: (_canonical({"index": i, "values": json.loads(v), "seed": s}), status)
                for i, s, v, status in rows}

    def record(self, run: Run, result: dict) -> None:
        """One finished run, its row and daily series in one transaction: on disk whole or not at all."""
        metrics = result["metrics"] or {}
        targets = result["targets"]
        passed = None if targets is None else sum(ok for _, ok in targets.values())
        row = {
            "run_index": run.index, "point": run.point, "replication": run.replication, "seed": run.seed,
            "values_json": json.dumps(run.values, sort_keys=True), "status": result["status"],
            "error": result["error"], "seconds": result.get("seconds"),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            **{m: _finite_or_none(metrics.get(m)) for m in METRICS if not m.startswith("targets_")},
            "targets_passed": passed, "targets_total": None if targets is None else len(targets),
            "all_targets_pass": None if targets is None else int(passed == len(targets)),
            "targets_json": None if targets is None else json.dumps(targets),
        }
        with self.transaction():
            # Replacing is for --retry-failed; a finished run is never submitted twice otherwise.
            self.db.execute(f"INSERT OR REPLACE INTO runs ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                            list(row.values()))
            if self._has_daily():
                self.db.execute("DELETE FROM daily WHERE run_index = ?", (run.index,))
            if result.get("daily") is not None:
                self._write_daily(run.index, result["daily"])

    def _has_daily(self) -> bool:
        return self.db.execute("SELECT 1 FROM sqlite_master WHERE name = 'daily'").fetchone() is not None

    def _write_daily(self, index: int, frame: pd.DataFrame) -> None:
        columns = [c for c in frame.columns]
        if not self._has_daily():
            self.db.execute("CREATE TABLE daily (run_index INTEGER NOT NULL, date TEXT NOT NULL, "
                            + ", ".join(f'"{c}" REAL' for c in columns) + ", PRIMARY KEY (run_index, date))")
            # SQLite keeps no booleans: the true/false columns are named, so they are read back as such.
            booleans = [c for c in columns if frame[c].dtype == bool]
            self.db.execute("INSERT OR REPLACE INTO meta VALUES ('daily_bool_columns', ?)", (json.dumps(booleans),))
        dates = [d.date().isoformat() for d in frame.index]
        values = frame.to_numpy(dtype=float).tolist()
        quoted = ", ".join(f'"{c}"' for c in columns)
        self.db.executemany(f"INSERT INTO daily (run_index, date, {quoted}) VALUES ({', '.join('?' * (len(columns) + 2))})",
                            [(index, d, *v) for d, v in zip(dates, values, strict=True)])

    def close(self) -> None:
        self.db.close()


def results(out: str | Path) -> pd.DataFrame:
    """Every recorded run of the sweep in ``out``: one row per run, swept values and metrics as columns,
    and one ``pass:<target>`` column per article target."""
    path = Path(out) / STORE_FILE
    if not path.is_file():
        raise SweepError(f"no sweep in {out} (no {STORE_FILE})")
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        frame = pd.read_sql_query("SELECT * FROM runs ORDER BY run_index", db)
    values = pd.DataFrame([json.loads(v) for v in frame.pop("values_json")], index=frame.index)
    targets = frame.pop("targets_json")
    passes = pd.DataFrame([{f"pass:{k}": bool(ok) for k, (_, ok) in json.loads(t).items()} if t is not None else {}
                           for t in targets], index=frame.index)
    front = ["run_index", "point", "replication", "seed", "status"]
    frame = pd.concat([frame[front], values, frame.drop(columns=front), passes], axis=1)
    return frame


def daily_series(out: str | Path, run_index: int | None = None) -> pd.DataFrame:
    """The stored daily series (sweeps run with daily = true), indexed by run and date."""
    path = Path(out) / STORE_FILE
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'daily'").fetchone() is None:
            raise SweepError(f"the sweep in {out} stored no daily series (run it with --daily)")
        where = "" if run_index is None else f" WHERE run_index = {int(run_index)}"
        frame = pd.read_sql_query(f"SELECT * FROM daily{where} ORDER BY run_index, date", db)
        row = db.execute("SELECT value FROM meta WHERE key = 'daily_bool_columns'").fetchone()
    frame["date"] = pd.to_datetime(frame["date"])
    for column in json.loads(row[0]) if row else []:
        frame[column] = frame[column].astype(bool)
    return frame.set_index(["run_index", "date"])


def open_store(out: Path, sweep: SweepConfig, runs: list[Run]) -> SweepStore:
    """The folder's store, created for this sweep or checked to hold this very sweep."""
    path = out / STORE_FILE
    fingerprint = _canonical(sweep.fingerprint())
    if path.exists():
        store = SweepStore(path)
        saved = store.meta("fingerprint")
        if saved != fingerprint:
            store.close()
            raise SweepError(f"{out} holds a different sweep: {_difference(saved, fingerprint)}; "
                             "use another --out, or the config saved there "
                             f"({out / SAVED_CONFIG}) to resume it")
        planned = {run.index: run.identity() for run in runs}
        for index, (identity, _) in store.finished().items():
            if planned.get(index) != identity:
                store.close()
                raise SweepError(f"{out}: stored run {index} does not match run {index} of this sweep "
                                 "(index, parameter values and seed differ)")
        return store
    out.mkdir(exist_ok=True)
    (out / SAVED_CONFIG).write_text(sweep.to_toml(), encoding="utf-8")
    record(out, [out / SAVED_CONFIG, path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")])
    store = SweepStore(path)
    store.set_meta(fingerprint=fingerprint, n_runs=str(len(runs)), names=json.dumps(sweep.names),
                   created=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    return store


def check_out(out: Path) -> None:
    """Refuse, before any run, a folder that cannot be written or holds other things and no sweep."""
    if (Path(out) / STORE_FILE).is_file():
        check_out_dir(out, overwrite=True)   # resumed: only whether it can be written
        return
    try:
        check_out_dir(out, resumable=True)
    except InputError as err:
        raise SweepError(f"{err} (it holds no sweep)") from None


# --- the sweep -----------------------------------------------------------------------------------------------

def run_sweep(config: str | Path | SweepConfig, out: str | Path, *, scheduler=None, workers: int | None = None,
              daily: bool | None = None, retry_failed: bool = False, progress: bool = True) -> pd.DataFrame:
    """Run (or resume) a sweep into ``out`` and return every run as a DataFrame (see ``results``); also
    writes the results as a table (``results.csv``), a summary (``summary.md``) and figures (``figures/``).

    ``scheduler``: None for local worker processes, a Dask scheduler address or a ``distributed.Client``.
    ``out`` is locked first (``batch.outputs.folder_lock``): a sweep writing there already is refused.
    """
    out = Path(out)
    sweep = config if isinstance(config, SweepConfig) else load_sweep(config)
    if daily is not None:
        sweep = dataclasses.replace(sweep, daily=daily)
    try:
        check_workers(workers)
    except InputError as err:
        raise SweepError(str(err).replace("--workers", "workers")) from None
    runs = sweep.plan()
    with folder_lock(out):       # until the reports are written
        check_out(out)
        timeline = sweep.base.timeline()
        with contextlib.ExitStack() as stack:
            try:
                executor = stack.enter_context(open_executor(workers, scheduler))
            except ExecutorError as err:
                raise SweepError(str(err)) from None
            store = open_store(out, sweep, runs)
            try:
                _drive(store, sweep, runs, timeline, executor, retry_failed, progress)
            finally:
                store.close()
        frame = results(out)
        write_reports(out, sweep, frame)
    return frame


def _drive(store, sweep, runs, timeline, executor, retry_failed, progress) -> None:
    from tqdm import tqdm

    finished = store.finished()
    todo = [run for run in runs
            if run.index not in finished or (retry_failed and finished[run.index][1] != "ok")]
    failures = sum(1 for i, (_, status) in finished.items() if status != "ok" and not retry_failed)
    by_index = {run.index: run for run in todo}
    bar = tqdm(total=len(runs), initial=len(runs) - len(todo), unit="run", desc=sweep.name,
               disable=not progress, file=sys.stderr, dynamic_ncols=True)
    bar.set_postfix(failed=failures)

    def save(index, result):
        nonlocal failures
        store.record(by_index[index], result)
        failures += result["status"] != "ok"
        bar.update(1)
        bar.set_postfix(failed=failures)

    tasks = ((run.index, execute_run, (run.index, sweep.base, run.params, run.seed, timeline, sweep.daily))
             for run in todo)
    try:
        run_tasks(executor, tasks, save)
    finally:
        bar.close()


def write_reports(out: Path, sweep: SweepConfig, frame: pd.DataFrame) -> None:
    """The results as a table, a summary of each metric over the runs and the figures (metric against each
    swept parameter), rewritten whole after each session."""
    from experiments.plots import outcome_scatter

    (out / RESULTS_TABLE).write_text(frame.to_csv(index=False), encoding="utf-8")
    ok = frame[frame["status"] == "ok"]
    lines = [f"# Sweep {sweep.name}: {len(frame)} runs ({len(frame) - len(ok)} failed), design {sweep.design}", "",
             f"Swept: {', '.join(sweep.names)}; {sweep.replications} replication(s) per point, root seed "
             f"{sweep.root_seed}, n_agents {sweep.base.params.n_agents}, engine {sweep.base.driver}. "
             f"Every run: `{RESULTS_TABLE}` (or `experiments.sweep.results(DIR)`).", "",
             "| metric | runs with a value | mean | 5% | median | 95% |", "|---|---|---|---|---|---|"]
    numbers = {}
    for key in (*registry.SWEEP, "targets_passed"):
        outcome = registry.OUTCOMES.get(key)
        if outcome is not None and outcome.kind == "date":
            values = (pd.to_datetime(frame[key]) - registry.DAY_ZERO).dt.days.astype(float)
        else:
            values = pd.to_numeric(frame[key], errors="coerce").astype(float)
        values[frame["status"] != "ok"] = np.nan
        numbers[key] = values
        v = values.dropna()
        cells = [f"{x:.4g}" for x in (v.mean(), v.quantile(0.05), v.median(), v.quantile(0.95))] if len(v) \
            else ["n/a"] * 4
        lines.append(f"| {key} | {len(v)} | " + " | ".join(cells) + " |")
    note = registry.range_note(len(ok))
    if note:
        lines += ["", f"**Warning:** {note.replace('seed(s)', 'run(s)')}."]
    (out / SUMMARY_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    with staged_output(out / "figures", overwrite=True) as scratch:
        outcome_scatter(scratch, frame, sweep.names, {k: v for k, v in numbers.items()},
                        log_axes={a.name for a in sweep.axes if a.log})
    record(out, [out / RESULTS_TABLE, out / SUMMARY_FILE, *(p for p in (out / "figures").rglob("*") if p.is_file())])


# --- helpers -------------------------------------------------------------------------------------------------

def _table(raw: dict, key: str, where: Locator) -> dict:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise SweepError(f"{where(key)}: [{key}] must be a table")
    return value


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _jsonable(values: dict) -> dict:
    return {k: v.isoformat() if isinstance(v, dt.date) else v for k, v in values.items()}


def _canonical(obj) -> str:
    return json.dumps(obj, sort_keys=True, default=str)


def _finite_or_none(value):
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _describe(values: dict) -> str:
    return ", ".join(f"{k}={v}" for k, v in values.items())


def _difference(saved: str | None, now: str) -> str:
    if saved is None:
        return "its config is missing"
    old, new = json.loads(saved), json.loads(now)
    keys = [k for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]
    def short(value) -> str:
        text = repr(value)
        return text if len(text) <= 80 else text[:77] + "..."
    return "; ".join(f"{k} was {short(old.get(k))}, now {short(new.get(k))}" for k in keys) or "configs differ"


# --- command line --------------------------------------------------------------------------------------------

def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True, help="sweep config (TOML)")
    add_executor_arguments(parser)
    parser.add_argument("--daily", action="store_true", default=None, help="also store each run's daily series")
    parser.add_argument("--retry-failed", action="store_true", help="run again the runs recorded as failed")
    add_output_arguments(parser, resumable=True, overwrite=False)
    return parser.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    try:
        frame = run_sweep(args.config, args.out, scheduler=args.scheduler, workers=args.workers, daily=args.daily,
                          retry_failed=args.retry_failed, progress=not args.quiet)
    except cf.BrokenExecutor as err:
        print(f"error: a worker process died ({err}); finished runs are saved in {args.out}; "
              "run the same command again to resume", file=sys.stderr)
        return 1
    failed = int((frame["status"] != "ok").sum())
    print(f"{len(frame)} runs in {args.out.resolve() / STORE_FILE} ({failed} failed); table, summary and figures "
          f"beside it; this session {time.perf_counter() - started:.1f} s")
    if failed:
        print("first failure:", frame.loc[frame["status"] != "ok", "error"].iloc[0].splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
