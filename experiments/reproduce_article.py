"""Reproduce the article: an ensemble of the default scenario held against every target.

    python -m experiments.reproduce_article --seeds 20 --out outputs/article

Prints, for every target, the article's band, the ensemble median, the 5-95% range across seeds, the
share of seeds inside the band and pass/fail; writes figures (each with its ensemble band) and
``report.md``. Exits 1 when a target's median misses its band or fewer than 80% of seeds pass every
target, so it serves as a check. Runs are saved as they finish (``OUT/runs``, ``batch.ensemble``): rerun
to resume; a saved run made otherwise (parameters, timeline, engine, size, code) is refused, or rerun with
``--overwrite``. Fewer than 20 seeds: the 5-95% ranges are flagged as not to be trusted.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from batch.cli import add_ensemble_arguments, command  # noqa: E402
from batch.ensemble import Ensemble, run_into_folder  # noqa: E402
from batch.outcomes import range_note  # noqa: E402
from batch.outputs import record, write_text  # noqa: E402
from experiments.plots import STATE_COLOURS, mark_events, plot_lines  # noqa: E402
from model.config import load_config  # noqa: E402
from model.observables import monthly_growth  # noqa: E402
from model.targets import evaluate, load_targets, share_passing  # noqa: E402

SEEDS_PASSING_REQUIRED = 0.8


def summarise(per_seed: list[list]) -> pd.DataFrame:
    """One row per target: band, median, 5-95% range, share of seeds inside, pass (median inside)."""
    rows = []
    for i, first in enumerate(per_seed[0]):
        values = np.array([results[i].value for results in per_seed], dtype=float)
        # A ratio over nobody (no creator migrated) is infinite: not a measurement, so left out of the
        # median and range, which are NaN (a failed target) when no seed measured it.
        finite = values[np.isfinite(values)] if not np.isnan(values).any() else values
        median = float(np.median(finite)) if finite.size else math.nan
        rows.append({
            "target": first.target.key,
            "claim": first.target.claim,
            "low": first.target.low,
            "high": first.target.high,
            "median": median,
            "p05": float(np.quantile(finite, 0.05)) if finite.size else math.nan,
            "p95": float(np.quantile(finite, 0.95)) if finite.size else math.nan,
            "seeds_measured": int(np.isfinite(values).sum()),
            "seeds_inside": float(np.mean([results[i].passed for results in per_seed])),
            "passed": first.target.passes(median),
            "range_trusted": range_note(len(per_seed)) is None,
            "reading": first.target.reading,
        })
    return pd.DataFrame(rows)


def _fmt(x: float) -> str:
    if math.isnan(x):
        return "n/a"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if abs(x) >= 1e5:
        return f"{x / 1e6:.2f}M"
    return f"{x:.3g}"


def table_markdown(summary: pd.DataFrame) -> str:
    lines = ["| target | claim | band | median | 5-95% | seeds inside | result |", "|---|---|---|---|---|---|---|"]
    for r in summary.itertuples():
        lines.append(f"| {r.target} | {r.claim} | [{_fmt(r.low)}, {_fmt(r.high)}] | {_fmt(r.median)} | "
                     f"{_fmt(r.p05)} .. {_fmt(r.p95)} | {r.seeds_inside:.0%} | {'pass' if r.passed else 'FAIL'} |")
    return "\n".join(lines)


def _finish(fig, ax, path: Path, ylabel: str, title: str, timeline=None, window=None) -> Path:
    """Events marked over ``window`` (when given), labels, legend and grid; the figure saved to ``path``."""
    if timeline is not None:
        mark_events(ax, timeline, *window)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    return _save(fig, path)


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def figure_cumulative(frames, spec, timeline, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    cum = pd.concat([f["cumulative_downloads"] for f in frames], axis=1).loc["2025-01-01":] / 1e6
    ax.plot(cum.index, cum.median(axis=1), color=STATE_COLOURS["rednote_only"], label="model median")
    ax.fill_between(cum.index, cum.quantile(0.05, axis=1), cum.quantile(0.95, axis=1),
                    color=STATE_COLOURS["rednote_only"], alpha=0.2, lw=0, label="model 5-95%")
    for phase in ("short_term", "medium_term"):
        when = pd.Timestamp(spec[phase]["cumulative_downloads_on"])
        low, high = (v / 1e6 for v in spec[phase]["cumulative_downloads"])
        ax.errorbar([when], [(low + high) / 2], yerr=[[(high - low) / 2]], fmt="none", ecolor="k", elinewidth=3,
                    capsize=6, label="article's band" if phase == "short_term" else None)
    return _finish(fig, ax, out / "cumulative_downloads.png", "million downloads",
                   "Cumulative US RedNote downloads (D4): model vs the article's bands", timeline,
                   (cum.index[0], cum.index[-1]))


def figure_growth(frames, spec, out: Path) -> Path:
    growth = pd.concat([monthly_growth(f) for f in frames], axis=1)
    months = [m for phase in ("short_term", "medium_term", "long_term") for m in spec[phase]["mom_growth_months"]]
    growth = growth.loc[months]
    fig, ax = plt.subplots(figsize=(9, 4))
    x = np.arange(len(months))
    med = growth.median(axis=1).to_numpy()
    err = [med - growth.quantile(0.05, axis=1).to_numpy(), growth.quantile(0.95, axis=1).to_numpy() - med]
    ax.bar(x, med * 100, color="#d62728", alpha=0.7, yerr=np.array(err) * 100, capsize=3, label="model median, 5-95%")
    for phase in ("short_term", "medium_term", "long_term"):
        idx = [months.index(m) for m in spec[phase]["mom_growth_months"]]
        low, high = spec[phase]["mom_growth"]
        ax.fill_between([min(idx) - 0.45, max(idx) + 0.45], low * 100, min(high, 0.6) * 100, color="k", alpha=0.12,
                        lw=0, label="article's band" if phase == "short_term" else None)
    ax.set_xticks(x, months, rotation=45, fontsize=8)
    return _finish(fig, ax, out / "monthly_growth.png", "month-over-month growth of cumulative downloads (%)",
                   "Monthly growth by phase (D4); medium-term band drawn up to 60%")


def figure_surge(frames, spec, timeline, out: Path) -> Path:
    start = pd.Timestamp(spec["surge"]["week_start"])
    window = (start - pd.Timedelta(days=14), start + pd.Timedelta(days=13))
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    for ax, column, title in ((axes[0], "downloads", "daily downloads"), (axes[1], "rednote_dau", "RedNote DAU")):
        data = pd.concat([f[column] for f in frames], axis=1).loc[window[0]:window[1]] / 1e6
        ax.plot(data.index, data.median(axis=1), color="#d62728")
        ax.fill_between(data.index, data.quantile(0.05, axis=1), data.quantile(0.95, axis=1), color="#d62728",
                        alpha=0.2, lw=0)
        ax.axvspan(start - pd.Timedelta(days=7), start - pd.Timedelta(hours=12), color="0.85", label="week before")
        ax.axvspan(start - pd.Timedelta(hours=12), start + pd.Timedelta(days=6, hours=12), color="#ffd8d8",
                   label="surge week")
        mark_events(ax, timeline, window[0], window[1])
        ax.set_title(f"{title} (million), A2-A4", fontsize=10)
        ax.tick_params(axis="x", rotation=45, labelsize=7)
        ax.legend(fontsize=7)
    return _save(fig, out / "surge_week.png")


def figure_returns(frames, timeline, out: Path) -> Path:
    def share(f, creators):
        moved = f["cumulative_creator_migrants"] if creators else f["cumulative_migrants"]
        back = f["cumulative_creator_return_migrants"] if creators else f["cumulative_return_migrants"]
        return (back / moved.where(moved > 0)).loc["2025-01-13":]

    fig, ax = plt.subplots(figsize=(9, 4))
    for creators, colour, label in ((False, "#1f77b4", "all users"), (True, "#ff7f0e", "creators/KOLs")):
        data = pd.concat([share(f, creators) for f in frames], axis=1) * 100
        ax.plot(data.index, data.median(axis=1), color=colour, label=label)
        ax.fill_between(data.index, data.quantile(0.05, axis=1), data.quantile(0.95, axis=1), color=colour,
                        alpha=0.2, lw=0)
    return _finish(fig, ax, out / "return_migration.png", "return migrants / migrants (%)",
                   "Return migration to TikTok only, all users vs creators (D2, M6)", timeline,
                   ("2025-01-13", frames[0].index[-1]))


def figure_dual_share(frames, timeline, out: Path) -> Path:
    fig, ax = plt.subplots(figsize=(9, 4))
    data = pd.concat([(f["dual_users"] / f["rednote_users"].where(f["rednote_users"] > 0)) for f in frames],
                     axis=1).loc["2025-01-01":] * 100
    ax.plot(data.index, data.median(axis=1), color=STATE_COLOURS["dual_users"], label="dual users / RedNote users")
    ax.fill_between(data.index, data.quantile(0.05, axis=1), data.quantile(0.95, axis=1),
                    color=STATE_COLOURS["dual_users"], alpha=0.2, lw=0)
    ax.axhline(50, color="k", lw=0.8, ls=":", label="half")
    ax.set_ylim(0, 105)
    return _finish(fig, ax, out / "dual_share.png", "%", "Coexistence: dual users as a share of RedNote users (D3)",
                   timeline, (data.index[0], data.index[-1]))


def _flag(seeds: int) -> str:
    note = range_note(seeds)
    return f"\n**Warning:** {note}.\n" if note else ""


def write_report(summary, config, seeds, figures, out: Path, seeds_all_pass: float, ok: bool) -> Path:
    text = f"""# Reproducing the article: ensemble of the default scenario

