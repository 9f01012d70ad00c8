"""How fast and how lean the two drivers are, measured side by side in one run.

    python -m benchmarks.benchmark            # Mesa at 1e3..1e5, array at 1e3..1e6, graph comparison
    python -m benchmarks.benchmark --large    # also the array driver at 1e7 users
    python -m benchmarks.benchmark --large --large-days 20   # ... timed for 20 days, year extrapolated

Every configuration runs in a fresh Python process, so its peak memory (``ru_maxrss`` of that process,
interpreter and imports included) and its timings are its own. The array driver runs a whole simulated
year (365 days from the default start, the surge included). The Mesa driver runs ``--mesa-days`` days
from the same start and its year is extrapolated (days x 365 / days timed); the table says so.

The second table compares the vectorised graph generator with networkx's ``powerlaw_cluster_graph`` at
a size both can build: degree distribution and average clustering, mean over ``--graph-seeds`` seeds.

Timings on a shared machine are noisy: compare the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import subprocess
import sys
import time

from tqdm import tqdm

YEAR = 365
MESA_SIZES = (1_000, 10_000, 100_000)
ARRAY_SIZES = (1_000, 10_000, 100_000, 1_000_000)
LARGE_SIZES = (10_000_000,)


def _year_params(n: int):
    from model.params import Params

    start = Params().start
    return Params(n_agents=n, start=start, end=start + dt.timedelta(days=YEAR - 1))


def measure_driver(driver: str, n: int, days: int, seed: int) -> dict:
    """Build one model and step it ``days`` days (in this process); times and peak memory."""
    import model.population as population

    graph_seconds = 0.0
    build_friendships = population.build_friendships

    def timed_build(*args, **kwargs):
        nonlocal graph_seconds
        started = time.perf_counter()
        result = build_friendships(*args, **kwargs)
        graph_seconds += time.perf_counter() - started
        return result

    if driver == "array":
        from model.array_model import ArrayMigrationModel as Model
    else:
        from model.migration_model import MigrationModel as Model
    params = _year_params(n)
    population.build_friendships = timed_build
    try:
        started = time.perf_counter()
        model = Model(params, rng=seed)
        build_seconds = time.perf_counter() - started
    finally:
        population.build_friendships = build_friendships
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(days):
        model.step()
    run_seconds, run_cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "driver": driver, "n": n, "days": days, "graph_method": population.graph_method(params),
        "graph_seconds": graph_seconds, "build_seconds": build_seconds,
        "run_seconds": run_seconds, "run_cpu_seconds": run_cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure_graph(method: str, n: int, mean_degree: int, clustering: float, seed: int) -> dict:
    """Build one graph with one generator and describe it."""
    import numpy as np

    from model.fast_graph import average_clustering, degree_summary
    from model.params import Params
    from model.population import build_friendships

    params = Params(n_agents=n, mean_degree=mean_degree, clustering=clustering)
    started = time.perf_counter()
    friends, _ = build_friendships(params, np.random.default_rng(seed), method)
    seconds = time.perf_counter() - started
    return {"method": method, "n": n, "seconds": seconds, "clustering": average_clustering(friends),
            **degree_summary(friends, tail_from=2 * mean_degree)}


def in_fresh_process(task: dict) -> dict:
    """Run one measurement in a new interpreter and return what it reports."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.benchmark", "--child", json.dumps(task)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["failed"])[-1], **task}
    return json.loads(done.stdout.strip().splitlines()[-1])


def machine() -> str:
    cpu = platform.processor() or "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    import numpy
    import scipy
    return (f"{os.cpu_count()} CPUs (nproc), {cpu}; Python {platform.python_version()}, numpy {numpy.__version__}, "
            f"scipy {scipy.__version__}; load average {os.getloadavg()[0]:.1f} at start")


