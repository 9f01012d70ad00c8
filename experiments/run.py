"""Run one scenario once and write its daily series, exact config, headline figures and plots.

    python -m experiments.run [--config FILE] [--seed S] [--agents N] [--driver array|mesa] [--threads T] --out DIR

Everything is validated before the run starts; the output folder appears only when complete.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: python experiments/run.py
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402
from tqdm import tqdm  # noqa: E402

from experiments.outputs import OutputError, check_out_dir, staged_output  # noqa: E402
from experiments.plots import run_figures  # noqa: E402
from model.config import ConfigError, RunConfig, load_config, make_model  # noqa: E402
from model.params import ParameterError  # noqa: E402


def headline(frame: pd.DataFrame) -> dict:
    """The figures a reader looks for first in one run."""
    def on(column, date):
        stamp = pd.Timestamp(date)
        return float(frame.at[stamp, column]) if stamp in frame.index else None

    peak_day = frame["downloads"].idxmax()
    return {
        "peak_daily_downloads": float(frame["downloads"].max()),
        "peak_daily_downloads_date": peak_day.date().isoformat(),
        "cumulative_downloads_2025_03_31": on("cumulative_downloads", "2025-03-31"),
        "cumulative_downloads_2025_06_30": on("cumulative_downloads", "2025-06-30"),
        "dual_users_2025_06_30": on("dual_users", "2025-06-30"),
        "peak_rednote_dau": float(frame["rednote_dau"].max()),
    }


def run_once(config: RunConfig, out: Path, overwrite: bool = False, quiet: bool = False,
             threads: int | None = None) -> dict:
    timeline = config.timeline()
    with staged_output(out, overwrite) as scratch:
        started = time.perf_counter()
        model = make_model(config, timeline=timeline, threads=threads)
        with tqdm(total=len(model.signals), unit="day", desc=f"{config.name} ({config.driver})",
                  disable=quiet, file=sys.stderr) as bar:
            frame = model.run(progress=bar.update)
        seconds = time.perf_counter() - started
        frame.to_csv(scratch / "daily.csv")
        (scratch / "config.toml").write_text(config.to_toml(), encoding="utf-8")
        summary = {"seed": config.seed, "driver": config.driver, "run_seconds": round(seconds, 3),
                   **headline(frame)}
        (scratch / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
        run_figures([frame], timeline, scratch)
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, help="TOML config file (see model/config.py)")
    parser.add_argument("--seed", type=int, help="random seed (overrides the config's)")
    parser.add_argument("--agents", type=int, help="number of simulated users (overrides the config's)")
    parser.add_argument("--driver", choices=("array", "mesa"), help="array (fast, default) or mesa (reference)")
    parser.add_argument("--threads", type=int,
                        help="cores the array driver uses (default: all; the results do not depend on it)")
    parser.add_argument("--out", type=Path, required=True, help="output folder (created; must be empty)")
    parser.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.threads is not None:
        from model.compiled_day import check_threads

        try:
            check_threads(args.threads)
        except ValueError as error:
            parser.error(f"--threads: {error}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        config = load_config(args.config, seed=args.seed, driver=args.driver, n_agents=args.agents)
        check_out_dir(args.out, args.overwrite)
    except (ConfigError, ParameterError, OutputError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    summary = run_once(config, args.out, args.overwrite, args.quiet, threads=args.threads)
    print(json.dumps(summary, indent=2))
    print(f"outputs written to {args.out.resolve()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
