"""What a finished calibration says: posterior tables and figures, posterior predictive and forecast, report.

The posterior predictive runs draw particles from the last generation (by weight), run each with a fresh
seed to ``forecast_end`` and read every observation from it, with the observation model (each source's
scale, each figure's noise). An observation is *met* when its observed value lies inside the 90%
predictive interval of its figure (a figure with an sd), or when the predictive median lies inside its
band (a band, as the article's targets are judged); the share of draws inside a band is given beside it.
The same runs, continued to the end of 2025, are the forecast: daily 50% and 90% bands of the forecast
columns.

``point_fit`` runs the base configuration (its parameters as they are: for the defaults, the CMA-ES point
fit in force) over seeds 0..K-1 and reads the same observations, so a report can set the point fit beside
the posterior.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from inference.calibration import MIN_TRUSTED_ESS, Problem, weighted_quantile  # noqa: E402
from inference.simulate import ObservationModel, observe  # noqa: E402
from model.observables import COLUMNS  # noqa: E402
from model.observations import format_number  # noqa: E402

QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
# What the forecast shows: daily users, downloads, dual users, and any column the model reports about
# dormant accounts or cohorts (retention of the January cohort), so new observables appear without code.
FORECAST_COLUMNS = ("rednote_dau", "cumulative_downloads", "dual_users", "rednote_users")


def forecast_columns(observations=()) -> tuple[str, ...]:
    """The forecast's columns: the defaults, the model's dormant-account and cohort columns if it has any,
    and every column an observation reads directly (so its figure can be drawn over its band)."""
    extra = [c for c in COLUMNS if ("cohort" in c or "retention" in c or "dormant" in c)]
    extra += [o.observable for o in observations if o.observable in COLUMNS]
    return tuple(dict.fromkeys(FORECAST_COLUMNS + tuple(extra)))


@dataclasses.dataclass(frozen=True)
class PredictiveTask:
    model: ObservationModel
    values: dict          # parameter and scale values, in their own units
    seed: int
    end: dt.date
    columns: tuple[str, ...]


def predictive_run(task: PredictiveTask) -> tuple[pd.DataFrame, dict, dict]:
    """One run to ``task.end``: its forecast columns, its readings and its figures (with noise)."""
    model = task.model
    values = dict(model.variant.params) if model.variant is not None else {}
    values.update({p.name: task.values[p.name] for p in model.priors})
    params = model.config.params.replace(**values, end=task.end)
    frame = model.run({}, task.seed, params=params)
    readings = model.observations.read(frame)
    scales = {s.name: task.values[s.name] for s in model.scales}
    figures = observe(model.observations, readings, scales, np.random.default_rng([task.seed, 1]))
    return frame[list(task.columns)], readings, figures


def draw_tasks(problem: Problem, particles: pd.DataFrame, n: int, seed: int, end: dt.date) -> list[PredictiveTask]:
    """``n`` posterior particles drawn by weight, each with its own model seed."""
    rng = np.random.default_rng([seed, 2])
    picks = rng.choice(len(particles), size=n, replace=True, p=particles["weight"].to_numpy())
    seeds = rng.integers(0, 2**31 - 1, size=n)
    models = dict(zip(problem.variant_names, problem.models(), strict=True))
    columns = forecast_columns(problem.observations)
    tasks = []
    for i, s in zip(picks, seeds, strict=True):
        row = particles.iloc[int(i)]
        values = {p.name: row[p.name] for p in problem.all_priors}
        tasks.append(PredictiveTask(models[row["variant"]], values, int(s), end, columns))
    return tasks


def point_tasks(problem: Problem, seeds: int, end: dt.date, scales: dict | None = None) -> list[PredictiveTask]:
    """The base configuration's parameters over seeds 0..K-1: the point fit, read like the posterior. Each
    source's scale is ``scales[name]`` (the posterior's median, so that the two are read on the same
    scale), else its prior's geometric (log) or arithmetic midpoint."""
    model = problem.models()[0]
    model = dataclasses.replace(model, variant=None, priors=())
    midpoints = {s.name: (math.sqrt(s.low * s.high) if s.log else 0.5 * (s.low + s.high)) for s in problem.scales}
    values = {**midpoints, **(scales or {})}
    return [PredictiveTask(model, values, seed, end, forecast_columns(problem.observations))
            for seed in range(seeds)]


