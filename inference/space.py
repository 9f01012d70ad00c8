"""Priors and variants: what the calibration may vary, and the alternatives it compares.

Priors come from a calibration space file (``data/calibration/space*.toml``, ``data/inference/space-*.toml``),
one table per free parameter, after two optional keys that say which run the space was made for::

    base = "../../scenarios/observed-2025-01.toml"   # the run config whose other parameters stay as they are
                                                     # (relative to the space file; default: the defaults)
    agents = 10_000                                  # simulated users per run it was made for

    [wave_coverage]
    low = 0.2
    high = 5.0
    log = true          # log-uniform over [low, high]; otherwise uniform

Which space an observation file is calibrated on when none is given is declared in
``data/inference/defaults.toml`` (``default_space``): by the observation file's ``[meta] name``.

A log-uniform parameter is sampled by pyABC as ``log10_<name>``, uniform over [log10 low, log10 high], so
that its perturbation kernels work on the scale the prior is flat on; tables and reports give it back in
its own units. Each source with a scale (``model.observations``) adds a prior ``scale_<source>``.

Variants (model comparison) are parameter settings in a TOML file, so that any mechanism that can be
switched by a parameter can be compared::

    [variants.with_defiance]
    description = "today's model"

    [variants.no_defiance]
    description = "no emotional defiance"
    params = { defiance_weight = 0.0 }

A variant that fixes a parameter the space leaves free has that parameter fixed, and its prior dropped,
in that variant only (a nested model: "experience-good learning off" is ``fit_spread = 0``, which the
other variant infers).

Every error (unknown parameter, a range outside the parameter's admissible range, an empty or inverted
range, a log range through 0, a base config that is not there, a variant's unknown parameter) is a
``PriorError`` naming the file and line, raised before any simulation.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from batch.errors import InputError
from model.observations import ObservationSet
from model.params import ParameterError, Params
from model.timeline_edits import find_line
from model.tomlfile import Locator, read_toml_with_text, unknown_key

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SPACE = ROOT / "data" / "calibration" / "space-news.toml"
# Which space each observation file is fitted on by default (by its [meta] name).
DEFAULTS_FILE = ROOT / "data" / "inference" / "defaults.toml"
LOG_PREFIX = "log10_"
# The keys a space file may set besides its parameters' tables (no parameter has these names).
SPACE_KEYS = {"base", "agents"}


class PriorError(InputError):
    """A prior or variant file that cannot be used as written."""


@dataclasses.dataclass(frozen=True)
class Prior:
    """A uniform (or log-uniform, ``log``) prior over [low, high] of one parameter, in its own units."""
    name: str
    low: float
    high: float
    log: bool = False
    integer: bool = False

    @property
    def key(self) -> str:
        """The name pyABC samples: ``log10_<name>`` for a log-uniform prior."""
        return f"{LOG_PREFIX}{self.name}" if self.log else self.name

    @property
    def bounds(self) -> tuple[float, float]:
        """The prior's support on the scale pyABC samples."""
        return (math.log10(self.low), math.log10(self.high)) if self.log else (self.low, self.high)

    def value(self, sampled: float) -> float | int:
        """The parameter's value in its own units from the value pyABC sampled."""
        x = 10.0 ** sampled if self.log else float(sampled)
        x = min(max(x, self.low), self.high)     # guard the rounding of 10 ** log10(high)
        return int(round(x)) if self.integer else x


@dataclasses.dataclass(frozen=True)
class Space:
    """A calibration space file: the free parameters' priors and the run it was made for."""
    path: Path
    priors: tuple[Prior, ...]
    base: Path | None = None        # the run config (resolved), or None for the defaults
    agents: int | None = None       # simulated users per run, or None: the command's default


def _at(path: Path, text: str, key: str | None = None, table: str = "") -> str:
    """``path:line`` of ``key`` (``model.tomlfile.Locator``), or ``path`` when no line shows it."""
    return Locator(str(path), text)(key, table)


