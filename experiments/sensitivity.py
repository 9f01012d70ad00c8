"""Morris and Sobol sensitivity indices of the key outcomes over a sweep's swept parameters (SALib).

    python -m experiments.sensitivity --sweep DIR --out DIR2
    python -m experiments.sensitivity --config experiments/sweeps/morris.toml --out DIR2 [--sweep DIR]
                                      [--scheduler tcp://host:port] [--workers K]

The first analyses a finished sweep made with design "morris" or "sobol" (experiments.sweep). The second runs
(or resumes) that sweep first, into ``--sweep`` (default: ``DIR2-sweep`` beside ``DIR2``).

Each design point's outcome is the mean over its replications. Writes into DIR2 (complete or absent):
``indices.csv`` (one row per outcome and parameter), ``indices.md`` (tables and a ranking of the
parameters), ``indices.png`` (bar chart), ``ranking.csv``, and ``outcomes_vs_parameters/OUTCOME.png`` (the
outcome against each swept parameter, one dot per run).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import matplotlib  # noqa: E402
import matplotlib.ticker  # noqa: E402

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from experiments.outputs import OutputError, check_out_dir, staged_output  # noqa: E402
from experiments.sweep import SAVED_CONFIG, SweepConfig, SweepError, load_sweep, results, run_sweep  # noqa: E402
from model.config import ConfigError  # noqa: E402
from model.params import ParameterError  # noqa: E402

# Outcome name -> (column of the sweep's results, label). Peak date becomes days after 2025-01-01.
OUTCOMES = {
    "cumulative_downloads_2025_03_31": "cumulative downloads, 2025-03-31",
    "cumulative_downloads_2025_06_30": "cumulative downloads, 2025-06-30",
    "peak_daily_downloads": "peak daily downloads",
    "peak_day": "day of peak downloads (days after 2025-01-01)",
    "peak_rednote_dau": "peak RedNote DAU",
    "dual_share_2025_06_30": "dual users / RedNote users, 2025-06-30",
    "dual_share_2025_12_31": "dual users / RedNote users, 2025-12-31",
    "return_share_2025_06_30": "return share, 2025-06-30",
    "return_share_2025_12_31": "return share, 2025-12-31",
    "targets_passed": "article targets passed",
}


def outcome_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per outcome, one row per run (failed runs are NaN)."""
    table = pd.DataFrame(index=frame.index)
    for name in OUTCOMES:
        if name == "peak_day":
            dates = pd.to_datetime(frame["peak_daily_downloads_date"])
            table[name] = (dates - pd.Timestamp("2025-01-01")).dt.days.astype(float)
        else:
            table[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    table[frame["status"] != "ok"] = np.nan
    return table


def analyse(sweep: SweepConfig, frame: pd.DataFrame) -> tuple[pd.DataFrame, list[str]]:
    """Indices per outcome and swept parameter, and notes on outcomes that could not be analysed."""
    from SALib.analyze import morris, sobol

    if sweep.design not in ("morris", "sobol"):
        raise SweepError(f"sensitivity indices need a sweep with design 'morris' or 'sobol', not {sweep.design!r}")
    runs = sweep.plan()
    if len(frame) != len(runs):
        raise SweepError(f"the sweep has {len(frame)} of its {len(runs)} runs; resume it first")
    problem = sweep.problem()
    points = sweep.design_points()
    # In the samplers' space (logarithms for log axes), where the elementary effects' steps were taken.
    X = np.array([[axis.to_sampled(point[axis.name]) for axis in sweep.axes] for point in points], dtype=float)
    per_run = outcome_table(frame)
    per_point = per_run.groupby(frame["point"]).mean()   # mean over replications; NaN if all failed
    rows, notes = [], []
    for outcome in OUTCOMES:
        Y = per_point[outcome].reindex(range(len(points))).to_numpy()
        if np.isnan(Y).any():
            notes.append(f"{outcome}: left out, {int(np.isnan(Y).sum())} design point(s) without a value "
                         "(failed runs, runs ending before the date, or a share of nobody: no RedNote users or no migrants)")
            continue
        if sweep.design == "morris":
            res = morris.analyze(problem, X, Y, num_levels=sweep.morris_levels, seed=sweep.root_seed)
            for i, name in enumerate(sweep.names):
                rows.append({"outcome": outcome, "parameter": name, "method": "morris",
                             "mu": res["mu"][i], "mu_star": res["mu_star"][i], "sigma": res["sigma"][i],
                             "mu_star_conf": res["mu_star_conf"][i]})
        else:
            res = sobol.analyze(problem, Y, calc_second_order=sweep.second_order, seed=sweep.root_seed)
            for i, name in enumerate(sweep.names):
                rows.append({"outcome": outcome, "parameter": name, "method": "sobol",
                             "S1": res["S1"][i], "S1_conf": res["S1_conf"][i],
                             "ST": res["ST"][i], "ST_conf": res["ST_conf"][i]})
    table = pd.DataFrame(rows)
    if table.empty:
        raise SweepError("no outcome could be analysed: " + "; ".join(notes))
    main = "mu_star" if sweep.design == "morris" else "ST"
    # Scaled per outcome so outcomes in people and in shares weigh alike in the ranking.
    largest = table.groupby("outcome")[main].transform(lambda s: s.abs().max())
    table["relative"] = np.where(largest > 0, table[main].abs() / largest.where(largest > 0, 1.0), 0.0)
    return table, notes


def ranking(table: pd.DataFrame) -> pd.DataFrame:
    """Parameters ordered by their mean relative importance over the outcomes (1 = most important)."""
    mean = table.groupby("parameter")["relative"].mean().sort_values(ascending=False)
    out = mean.rename("mean_relative_importance").reset_index()
    out.insert(0, "rank", range(1, len(out) + 1))
    return out


def write_markdown(path: Path, sweep: SweepConfig, table: pd.DataFrame, ranks: pd.DataFrame, notes: list[str],
                   n_runs: int, n_failed: int) -> None:
    main = "mu_star" if sweep.design == "morris" else "ST"
    lines = [f"# Sensitivity of the key outcomes: {sweep.design} ({sweep.name})", "",
             f"{n_runs} runs ({n_failed} failed), {len(sweep.axes)} swept parameters, "
             f"{sweep.replications} replication(s) per design point, root seed {sweep.root_seed}, "
             f"n_agents {sweep.base.params.n_agents}.", "",
             "## Ranking (mean over outcomes of the index relative to the largest for that outcome)", "",
             "| rank | parameter | mean relative importance |", "|---|---|---|"]
    lines += [f"| {r.rank} | `{r.parameter}` | {r.mean_relative_importance:.3f} |" for r in ranks.itertuples()]
    columns = ["mu_star", "mu_star_conf", "mu", "sigma"] if sweep.design == "morris" else \
        ["ST", "ST_conf", "S1", "S1_conf"]
    for outcome, group in table.groupby("outcome", sort=False):
        lines += ["", f"## {OUTCOMES[outcome]}", "", "| parameter | " + " | ".join(columns) + " |",
                  "|---" * (len(columns) + 1) + "|"]
        for row in group.sort_values(main, ascending=False).itertuples():
            lines.append(f"| `{row.parameter}` | " + " | ".join(f"{getattr(row, c):.4g}" for c in columns) + " |")
    if notes:
        lines += ["", "## Left out", ""] + [f"- {note}" for note in notes]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def bar_chart(path: Path, sweep: SweepConfig, table: pd.DataFrame) -> None:
    main, conf = ("mu_star", "mu_star_conf") if sweep.design == "morris" else ("ST", "ST_conf")
    outcomes = list(dict.fromkeys(table["outcome"]))
    cols = 3
    rows = -(-len(outcomes) // cols)
    panel_height = max(2.6, 0.2 * len(sweep.axes) + 0.8)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, panel_height * rows), squeeze=False)
    for ax, outcome in zip(axes.flat, outcomes, strict=False):
        group = table[table["outcome"] == outcome].sort_values(main)
        ax.barh(group["parameter"], group[main], xerr=group[conf], color="#d62728", alpha=0.8, ecolor="0.3")
        ax.set_title(OUTCOMES[outcome], fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    for ax in list(axes.flat)[len(outcomes):]:
        ax.set_visible(False)
    label = "Morris mu* (mean |elementary effect|)" if sweep.design == "morris" else "Sobol total index ST"
    fig.suptitle(f"{label}, with 95% confidence", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def scatter_plots(folder: Path, sweep: SweepConfig, frame: pd.DataFrame) -> list[Path]:
    """For each outcome, one figure of the outcome against each swept parameter (one dot per run)."""
    folder.mkdir()
    outcomes = outcome_table(frame)
    names = sweep.names
    cols = min(6, len(names))
    rows = -(-len(names) // cols)
    paths = []
    for outcome in outcomes.columns:
        if outcomes[outcome].isna().all():
            continue
        fig, axes = plt.subplots(rows, cols, figsize=(2.3 * cols, 2.0 * rows), squeeze=False, sharey=True)
        for ax, name in zip(axes.flat, names, strict=False):
            ax.scatter(frame[name], outcomes[outcome], s=7, alpha=0.6, color="#1f77b4", lw=0)
            ax.set_xlabel(name, fontsize=7)
            ax.tick_params(labelsize=6)
            if any(a.name == name and a.log for a in sweep.axes):
                ax.set_xscale("log")
                ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())   # narrow ranges crowd them
        for ax in list(axes.flat)[len(names):]:
            ax.set_visible(False)
        fig.suptitle(OUTCOMES[outcome], fontsize=10)
        fig.tight_layout()
        paths.append(folder / f"{outcome}.png")
        fig.savefig(paths[-1], dpi=100)
        plt.close(fig)
    return paths


def sensitivity(sweep_dir: str | Path, out: str | Path, overwrite: bool = False) -> pd.DataFrame:
    """Analyse the finished sweep in ``sweep_dir``; write the tables and figures into ``out``."""
    sweep_dir, out = Path(sweep_dir), Path(out)
    if not (sweep_dir / SAVED_CONFIG).is_file():
        raise SweepError(f"no sweep in {sweep_dir} (no {SAVED_CONFIG})")
    check_out_dir(out, overwrite)
    sweep = load_sweep(sweep_dir / SAVED_CONFIG)
    frame = results(sweep_dir)
    table, notes = analyse(sweep, frame)
    ranks = ranking(table)
    with staged_output(out, overwrite) as scratch:
        table.to_csv(scratch / "indices.csv", index=False)
        ranks.to_csv(scratch / "ranking.csv", index=False)
        write_markdown(scratch / "indices.md", sweep, table, ranks, notes, len(frame),
                       int((frame["status"] != "ok").sum()))
        bar_chart(scratch / "indices.png", sweep, table)
        scatter_plots(scratch / "outcomes_vs_parameters", sweep, frame)
    return table


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sweep", type=Path, help="a sweep folder (experiments.sweep) to analyse or to run into")
    parser.add_argument("--config", type=Path, help="a morris or sobol sweep config to run (or resume) first")
    parser.add_argument("--out", type=Path, required=True, help="folder for the tables and figures")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    parser.add_argument("--scheduler", help="Dask scheduler address for the sweep (default: local processes)")
    parser.add_argument("--workers", type=int, help="local worker processes for the sweep")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.sweep is None and args.config is None:
        parser.error("give --sweep DIR (a finished sweep) or --config FILE (a sweep to run)")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    sweep_dir = args.sweep or args.out.with_name(args.out.name + "-sweep")
    try:
        check_out_dir(args.out, args.overwrite)
        if args.config is not None:
            sweep = load_sweep(args.config)
            if sweep.design not in ("morris", "sobol"):
                raise SweepError(f"{args.config}: sensitivity needs design 'morris' or 'sobol', not {sweep.design!r}")
            run_sweep(sweep, sweep_dir, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet)
        table = sensitivity(sweep_dir, args.out, args.overwrite)
    except (SweepError, ConfigError, ParameterError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"\ninterrupted: finished runs are saved in {sweep_dir}; run the same command again to resume",
              file=sys.stderr)
        return 130
    print(ranking(table).to_string(index=False))
    print(f"tables and figures written to {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