Config: `config.toml` beside this report (driver `{config.driver}`, {config.params.n_agents} agents standing for
{config.params.population:,.0f} people); seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} runs). Reproduce with
`python -m experiments.reproduce_article --seeds {len(seeds)} --first-seed {seeds[0]} --agents {config.params.n_agents}`.

**Result: {'every target met' if ok else 'NOT every target met'}.** Share of seeds passing every target:
{seeds_all_pass:.0%} (required: {SEEDS_PASSING_REQUIRED:.0%}).

## Targets

{table_markdown(summary)}
{_flag(len(seeds))}
How each target is read (claims from `article.md`):

""" + "\n".join(f"- `{r.target}` ({r.claim}): {r.reading}." for r in summary.itertuples()) + """

## Figures

| figure | what it tests |
|---|---|
| `cumulative_downloads.png` | D4: cumulative US downloads against the bands at 2025-03-31 (15-20 M) and 2025-06-30 (25-30 M) |
| `monthly_growth.png` | D4: month-over-month growth of cumulative downloads per phase (20-30%, double-digit, 5-10%) |
| `surge_week.png` | A2-A4: downloads (~+300%) and DAU (~+200%) in the week from 2025-01-13 against the week before; peak inside 13-21 January |
| `users_by_state.png` | D1-D3: users by state through 2025; TikTok keeps its majority |
| `return_migration.png` | D2, M6, A5: return migrants as a share of migrants, all users vs creators |
| `dual_share.png` | D3: dual users as a share of RedNote users (largest group from February) |
| `familiarity.png` | A2 (mechanism, no target): people who know RedNote against its users; the coverage of the wave while the ban is news makes it known to nearly everyone before the surge, whose timing the threat then sets |

