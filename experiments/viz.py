"""The browser view of the Mesa driver: watch the migration happen, one day per Step.

    solara run app.py          (or: make viz)

A SolaraViz page with Mesa's Step / Play / Reset, sliders for key parameters, a scenario selector and a
seed; the social network coloured by platform state; charts on calendar dates; a status panel. It needs
no internet: solara's front end comes from the ``solara-assets`` package, and every figure is drawn with
matplotlib on the server (Altair would need vega from a CDN).

Slider values apply on Reset, as everywhere in Mesa. They are validated by ``Params`` (through
``load_config``) like any other parameter: a value or combination it refuses is shown as a message on
the page, and the page then shows the default scenario instead of failing.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import html
import io
import os
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL.Image  # noqa: E402
import solara  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402
from mesa.visualization import SolaraViz, solara_viz  # noqa: E402
from mesa.visualization.user_param import Slider  # noqa: E402
from mesa.visualization.utils import update_counter  # noqa: E402

from agents.rules import STATE_NAMES  # noqa: E402
from experiments.plots import PLATFORM_COLOURS, STATE_COLOURS, mark_events  # noqa: E402
from model.config import ConfigError, RunConfig, load_config  # noqa: E402
from model.migration_model import MigrationModel  # noqa: E402
from model.params import ParameterError, Params  # noqa: E402
from model.targets import load_targets  # noqa: E402
from model.timeline import TimelineError  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SCENARIO_DIR = ROOT / "scenarios"
DEFAULT_SCENARIO = "default"
DEFAULT_SEED = 1
# A few hundred users: big enough to show the surge, small enough for a Step well under a second.
VIEW_AGENTS = 300
AGENTS_ENV = "VIZ_AGENTS"
CONFIG_ENV = "VIZ_CONFIG"
# Above this many users the picture shows a fixed sample: networkx's spring layout switches to a much
# slower sparse method at 500 nodes, and more dots would not be readable anyway.
MAX_SHOWN = 400

STATE_LABELS = {"tiktok_only": "TikTok only", "rednote_only": "RedNote only", "dual_users": "both", "neither": "neither",
                "other_apps": "other apps"}
_STATE_COLOURS = np.array([matplotlib.colors.to_rgba(STATE_COLOURS[name]) for name in STATE_NAMES])


class ViewInputError(ValueError):
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
        return load_config(scenarios[scenario_name], seed=seed, driver="mesa", **values)
    except (ConfigError, ParameterError, TimelineError) as err:
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


# --- the network picture -------------------------------------------------------------------------------

def layout_seed(model: BrowserModel) -> int:
    """A seed for the picture derived from the model's seed without drawing from its generator: a draw
    there would make the browser's run differ from `experiments.run` with the same seed."""
    return int(np.random.SeedSequence([getattr(model, "seed", 0), 0x5EED]).generate_state(1)[0])


def sample_users(graph: nx.Graph, max_shown: int, rng: np.random.Generator) -> np.ndarray:
    """All users if they fit; else a fixed snowball sample (friends of friends from a few random users),
    which keeps the friendship circles that a uniform sample would cut apart."""
    n = graph.number_of_nodes()
    if n <= max_shown:
        return np.arange(n)
    chosen: list[int] = []
    seen: set[int] = set()
    frontier: list[int] = []
    while len(chosen) < max_shown:
        if not frontier:  # start (or restart) from a random user not yet taken
            start = int(rng.integers(n))
            while start in seen:
                start = int(rng.integers(n))
            frontier = [start]
            seen.add(start)
        user = frontier.pop(0)
        chosen.append(user)
        friends = [f for f in graph.neighbors(user) if f not in seen]
        rng.shuffle(friends)
        for friend in friends[:4]:  # a few friends each, so one hub does not fill the sample alone
            seen.add(friend)
            frontier.append(friend)
    return np.array(sorted(chosen))