def collect(results) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(daily: draw x date rows, readings: one row per draw, figures: one row per draw)."""
    daily = pd.concat([frame.assign(draw=i) for i, (frame, _, _) in enumerate(results)])
    readings = pd.DataFrame([r for _, r, _ in results])
    figures = pd.DataFrame([f for _, _, f in results])
    return daily, readings, figures


def daily_bands(daily: pd.DataFrame, columns) -> pd.DataFrame:
    """Per date and column, the 5, 25, 50, 75 and 95% quantiles over the draws."""
    grouped = daily.groupby(level=0)[list(columns)]
    bands = grouped.quantile(list(QUANTILES))
    bands.index.names = ["date", "quantile"]
    return bands


def observation_check(problem: Problem, figures: pd.DataFrame) -> pd.DataFrame:
    """Per observation: the observed value or band, the predictive median and 90% interval of its figure,
    the share of draws inside its band, and whether it is met."""
    rows = []
    for o in problem.observations:
        values = figures[o.id].to_numpy(dtype=float)
        finite = values[np.isfinite(values)] if o.reading != "peak_date" else values[~np.isnan(values)]
        if finite.size == 0:
            rows.append({"id": o.id, "source": o.source, "observed": o.describe_value(), "median": math.nan,
                         "q05": math.nan, "q95": math.nan, "inside": math.nan, "met": False})
            continue
        q05, median, q95 = np.quantile(finite, [0.05, 0.5, 0.95])
        if o.band is not None:
            inside = float(np.mean([(o.band[0] <= v <= o.band[1]) for v in values]))
            met = bool(o.band[0] <= median <= o.band[1])
        else:
            inside = float(np.mean(np.abs(values - o.value) <= 1.645 * o.sd))
            met = bool(q05 <= o.value <= q95)
        rows.append({"id": o.id, "source": o.source, "observed": o.describe_value(), "median": median,
                     "q05": q05, "q95": q95, "inside": inside, "met": met})
    return pd.DataFrame(rows)


# --- figures ------------------------------------------------------------------------------------------

def plot_posterior(particles: pd.DataFrame, problem: Problem, path: Path) -> None:
    """Marginals on the diagonal, weighted pairs below it (each on the scale its prior is flat on)."""
    priors = problem.all_priors
    n = len(priors)
    size = 2.4 if n <= 6 else 1.5
    fig, axes = plt.subplots(n, n, figsize=(size * n + 1, size * n + 1), squeeze=False)
    w = particles["weight"].to_numpy()
    for i, pi in enumerate(priors):
        for j, pj in enumerate(priors):
            ax = axes[i][j]
            if j > i:
                ax.axis("off")
                continue
            xi = particles[pj.name].to_numpy(dtype=float)
            if i == j:
                bins = np.geomspace(pj.low, pj.high, 25) if pj.log else np.linspace(pj.low, pj.high, 25)
                have = np.isfinite(xi)       # a variant that fixes this parameter has none
                ax.hist(xi[have], bins=bins, weights=w[have], color="#4c72b0", alpha=0.8)
                ax.set_yticks([])
            else:
                yi = particles[pi.name].to_numpy(dtype=float)
                ax.scatter(xi, yi, s=6 + 400 * w, alpha=0.5, color="#4c72b0", linewidths=0)
                ax.set_ylim(pi.low, pi.high)
                if pi.log:
                    ax.set_yscale("log")
                    _plain_log_ticks(ax.yaxis)
            ax.set_xlim(pj.low, pj.high)
            if pj.log:
                ax.set_xscale("log")
                _plain_log_ticks(ax.xaxis)
            if i == n - 1:
                ax.set_xlabel(pj.name, fontsize=8)
            if j == 0 and i != j:
                ax.set_ylabel(pi.name, fontsize=8)
            ax.tick_params(labelsize=7)
    fig.suptitle(f"Posterior ({len(particles)} particles, last generation)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plain_log_ticks(axis) -> None:
    """A few plain labels (0.3, 1, 3) on a log axis instead of crowded powers of ten."""
    axis.set_major_locator(mticker.LogLocator(base=10, subs=(1.0, 3.0)))
    axis.set_major_formatter(mticker.FormatStrFormatter("%g"))
    axis.set_minor_formatter(mticker.NullFormatter())


def _observation_marks(problem: Problem, column: str, scales: dict) -> list[tuple]:
    """Observations of one column drawable on a daily chart, in the model's people: (first, last, value,
    low, high, label); a scaled source's figure is divided by its posterior median scale."""
    marks = []
    for o in problem.observations:
        if o.observable != column or o.reading not in ("level", "mean"):
            continue
        source = problem.observations.sources[o.source]
        scale = scales.get(source.scale_parameter, 1.0) if o.is_scaled and source.scale_parameter else 1.0
        first, last = (o.on, o.on) if o.reading == "level" else o.window
        if isinstance(first, str) or isinstance(last, str):
            continue
        if o.band is not None:
            low, high = o.band
            value = None
        else:
            value, low, high = o.value, o.value - 1.645 * o.sd, o.value + 1.645 * o.sd
        marks.append((first, last, None if value is None else value / scale, low / scale, high / scale,
                      f"{o.source}" + (f" / {scale:.2g}" if scale != 1.0 else "")))
    return marks


