"""The browser view's inputs: scenarios, the seed, the sliders, and the model the page builds on Reset.

Slider values apply on Reset, as everywhere in Mesa. They are validated by ``Params`` (through
``load_config``) like any other parameter: a value or combination it refuses is shown as a message on
the page, and the page then shows the default scenario instead of failing.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from mesa.visualization.user_param import Slider

from batch.errors import InputError
from model.config import RunConfig, load_config
from model.migration_model import MigrationModel
from model.params import Params

ROOT = Path(__file__).resolve().parent.parent.parent
SCENARIO_DIR = ROOT / "scenarios"
DEFAULT_SCENARIO = "default"
DEFAULT_SEED = 1
# A few hundred users: big enough to show the surge, small enough for a Step well under a second.
VIEW_AGENTS = 300
AGENTS_ENV = "VIZ_AGENTS"
CONFIG_ENV = "VIZ_CONFIG"

class ViewInputError(InputError):
    """A scenario, seed or slider value the browser view cannot run."""


# --- scenarios and inputs ------------------------------------------------------------------------------

def available_scenarios(folder: Path | None = None) -> dict[str, Path | None]:
    """Scenario names for the selector: the defaults, every config file in ``scenarios/``, and the file
    named by ``VIZ_CONFIG`` if set. ``None`` stands for the built-in defaults (a ``scenarios/default.toml``
    replaces them)."""
    folder = SCENARIO_DIR if folder is None else folder
    found: dict[str, Path | None] = {DEFAULT_SCENARIO: None}
    if folder.is_dir():
        for path in sorted(folder.glob("*.toml")):
            found[path.stem] = path
    extra = os.environ.get(CONFIG_ENV, "").strip()
    if extra:
        found[Path(extra).stem] = Path(extra)
    return found


def parse_seed(seed) -> int:
    """The seed as typed in the page (text) or given in code (int): a non-negative whole number."""
    if isinstance(seed, bool):
        raise ViewInputError(f"seed must be a whole number >= 0, got {seed!r}")
    if isinstance(seed, int | np.integer):
        value = int(seed)
    else:
        text = str(seed).strip()
        if not text.lstrip("+").isdigit():
            raise ViewInputError(f"seed must be a whole number >= 0, got {seed!r}")
        value = int(text)
    if value < 0:
        raise ViewInputError(f"seed must be a whole number >= 0, got {seed!r}")
    return value


def view_config(scenario_name: str = DEFAULT_SCENARIO, seed=None, **values) -> RunConfig:
    """The run the page shows: a scenario's config, the seed (else the config's), and slider values on
    top, all validated."""
    scenarios = available_scenarios()
    if scenario_name not in scenarios:
        raise ViewInputError(f"unknown scenario {scenario_name!r}; choose one of {sorted(scenarios)}")
    seed = None if seed is None else parse_seed(seed)
    try:
        return load_config(scenarios[scenario_name], override_source="set on the page", seed=seed, driver="mesa",
                           **values)
    except InputError as err:
        raise ViewInputError(str(err)) from err


def start_from_env() -> dict:
    """The page's first model: ``VIZ_CONFIG`` (a config file) and ``VIZ_AGENTS`` (number of users) if set,
    checked before the server serves anything; else the default scenario with a few hundred users."""
    values: dict = {"n_agents": VIEW_AGENTS}
    raw = os.environ.get(AGENTS_ENV, "").strip()
    if raw:
        try:
            values["n_agents"] = int(raw)
        except ValueError as err:
            raise ViewInputError(f"{AGENTS_ENV}={raw!r}: the number of users must be a whole number") from err
    config = os.environ.get(CONFIG_ENV, "").strip()
    if config:
        values["scenario_name"] = Path(config).stem
    try:
        view_config(**values)
    except ViewInputError as err:
        names = " and ".join(f"{k}={os.environ[k]!r}" for k in (CONFIG_ENV, AGENTS_ENV) if os.environ.get(k))
        raise ViewInputError(f"{names or 'defaults'}: {err}") from err
    return values


class BrowserModel(MigrationModel):
    """The Mesa driver as the page builds it on Reset: from a scenario name, a seed and slider values.

    ``slider_start`` holds the sliders' starting positions: a slider still there leaves the scenario's
    own value (a scenario such as no-defiance keeps its lever); a moved one replaces it. The number of
    users always comes from its slider: it is the size of the picture, not a scenario's choice.

    It never refuses to exist: on input the model cannot run it records the problem in ``problem`` and
    runs the default scenario instead, so the page can say what was wrong rather than break."""

    def __init__(self, scenario_name: str = DEFAULT_SCENARIO, seed=None, slider_start: dict | None = None,
                 **values):
        # Mesa's Reset passes its own Scenario object to any model taking **kwargs; ours are config files.
        values.pop("scenario", None)
        if slider_start:
            values = {k: v for k, v in values.items() if not _at_start(v, slider_start.get(k))}
        problem = None
        try:
            config = view_config(scenario_name, seed, **values)
        except ViewInputError as err:
            problem = str(err)
            scenario_name = DEFAULT_SCENARIO
            config = view_config(DEFAULT_SCENARIO, DEFAULT_SEED, n_agents=VIEW_AGENTS)
        super().__init__(config.params, config.timeline(), rng=config.seed)
        self.problem = problem
        self.config = config
        self.scenario_name = scenario_name
        self.seed = config.seed
        self.overridden = overridden_by_sliders(scenario_name, config.params) if problem is None else {}


def _at_start(value, start) -> bool:
    """A slider still at its starting position. The browser's slider snaps a starting value that is off
    its step grid (a calibrated 2.1753 shows as 2.25) and reports that: within half a step is "not moved"."""
    if start is None:
        return False
    position, half_step = start
    return abs(value - position) <= half_step + 1e-9


def overridden_by_sliders(scenario_name: str, params: Params) -> dict[str, tuple]:
    """Parameters the scenario file sets that the sliders replaced: name -> (scenario's value, value used)."""
    path = available_scenarios().get(scenario_name)
    if path is None:
        return {}
    own = load_config(path).params
    defaults = Params()
    return {
        name: (getattr(own, name), getattr(params, name)) for name in SLIDERS
        if getattr(own, name) != getattr(defaults, name) and getattr(own, name) != getattr(params, name)
    }


# --- the sliders ---------------------------------------------------------------------------------------

# name: (label, low, high, step); each range is clipped to what Params accepts and widened to reach
# 1.5 times the starting value, so a recalibrated default sits inside its slider with room either side.
SLIDERS = {
    "n_agents": ("Users (agents)", 20, 3000, 20),
    "mean_degree": ("Friends per user (mean)", 2, 40, 2),
    "defiance_mean": ("Defiance: mean trait", 0.0, 0.95, 0.05),
    "defiance_weight": ("Defiance weight", 0.0, 12.0, 0.5),
    "stickiness_weight": ("Stickiness weight", 0.0, 10.0, 0.5),
    "network_pull": ("Network pull", 0.0, 15.0, 0.5),
    "attention_cost": ("Attention cost of two apps", 0.0, 6.0, 0.25),
    "ban_push": ("Ban push", 0.0, 8.0, 0.5),
    "switching_cost": ("Switching cost", 0.0, 20.0, 0.5),
    "unfamiliarity_cost": ("Cost of not knowing RedNote", 0.0, 10.0, 0.5),
    "wave_coverage": ("Coverage of the wave (charts, news)", 0.0, 10.0, 0.25),
    "creator_share": ("Creator share", 0.0, 0.3, 0.01),
}


def model_params(model: BrowserModel) -> dict:
    """SolaraViz's inputs: scenario, seed and the sliders, starting at ``model``'s values."""
    params: dict = {
        "scenario_name": {"type": "Select", "value": model.scenario_name, "values": list(available_scenarios()),
                          "label": "Scenario"},
        # Mesa offers no integer box; the text is checked and read as an int (the same seed as in code).
        "seed": {"type": "InputText", "value": str(model.seed), "label": "Seed (whole number)"},
    }
    # A fixed value (a dict without "type"): Mesa passes it unchanged to every Reset.
    params["slider_start"] = {name: (getattr(model.params, name), SLIDERS[name][3] / 2)
                              for name in SLIDERS if name != "n_agents"}
    for name, (label, low, high, step) in SLIDERS.items():
        spec = Params.spec(name)
        value = getattr(model.params, name)
        high = max(high, value * 1.5 if name != "n_agents" else value)
        low, high = max(low, spec["low"]), min(high, spec["high"])
        low, high = min(low, value), max(high, value)
        if isinstance(value, int):   # put the starting value on the step grid, so the browser keeps it
            low = value - ((value - low) // step) * step
        dtype = int if isinstance(value, int) else float
        params[name] = Slider(label, value=value, min=low, max=high, step=step, dtype=dtype)
    return params
