"""Simulations per hour of the calibration's model function, on this machine (one process).

    python -m inference.benchmark                      # the January fit and the article's full year
    python -m inference.benchmark --agents 2000 5000 --repeats 5

Each observation file is timed on the space, run config and population size a calibration of it uses by
default (``inference.calibration.prepare``; ``--agents`` sets the size).

Each row times ``--repeats`` calls of ``ObservationModel`` (build the population, run to the observations'
last date, read them, add the observation noise) at the defaults, side by side in one process, and prints
wall and CPU seconds per simulation and simulations per hour per worker. ABC-SMC's cost is these
simulations times the number it needs (``generations.csv`` of a run: samples per generation).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from batch.cli import command
from inference.calibration import Settings, prepare
from model.observations import ARTICLE_OBSERVATIONS, JANUARY_2025_OBSERVATIONS


def time_simulations(observations: Path, agents: int | None, repeats: int) -> tuple[float, float, str, int]:
    problem = prepare(Settings(observations, agents=agents))
    model = problem.models()[0]
    sampled = {p.key: 0.5 * sum(p.bounds) for p in problem.all_priors}
    model.simulate(sampled, 0)                       # imports and caches warm
    wall, cpu = time.perf_counter(), time.process_time()
    for seed in range(repeats):
        model.simulate(sampled, seed)
    return ((time.perf_counter() - wall) / repeats, (time.process_time() - cpu) / repeats,
            f"{problem.config.params.start} to {problem.config.params.end}", problem.settings.agents)


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, nargs="+", help="simulated users per run (default: each "
                        "observation file's default, as a calibration of it uses)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    print("| observations | agents | period | wall s / simulation | CPU s / simulation | simulations / hour / worker |")
    print("|---|---:|---|---:|---:|---:|")
    for observations in (JANUARY_2025_OBSERVATIONS, ARTICLE_OBSERVATIONS):
        for agents in args.agents or [None]:
            wall, cpu, period, agents = time_simulations(observations, agents, args.repeats)
            print(f"| {observations.name} | {agents:,} | {period} | {wall:.3f} | {cpu:.3f} | {3600 / wall:,.0f} |",
                  flush=True)
    print(f"load average at end: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