class _Blitted:
    """A figure whose still parts are drawn once and whose changing artists are drawn over them per frame.

    Redrawing a whole figure costs most of a Step (tick labels, event labels, legends); only the dots and
    lines change from day to day, so only they are drawn each time (``restore_region`` + ``draw_artist``)."""

    figure: Figure
    # Fast PNG compression: a few times quicker than the default level, for a slightly larger file.
    FORMAT = "png"
    ENCODING = {"format": "png", "compress_level": 1}

    def _moving(self) -> list:
        raise NotImplementedError

    def _draw_background(self) -> None:
        canvas = FigureCanvasAgg(self.figure)
        moving = self._moving()
        for artist in moving:
            artist.set_visible(False)
        canvas.draw()
        self._background = canvas.copy_from_bbox(self.figure.bbox)
        for artist in moving:
            artist.set_visible(True)

    def encoded(self) -> bytes:
        if self._background is None:
            self._draw_background()
        canvas = self.figure.canvas
        canvas.restore_region(self._background)
        for artist in self._moving():
            artist.axes.draw_artist(artist)
        width, height = canvas.get_width_height()
        image = PIL.Image.frombuffer("RGBA", (width, height), canvas.buffer_rgba()).convert("RGB")
        buffer = io.BytesIO()
        image.save(buffer, **self.ENCODING)
        return buffer.getvalue()


class NetworkPicture(_Blitted):
    """The drawn network of one model: a fixed set of users on a layout computed once; only colours change."""

    # Hundreds of anti-aliased edges compress badly as PNG: JPEG is about 7 times quicker to encode
    # here and less than half the size, with no visible loss at this quality.
    FORMAT = "jpeg"
    ENCODING = {"format": "jpeg", "quality": 92}

    def __init__(self, model: BrowserModel, max_shown: int = MAX_SHOWN):
        graph = model.grid.G
        rng = np.random.default_rng(layout_seed(model))
        self.shown = sample_users(graph, max_shown, rng)
        sub = graph.subgraph(self.shown.tolist())
        pos = nx.spring_layout(sub, seed=int(rng.integers(2**31 - 1)), iterations=60)
        xy = np.array([pos[u] for u in self.shown.tolist()])
        index = {int(u): i for i, u in enumerate(self.shown.tolist())}
        segments = [(xy[index[a]], xy[index[b]]) for a, b in sub.edges()]

        self.figure = Figure(figsize=(5.6, 6.0), dpi=80)
        ax = self.figure.add_axes((0.0, 0.07, 1.0, 0.87))
        ax.set_axis_off()
        ax.add_collection(LineCollection(segments, colors="0.78", linewidths=0.4, zorder=0))
        self.creators = np.asarray(model.is_creator)[self.shown]
        creators = self.creators
        self.dots = ax.scatter(xy[~creators, 0], xy[~creators, 1], s=22, linewidths=0.3, edgecolors="white",
                               zorder=1)
        self.creator_dots = ax.scatter(xy[creators, 0], xy[creators, 1], s=90, marker="*", linewidths=0.6,
                                       edgecolors="black", zorder=2)
        ax.set_xlim(xy[:, 0].min() - 0.05, xy[:, 0].max() + 0.05)
        ax.set_ylim(xy[:, 1].min() - 0.05, xy[:, 1].max() + 0.05)
        handles = [Line2D([], [], ls="", marker="o", ms=7, mfc=STATE_COLOURS[name], mec="white",
                          label=STATE_LABELS[name]) for name in STATE_NAMES]
        handles.append(Line2D([], [], ls="", marker="*", ms=11, mfc="white", mec="black", label="creator"))
        self.figure.legend(handles=handles, loc="lower center", fontsize=9, frameon=False, ncols=5,
                           handletextpad=0.1, columnspacing=1.0)
        n = graph.number_of_nodes()
        title = f"Social network: all {n:,} users" if n <= max_shown else \
            f"Social network: a fixed sample of {len(self.shown):,} of {n:,} users"
        self.figure.suptitle(title, fontsize=10, y=0.985)
        self._background = None

    def _moving(self) -> list:
        return [self.dots, self.creator_dots]

    def update(self, states: np.ndarray) -> None:
        colours = _STATE_COLOURS[np.asarray(states)[self.shown]]
        self.dots.set_facecolors(colours[~self.creators])
        self.creator_dots.set_facecolors(colours[self.creators])


