"""Check an ensemble of one configuration against any observation file: which figures it meets.

    python -m experiments.check --config scenarios/observed-2025-01.toml \\
        --observations data/observations/january-2025.toml --seeds 20 --out outputs/observed-2025-01

``reproduce_article`` is this check for the article's targets with the article's own figures; this command
takes any observation file (``model/observations.py``) and any run config. For every observation it prints
the figure observed (a value with its sd, or a band), the ensemble's median figure, its 5-95% range, the
share of seeds meeting it, how far the median misses (``Observation.miss``: in sds of the value, or beyond a
band in its edge's sd, as the calibrations' distances score it) and whether the median meets it
(``Observation.meets``: inside the band, or within two sds of the value). A source with a scale (a panel's coverage, such as Similarweb's) is read at
the scale that best fits each run's figures inside its prior (``ObservationSet.fit_scales``), and the fitted
scale is printed: a point check has no posterior for it (``python -m inference`` infers it).

It also prints the surge's shape (``batch.outcomes.SURGE_SHAPE``): the day RedNote's daily use peaked, the
share of the peak left a day, a week and a month after TikTok's restoration, and the share of the 13-14
January cohort still on RedNote on 15 February and 30 June. It writes ``observations.csv``, ``shape.csv``,
``figures/`` and ``report.md``; exits 1 when a median misses, so it serves as a check. Runs are saved as
they finish (``OUT/runs``) and a rerun resumes, as every ensemble does (``batch.ensemble``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from batch.cli import add_ensemble_arguments, command
from batch.ensemble import Ensemble, run_into_folder
from batch.outcomes import OUTCOMES, SURGE_SHAPE, range_note
from batch.outputs import record, write_text
from experiments.plots import plot_lines
from model.config import load_config
from model.observations import load_observations


def check_table(observations, per_seed_readings: list[dict]) -> tuple[pd.DataFrame, dict]:
    """One row per observation: observed figure, median and 5-95% figure over the seeds, the share of seeds
    meeting it, the median's signed miss (``Observation.miss``, in sds or edge sds) and whether the median
    meets it; and the scales fitted to the median readings."""
    readings = pd.DataFrame(per_seed_readings)
    medians = readings.median().to_dict()
    median_scales = observations.fit_scales(medians)
    median_figures = observations.figures(medians, median_scales)
    per_seed_met = pd.DataFrame([observations.met(r) for r in per_seed_readings])
    per_seed_figures = pd.DataFrame([observations.figures(r, observations.fit_scales(r)) for r in per_seed_readings])
    rows = []
    for o in observations:
        figures = per_seed_figures[o.id].to_numpy(dtype=float)
        finite = figures[np.isfinite(figures)]
        rows.append({
            "observation": o.id, "claim": o.claim, "source": o.source, "kind": o.kind,
            "observed": o.describe_value(),
            "median": o.format(median_figures[o.id]),
            "p05": o.format(float(np.quantile(finite, 0.05))) if finite.size else "n/a",
            "p95": o.format(float(np.quantile(finite, 0.95))) if finite.size else "n/a",
            "median_value": median_figures[o.id],
            "seeds_meeting": float(per_seed_met[o.id].mean()),
            "miss_sds": round(o.miss(median_figures[o.id]), 3),
            "met": o.meets(median_figures[o.id]),
        })
    return pd.DataFrame(rows), median_scales


def shape_table(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The surge's shape over the seeds: each ``SURGE_SHAPE`` outcome's median and 5-95% range."""
    rows = []
    for key in SURGE_SHAPE:
        outcome = OUTCOMES[key]
        if outcome.kind == "date":
            days = pd.to_datetime(pd.Series([outcome.value(f) for f in frames]))
            rows.append({"outcome": outcome.label, "median": days.quantile(0.5).date().isoformat(),
                         "p05": days.quantile(0.05).date().isoformat(), "p95": days.quantile(0.95).date().isoformat()})
            continue
        values = np.array([outcome.number(f) for f in frames])
        fmt = (lambda x: f"{x:.3f}") if outcome.kind == "share" else (lambda x: f"{x / 1e6:.2f}M")
        rows.append({"outcome": outcome.label, "median": fmt(np.nanmedian(values)),
                     "p05": fmt(np.nanquantile(values, 0.05)), "p95": fmt(np.nanquantile(values, 0.95))})
    return pd.DataFrame(rows)


