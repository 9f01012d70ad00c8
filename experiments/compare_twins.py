"""The agent-based model against its system-dynamics twin, on a random graph and on the default graph.

    python -m experiments.compare_twins --seeds K --agents N --out DIR [--config FILE]
        [--random-graph configuration|erdos_renyi] [--overwrite] [--keep-runs] [--quiet]

Runs the twin (``model.system_dynamics``) with each way of turning daily probabilities into rates
(``probability``, the default, and ``hazard``) and an ensemble of K array-driver runs on each graph (seeds
seed .. seed + K - 1, the seed from the config), and writes into DIR:

- ``twin_<rates>.csv``: the twin's daily series; ``ensemble_<graph>.csv``: median, 5% and 95% of the ABM
  runs;
- ``gaps.csv``: per graph, twin and series, the largest gap between the ABM median and the twin, its
  date, and the share of days the twin lies in the 5-95% band; ``graph_effect.csv``: the ABM medians on
  the clustered graph against those on the random graph;
- ``twin_vs_abm.png`` (the year) and ``twin_vs_abm_surge.png`` (January-February 2025);
- ``report.md``: what agrees and what differs, with the measured figures;
- ``config.toml`` (rerun with ``--config``) and ``summary.json`` (the command's other settings, timings).

Finished ABM runs are kept beside DIR (``.DIR.runs``) until the whole comparison is written, so an
interrupted command, run again with the same arguments, resumes where it stopped; ``--keep-runs`` keeps
them afterwards too.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import shutil
import sys
import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from agents.rules import STATE_NAMES  # noqa: E402
from batch import engines  # noqa: E402
from batch.cli import (  # noqa: E402
    add_config_arguments,
    add_executor_arguments,
    add_output_arguments,
    command,
    non_negative_int,
    positive_int,
)
from batch.ensemble import Ensemble, run_ensemble, run_path, saved_facts  # noqa: E402
from batch.errors import InputError  # noqa: E402
from batch.executor import open_executor  # noqa: E402
from batch.outcomes import COMPARED_SERIES, range_note  # noqa: E402
from batch.outputs import check_out_dir, hold_folder, open_folder, staged_output  # noqa: E402
from experiments.plots import PLATFORM_COLOURS, STATE_COLOURS, mark_events  # noqa: E402
from model.config import RunConfig, load_config  # noqa: E402
from model.graphs import GRAPH_KINDS  # noqa: E402
from model.system_dynamics import RATE_MODES  # noqa: E402

COMPARED = COMPARED_SERIES
# What a gap is measured against: states and DAU against everyone, downloads against their peak.
SCALE = ({column: "population" for column in (*STATE_NAMES, "tiktok_dau", "rednote_dau")}
         | {"downloads": "peak", "cumulative_downloads": "peak"})
SURGE = ("2025-01-01", "2025-02-28")
SETTLE = 3


def ensemble(config: RunConfig, timeline, graph: str, seeds: list[int], cache: Path, executor, progress: bool
             ) -> tuple[list, list]:
    """The ABM runs on one kind of graph (``batch.ensemble``, resumed from ``cache``): the graph is drawn from
    a generator spawned from each seed. Facts: CPU seconds per run, and the first graph's transitivity
    (share of closed triangles)."""
    runs = cache / graph
    frames = run_ensemble(Ensemble.of(config, timeline, graph_kind=graph), seeds, runs, executor=executor,
                          progress=progress, desc=f"ABM runs, {graph} graph")
    facts = [saved_facts(run_path(runs, seed)) for seed in seeds]
    first = engines.build("array", config.params, timeline, seeds[0], graph_kind=graph)
    facts[0]["transitivity"] = nx.transitivity(nx.from_scipy_sparse_array(first.friends))
    return frames, facts


def band(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """Median and 5-95% band of each compared series over the runs."""
    columns = {}
    for column in COMPARED:
        stacked = pd.concat([f[column] for f in frames], axis=1)
        columns[f"{column}_median"] = stacked.median(axis=1)
        columns[f"{column}_q05"] = stacked.quantile(0.05, axis=1)
        columns[f"{column}_q95"] = stacked.quantile(0.95, axis=1)
    return pd.DataFrame(columns)


def gaps(twins: dict[str, pd.DataFrame], bands: dict[str, pd.DataFrame], population: float,
         people_per_agent: float) -> pd.DataFrame:
    """The twin is in the band when within half an agent of it: the ABM cannot show less than one agent."""
    rows = []
    slack = people_per_agent / 2
    for (graph, b), (rates, twin) in itertools.product(bands.items(), twins.items()):
        # Days when (nearly) everyone must move at once - the first day and TikTok's blackout - and the
        # SETTLE days after each, while a continuous twin still catches up with the daily moves.
        forced = ~twin["tiktok_service"].astype(bool)
        forced.iloc[0] = True
        forced = forced.astype(int).rolling(SETTLE + 1, min_periods=1).max().astype(bool)
        for column in COMPARED:
            gap = twin[column] - b[f"{column}_median"]
            when = gap.abs().idxmax()
            when_other = gap[~forced].abs().idxmax()
            scale = population if SCALE[column] == "population" else b[f"{column}_median"].max()
            inside = (twin[column] >= b[f"{column}_q05"] - slack) & (twin[column] <= b[f"{column}_q95"] + slack)
            rows.append({
                "graph": graph, "twin_rates": rates, "series": column,
                "largest_gap": float(gap[when]), "largest_gap_date": when.date().isoformat(),
                "relative_to": SCALE[column], "largest_gap_relative": float(abs(gap[when]) / scale),
                "abm_median_there": float(b.at[when, f"{column}_median"]), "twin_there": float(twin.at[when, column]),
                "largest_gap_other_days": float(gap[when_other]), "other_days_date": when_other.date().isoformat(),
                "largest_gap_other_days_relative": float(abs(gap[when_other]) / scale),
                "mean_abs_gap_relative": float(gap.abs().mean() / scale),
                "share_of_days_twin_in_band": float(inside.mean()),
            })
    return pd.DataFrame(rows)


PANELS = (
    ("TikTok only, neither and other apps", {"tiktok_only": STATE_COLOURS["tiktok_only"],
                                             "neither": STATE_COLOURS["neither"],
                                             "other_apps": STATE_COLOURS["other_apps"]}),
    ("RedNote only and dual users",
     {"rednote_only": STATE_COLOURS["rednote_only"], "dual_users": STATE_COLOURS["dual_users"]}),
    ("RedNote daily downloads", {"downloads": PLATFORM_COLOURS["rednote"]}),
    ("TikTok DAU", {"tiktok_dau": PLATFORM_COLOURS["tiktok"]}),
    ("RedNote DAU", {"rednote_dau": PLATFORM_COLOURS["rednote"]}),
)


TWIN_STYLES = {"probability": {"color": "black", "ls": "--"}, "hazard": {"color": "0.45", "ls": ":"}}


def figure(twins: dict[str, pd.DataFrame], bands: dict[str, pd.DataFrame], timeline, path: Path,
           window=None) -> Path:
    """Rows: the compared series; columns: the graphs. ABM median (solid) and 5-95% band; twins dashed."""
    fig, axes = plt.subplots(len(PANELS), len(bands), figsize=(6 * len(bands), 2.6 * len(PANELS)),
                             sharex=True, squeeze=False)
    for col, (graph, b) in enumerate(bands.items()):
        part = b.loc[window[0]:window[1]] if window else b
        for row, (title, series) in enumerate(PANELS):
            ax = axes[row, col]
            for column, colour in series.items():
                label = column.replace("_", " ")
                ax.plot(part.index, part[f"{column}_median"] / 1e6, color=colour, lw=1.3, label=f"ABM {label}")
                ax.fill_between(part.index, part[f"{column}_q05"] / 1e6, part[f"{column}_q95"] / 1e6,
                                color=colour, alpha=0.2, lw=0)
                for rates, twin in twins.items():
                    ax.plot(part.index, twin.loc[part.index, column] / 1e6, lw=1.0, **TWIN_STYLES[rates],
                            label=f"twin ({rates})" if column == next(iter(series)) else None)
            mark_events(ax, timeline, part.index[0], part.index[-1])
            ax.set_title(f"{title} - {graph} graph", fontsize=9)
            ax.set_ylabel("million" + (" per day" if "downloads" in series else ""), fontsize=8)
            ax.grid(alpha=0.3)
            ax.legend(fontsize=6, loc="best")
            ax.xaxis.set_major_locator(mdates.MonthLocator(interval=1 if window else 2))
            ax.xaxis.set_major_formatter(mdates.DateFormatter("%b\n%Y"))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def graph_effect(bands: dict[str, pd.DataFrame], population: float) -> pd.DataFrame:
    """How far apart the ABM medians on the two graphs are, against the width of the bands."""
    (random_graph, r), (_, c) = bands.items()
    rows = []
    for column in COMPARED:
        scale = population if SCALE[column] == "population" else c[f"{column}_median"].max()
        diff = c[f"{column}_median"] - r[f"{column}_median"]
        when = diff.abs().idxmax()
        width = c[f"{column}_q95"] - c[f"{column}_q05"]
        rows.append({"series": column, "largest_difference": float(diff[when]), "date": when.date().isoformat(),
                     "largest_difference_relative": float(abs(diff[when]) / scale),
                     "band_width_there_relative": float(width[when] / scale),
                     "mean_difference_relative": float(diff.mean() / scale),
                     "mean_band_width_relative": float(width.mean() / scale), "random_graph": random_graph})
    return pd.DataFrame(rows)


def report(table: pd.DataFrame, effect: pd.DataFrame, bands: dict, twins: dict, settings: dict,
           timings: dict) -> str:
    def pct(x):
        return f"{100 * x:.2f}%"

    lines = [
        "# The system-dynamics twin against the agent-based model",
        "",
        f"ABM: {settings['seeds']} runs of {settings['agents']} agents (array driver, seeds {settings['seed_range']}) "
        f"on each graph; twin: `model.system_dynamics.SystemDynamicsModel` ({settings['classes']} trait classes), "
        "with rates = probability (default) and rates = hazard. Same parameters and timeline (`config.toml`).",
        "",
        "Time for one simulated year (CPU seconds, this machine, measured in this run): twin "
        + ", ".join(f"{r} {s:.2f}" for r, s in timings["twin_cpu_seconds"].items()) + "; one ABM run "
        + ", ".join(f"{g} {s:.2f}" for g, s in timings["abm_cpu_seconds_per_run"].items())
        + " (including drawing the graph).",
        "",
        "Transitivity (share of closed triangles) of the first run's graph: "
        + ", ".join(f"{g} {t:.4f}" for g, t in settings["transitivity_first_graph"].items()) + ".",
        "",
        *([f"**Warning:** {settings['band_warning']}.", ""] if settings.get("band_warning") else []),
        "## Largest gaps (twin minus ABM median)",
        "",
        "Relative to the population (states, DAU) or to the ABM median's peak (downloads). \"Other days\" "
        f"leaves out the first day and TikTok's blackout, when (nearly) everyone must move at once, and the "
        f"{SETTLE} days after each.",
        "",
        "| graph | twin rates | series | largest gap (people) | date | relative | largest on other days | date "
        "| relative | mean abs gap | days twin in 5-95% band (+- half an agent) |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in table.itertuples():
        lines.append(f"| {r.graph} | {r.twin_rates} | {r.series} | {r.largest_gap:,.0f} | {r.largest_gap_date} | "
                     f"{pct(r.largest_gap_relative)} | {r.largest_gap_other_days:,.0f} | {r.other_days_date} | "
                     f"{pct(r.largest_gap_other_days_relative)} | {pct(r.mean_abs_gap_relative)} | "
                     f"{pct(r.share_of_days_twin_in_band)} |")
    lines += [
        "",
        f"## Clustering: the ABM on the clustered graph minus the ABM on the {effect['random_graph'].iloc[0]} graph",
        "",
        "| series | largest difference of medians (people) | date | relative | clustered 5-95% band there "
        "| mean difference | mean band width |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in effect.itertuples():
        lines.append(f"| {r.series} | {r.largest_difference:,.0f} | {r.date} | {pct(r.largest_difference_relative)} "
                     f"| {pct(r.band_width_there_relative)} | {pct(r.mean_difference_relative)} "
                     f"| {pct(r.mean_band_width_relative)} |")
    lines += [
        "",
        "## At the end of the run",
        "",
        "| series | " + " | ".join(f"ABM median, {g} graph" for g in bands) + " | "
        + " | ".join(f"twin, {r} rates" for r in twins) + " |",
        "|---|" + "---|" * (len(bands) + len(twins)),
    ]
    for column in ("dual_users", "rednote_dau", "cumulative_downloads"):
        cells = [f"{b[f'{column}_median'].iloc[-1]:,.0f}" for b in bands.values()]
        cells += [f"{t[column].iloc[-1]:,.0f}" for t in twins.values()]
        lines.append(f"| {column} | " + " | ".join(cells) + " |")
    lines += ["", "## Reading", ""]
    for (graph, rates), part in table.groupby(["graph", "twin_rates"], sort=False):
        worst = part.loc[part["largest_gap_relative"].idxmax()]
        lines.append(
            f"- {graph} graph, twin with {rates} rates: the largest relative gap is in `{worst.series}`, "
            f"{worst.largest_gap:,.0f} people on {worst.largest_gap_date} (ABM median "
            f"{worst.abm_median_there:,.0f}, twin {worst.twin_there:,.0f}); on other days, "
            f"`{part.loc[part['largest_gap_other_days_relative'].idxmax(), 'series']}` "
            f"{pct(part['largest_gap_other_days_relative'].max())} on "
            f"{part.loc[part['largest_gap_other_days_relative'].idxmax(), 'other_days_date']}; mean absolute gap "
            f"over the series {pct(part['mean_abs_gap_relative'].mean())}.")
    lines += [
        "- Clustering (the ABM on the clustered graph against the random one) moved the medians by more than "
        "the clustered ensemble's 5-95% band on that day in: " + (", ".join(
            f"`{r.series}` ({pct(r.largest_difference_relative)} on {r.date}, band {pct(r.band_width_there_relative)})"
            for r in effect.itertuples() if r.largest_difference_relative > r.band_width_there_relative) or "none")
        + "; elsewhere the graph's structure does not show beyond the ABM's own spread at this size.",
        "- Where they can differ, and why: the twin is well mixed (a user's friends are a sample of everyone), "
        "so it cannot show the local saturation of friendship circles that clustering brings; it follows the "
        "mean stickiness of each stock (the spread of habits and the selection of the less attached out of a "
        "stock are gone); its trait heterogeneity is a quadrature over a few classes; and it lets the day's "
        "moves happen continuously. With probability rates a stock's mean residence time is the ABM's "
        "(1 / P(leave) days), but a forced move (the blackout day) is only 1 - 1/e done within the day; "
        "hazard rates finish forced moves within the day but shorten residence to 1 / -ln(1 - P(leave)) "
        "days, and let users moved early in a day move again the same day (more first installs that day). "
        "Daily counts of a few agents are also noisy in the ABM: a band several times the median means the "
        "ABM has too few agents for that series.",
    ]
    return "\n".join(lines) + "\n"


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--seeds", type=positive_int, default=10, help="ABM runs per graph (at least 2; default 10)")
    parser.add_argument("--first-seed", type=non_negative_int,
                        help="first seed S of the ABM runs (seeds S..S+K-1; default: the config's seed)")
    parser.add_argument("--random-graph", choices=[g for g in GRAPH_KINDS if g != "clustered"],
                        default="configuration", help="the random graph to compare with the default one")
    parser.add_argument("--keep-runs", action="store_true", help="keep the finished ABM runs beside --out")
    add_executor_arguments(parser)
    add_output_arguments(parser)
    return parser.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    if args.seeds < 2:
        raise InputError(f"--seeds must be at least 2 for a band, got {args.seeds}")
    config = load_config(args.config, n_agents=args.agents)
    if config.driver != "array":
        raise InputError(f"compare_twins draws its graphs for the array engine; the config asks for {config.driver!r}")
    hold_folder(args.out)     # another run writing there is refused before any work
    check_out_dir(args.out, args.overwrite)

    timeline = config.timeline()
    graphs = (args.random_graph, "clustered")
    if args.first_seed is not None:   # saved as the config's seed, so the saved config reruns these seeds
        config = dataclasses.replace(config, seed=args.first_seed)
    seeds = list(range(config.seed, config.seed + args.seeds))

    twins, twin_cpu = {}, {}
    bands, per_run, transitivity = {}, {}, {}
    # The executor first: an unreachable cluster is refused before any work or folder.
    with open_executor(args.workers, args.scheduler) as executor:
        cache = open_folder(args.out.resolve().parent / f".{args.out.name}.runs")
        for rates in RATE_MODES:
            twin_model = engines.build("twin", config.params, timeline, config.seed, rates=rates)
            started = time.process_time()
            twins[rates] = twin_model.run()
            twin_cpu[rates] = time.process_time() - started
        for graph in graphs:
            frames, facts = ensemble(config, timeline, graph, seeds, cache, executor, not args.quiet)
            bands[graph] = band(frames)
            per_run[graph] = float(np.mean([f["cpu_seconds"] for f in facts]))
            transitivity[graph] = facts[0]["transitivity"]

    table = gaps(twins, bands, config.params.population, config.params.people_per_agent)
    effect = graph_effect(bands, config.params.population)
    settings = {"seeds": args.seeds, "seed_range": f"{seeds[0]}-{seeds[-1]}", "agents": config.params.n_agents,
                "random_graph": args.random_graph, "classes": len(twin_model.classes),
                "transitivity_first_graph": transitivity, "band_warning": range_note(args.seeds)}
    timings = {"twin_cpu_seconds": twin_cpu, "abm_cpu_seconds_per_run": per_run}
    with staged_output(args.out, args.overwrite) as scratch:
        for rates, twin in twins.items():
            twin.to_csv(scratch / f"twin_{rates}.csv")
        for graph, b in bands.items():
            b.to_csv(scratch / f"ensemble_{graph}.csv")
        table.to_csv(scratch / "gaps.csv", index=False)
        effect.to_csv(scratch / "graph_effect.csv", index=False)
        figure(twins, bands, timeline, scratch / "twin_vs_abm.png")
        figure(twins, bands, timeline, scratch / "twin_vs_abm_surge.png", window=SURGE)
        (scratch / "report.md").write_text(report(table, effect, bands, twins, settings, timings), encoding="utf-8")
        (scratch / "config.toml").write_text(config.to_toml(folder=args.out.resolve()), encoding="utf-8")
        (scratch / "summary.json").write_text(json.dumps({**settings, **timings}, indent=2), encoding="utf-8")
    if not args.keep_runs:
        shutil.rmtree(cache, ignore_errors=True)
    print((args.out / "report.md").read_text(encoding="utf-8"))
    print(f"outputs written to {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