def plot_bands(bands: pd.DataFrame, problem: Problem, scales: dict, path: Path, title: str,
               first: dt.date | None = None, last: dt.date | None = None, fit_end: dt.date | None = None) -> None:
    """One panel per forecast column: median, 50% and 90% bands over the draws, observations on top."""
    columns = list(bands.columns)
    fig, axes = plt.subplots(len(columns), 1, figsize=(10, 2.6 * len(columns)), sharex=True, squeeze=False)
    q = {k: bands.xs(k, level="quantile") for k in QUANTILES}
    for ax, column in zip(axes[:, 0], columns, strict=True):
        dates = q[0.5].index
        keep = np.ones(len(dates), dtype=bool)
        if first is not None:
            keep &= dates >= pd.Timestamp(first)
        if last is not None:
            keep &= dates <= pd.Timestamp(last)
        d = dates[keep]
        ax.fill_between(d, q[0.05][column][keep], q[0.95][column][keep], color="#4c72b0", alpha=0.2, label="90%")
        ax.fill_between(d, q[0.25][column][keep], q[0.75][column][keep], color="#4c72b0", alpha=0.4, label="50%")
        ax.plot(d, q[0.5][column][keep], color="#1f3b6f", lw=1.2, label="median")
        for start, end, value, low, high, label in _observation_marks(problem, column, scales):
            x = pd.Timestamp(start) if start == end else pd.Timestamp(start) + (pd.Timestamp(end) - pd.Timestamp(start)) / 2
            if value is None:
                finite_high = high if math.isfinite(high) else None
                ax.vlines(x, low, finite_high if finite_high is not None else ax.get_ylim()[1], color="#c44e52", lw=2)
            else:
                ax.errorbar([x], [value], yerr=[[value - low], [high - value]], fmt="o", color="#c44e52", ms=4,
                            capsize=3)
            ax.annotate(label, (x, value if value is not None else low), fontsize=7, color="#c44e52",
                        xytext=(4, 4), textcoords="offset points")
        if fit_end is not None and (last is None or pd.Timestamp(fit_end) <= pd.Timestamp(last)):
            ax.axvline(pd.Timestamp(fit_end), color="grey", ls="--", lw=0.8)
        ax.set_ylabel(column.replace("_", " "), fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].legend(fontsize=7, loc="upper left")
    axes[0, 0].set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def forecast_table(bands: pd.DataFrame) -> pd.DataFrame:
    """Month ends of the forecast: median with 50% and 90% intervals of every forecast column."""
    q = {k: bands.xs(k, level="quantile") for k in QUANTILES}
    ends = q[0.5].groupby(q[0.5].index.to_period("M")).tail(1).index
    rows = []
    for day in ends:
        for column in bands.columns:
            rows.append({"date": day.date(), "column": column, "median": q[0.5].at[day, column],
                         "q25": q[0.25].at[day, column], "q75": q[0.75].at[day, column],
                         "q05": q[0.05].at[day, column], "q95": q[0.95].at[day, column]})
    return pd.DataFrame(rows)


