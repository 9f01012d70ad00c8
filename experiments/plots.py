"""Figures on calendar dates with the timeline's events marked; for one run or an ensemble band."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from agents.rules import STATE_NAMES  # noqa: E402
from model.timeline import Timeline  # noqa: E402

# Colours and labels of the users' states, for every state the rules define (agents.rules.STATE_NAMES): the
# familiar ones keep their colours, a state added later takes the next spare colour and a label from its name.
_KNOWN_COLOURS = {"tiktok_only": "#1f77b4", "rednote_only": "#d62728", "dual_users": "#9467bd", "neither": "#7f7f7f"}
_SPARE_COLOURS = ("#2ca02c", "#ff7f0e", "#8c564b", "#e377c2", "#17becf", "#bcbd22")
_KNOWN_LABELS = {"tiktok_only": "TikTok only", "rednote_only": "RedNote only", "dual_users": "both"}
_spare = iter(_SPARE_COLOURS)
STATE_COLOURS = {name: _KNOWN_COLOURS.get(name) or next(_spare) for name in STATE_NAMES}
STATE_LABELS = {name: _KNOWN_LABELS.get(name, name.replace("_", " ")) for name in STATE_NAMES}
PLATFORM_COLOURS = {"tiktok": "#1f77b4", "rednote": "#d62728"}


def mark_events(ax, timeline: Timeline, start, end) -> None:
    """A thin dashed line at each event in the plotted window, labelled with its date."""
    for event in timeline.events:
        when = pd.Timestamp(event.date)
        if pd.Timestamp(start) <= when <= pd.Timestamp(end):
            ax.axvline(when, color="0.6", lw=0.7, ls="--", zorder=0)
            ax.annotate(event.date.strftime("%m-%d"), (when, 1.0), xycoords=("data", "axes fraction"),
                        rotation=90, fontsize=6, color="0.4", ha="right", va="top")


def _finish(ax, timeline: Timeline, index, ylabel: str, title: str) -> None:
    mark_events(ax, timeline, index[0], index[-1])
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.xaxis.set_major_locator(mdates.MonthLocator())
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="best")


def plot_lines(
    runs: Sequence[pd.DataFrame], columns: dict[str, str], timeline: Timeline, path: Path, *, title: str,
    ylabel: str, scale: float = 1e6, window: tuple | None = None, colours: dict[str, str] | None = None,
) -> Path:
    """Each column as a line (the median over runs) with a 5-95% band when there are several runs."""
    fig, ax = plt.subplots(figsize=(9, 4))
    # Timestamps, not dates: pandas is dropping date slices of a datetime index.
    index = runs[0].loc[pd.Timestamp(window[0]) : pd.Timestamp(window[1])].index if window else runs[0].index
    for column, label in columns.items():
        stacked = pd.concat([r[column].loc[index] for r in runs], axis=1) / scale
        colour = (colours or {}).get(column)
        ax.plot(index, stacked.median(axis=1), label=label, color=colour, lw=1.4)
        if len(runs) > 1:
            ax.fill_between(index, stacked.quantile(0.05, axis=1), stacked.quantile(0.95, axis=1),
                            color=colour, alpha=0.2, lw=0)
    _finish(ax, timeline, index, ylabel, title)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def run_figures(runs: Sequence[pd.DataFrame], timeline: Timeline, out: Path) -> list[Path]:
    """The standard figures of a run (or ensemble): states, downloads, DAU, migration."""
    out = Path(out)
    return [
        plot_lines(runs, {c: c.replace("_", " ") for c in STATE_COLOURS}, timeline, out / "users_by_state.png",
                   title="Users by state", ylabel="million people", colours=STATE_COLOURS),
        plot_lines(runs, {"downloads": "RedNote daily downloads"}, timeline, out / "rednote_daily_downloads.png",
                   title="RedNote daily downloads (first installs)", ylabel="million per day",
                   colours={"downloads": PLATFORM_COLOURS["rednote"]}),
        plot_lines(runs, {"cumulative_downloads": "RedNote cumulative downloads"}, timeline,
                   out / "rednote_cumulative_downloads.png", title="RedNote cumulative US downloads",
                   ylabel="million", colours={"cumulative_downloads": PLATFORM_COLOURS["rednote"]}),
        plot_lines(runs, {"tiktok_dau": "TikTok DAU", "rednote_dau": "RedNote DAU"}, timeline, out / "dau.png",
                   title="Daily active users", ylabel="million",
                   colours={"tiktok_dau": PLATFORM_COLOURS["tiktok"], "rednote_dau": PLATFORM_COLOURS["rednote"]}),
        plot_lines(runs, {"knows_rednote": "people who know RedNote"}, timeline, out / "knows_rednote.png",
                   title="Familiarity with RedNote (sum over users)", ylabel="million people",
                   colours={"knows_rednote": "#9467bd"}),
        plot_lines(runs, {"migrants": "migrants (join RedNote)", "return_migrants": "return migrants (to TikTok only)"},
                   timeline, out / "migrants.png", title="Migrants and return migrants per day",
                   ylabel="million per day", colours={"migrants": "#d62728", "return_migrants": "#1f77b4"}),
    ]


def outcome_scatter(folder: Path, frame: pd.DataFrame, names: Sequence[str], outcomes: dict[str, pd.Series],
                    log_axes: set[str] = frozenset(), labels: dict[str, str] | None = None) -> list[Path]:
    """For each outcome (a value per run), one figure of it against each swept parameter (a dot per run)."""
    import matplotlib.ticker

    folder = Path(folder)
    folder.mkdir(exist_ok=True)
    cols = min(6, len(names))
    rows = -(-len(names) // cols)
    paths = []
    for outcome, values in outcomes.items():
        if values.isna().all():
            continue
        fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.0 * rows), squeeze=False, sharey=True)
        for ax, name in zip(axes.flat, names, strict=False):
            ax.scatter(frame[name], values, s=7, alpha=0.6, color="#1f77b4", lw=0)
            ax.set_xlabel(name, fontsize=7)
            ax.tick_params(labelsize=6)
            if name in log_axes:
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())   # narrow ranges crowd them
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.suptitle((labels or {}).get(outcome, outcome), fontsize=10)
        fig.tight_layout()
        paths.append(folder / f"{outcome}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths
