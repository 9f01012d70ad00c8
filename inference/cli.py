"""Bayesian calibration to observations, from the command line.

    python -m inference --observations data/observations/january-2025.toml --out outputs/abc-january
        # the space declared for these observations (data/inference/defaults.toml: space-observed.toml),
        # the run config and population size that space names (scenarios/observed-2025-01.toml, 10,000)
    python -m inference --observations data/observations/article.toml --space data/calibration/space-news.toml \\
        --agents 5000 --population 200 --generations 6 --workers 2 --out outputs/abc-article
    python -m inference --observations FILE --variants data/inference/variants-defiance.toml --out DIR

(``python -m experiments.calibrate --method abc ...`` runs the same.) Everything is read and checked before
the first simulation; the history is ``OUT/history.db``, and the same command resumes a stopped run.
``OUT`` receives:

- ``posterior.csv`` (the last generation's particles, weights, parameters in their own units),
  ``posterior_table.csv`` (median and 90% interval of each), ``figures/posterior.png`` (marginals and pairs);
- ``generations.csv`` (tolerance, simulations, acceptance rate, effective sample size per generation);
- ``model_probabilities.csv`` with ``--variants``;
- ``predictive/`` (the posterior predictive runs: daily series, readings and figures per draw),
  ``bands.csv``, ``forecast.csv``, ``figures/fit.png`` and ``figures/forecast.png``;
- ``report.md`` (which observations are met, the posterior, the forecast, the generations, provenance)
  and ``provenance.toml`` (command, code hash, git version, inputs, date).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pandas as pd
import tomli_w

from batch.outputs import OutputError, command_scope
from inference.calibration import (
    CalibrationError,
    Settings,
    claim_folder,
    code_hash,
    generations_table,
    identity,
    model_probabilities,
    posterior_particles,
    posterior_table,
    prepare,
    run_abc,
    too_thin,
)
from inference.sampler import close_sampler, map_for, sampler_for
from model.observations import peak_days_as_dates


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m inference", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--out", type=Path, help="calibration folder (resumable; default: "
                        "outputs/abc-<observations file's name>)")
    args = parser.parse_args(argv)
    if args.out is None and args.observations is not None:
        args.out = Path("outputs") / f"abc-{args.observations.stem}"
    return args


def add_arguments(parser: argparse.ArgumentParser, *, with_shared: bool = True) -> None:
    """The ABC options (``experiments.calibrate`` adds them to its own; ``with_shared=False`` leaves out
    those it already has: --space, --agents, --workers, --seed)."""
    parser.add_argument("--observations", type=Path, help="observation file (model/observations.py); "
                        "required for --method abc")
    if with_shared:
        parser.add_argument("--space", type=Path, help="free parameters and their ranges (TOML; log = true for "
                            "log-uniform); default: the space data/inference/defaults.toml declares for the "
                            "observations")
        parser.add_argument("--agents", type=int, help="simulated users per run (default: the space's agents, "
                            "else 5,000)")
        parser.add_argument("--workers", type=int, default=1, help="local worker processes (default 1)")
        parser.add_argument("--seed", type=int, default=0, help="seed of the run (reproducible with one worker)")
    parser.add_argument("--config", type=Path, help="base run config (model/config.py); default: the space's "
                        "base, else the defaults")
    parser.add_argument("--population", type=int, default=Settings.population_size,
                        help=f"particles per generation (default {Settings.population_size})")
    parser.add_argument("--generations", type=int, default=Settings.generations, help="generations in all (a "
                        f"resumed run counts those done; default {Settings.generations})")
    parser.add_argument("--min-epsilon", type=float, default=0.0, help="stop when the tolerance reaches this")
    parser.add_argument("--variants", type=Path, help="model comparison: a TOML of [variants.NAME] parameter "
                        "settings")
    parser.add_argument("--end", type=dt.date.fromisoformat, help="last simulated day of the fit (default: the "
                        "observations' last date)")
    parser.add_argument("--forecast-end", type=dt.date.fromisoformat, default=dt.date(2025, 12, 31))
    parser.add_argument("--draws", type=int, default=100, help="posterior predictive runs (default 100)")
    parser.add_argument("--point-seeds", type=int, default=20, help="seeds of the point fit (the base "
                        "config's parameters) read beside the posterior; 0: none")
    parser.add_argument("--scheduler", help="'local' for a Dask LocalCluster of --workers processes, or a "
                        "scheduler address (tcp://host:8786)")


def settings_from(args: argparse.Namespace) -> Settings:
    return Settings(observations=args.observations, space=args.space, config=args.config, agents=args.agents,
                    population_size=args.population, generations=args.generations,
                    min_epsilon=args.min_epsilon, variants=args.variants, seed=args.seed, end=args.end,
                    forecast_end=args.forecast_end, draws=args.draws)


def git_version() -> str:
    try:
        root = Path(__file__).resolve().parent.parent
        rev = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True,
                             text=True, timeout=10).stdout.strip()
        return rev or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def main(argv=None, program: str = "python -m inference") -> int:
    args = parse_args(argv)
    with command_scope():     # the calibration folder stays locked (claim_folder) until the command ends
        return run(args, f"{program} " + shlex.join(sys.argv[1:] if argv is None else argv))


def run(args: argparse.Namespace, command: str) -> int:
    """Calibrate, then write every output (see the module's docstring); 2 on bad input, 0 when done."""
    try:
        if args.observations is None:
            raise CalibrationError("--observations FILE is required for an ABC calibration")
        if args.out is None:
            raise CalibrationError("--out DIR is required")
        if args.workers < 1 or args.point_seeds < 0:
            raise CalibrationError("--workers must be at least 1 and --point-seeds at least 0")
        problem = prepare(settings_from(args))
        if args.out == Path("outputs") / f"abc-{args.observations.stem}":
            args.out.parent.mkdir(exist_ok=True)      # the default folder's parent, outputs/
        claim_folder(problem, args.out)
    except (CalibrationError, OutputError) as err:     # OutputError: another run holds the folder
        print(f"error: {err}", file=sys.stderr)
        return 2
    out = Path(args.out)
    with open(out / "commands.log", "a", encoding="utf-8") as log:
        log.write(command + "\n")
    try:
        sampler = sampler_for(args.workers, args.scheduler)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        history = run_abc(problem, out, sampler)
    finally:
        close_sampler(sampler)
    write_outputs(problem, history, out, args, command)
    print(f"report: {out / 'report.md'}")
    return 0


def _atomic_csv(frame: pd.DataFrame, path: Path, **kw) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    frame.to_csv(tmp, **kw)
    os.replace(tmp, path)


def predictive(problem, particles, out: Path, args, generations: int):
    """The posterior predictive runs (saved in ``OUT/predictive``; reused when made from this posterior)."""
    from inference.report import draw_tasks

    folder = out / "predictive"
    folder.mkdir(exist_ok=True)
    stamp = {"generations": generations, "draws": args.draws, "seed": args.seed,
             "forecast_end": str(args.forecast_end)}
    paths = [folder / name for name in ("daily.parquet", "readings.csv", "figures.csv")]
    stamp_path = folder / "made_from.json"
    if all(p.exists() for p in paths) and stamp_path.exists() and json.loads(stamp_path.read_text()) == stamp:
        return pd.read_parquet(paths[0]), pd.read_csv(paths[1]), pd.read_csv(paths[2])
    tasks = draw_tasks(problem, particles, args.draws, args.seed, args.forecast_end)
    daily, readings, figures = _run_tasks(tasks, args)
    for frame, path in zip((daily, readings, figures), paths, strict=True):
        tmp = path.with_suffix(path.suffix + ".tmp")
        frame.to_parquet(tmp) if path.suffix == ".parquet" else frame.to_csv(tmp, index=False)
        os.replace(tmp, path)
    stamp_path.write_text(json.dumps(stamp), encoding="utf-8")
    return daily, readings, figures


def _run_tasks(tasks, args):
    from inference.report import collect, predictive_run

    with map_for(args.workers, args.scheduler) as run_map:
        return collect(run_map(predictive_run, tasks))


def write_outputs(problem, history, out: Path, args, command: str) -> None:
    from inference.report import (
        daily_bands,
        forecast_columns,
        forecast_table,
        observation_check,
        plot_bands,
        plot_posterior,
        point_tasks,
        write_report,
    )

    (out / "figures").mkdir(exist_ok=True)
    particles = posterior_particles(history, problem)
    _atomic_csv(particles, out / "posterior.csv", index=False)
    generations = generations_table(history, problem.variant_names if problem.variants else ())
    _atomic_csv(generations, out / "generations.csv", index=False)
    thin = too_thin(problem, generations)
    # The flag travels with the figures: a table read without the report still says it is too thin.
    table = posterior_table(particles, problem.all_priors).assign(trusted=not thin)
    _atomic_csv(table, out / "posterior_table.csv", index=False)
    probabilities = model_probabilities(history, problem) if problem.variants else None
    if probabilities is not None:
        _atomic_csv(probabilities.assign(trusted=not thin), out / "model_probabilities.csv")
    plot_posterior(particles, problem, out / "figures" / "posterior.png")

    daily, readings, figures = predictive(problem, particles, out, args, len(generations))
    bands = daily_bands(daily, forecast_columns(problem.observations))
    _atomic_csv(bands, out / "bands.csv")
    check = observation_check(problem, figures)
    readings = [o.reading for o in problem.observations]   # in the table's row order
    _atomic_csv(peak_days_as_dates(check, readings, ["median", "q05", "q95"]), out / "observations_check.csv",
                index=False)
    scales = {s.name: float(table.loc[table["parameter"] == s.name, "median"].iloc[0]) for s in problem.scales}
    point_check = None
    if args.point_seeds:
        _, _, point_figures = _run_tasks(point_tasks(problem, args.point_seeds, args.forecast_end, scales), args)
        point_check = observation_check(problem, point_figures)
        _atomic_csv(peak_days_as_dates(point_check, readings, ["median", "q05", "q95"]),
                    out / "point_fit_check.csv", index=False)
    forecast = forecast_table(bands)
    _atomic_csv(forecast, out / "forecast.csv", index=False)
    fit_end = problem.config.params.end
    plot_bands(bands, problem, scales, out / "figures" / "fit.png", "Posterior predictive over the fit "
               "(a scaled source's figures divided by its posterior median scale; bars: 90%)",
               first=problem.config.params.start, last=fit_end + dt.timedelta(days=14))
    plot_bands(bands, problem, scales, out / "figures" / "forecast.png",
               f"Forecast to {args.forecast_end} (dashed: end of the fit)", fit_end=fit_end)
    commands = (out / "commands.log").read_text(encoding="utf-8").splitlines()
    made = identity(problem)
    provenance = {"command": commands[0] if commands else command, "resumed_with": commands[1:],
                  "code": code_hash(), "git": git_version(), "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                  "inputs": made["inputs"], "point_seeds": args.point_seeds,
                  "chosen_by": problem.chosen_by, "trusted": not thin, "too_thin": thin,
                  "workers": args.scheduler or args.workers}
    (out / "provenance.toml").write_text(tomli_w.dumps({**provenance, "settings": made["settings"]}),
                                         encoding="utf-8")
    write_report(out, problem, table=table, generations=generations, check=check, point_check=point_check,
                 forecast=forecast, probabilities=probabilities, provenance=provenance, draws=args.draws)


if __name__ == "__main__":
    # The command is ``python -m inference`` (inference/__main__.py), whatever module runs it.
    from inference.__main__ import inference_command

    sys.exit(inference_command())