# --- the charts ----------------------------------------------------------------------------------------

def article_bands(targets: dict | None = None) -> list[tuple[dt.date, float, float, str]]:
    """The article's cumulative-download bands: (date, low, high, label) for the short and medium term."""
    targets = targets if targets is not None else load_targets()
    bands = []
    for term in ("short_term", "medium_term"):
        spec = targets.get(term, {})
        if "cumulative_downloads" in spec and "cumulative_downloads_on" in spec:
            low, high = spec["cumulative_downloads"]
            label = f"article: {low / 1e6:.0f}-{high / 1e6:.0f} M by {spec['cumulative_downloads_on']:%d %b}"
            bands.append((spec["cumulative_downloads_on"], float(low), float(high), label))
    return bands


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 5, 7.5 times a power of ten at or above ``value`` (> 0)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** np.floor(np.log10(value))
    for step in (1.0, 1.5, 2.0, 3.0, 5.0, 7.5, 10.0):
        if value <= step * power * (1 + 1e-12):
            return float(step * power)
    return float(10.0 * power)


class ChartsPicture(_Blitted):
    """Four charts on calendar dates over the whole run, with the timeline's events marked; lines grow.

    Each y axis only grows, to a round number, so the still parts are redrawn a few times per run."""

    PANELS = (
        ("Users by state (million people)", {**{n: (STATE_LABELS[n], STATE_COLOURS[n]) for n in STATE_NAMES},
                                             "knows_rednote": ("know RedNote", "#9467bd")}),
        ("RedNote daily downloads (million per day)",
         {"downloads": ("first installs", PLATFORM_COLOURS["rednote"])}),
        ("Daily active users (million people)",
         {"rednote_dau": ("RedNote DAU", PLATFORM_COLOURS["rednote"]),
          "tiktok_dau": ("TikTok DAU", PLATFORM_COLOURS["tiktok"])}),
        ("RedNote cumulative US downloads (million)",
         {"cumulative_downloads": ("cumulative downloads", PLATFORM_COLOURS["rednote"])}),
    )

    def __init__(self, model: BrowserModel):
        dates = pd.DatetimeIndex(list(model.signals.dates))
        self.figure = Figure(figsize=(13.0, 6.6), dpi=80)
        axes = self.figure.subplots(2, 2, sharex=True).ravel()
        self.axes = axes
        self.panel_lines: list[list[Line2D]] = []
        self.columns: list[list[str]] = []
        self.floors = [0.0, 0.0, 0.0, 0.0]
        for ax, (title, columns) in zip(axes, self.PANELS, strict=True):
            lines = []
            for label, colour in columns.values():
                (line,) = ax.plot([], [], color=colour, lw=1.4, label=label)
                lines.append(line)
            self.panel_lines.append(lines)
            self.columns.append(list(columns))
            mark_events(ax, model.timeline, dates[0], dates[-1])
            ax.set_title(title, fontsize=9, pad=16)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
            ax.set_xlim(dates[0], dates[-1])
        for when, low, high, label in article_bands():
            if dates[0] <= pd.Timestamp(when) <= dates[-1]:
                axes[3].errorbar([pd.Timestamp(when)], [(low + high) / 2e6], yerr=[[(high - low) / 2e6]],
                                 fmt="none", ecolor="black", elinewidth=6, alpha=0.35, capsize=0, label=label)
                self.floors[3] = max(self.floors[3], high / 1e6)
        for ax in axes:
            # Above the plot, so the lines drawn each day never cross a legend drawn once.
            ax.legend(fontsize=6.5, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=4, frameon=False,
                      borderaxespad=0.1, handlelength=1.5, columnspacing=1.0)
            ax.xaxis.set_major_locator(mdates.MonthLocator(bymonth=(1, 3, 5, 7, 9, 11)))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
            ax.set_ylim(0.0, nice_ceiling(self.floors[list(axes).index(ax)] * 1.05 or 1.0))
        self.figure.tight_layout(h_pad=1.5)
        self._background = None

    def _moving(self) -> list:
        return [line for lines in self.panel_lines for line in lines]

    def update(self, frame: pd.DataFrame) -> None:
        x = frame.index
        for ax, lines, columns in zip(self.axes, self.panel_lines, self.columns, strict=True):
            top = 0.0
            for line, column in zip(lines, columns, strict=True):
                y = frame[column].to_numpy(dtype=float) / 1e6
                line.set_data(x, y)
                if len(y):
                    top = max(top, float(np.nanmax(y)))
            if top * 1.05 > ax.get_ylim()[1]:
                ax.set_ylim(0.0, nice_ceiling(top * 1.05))
                self._background = None