def driver_table(rows: list[dict]) -> str:
    mesa_day = {r["n"]: r["run_seconds"] / r["days"] for r in rows if r["driver"] == "mesa" and "error" not in r}
    lines = ["| driver | N | graph | graph s | build s | days timed | s / year | CPU s / year | "
             "year + build s | agent-steps / s | peak MB | array / Mesa speed |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['driver']} | {r['n']:,} | failed: {r['error']} |" + " |" * 9)
            continue
        per_day = r["run_seconds"] / r["days"]
        year = per_day * YEAR
        extrapolated = "" if r["days"] == YEAR else " (extrapolated)"
        ratio = ""
        if r["driver"] == "array" and r["n"] in mesa_day:
            ratio = f"{mesa_day[r['n']] / per_day:,.0f}x"
        lines.append(
            f"| {r['driver']} | {r['n']:,} | {r['graph_method']} | {r['graph_seconds']:.2f} | {r['build_seconds']:.2f} "
            f"| {r['days']} | {year:,.1f}{extrapolated} | {r['run_cpu_seconds'] / r['days'] * YEAR:,.1f} "
            f"| {year + r['build_seconds']:,.1f} | {r['n'] * r['days'] / r['run_seconds']:,.0f} "
            f"| {r['peak_mb']:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def graph_table(rows: list[dict]) -> str:
    lines = ["| generator | N | seeds | build s | mean degree | median | q90 | q99 | max | tail exponent | "
             "average clustering |", "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for method in ("networkx", "vectorised"):
        mine = [r for r in rows if r["method"] == method and "error" not in r]
        if not mine:
            continue

        def mean(key, mine=mine):
            return sum(r[key] for r in mine) / len(mine)

        lines.append(f"| {method} | {mine[0]['n']:,} | {len(mine)} | {mean('seconds'):.2f} | {mean('mean'):.3f} "
                     f"| {mean('median'):.1f} | {mean('q90'):.1f} | {mean('q99'):.1f} | {mean('max'):,.0f} "
                     f"| {mean('tail_exponent'):.2f} | {mean('clustering'):.4f} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help="also run the array driver at 1e7 users")
    parser.add_argument("--large-days", type=int, default=YEAR,
                        help=f"days the 1e7 run is timed for (default {YEAR}; fewer are extrapolated)")
    parser.add_argument("--mesa-days", type=int, default=10,
                        help="days the Mesa driver is timed for (its year is extrapolated; default 10)")
    parser.add_argument("--graph-n", type=int, default=20_000, help="size of the graph comparison (default 20000)")
    parser.add_argument("--graph-seeds", type=int, default=3, help="seeds per generator in the graph comparison")
    parser.add_argument("--seed", type=int, default=1, help="seed of every model run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("mesa_days", "large_days", "graph_n", "graph_seeds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("mesa_days", "large_days"):
        if getattr(args, name) > YEAR:
            parser.error(f"--{name.replace('_', '-')} must be at most {YEAR}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        task = json.loads(args.child)
        kind = task.pop("kind")
        print(json.dumps(measure_driver(**task) if kind == "driver" else measure_graph(**task)))
        return 0

    from model.params import Params

    defaults = Params()
    header = machine()
    tasks = [{"kind": "driver", "driver": "mesa", "n": n, "days": args.mesa_days, "seed": args.seed}
             for n in MESA_SIZES]
    tasks += [{"kind": "driver", "driver": "array", "n": n, "days": YEAR, "seed": args.seed} for n in ARRAY_SIZES]
    if args.large:
        tasks += [{"kind": "driver", "driver": "array", "n": n, "days": args.large_days, "seed": args.seed}
                  for n in LARGE_SIZES]
    tasks += [{"kind": "graph", "method": method, "n": args.graph_n, "mean_degree": defaults.mean_degree,
               "clustering": defaults.clustering, "seed": seed}
              for seed in range(args.graph_seeds) for method in ("networkx", "vectorised")]
    results = []
    with tqdm(tasks, unit="run", file=sys.stderr) as bar:
        for task in bar:
            bar.set_description(f"{task.get('driver', task.get('method'))} N={task['n']:,}")
            results.append(in_fresh_process(task))
    print(f"Machine: {header}; load average {os.getloadavg()[0]:.1f} at the end.\n")
    print(driver_table([r for r in results if "driver" in r]))
    print(f"\nMesa rows time {args.mesa_days} days from the start (1 Dec 2024) and extrapolate to a year; array "
          f"rows run all {YEAR} days (the surge included) unless marked extrapolated. 'graph' is the generator the "
          "population used; 'build s' (the whole model: graph, traits, agents) includes it. 'array / Mesa speed' is "
          "the ratio of seconds per simulated day at the same N.\n")
    print(graph_table([r for r in results if "method" in r]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
