"""Run one scenario once and write its daily series, exact config, headline figures and plots.

    python -m experiments.run [--config FILE] [--seed S] [--agents N] [--driver array|mesa|twin] [--threads T] --out DIR

Everything is validated before the run starts; the output folder appears only when complete, and
``--overwrite`` replaces only what this project wrote there (see ``batch.outputs``).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from batch import outcomes
from batch.cli import add_config_arguments, add_output_arguments, command, non_negative_int, positive_int
from batch.engines import ENGINE_NAMES
from batch.errors import InputError
from batch.outputs import check_out_dir, staged_output
from experiments.plots import run_figures
from model.config import RunConfig, load_config, make_model


def headline(frame: pd.DataFrame) -> dict:
    """The figures a reader looks for first in one run (``batch.outcomes.HEADLINE``; None where the run
    does not reach a date)."""
    values = outcomes.measure(frame, outcomes.HEADLINE)
    return {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in values.items()}


def run_once(config: RunConfig, out: Path, overwrite: bool = False, quiet: bool = False,
             threads: int | None = None) -> dict:
    """One run into ``out``; ``threads``: cores of the array engine (None: all; the results do not depend on it)."""
    timeline = config.timeline()
    with staged_output(out, overwrite) as scratch:
        started = time.perf_counter()
        model = make_model(config, timeline=timeline, **({} if threads is None else {"threads": threads}))
        with tqdm(total=len(getattr(model, "signals", ())) or None, unit="day",
                  desc=f"{config.name} ({config.driver})", disable=quiet, file=sys.stderr) as bar:
            frame = model.run(progress=bar.update)
        seconds = time.perf_counter() - started
        frame.to_csv(scratch / "daily.csv")
        (scratch / "config.toml").write_text(config.to_toml(folder=out.resolve()), encoding="utf-8")
        summary = {"seed": config.seed, "driver": config.driver, "run_seconds": round(seconds, 3),
                   **headline(frame)}
        (scratch / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        run_figures([frame], timeline, scratch)
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_config_arguments(parser)
    parser.add_argument("--seed", type=non_negative_int, help="random seed (overrides the config's)")
    parser.add_argument("--driver", choices=ENGINE_NAMES, help="engine: array (fast, default), mesa (reference) "
                        "or twin (system dynamics)")
    parser.add_argument("--threads", type=positive_int,
                        help="cores the array engine uses (default: all; the results do not depend on it)")
    add_output_arguments(parser)
    return parser.parse_args(argv)


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    config = load_config(args.config, seed=args.seed, driver=args.driver, n_agents=args.agents)
    if args.threads is not None:
        from model.compiled_day import check_threads

        if config.driver != "array":
            raise InputError(f"--threads: the {config.driver} engine runs on one core (only the array engine takes threads)")
        try:
            check_threads(args.threads)
        except ValueError as error:
            raise InputError(f"--threads: {error}") from None
    check_out_dir(args.out, args.overwrite)
    summary = run_once(config, args.out, args.overwrite, args.quiet, threads=args.threads)
    print(json.dumps(summary, indent=2))
    print(f"outputs written to {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