def _picture(model, attribute: str, cls):
    """One picture per model, made at its first drawing: the layout is computed once per model."""
    picture = getattr(model, attribute, None)
    if picture is None:
        picture = cls(model)
        setattr(model, attribute, picture)
    return picture


def network_picture(model) -> NetworkPicture:
    return _picture(model, "_network_picture", NetworkPicture)


def charts_picture(model) -> ChartsPicture:
    return _picture(model, "_charts_picture", ChartsPicture)


def frame_of(model) -> pd.DataFrame:
    """``model.results()``, built once per simulated day: the charts and the status panel share it."""
    cached = getattr(model, "_frame_of_day", None)
    if cached is None or cached[0] != model.day_index:
        cached = (model.day_index, model.results())
        model._frame_of_day = cached
    return cached[1]


def network_image(model) -> bytes:
    picture = network_picture(model)
    picture.update(model.states())
    return picture.encoded()


def charts_image(model) -> bytes:
    picture = charts_picture(model)
    picture.update(frame_of(model))
    return picture.encoded()


# --- the status panel ----------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Status:
    day: dt.date                 # the last simulated day (the first day before any Step)
    days_done: int
    days_total: int
    tiktok_service: bool
    tiktok_in_stores: bool
    deadline: dt.date | None
    headline: dict[str, str]

    @property
    def days_to_deadline(self) -> int | None:
        return None if self.deadline is None else (self.deadline - self.day).days


def _people(value: float) -> str:
    return f"{value / 1e6:,.1f} M" if abs(value) >= 1e5 else f"{value:,.0f}"


def status_of(model: MigrationModel) -> Status:
    """Today's ban status and the headline figures of the run so far."""
    signals = model.signals
    done = model.day_index
    i = max(done - 1, 0)
    frame = frame_of(model)
    headline: dict[str, str] = {}
    if len(frame):
        last = frame.iloc[-1]
        peak_day = frame["downloads"].idxmax()
        headline = {
            "RedNote users now": _people(last["rednote_users"]),
            "of whom also on TikTok": _people(last["dual_users"]),
            "TikTok users now": _people(last["tiktok_users"]),
            "RedNote cumulative downloads": _people(last["cumulative_downloads"]),
            "peak daily downloads so far": f"{_people(frame['downloads'].max())} on {peak_day:%Y-%m-%d}",
            "migrants / return migrants so far": (
                f"{_people(last['cumulative_migrants'])} / {_people(last['cumulative_return_migrants'])}"
            ),
        }
    return Status(
        day=signals.dates[i], days_done=done, days_total=len(signals),
        tiktok_service=bool(signals.tiktok_service[i]), tiktok_in_stores=bool(signals.tiktok_in_stores[i]),
        deadline=signals.deadline[i], headline=headline,
    )


# --- solara components ---------------------------------------------------------------------------------

def _on_off(flag: bool, on: str, off: str) -> str:
    colour = "#2e7d32" if flag else "#c62828"
    return f'<b style="color:{colour}">{on if flag else off}</b>'


def _text(value) -> str:
    return html.escape(str(value))