def load_space(path: str | Path) -> Space:
    """A calibration space file: its priors (``load_priors``), and its ``base`` config and ``agents`` if
    it names them. Raises ``PriorError`` naming the file and line."""
    path = Path(path)
    document, text = read_toml_with_text(path, PriorError, "prior (calibration space) file")
    base = document.get("base")
    if base is not None:
        if not isinstance(base, str):
            raise PriorError(f"{_at(path, text, 'base')}: base must be the path of a run config, got {base!r}")
        base = (path.parent / base).resolve()
        if not base.is_file():
            raise PriorError(f"{_at(path, text, 'base')}: base config not found: {base} "
                             "(the path is relative to the space file)")
    agents = document.get("agents")
    if agents is not None and (not isinstance(agents, int) or isinstance(agents, bool) or agents < 10):
        raise PriorError(f"{_at(path, text, 'agents')}: agents must be a whole number of at least 10, "
                         f"got {agents!r}")
    return Space(path, _priors(path, document, text), base, agents)


def load_priors(path: str | Path) -> tuple[Prior, ...]:
    """The free parameters' priors from a calibration space file, each checked against the parameter's
    admissible range (``model.params``). Raises ``PriorError`` naming the file and line."""
    return load_space(path).priors


def _priors(path: Path, document: dict, text: str) -> tuple[Prior, ...]:
    document = {k: v for k, v in document.items() if k not in SPACE_KEYS}
    if not document:
        raise PriorError(f"{path}: no parameters: add a table [name] with low and high for each free parameter")
    priors = []
    for name, bounds in document.items():
        def fail(message: str, key: str | None = None, _name=name):
            # [NAME] as a table (its key's line, else its header), or NAME = {...} at the top.
            where = _at(path, text, key, _name) if find_line(text, None, _name) else _at(path, text, _name)
            raise PriorError(f"{where}: [{_name}] {message}")

        try:
            spec = Params.spec(name)
        except ParameterError as err:
            fail(str(err))
        if not isinstance(bounds, dict):
            fail("must be a table with low and high (and optionally log)")
        extra = sorted(set(bounds) - {"low", "high", "log"})
        if extra:
            fail(f"{unknown_key(extra[0], ('low', 'high', 'log'))}; a prior has low, high and log", extra[0])
        for key in ("low", "high"):
            if key not in bounds:
                fail(f"missing {key!r}")
            if not isinstance(bounds[key], (int, float)) or isinstance(bounds[key], bool) \
                    or not math.isfinite(bounds[key]):
                fail(f"{key} must be a finite number, got {bounds[key]!r}", key)
        low, high, log = float(bounds["low"]), float(bounds["high"]), bounds.get("log", False)
        if not isinstance(log, bool):
            fail(f"log must be true or false, got {log!r}", "log")
        if not low < high:
            fail(f"empty or inverted range [{low:g}, {high:g}]", "low")
        if isinstance(spec["low"], (int, float)) and (low < spec["low"] or high > spec["high"]):
            fail(f"range [{low:g}, {high:g}] leaves the parameter's admissible range "
                 f"[{spec['low']}, {spec['high']}] ({spec['unit']})", "low" if low < spec["low"] else "high")
        if not isinstance(spec["default"], (int, float)) or isinstance(spec["default"], bool):
            fail(f"is not a number (a {type(spec['default']).__name__}); only numeric parameters can be calibrated")
        if log and low <= 0:
            fail(f"a log-uniform prior needs low > 0, got {low:g}", "low")
        priors.append(Prior(name, low, high, log, integer=isinstance(spec["default"], int)))
    return tuple(priors)


