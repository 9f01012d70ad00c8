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

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from batch import outcomes as registry  # noqa: E402
from batch.cli import add_executor_arguments, add_output_arguments, command  # noqa: E402
from batch.outputs import check_out_dir, hold_folder, staged_output  # noqa: E402
from experiments.plots import outcome_scatter  # noqa: E402
from experiments.sweep import SAVED_CONFIG, SweepConfig, SweepError, load_sweep, results, run_sweep  # noqa: E402

# Outcome name -> label: the registry's sensitivity outcomes (batch.outcomes; dates as days after
# 2025-01-01), and the number of article targets a run passes.
OUTCOMES = {**{key: registry.OUTCOMES[key].label for key in registry.SENSITIVITY},
            "targets_passed": "article targets passed"}
# An index is trusted when its 95% confidence interval is narrower than this (Sobol indices lie in [0, 1]),
# and it lies in [0, 1] within that interval; a Morris mu* when its interval is under half its value.
SOBOL_MAX_CONF = 0.1
MORRIS_MAX_RELATIVE_CONF = 0.5
# Below these the bootstrap intervals themselves mean nothing (resampling a handful of points): Sobol' base
# samples N (Saltelli's estimator needs hundreds for stable indices), Morris trajectories (10-20 usual).
MIN_SAMPLES = {"sobol": 64, "morris": 10}


def outcome_table(frame: pd.DataFrame) -> pd.DataFrame:
    """One column per outcome, one row per run (failed runs are NaN)."""
    table = pd.DataFrame(index=frame.index)
    for name in OUTCOMES:
        outcome = registry.OUTCOMES.get(name)
        if outcome is not None and outcome.kind == "date":
            dates = pd.to_datetime(frame[name])
            table[name] = (dates - registry.DAY_ZERO).dt.days.astype(float)
        else:
            table[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    table[frame["status"] != "ok"] = np.nan
    return table


def trusted(row: dict) -> bool:
    """Whether an index can be read as a fact (see SOBOL_MAX_CONF and MORRIS_MAX_RELATIVE_CONF)."""
    if row["method"] == "morris":
        mu, conf = row["mu_star"], row["mu_star_conf"]
        return bool(np.isfinite(conf) and (conf <= MORRIS_MAX_RELATIVE_CONF * mu or (mu == 0 and conf == 0)))
    for index in ("S1", "ST"):
        value, conf = row[index], row[f"{index}_conf"]
        if not (np.isfinite(value) and np.isfinite(conf) and conf <= SOBOL_MAX_CONF and -conf <= value <= 1 + conf):
            return False
    return True


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
    enough = sweep.samples >= MIN_SAMPLES[sweep.design]
    table["trusted"] = [enough and trusted(row) for row in table.to_dict("records")]
    if not enough:
        notes.append(f"{sweep.samples} {'base samples' if sweep.design == 'sobol' else 'trajectories'} are too few "
                     f"for any index to be trusted (at least {MIN_SAMPLES[sweep.design]})")
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
    out["trusted"] = out["parameter"].map(table.groupby("parameter")["trusted"].all())
    return out


def write_markdown(path: Path, sweep: SweepConfig, table: pd.DataFrame, ranks: pd.DataFrame, notes: list[str],
                   n_runs: int, n_failed: int) -> None:
    main = "mu_star" if sweep.design == "morris" else "ST"
    lines = [f"# Sensitivity of the key outcomes: {sweep.design} ({sweep.name})", "",
             f"{n_runs} runs ({n_failed} failed), {len(sweep.axes)} swept parameters, "
             f"{sweep.replications} replication(s) per design point, root seed {sweep.root_seed}, "
             f"n_agents {sweep.base.params.n_agents}.", ""]
    doubtful = int((~table["trusted"]).sum())
    if doubtful:
        limit = (f"95% confidence interval wider than {SOBOL_MAX_CONF} or the index outside [0, 1]"
                 if sweep.design == "sobol" else f"95% confidence interval over {MORRIS_MAX_RELATIVE_CONF:.0%} of mu*")
        limit += f"; or fewer than {MIN_SAMPLES[sweep.design]} samples"
        lines += [f"**Warning: {doubtful} of {len(table)} indices are not to be trusted** ({limit}): the sweep has "
                  "too few samples for them; the ranking below is marked the same way. Run more samples.", ""]
    lines += ["## Ranking (mean over outcomes of the index relative to the largest for that outcome)", "",
              "| rank | parameter | mean relative importance | every index trusted |", "|---|---|---|---|"]
    lines += [f"| {r.rank} | `{r.parameter}` | {r.mean_relative_importance:.3f} | {'yes' if r.trusted else 'NO'} |"
              for r in ranks.itertuples()]
    columns = ["mu_star", "mu_star_conf", "mu", "sigma"] if sweep.design == "morris" else \
        ["ST", "ST_conf", "S1", "S1_conf"]
    for outcome, group in table.groupby("outcome", sort=False):
        lines += ["", f"## {OUTCOMES[outcome]}", "", "| parameter | " + " | ".join(columns) + " | trusted |",
                  "|---" * (len(columns) + 2) + "|"]
        for row in group.sort_values(main, ascending=False).itertuples():
            lines.append(f"| `{row.parameter}` | " + " | ".join(f"{getattr(row, c):.4g}" for c in columns)
                         + f" | {'yes' if row.trusted else 'NO'} |")
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
    table = outcome_table(frame)
    return outcome_scatter(folder, frame, sweep.names, {c: table[c] for c in table.columns},
                           log_axes={a.name for a in sweep.axes if a.log}, labels=OUTCOMES)


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
    add_executor_arguments(parser)
    add_output_arguments(parser)
    args = parser.parse_args(argv)
    if args.sweep is None and args.config is None:
        parser.error("give --sweep DIR (a finished sweep) or --config FILE (a sweep to run)")
    return args


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    sweep_dir = args.sweep or args.out.with_name(args.out.name + "-sweep")
    hold_folder(args.out)     # another run writing there is refused before the sweep (its own lock) runs
    check_out_dir(args.out, args.overwrite)
    if args.config is not None:
        sweep = load_sweep(args.config)
        if sweep.design not in ("morris", "sobol"):
            raise SweepError(f"{args.config}: sensitivity needs design 'morris' or 'sobol', not {sweep.design!r}")
        run_sweep(sweep, sweep_dir, scheduler=args.scheduler, workers=args.workers, progress=not args.quiet)
    table = sensitivity(sweep_dir, args.out, args.overwrite)
    print(ranking(table).to_string(index=False))
    if not table["trusted"].all():
        print(f"warning: {int((~table['trusted']).sum())} of {len(table)} indices are not to be trusted "
              f"(too few samples); see {args.out / 'indices.md'}", file=sys.stderr)
    print(f"tables and figures written to {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
