"""Sweep throughput, local worker processes against a Dask LocalCluster, measured side by side in one run.

    python -m benchmarks.bench_sweep [--runs 64] [--agents N] [--workers K] [--rounds 1]

Runs the same Latin-hypercube sweep (default size: Params' n_agents) on each executor into scratch folders,
alternating executors each round so a busy machine hurts both alike, and prints runs per minute (wall
clock, start-up included) and whether the two gave identical results.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from batch.cli import command
from experiments.sweep import parse_sweep, run_sweep
from model.params import Params


def bench_config(runs: int, agents: int):
    return parse_sweep({
        "name": "bench", "design": "lhs", "samples": runs // 2, "replications": 2, "root_seed": 7,
        "options": {"agents": agents},
        "parameters": {"network_pull": [1.0, 5.0], "ban_push": [0.5, 4.0], "switching_cost": [3.0, 9.0]},
    })


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=64)
    parser.add_argument("--agents", type=int, default=Params().n_agents)
    parser.add_argument("--workers", type=int, default=os.cpu_count())
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)

    from distributed import Client, LocalCluster

    sweep = bench_config(args.runs, args.agents)
    timings: dict[str, list[float]] = {"local processes": [], "dask LocalCluster": []}
    frames: dict[str, pd.DataFrame] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for r in range(args.rounds):
            order = list(timings) if r % 2 == 0 else list(reversed(timings))
            for name in order:
                out = Path(scratch) / f"{name.split()[0]}-{r}"
                started = time.perf_counter()
                if name == "local processes":
                    frame = run_sweep(sweep, out, workers=args.workers, progress=False)
                else:
                    with LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                                      dashboard_address=None) as cluster, Client(cluster) as client:
                        frame = run_sweep(sweep, out, scheduler=client, progress=False)
                timings[name].append(time.perf_counter() - started)
                frames[name] = frame.drop(columns=["seconds", "finished_at"])
    same = frames["local processes"].equals(frames["dask LocalCluster"])
    print(f"{args.runs} runs, n_agents {args.agents}, {args.workers} workers, {args.rounds} round(s), "
          f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")
    print("| executor | wall seconds per round | runs per minute (median round) |")
    print("|---|---|---|")
    for name, seconds in timings.items():
        median = sorted(seconds)[len(seconds) // 2]
        rounds = ", ".join(f"{s:.1f}" for s in seconds)
        print(f"| {name} | {rounds} | {args.runs / median * 60:.0f} |")
    ratio = sorted(timings["dask LocalCluster"])[args.rounds // 2] / sorted(timings["local processes"])[args.rounds // 2]
    print(f"dask / local wall-time ratio: {ratio:.2f}; identical results: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