def default_space(observations: ObservationSet, defaults: Path = DEFAULTS_FILE) -> tuple[Path, str]:
    """The space an observation file is calibrated on when none is given, and why: the entry for the
    file's ``[meta] name`` in ``defaults`` (``data/inference/defaults.toml``), else its ``default_space``.
    Paths in ``defaults`` are relative to it. Raises ``PriorError`` naming the file and line."""
    document, text = read_toml_with_text(defaults, PriorError, "default spaces file")
    extra = sorted(set(document) - {"default_space", "spaces"})
    if extra:
        raise PriorError(f"{_at(defaults, text, extra[0])}: unknown key {extra[0]!r}; the file has "
                         "default_space and [spaces]")
    spaces = document.get("spaces", {})
    if observations.name in spaces:
        entry, key, table = spaces[observations.name], observations.name, "spaces"
        why = f"the default for observations '{observations.name}' ({defaults.name})"
    else:
        entry, key, table = document.get("default_space"), "default_space", ""
        why = f"the default space ({defaults.name}: no entry for observations '{observations.name}')"
    if not isinstance(entry, str):
        raise PriorError(f"{_at(defaults, text, key, table)}: {key} must be the path of a space "
                         f"file, got {entry!r}")
    path = (defaults.parent / entry).resolve()
    if not path.is_file():
        raise PriorError(f"{_at(defaults, text, key, table)}: space file not found: {path} "
                         "(the path is relative to this file)")
    return path, why


def scale_priors(observations: ObservationSet) -> tuple[Prior, ...]:
    """The priors of the sources' scales (``scale_<source>``) that the observations use."""
    return tuple(Prior(name, low, high, log) for name, (low, high, log) in observations.scale_priors().items())


def pyabc_prior(priors: Iterable[Prior]):
    """The priors as a ``pyabc.Distribution`` over the names pyABC samples (``Prior.key``)."""
    import pyabc

    return pyabc.Distribution(**{p.key: pyabc.RV("uniform", p.bounds[0], p.bounds[1] - p.bounds[0])
                                 for p in priors})


def to_values(priors: Iterable[Prior], sampled: Mapping[str, float]) -> dict[str, float]:
    """Sampled values (by ``Prior.key``) to parameter values in their own units (by name)."""
    return {p.name: p.value(sampled[p.key]) for p in priors}


@dataclasses.dataclass(frozen=True)
class Variant:
    """A version of the model: parameter values set on top of the base configuration."""
    name: str
    params: Mapping[str, Any]
    description: str = ""

    def free(self, priors: Iterable[Prior]) -> tuple[Prior, ...]:
        """The priors this variant leaves free: those of parameters it does not fix."""
        return tuple(p for p in priors if p.name not in self.params)


def load_variants(path: str | Path, base: Params) -> tuple[Variant, ...]:
    """The variants of a model-comparison file, each checked by building its parameters on ``base``. At
    least two. A parameter a variant fixes is not free in it (``Variant.free``)."""
    path = Path(path)
    document, text = read_toml_with_text(path, PriorError, "variants file")
    extra = sorted(set(document) - {"variants"})
    if extra:
        where = _at(path, text, None, extra[0]) if find_line(text, None, extra[0]) else _at(path, text, extra[0])
        raise PriorError(f"{where}: unknown "
                         f"top-level key {extra[0]!r}; write each variant as [variants.NAME]")
    raw = document.get("variants", {})
    if len(raw) < 2:
        raise PriorError(f"{path}: model comparison needs at least two [variants.NAME], found {len(raw)}")
    variants = []
    for name, entry in raw.items():
        table = f"variants.{name}"

        def fail(message: str, key: str | None = None, _table=table):
            raise PriorError(f"{_at(path, text, key, _table)}: [{_table}] {message}")

        if not isinstance(entry, dict):
            fail("must be a table with description and params")
        extra = sorted(set(entry) - {"description", "params"})
        if extra:     # at its own line: a misspelt params would otherwise be a variant that changes nothing
            fail(f"{unknown_key(extra[0], ('description', 'params'))}; a variant takes description and params "
                 "only", extra[0])
        params = entry.get("params", {})
        if not isinstance(params, dict):
            fail("params must be a table of parameter values", "params")
        try:
            base.replace(**params)
        except ParameterError as err:
            # The line of the parameter refused: in [variants.NAME.params], else the params = {...} line.
            named = next((p for p in params if f"'{p}'" in str(err)), None)
            if named is not None and find_line(text, None, f"{table}.params") is not None:
                raise PriorError(f"{_at(path, text, named, f'{table}.params')}: [{table}] {err}") from err
            fail(str(err), "params")
        variants.append(Variant(name, dict(params), str(entry.get("description", ""))))
    return tuple(variants)