@solara.component
def StatusPanel(model):
    update_counter.get()
    status = status_of(model)
    with solara.Column(classes=["rednote-status"], style={"padding": "8px", "overflow": "auto"}):
        if getattr(model, "problem", None):
            solara.Error(f"These settings were not applied: {model.problem}. Showing the default scenario "
                         f"(seed {DEFAULT_SEED}, {VIEW_AGENTS} users) instead; change them and press Reset.")
        when = (f"{status.day:%a %d %b %Y} (day {status.days_done} of {status.days_total})" if status.days_done
                else f"{status.day:%a %d %b %Y}: not simulated yet, press Step or Play")
        if status.deadline is None:
            deadline = "none in force"
        else:
            deadline = f"{status.deadline:%d %b %Y} ({status.days_to_deadline:+d} days)"
        config = getattr(model, "config", None)
        scenario = getattr(model, "scenario_name", DEFAULT_SCENARIO)
        rows = [
            ("Today", _text(when)),
            ("TikTok service", _on_off(status.tiktok_service, "on", "OFF (dark)")),
            ("TikTok in app stores", _on_off(status.tiktok_in_stores, "yes", "no")),
            ("Next enforcement deadline", _text(deadline)),
            ("Scenario", _text(scenario + (f": {config.description}" if config and config.description else ""))),
            ("Users", _text(f"{model.params.n_agents:,} agents, each {model.params.people_per_agent:,.0f} people; "
                            f"seed {getattr(model, 'seed', '?')}")),
            *((label, _text(value)) for label, value in status.headline.items()),
        ]
        rows.append(("Parameters", _text(", ".join(f"{name} {getattr(model.params, name):g}" for name in SLIDERS))))
        overridden = getattr(model, "overridden", {})
        if overridden:
            rows.append(("Sliders replaced", _text("; ".join(
                f"{name} {used} (scenario: {own})" for name, (own, used) in overridden.items()))))
        body = "".join(f"<tr><td style='padding:1px 10px 1px 0;color:#555'>{k}</td><td>{v}</td></tr>"
                       for k, v in rows)
        solara.HTML(tag="div", unsafe_innerHTML=f"<table style='font-size:14px'>{body}</table>")
        if config is not None:
            # The exact run on this page: saved as a file, `experiments.run --config FILE` repeats it.
            solara.Details("Config to rerun this run", children=[
                solara.Preformatted(config.to_toml(), style_="font-size:11px; white-space:pre-wrap")])


@solara.component
def NetworkView(model):
    update_counter.get()
    image = solara.use_memo(lambda: network_image(model), dependencies=[model, model.day_index])
    solara.Image(image, format=NetworkPicture.FORMAT, width="100%", classes=["rednote-network"])


@solara.component
def ChartsView(model):
    update_counter.get()
    image = solara.use_memo(lambda: charts_image(model), dependencies=[model, model.day_index])
    solara.Image(image, format=ChartsPicture.FORMAT, width="100%", classes=["rednote-charts"])


# Grid units: 12 columns; rows of 30 px plus 10 px margin. The network and the status share the first
# row, the charts take the whole second one.
VIEW_LAYOUT = (
    {"i": 0, "x": 0, "y": 0, "w": 5, "h": 14, "moved": False},
    {"i": 1, "x": 5, "y": 0, "w": 7, "h": 14, "moved": False},
    {"i": 2, "x": 0, "y": 14, "w": 12, "h": 16, "moved": False},
)
_mesa_grid_layout = solara_viz.make_initial_grid_layout


def _view_grid_layout(num_components: int) -> list[dict]:
    # Mesa places every component in a half-width cell of one size; the charts need the full width.
    if num_components == len(VIEW_LAYOUT):
        return [dict(cell) for cell in VIEW_LAYOUT]
    return _mesa_grid_layout(num_components)


def make_page(model: BrowserModel | solara.Reactive | None = None):
    """The SolaraViz page for ``model`` (a new one from the environment if None). Given a reactive
    model, its ``.value`` follows Reset, which builds a new model."""
    if model is None:
        model = BrowserModel(**start_from_env())
    first = model.value if isinstance(model, solara.Reactive) else model
    solara_viz.make_initial_grid_layout = _view_grid_layout
    return SolaraViz(
        model,
        components=[(NetworkView, 0), (StatusPanel, 0), (ChartsView, 0)],
        model_params=model_params(first),
        name="RedNote migration: TikTok users under the 2025 ban",
    )
