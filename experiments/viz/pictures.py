"""The browser view's pictures: the social network and the charts, drawn with matplotlib on the server.

Only what changes from day to day is redrawn (``_Blitted``); each picture is made once per model.
"""

from __future__ import annotations

import datetime as dt
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import PIL.Image  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from agents.rules import STATE_NAMES  # noqa: E402
from experiments.plots import PLATFORM_COLOURS, STATE_COLOURS, STATE_LABELS, mark_events  # noqa: E402
from experiments.viz.inputs import BrowserModel  # noqa: E402
from model.targets import load_targets  # noqa: E402

# Above this many users the picture shows a fixed sample: networkx's spring layout switches to a much
# slower sparse method at 500 nodes, and more dots would not be readable anyway.
MAX_SHOWN = 400

_STATE_COLOURS = np.array([matplotlib.colors.to_rgba(STATE_COLOURS[name]) for name in STATE_NAMES])
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