Every figure shows the ensemble median and its 5-95% band across seeds.
"""
    path = out / "report.md"
    path.write_text(text, encoding="utf-8")
    return path


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_ensemble_arguments(parser, seeds=20, out=Path("outputs/article"))
    return parser.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    config = load_config(args.config, n_agents=args.agents)
    spec = load_targets()
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    timeline = config.timeline()
    out, frames = run_into_folder(Ensemble.of(config, timeline), seeds, args.out, workers=args.workers,
                                  scheduler=args.scheduler, overwrite=args.overwrite, progress=not args.quiet,
                                  desc="article ensemble")

    per_seed = [evaluate(f, spec) for f in frames]
    summary = summarise(per_seed)
    seeds_all_pass = share_passing(per_seed)
    ok = bool(summary["passed"].all()) and seeds_all_pass >= SEEDS_PASSING_REQUIRED

    write_text(out, "config.toml", config.to_toml(folder=out))
    write_text(out, "targets.csv", summary.to_csv(index=False))
    figures = [
        figure_cumulative(frames, spec, timeline, out),
        figure_growth(frames, spec, out),
        figure_surge(frames, spec, timeline, out),
        plot_lines(frames, {c: c.replace("_", " ") for c in STATE_COLOURS}, timeline, out / "users_by_state.png",
                   title="Users by state (D1-D3)", ylabel="million people", colours=STATE_COLOURS),
        figure_returns(frames, timeline, out),
        figure_dual_share(frames, timeline, out),
        plot_lines(frames, {"knows_rednote": "people who know RedNote", "rednote_users": "RedNote users"}, timeline,
                   out / "familiarity.png", title="Who knows RedNote, and who uses it (A2: unranked before January)",
                   ylabel="million people", colours={"knows_rednote": "#9467bd", "rednote_users": STATE_COLOURS["dual_users"]}),
    ]
    record(out, [*figures, write_report(summary, config, seeds, figures, out, seeds_all_pass, ok)])

    print(table_markdown(summary))
    if range_note(len(seeds)):
        print(f"warning: {range_note(len(seeds))}")
    print(f"\nseeds passing every target: {seeds_all_pass:.0%} (required {SEEDS_PASSING_REQUIRED:.0%})")
    print(f"{'ALL TARGETS MET' if ok else 'TARGETS MISSED'}; report and figures in {out.resolve()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