def _markdown(table: pd.DataFrame) -> str:
    header = "| " + " | ".join(table.columns) + " |\n|" + "---|" * len(table.columns) + "\n"
    return header + "\n".join("| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False))


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observations", type=Path, required=True, help="observation file (TOML) to check against")
    add_ensemble_arguments(parser, seeds=20, out=Path("outputs/check"))
    return parser.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    config = load_config(args.config, n_agents=args.agents)
    observations = load_observations(args.observations)        # a bad file stops here, before any run
    timeline = config.timeline()
    observations.check_period(config.params.start, config.params.end)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    out, frames = run_into_folder(Ensemble.of(config, timeline), seeds, args.out, workers=args.workers,
                                  scheduler=args.scheduler, overwrite=args.overwrite, progress=not args.quiet,
                                  desc=config.name)

    per_seed = [observations.read(f) for f in frames]
    table, scales = check_table(observations, per_seed)
    shape = shape_table(frames)
    all_met = float(np.mean([all(observations.met(r).values()) for r in per_seed]))
    ok = bool(table["met"].all())
    shown = table.drop(columns=["median_value"])
    scale_line = ", ".join(f"{k} = {v:.3g}" for k, v in scales.items()) or "none"
    flag = range_note(len(seeds))
    write_text(out, "config.toml", config.to_toml(folder=out))
    write_text(out, "observations.csv", table.to_csv(index=False))
    write_text(out, "shape.csv", shape.to_csv(index=False))
    (out / "figures").mkdir(exist_ok=True)
    figures = [
        plot_lines(frames, {"rednote_dau": "RedNote daily active users"}, timeline, out / "figures" / "rednote_dau.png",
                   title=f"{config.name}: RedNote daily active users (median, 5-95%)", ylabel="million people",
                   window=(config.params.start, "2025-03-31")),
        plot_lines(frames, {"downloads": "RedNote daily downloads"}, timeline, out / "figures" / "downloads.png",
                   title=f"{config.name}: RedNote daily downloads (median, 5-95%)", ylabel="million people",
                   window=(config.params.start, "2025-03-31")),
        plot_lines(frames, {"cohort_retention": "13-14 January cohort on RedNote"}, timeline,
                   out / "figures" / "cohort_retention.png", title=f"{config.name}: retention of the January cohort",
                   ylabel="share", scale=1.0),
    ]
    report = f"""# {config.name} against {observations.name or args.observations}

{config.description}

Seeds {seeds[0]}-{seeds[-1]} at {config.params.n_agents:,} agents; config in `config.toml`
(`python -m experiments.run --config config.toml` reruns one seed). Observations: `{args.observations}`.
Scales fitted to the median figures: {scale_line}.

## Observations

{_markdown(shown)}

Medians meeting their observation: {int(table['met'].sum())} of {len(table)}; seeds meeting every
observation: {all_met:.0%}.{chr(10) + chr(10) + '**' + flag + '**' if flag else ''}

## The surge's shape

{_markdown(shape)}
"""
    record(out, [*figures, write_text(out, "report.md", report)])
    print(_markdown(shown))
    print(f"\nscales fitted to the medians: {scale_line}")
    print(f"\n{_markdown(shape)}")
    if flag:
        print(f"warning: {flag}")
    print(f"\nmedians meeting their observation: {int(table['met'].sum())} of {len(table)}; "
          f"seeds meeting every observation: {all_met:.0%}")
    print(f"{'ALL OBSERVATIONS MET' if ok else 'OBSERVATIONS MISSED'}; report and figures in {out.resolve()}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