# --- the report ----------------------------------------------------------------------------------------

def write_report(out: Path, problem: Problem, *, table: pd.DataFrame, generations: pd.DataFrame,
                 check: pd.DataFrame, point_check: pd.DataFrame | None, forecast: pd.DataFrame,
                 probabilities: pd.DataFrame | None, provenance: dict, draws: int) -> Path:
    s = problem.settings
    obs = {o.id: o for o in problem.observations}
    last = generations.iloc[-1]
    lines = [f"# Calibration to `{s.observations}` (ABC-SMC)", ""]
    if provenance["too_thin"]:
        lines += ["**Too thin to trust:** " + "; ".join(provenance["too_thin"]) + ".", ""]
    met = int(check["met"].sum())
    lines += [f"{met} of {len(check)} observations met by the posterior predictive ({draws} runs from the "
              f"posterior, each with its own seed; a figure with an sd is met when its observed value lies in "
              f"the 90% predictive interval, a band when the predictive median lies inside it; 'draws inside' is "
              f"the share of draws inside the band, or within 1.645 sd of the observed value)."
              + (" " + ", ".join(f"`{i}`" for i in check.loc[~check["met"], "id"]) + " not met." if met < len(check)
                 else ""), ""]
    lines += [f"Run: {problem.config.params.n_agents:,} agents per simulation, {problem.config.params.start} to "
              f"{problem.config.params.end}; {len(generations)} generations of {s.population_size} particles, "
              f"{int(generations['samples'].sum()):,} simulations in {generations['wall_time'].sum():,.0f} s of "
              f"sampling ({3600 * generations['samples'].sum() / generations['wall_time'].sum():,.0f} an hour on "
              f"{provenance.get('workers', '?')} worker(s)); "
              f"final tolerance {last['epsilon']:.3g} "
              f"(distance: the norm of each figure's miss in units of its sd, or beyond a band in its edge's sd).", "",
              f"Space `{s.space}`, from {problem.chosen_by.get('space', '--space')}; run config "
              f"`{s.config or 'the defaults'}`, from {problem.chosen_by.get('config', '--config')}; {s.agents:,} "
              f"agents, from {problem.chosen_by.get('agents', '--agents')}.", ""]

    lines += ["## Posterior", "", "| parameter | prior | median | 90% interval |", "|---|---|---:|---|"]
    for _, r in table.iterrows():
        lines.append(f"| {r['parameter']} | {r['prior']} | {r['median']:.4g} | {r['q05']:.4g} .. {r['q95']:.4g} |")
    lines += ["", "![posterior](figures/posterior.png)", ""]
    if probabilities is not None and len(probabilities.columns) > 1:
        final = probabilities.iloc[-1]
        lines += ["## Model comparison", "", "Posterior probability of each variant given the same observations "
                  "(pyABC model selection; equal prior probabilities):", "", "| variant | description | probability |",
                  "|---|---|---:|"]
        descriptions = {v.name: v.description for v in problem.variants}
        for name, p in final.items():
            lines.append(f"| {name} | {descriptions.get(name, '')} | {p:.3f} |")
        lines += ["", "By generation (t): " + "; ".join(
            f"{t}: " + ", ".join(f"{p:.2f}" for p in row) for t, row in probabilities.iterrows())
            + f" ({', '.join(probabilities.columns)}).", ""]
        fixed = {v.name: sorted(set(v.params) & {p.name for p in problem.priors}) for v in problem.variants}
        for name, names in fixed.items():
            if names:
                lines += [f"`{name}` fixes {', '.join(names)}, which the space leaves free: a nested model with "
                          "fewer free parameters (its rows in `posterior.csv` leave them empty).", ""]

    header = "| observation | source | observed | predictive median | 90% interval | draws inside | met |"
    rule = "|---|---|---|---:|---|---:|---|"
    if point_check is not None:
        header += " point fit median | point fit inside | point fit met |"
        rule += "---:|---:|---|"
    lines += ["## Observations", "", header, rule]
    for i, r in check.iterrows():
        o = obs[r["id"]]
        row = (f"| `{r['id']}` | {r['source']} | {r['observed']} | {o.format(r['median'])} | "
               f"{o.format(r['q05'])} .. {o.format(r['q95'])} | {r['inside']:.0%} | {'yes' if r['met'] else 'NO'} |")
        if point_check is not None:
            p = point_check.iloc[i]
            row += f" {o.format(p['median'])} | {p['inside']:.0%} | {'yes' if p['met'] else 'NO'} |"
        lines.append(row)
    if point_check is not None:
        lines += ["", f"The point fit is the base configuration's parameters as they are (for the defaults, the "
                  f"CMA-ES calibration in force) over seeds 0-{provenance['point_seeds'] - 1}, read the same way "
                  "(a source's scale at its posterior median)."]
    lines += ["", "![fit](figures/fit.png)", "", "## Forecast to " + str(s.forecast_end), "",
              "Daily bands of the posterior predictive runs continued past the fit (dashed line): what the "
              "observations imply next, with 50% and 90% bands.", "", "![forecast](figures/forecast.png)", "",
              "| date | " + " | ".join(forecast["column"].unique()) + " |",
              "|---|" + "---|" * forecast["column"].nunique()]
    for day, part in forecast.groupby("date"):
        cells = [f"{format_number(r['median'])} [{format_number(r['q25'])}, {format_number(r['q75'])}] "
                 f"({format_number(r['q05'])}-{format_number(r['q95'])})" for _, r in part.iterrows()]
        lines.append(f"| {day} | " + " | ".join(cells) + " |")
    per_variant = [c for c in generations.columns if c.startswith("ess[")]     # model comparison only
    lines += ["", "Cells: median [50% interval] (90% interval).", "", "## Generations", "",
              "| t | tolerance | simulations | particles | acceptance rate | ESS | wall s |"
              + "".join(f" ESS {c[4:-1]} |" for c in per_variant),
              "|---:|---:|---:|---:|---:|---:|---:|" + "---:|" * len(per_variant)]
    for _, r in generations.iterrows():
        lines.append(f"| {int(r['t'])} | {r['epsilon']:.4g} | {int(r['samples'])} | {int(r['particles'])} | "
                     f"{r['acceptance_rate']:.3f} | {r['ess']:.1f} | {r['wall_time']:.1f} |"
                     + "".join(f" {r[c]:.1f} |" for c in per_variant))
    if per_variant:
        lines += ["", "ESS NAME: the effective sample size of that variant's own particles, which its probability "
                  "and posterior rest on (flagged under " + str(MIN_TRUSTED_ESS) + ")."]
    lines += ["", "## Provenance", "", f"- command: `{provenance['command']}`"]
    for extra in provenance.get("resumed_with", []):
        lines.append(f"- resumed with: `{extra}`")
    lines += [f"- code: {provenance['code']} (hash of the simulations' source: agents/, model/, inference's "
              f"simulate, space and calibration), git {provenance['git']}",
              f"- date: {provenance['date']}", f"- seed: {s.seed}; every particle's model seed is in the "
              "history (`seed` among its summary statistics), so any particle can be rerun",
              f"- inputs: {', '.join(f'{k} {v}' for k, v in provenance['inputs'].items())}", ""]
    path = Path(out) / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


__all__ = ["collect", "daily_bands", "draw_tasks", "forecast_table", "observation_check", "plot_bands",
           "plot_posterior", "point_tasks", "predictive_run", "weighted_quantile", "write_report"]
