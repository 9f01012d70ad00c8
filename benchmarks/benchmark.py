"""How fast and how lean the drivers and engines are, measured side by side in one run.

    python -m benchmarks.benchmark                 # the tables below (several minutes)
    python -m benchmarks.benchmark --threads 1     # the array rows on one core
    python -m benchmarks.benchmark --large-days 30 # the 1e7 row timed for 30 days
    python -m benchmarks.benchmark --mesa-baseline /tmp/base   # ... and the Mesa rows of another checkout
    python -m benchmarks.benchmark --array-baseline /tmp/base  # ... and its numpy path at 1e6
    python -m benchmarks.benchmark --full-scale    # all 170 million US users (needs ~17 GB; see below)
    python -m benchmarks.benchmark --full-scale --full-scale-days 365   # ... and their whole year

Every configuration runs in a fresh Python process, so its peak memory (``ru_maxrss`` of that process,
interpreter and imports included) and its timings are its own. Rows:
- Mesa at 1e3..1e5 users, timed for ``--mesa-days`` days and extrapolated to a year (and, with
  ``--mesa-baseline``, the same rows from another checkout, each run right after this one's);
- the array driver's compiled engine (``--threads``, default all cores) at 1e3..1e6 for a whole
  simulated year (365 days from the default start, the surge included), and at 1e7 for ``--large-days``
  days (its peak memory);
- beside them at 1e6: the compiled engine on one thread, and the numpy path (the engine without numba)
  (and, with ``--array-baseline``, another checkout's numpy path, run right after this one's: a checkout
  from before the engines were named runs its only engine, the numpy path);
- the per-core measuring stick: ``--probe`` (shared/probes/fused_kernel_probe_icdf.py, a fused numba loop
  of the same arithmetic shape outside the project), run in the same session at 1e6 users. The targets
  printed under the table (issue 17) are read from these rows.

The second table compares the vectorised graph generator with networkx's ``powerlaw_cluster_graph`` at
a size both can build: degree distribution and average clustering, mean over ``--graph-seeds`` seeds.

``--full-scale`` runs one agent per US TikTok user (170,000,000) instead: graph build, peak memory and
seconds per simulated day (``--full-scale-days`` days, 365 for the whole year). It is refused before any
work when the machine's available memory is below the estimate (``full_scale_estimate_bytes``).

Timings on a shared machine are noisy: compare the ratios, which are measured in the same run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import inspect
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from pathlib import Path

# batch.cli imports the standard library only: the child rows run with a bare PYTHONPATH
from batch.cli import command
from batch.errors import InputError

YEAR = 365
MESA_SIZES = (1_000, 10_000, 100_000)
ARRAY_SIZES = (1_000, 10_000, 100_000, 1_000_000)
LARGE_SIZES = (10_000_000,)
SIDE_BY_SIDE = 1_000_000      # the size of the engine comparisons and of the probe
FULL_SCALE = 170_000_000      # one agent per US TikTok user (TikTok's own figure, Params.population)
PROBE = Path(__file__).resolve().parent.parent.parent / "shared" / "probes" / "fused_kernel_probe_icdf.py"
# Issue 17's targets, checked under the table from rows of the same run.
PER_CORE_OF_PROBE, ALL_CORES_SPEEDUP, MESA_SPEEDUP, LARGE_PEAK_MB = 0.9, 1.7, 500, 2048


def _year_params(n: int):
    from model.params import Params

    start = Params().start
    return Params(n_agents=n, start=start, end=start + dt.timedelta(days=YEAR - 1))


def measure_driver(driver: str, n: int, days: int, seed: int, engine: str = "compiled", threads: int | None = None,
                   progress: bool = False) -> dict:
    """Build one model and step it ``days`` days (in this process); times and peak memory. ``engine`` and
    ``threads`` are the array driver's (ignored for Mesa). ``progress``: a line on stderr every tenth of
    the days (a long run shows how it goes, and a stopped one what it had reached)."""
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
    options = {"engine": engine, "threads": threads} if driver == "array" else {}
    if "engine" not in inspect.signature(Model.__init__).parameters:
        options = {}   # a checkout from before the engines were named: its one engine is the numpy path
    population.build_friendships = timed_build
    try:
        started = time.perf_counter()
        model = Model(params, rng=seed, **options)
        build_seconds = time.perf_counter() - started
    finally:
        population.build_friendships = build_friendships
    untimed = 0
    if driver == "array" and getattr(model, "engine", "numpy") == "compiled":
        model.step()   # the first day compiles (or loads) the fused loop: not a day's cost
        untimed = 1
        days = min(days, len(model.signals) - 1)
    if progress:
        print(f"built in {build_seconds:,.0f} s (graph {graph_seconds:,.0f} s)", file=sys.stderr, flush=True)
    wall, cpu = time.perf_counter(), time.process_time()
    for day in range(1, days + 1):
        model.step()
        if progress and (day % max(1, days // 10) == 0 or day == days):
            so_far = time.perf_counter() - wall
            print(f"day {day}/{days}: {so_far / day:,.2f} s per day so far ({time.strftime('%H:%M:%S')})",
                  file=sys.stderr, flush=True)
    run_seconds, run_cpu = time.perf_counter() - wall, time.process_time() - cpu
    return {
        "driver": driver, "n": n, "days": days, "untimed_days": untimed, "graph_method": population.graph_method(params),
        "engine": getattr(model, "engine", "numpy") if driver == "array" else "", "threads": getattr(model, "threads", 1),
        # The threads the day ran on: the engine gives a small population fewer than asked for.
        "threads_used": model._compiled.threads if untimed else 1,
        "graph_seconds": graph_seconds, "build_seconds": build_seconds,
        "run_seconds": run_seconds, "run_cpu_seconds": run_cpu,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def measure_thread_scaling(n: int, days: int, seed: int, threads: int) -> dict:
    """Two runs of the compiled engine, on one thread and on ``threads``, stepped in turn day by day in this
    process (which goes first alternates): whatever slows the machine for a while (another process, a
    neighbour on the host) slows both alike. Returns each one's seconds over the days and the ratios of
    the two, whole and day by day (median and quartiles: a day that another process took half of is an
    outlier there, not a shift)."""
    import numpy as np

    from model.array_model import ArrayMigrationModel

    params = _year_params(n)
    one, many = (ArrayMigrationModel(params, rng=seed, engine="compiled", threads=t) for t in (1, threads))
    one.step()
    many.step()   # the first day compiles (or loads) the fused loop: not a day's cost
    days = min(days, len(one.signals) - 1)
    seconds = np.zeros((2, days))
    for day in range(days):
        for k in ((0, 1) if day % 2 else (1, 0)):
            started = time.perf_counter()
            (one, many)[k].step()
            seconds[k, day] = time.perf_counter() - started
    daily = seconds[0] / seconds[1]
    return {"n": n, "days": days, "threads": threads, "threads_used": many._compiled.threads,
            "one_thread_seconds": float(seconds[0].sum()), "threads_seconds": float(seconds[1].sum()),
            "ratio": float(seconds[0].sum() / seconds[1].sum()),
            "median_daily_ratio": float(np.median(daily)),
            "daily_ratio_quartiles": [float(q) for q in np.percentile(daily, [25, 75])]}


def scaling_line(row: dict) -> str:
    """One line for ``measure_thread_scaling``'s row, against the target."""
    low, high = row["daily_ratio_quartiles"]
    verdict = "meets" if row["median_daily_ratio"] >= ALL_CORES_SPEEDUP else "MISSES"
    used = row["threads_used"]
    return (f"- {used} thread{'s' if used != 1 else ''} against one, stepped in turn day by day in one process at "
            f"{row['n']:,} users over {row['days']} days: {row['median_daily_ratio']:.2f}x on the median day "
            f"(quartiles {low:.2f}-{high:.2f}x; {verdict} the {ALL_CORES_SPEEDUP}x target), {row['ratio']:.2f}x over "
            f"all the days ({1e3 * row['one_thread_seconds'] / row['days']:.1f} against "
            f"{1e3 * row['threads_seconds'] / row['days']:.1f} ms per day)")


def measure_probe(path: str, n: int) -> dict:
    """Run the per-core measuring stick (a program outside the project) and read its agent-steps per
    second on one core."""
    if not Path(path).is_file():
        return {"kind": "probe", "error": f"probe not found: {path}"}
    done = subprocess.run([sys.executable, str(path), str(n)], capture_output=True, text=True, check=False)
    found = re.search(r"([0-9.]+) M agent-steps/s", done.stdout)
    if done.returncode != 0 or not found:
        return {"kind": "probe", "error": (done.stderr.strip().splitlines() or ["no figure printed"])[-1]}
    return {"kind": "probe", "n": n, "steps_per_second": float(found.group(1)) * 1e6, "line": done.stdout.strip()}


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
    if task["kind"] == "probe":
        return measure_probe(task["path"], task["n"])
    checkout = task.pop("checkout", None)   # another checkout's code (a baseline), run the same way
    env = None
    if checkout is not None:
        # The checkout's model (its folder comes first on the path), measured by its own benchmark module
        # or, in a checkout from before this one existed, by this one.
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(
            [str(Path(__file__).resolve().parent.parent), *filter(None, [os.environ.get("PYTHONPATH")])])}
    # A run that reports its progress writes it to this process's stderr as it goes.
    done = subprocess.run([sys.executable, "-m", "benchmarks.benchmark", "--child", json.dumps(task)],
                          stdout=subprocess.PIPE, stderr=None if task.get("progress") else subprocess.PIPE,
                          text=True, check=False, cwd=checkout, env=env)
    if done.returncode != 0:
        return {"error": ((done.stderr or "").strip().splitlines() or [f"failed (exit {done.returncode})"])[-1],
                **task}
    row = json.loads(done.stdout.strip().splitlines()[-1])
    if checkout is not None:
        row["checkout"] = _commit(checkout)
    return row


def _commit(checkout: str) -> str:
    """A checkout's commit (short), or its path where git cannot say."""
    done = subprocess.run(["git", "-C", checkout, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=False)
    return done.stdout.strip() or checkout


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


def _label(r: dict) -> str:
    at = f" at {r['checkout']}" if "checkout" in r else ""
    if r["driver"] == "mesa":
        return f"mesa{at}"
    threads = r.get("threads_used", r.get("threads"))
    return (f"array {r.get('engine', '')}{at}"
            + (f", {threads} thread{'s' if threads != 1 else ''}" if r.get("engine") == "compiled" else ""))


def _is_default_array(r: dict, threads) -> bool:
    return r["driver"] == "array" and r.get("engine") == "compiled" and r.get("threads") == threads


def driver_table(rows: list[dict]) -> str:
    mesa_day = {r["n"]: r["run_seconds"] / r["days"] for r in rows
                if r["driver"] == "mesa" and "error" not in r and "checkout" not in r}
    lines = ["| driver | N | graph | graph s | build s | days timed | s / year | CPU s / year | "
             "year + build s | agent-steps / s | agent-steps / CPU s | peak MB | array / Mesa speed |",
             "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        if "error" in r:
            lines.append(f"| {r['driver']} | {r['n']:,} | failed: {r['error']} |" + " |" * 10)
            continue
        per_day = r["run_seconds"] / r["days"]
        year = per_day * YEAR
        extrapolated = "" if r["days"] + r.get("untimed_days", 0) == YEAR else " (extrapolated)"
        ratio = ""
        if r["driver"] == "array" and r["n"] in mesa_day and "checkout" not in r:
            ratio = f"{mesa_day[r['n']] / per_day:,.0f}x"
        lines.append(
            f"| {_label(r)} | {r['n']:,} | {r['graph_method']} | {r['graph_seconds']:.2f} | {r['build_seconds']:.2f} "
            f"| {r['days']} | {year:,.1f}{extrapolated} | {r['run_cpu_seconds'] / r['days'] * YEAR:,.1f} "
            f"| {year + r['build_seconds']:,.1f} | {r['n'] * r['days'] / r['run_seconds']:,.0f} "
            f"| {r['n'] * r['days'] / max(r['run_cpu_seconds'], 1e-9):,.0f} | {r['peak_mb']:,.0f} | {ratio} |"
        )
    return "\n".join(lines)


def targets(rows: list[dict], probe: dict | None, threads: int) -> str:
    """Issue 17's targets against this run's rows (each line says which rows it compares)."""
    ok = [r for r in rows if "error" not in r]

    def find(n, test):
        return next((r for r in ok if r["n"] == n and test(r)), None)

    def steps(r, cpu=False):
        return r["n"] * r["days"] / (r["run_cpu_seconds"] if cpu else r["run_seconds"])

    def verdict(passed):
        return "meets" if passed else "MISSES"

    lines = []
    ok = [r for r in ok if "checkout" not in r or r["driver"] == "mesa"]   # baselines: compared below
    one = find(SIDE_BY_SIDE, lambda r: _is_default_array(r, 1))
    full = find(SIDE_BY_SIDE, lambda r: _is_default_array(r, threads))
    numpy_path = find(SIDE_BY_SIDE, lambda r: r["driver"] == "array" and r.get("engine") == "numpy")
    for base in (r for r in rows if "error" not in r and r["driver"] == "array" and "checkout" in r):
        if numpy_path and base["n"] == numpy_path["n"]:
            ratio = (numpy_path["run_cpu_seconds"] / numpy_path["days"]) / (base["run_cpu_seconds"] / base["days"])
            lines.append(f"- numpy path at {base['n']:,} users against itself at {base['checkout']} (CPU seconds per "
                         f"agent-step, run one after the other): {ratio:.2f}x the baseline's cost")
    if one and probe and "error" not in probe:
        ratio = steps(one, cpu=True) / probe["steps_per_second"]
        lines.append(f"- one core: compiled engine {steps(one, cpu=True) / 1e6:.1f} M agent-steps per CPU second at "
                     f"{SIDE_BY_SIDE:,} users, probe {probe['steps_per_second'] / 1e6:.1f} M in the same run: "
                     f"{ratio:.2f} x the probe ({verdict(ratio >= PER_CORE_OF_PROBE)} the {PER_CORE_OF_PROBE} x target)")
    elif probe and "error" in probe:
        lines.append(f"- one core: the probe did not run ({probe['error']})")
    if one and full and threads > 1:
        speedup = one["run_seconds"] / full["run_seconds"]
        # On a shared machine the threads may not get their cores: the CPU seconds say how much of the
        # wall time they ran, and what the work itself cost on each thread count.
        lines.append(f"- all {threads} threads against one (wall time per day): {speedup:.2f}x "
                     f"({verdict(speedup >= ALL_CORES_SPEEDUP)} the {ALL_CORES_SPEEDUP}x target); the {threads}-thread "
                     f"run had {full['run_cpu_seconds'] / full['run_seconds']:.2f} cores on average (CPU s / wall s; "
                     f"{threads} if the machine were free), and its CPU seconds per day were "
                     f"{full['run_cpu_seconds'] / one['run_cpu_seconds']:.2f}x one thread's (the threads' overhead)")
    if full and numpy_path:
        lines.append(f"- compiled engine against the numpy path at {SIDE_BY_SIDE:,} (wall per day): "
                     f"{numpy_path['run_seconds'] / numpy_path['days'] / (full['run_seconds'] / full['days']):.1f}x")
    for r in ok:
        mesa_now = find(r["n"], lambda x: x["driver"] == "mesa" and "checkout" not in x)
        if r["driver"] == "mesa" and "checkout" in r and mesa_now:
            ratio = (mesa_now["run_cpu_seconds"] / mesa_now["days"]) / (r["run_cpu_seconds"] / r["days"])
            lines.append(f"- Mesa driver at {r['n']:,} users against itself at {r['checkout']} (CPU seconds per day, "
                         f"run one after the other): {ratio:.2f}x the baseline's time "
                         f"({verdict(ratio <= 1.0)} 'not slower'; the runs' noise is a few percent)")
    mesa = find(100_000, lambda r: r["driver"] == "mesa" and "checkout" not in r)
    array = find(100_000, lambda r: _is_default_array(r, threads))
    if mesa and array:
        speed = (mesa["run_seconds"] / mesa["days"]) / (array["run_seconds"] / array["days"])
        per_core = (mesa["run_cpu_seconds"] / mesa["days"]) / (array["run_cpu_seconds"] / array["days"])
        lines.append(f"- array engine against the Mesa driver at 100,000 users: {speed:,.0f}x "
                     f"({verdict(speed >= MESA_SPEEDUP)} the {MESA_SPEEDUP}x target); in CPU seconds per day "
                     f"(per core used): {per_core:,.0f}x")
    if full:
        year = full["run_seconds"] / full["days"] * YEAR + full["build_seconds"]
        cpu_year = full["run_cpu_seconds"] / full["days"] * YEAR + full["build_seconds"]
        lines.append(f"- a year of {SIDE_BY_SIDE:,} users, graph included: {year:.1f} s ({threads} threads; "
                     f"{cpu_year:.1f} s counting the days in CPU seconds)")
    large = find(LARGE_SIZES[0], lambda r: r["driver"] == "array")
    if large:
        lines.append(f"- {LARGE_SIZES[0]:,} users peak at {large['peak_mb']:,.0f} MB "
                     f"({verdict(large['peak_mb'] <= LARGE_PEAK_MB)} the {LARGE_PEAK_MB / 1024:.0f} GB target)")
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


def memory_available_bytes() -> int | None:
    """What the machine can still give a process (MemAvailable), or None where it cannot be read."""
    try:
        with open("/proc/meminfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def full_scale_estimate_bytes(n: int = FULL_SCALE, mean_degree: int | None = None) -> int:
    """Peak memory of an array-engine run of ``n`` users (bytes), for refusing a run that cannot fit.

    The larger of the graph's build (``fast_graph.peak_bytes``) and the running model (the graph's
    int32 CSR plus 48 bytes per user: the state in ``population.STATE_DTYPES``, friend counts and the
    population draw's double-precision temporaries), plus 10% and the interpreter. Measured against it:
    1e7 users peaked at 1.07 GB (estimate 1.22 GB)."""
    from model.fast_graph import peak_bytes
    from model.params import Params

    mean_degree = Params().mean_degree if mean_degree is None else mean_degree
    m = mean_degree // 2
    edges = m * (n - m)
    index = 4 if 2 * edges < 2**31 - 1 else 8
    running = index * (2 * edges + n + 1) + 48 * n
    return int(1.1 * max(peak_bytes(n, mean_degree), running)) + 250 * 2**20


def check_full_scale_fits(available: int | None, needed: int) -> None:
    """Refuse (``InputError`` with the estimate) a full-scale run the machine's memory cannot hold."""
    if available is not None and available < needed:
        raise InputError(f"--full-scale refused: {FULL_SCALE:,} users need about {needed / 2**30:.1f} GB at the "
                         f"peak (graph build included), and this machine has {available / 2**30:.1f} GB available. "
                         "Run it on a machine with more free memory.")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--large", action="store_true", help=argparse.SUPPRESS)   # the 1e7 row is always run now
    parser.add_argument("--large-days", type=int, default=10,
                        help="days the 1e7 row is timed for (default 10; its year is extrapolated)")
    parser.add_argument("--mesa-days", type=int, default=10,
                        help="days the Mesa driver is timed for (its year is extrapolated; default 10)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads of the array rows' compiled engine (default: all cores)")
    parser.add_argument("--probe", default=str(PROBE),
                        help="the per-core measuring stick to run beside the engine (default: %(default)s)")
    parser.add_argument("--mesa-baseline", metavar="CHECKOUT",
                        help="also time the Mesa driver of another checkout of this project (for example a git "
                             "worktree of an earlier commit), each size right after this one's")
    parser.add_argument("--array-baseline", metavar="CHECKOUT",
                        help="also time the numpy path of another checkout at 1e6 users, right after this one's")
    parser.add_argument("--full-scale", action="store_true",
                        help=f"run {FULL_SCALE:,} users instead of the tables (refused without the memory)")
    parser.add_argument("--full-scale-days", type=int, default=3,
                        help=f"days the full-scale run is timed for (default 3; {YEAR} for the whole year)")
    parser.add_argument("--graph-n", type=int, default=20_000, help="size of the graph comparison (default 20000)")
    parser.add_argument("--graph-seeds", type=int, default=3, help="seeds per generator in the graph comparison")
    parser.add_argument("--seed", type=int, default=1, help="seed of every model run")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    for name in ("mesa_days", "large_days", "full_scale_days", "graph_n", "graph_seeds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    for name in ("mesa_days", "large_days", "full_scale_days"):
        if getattr(args, name) > YEAR:
            parser.error(f"--{name.replace('_', '-')} must be at most {YEAR}")
    for name in ("mesa_baseline", "array_baseline"):
        checkout = getattr(args, name)
        if checkout and not (Path(checkout) / "model" / "array_model.py").is_file():
            parser.error(f"--{name.replace('_', '-')}: {checkout} is not a checkout of this project "
                         "(no model/array_model.py there)")
    if args.threads is not None:
        from model.compiled_day import check_threads

        try:
            check_threads(args.threads)
        except ValueError as error:
            parser.error(f"--threads: {error}")
    return args


def full_scale(args) -> int:
    """The 170-million-user run: refused up front without the memory, else one fresh process."""
    check_full_scale_fits(memory_available_bytes(), full_scale_estimate_bytes())
    print(f"Machine: {machine()}", flush=True)
    started = time.perf_counter()
    row = in_fresh_process({"kind": "driver", "driver": "array", "n": FULL_SCALE, "days": args.full_scale_days,
                            "seed": args.seed, "engine": "compiled", "threads": args.threads, "progress": True})
    if "error" in row:
        print(f"full-scale run failed: {row['error']}", file=sys.stderr)
        return 1
    per_day = row["run_seconds"] / row["days"]
    print(f"\nFull scale ({time.perf_counter() - started:,.0f} s in all; load average {os.getloadavg()[0]:.1f} at the end):\n")
    print(driver_table([row]))
    print(f"\n- graph build {row['graph_seconds']:,.0f} s; model build (graph included) {row['build_seconds']:,.0f} s")
    print(f"- {per_day:,.2f} s per simulated day over {row['days']} days ({row['threads']} threads); a year: "
          f"{per_day * YEAR / 3600:,.2f} h{' (extrapolated)' if row['days'] + row['untimed_days'] < YEAR else ''}")
    print(f"- peak memory {row['peak_mb'] / 1024:,.1f} GB (estimate {full_scale_estimate_bytes() / 2**30:.1f} GB)")
    return 0


@command
def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        task = json.loads(args.child)
        kind = task.pop("kind")
        measure = {"driver": measure_driver, "graph": measure_graph, "scaling": measure_thread_scaling}[kind]
        print(json.dumps(measure(**task)))
        return 0
    if args.full_scale:
        return full_scale(args)

    from model.compiled_day import check_threads
    from model.params import Params

    threads = check_threads(args.threads)
    defaults = Params()
    header = machine()
    tasks = []
    for n in MESA_SIZES:
        tasks.append({"kind": "driver", "driver": "mesa", "n": n, "days": args.mesa_days, "seed": args.seed})
        if args.mesa_baseline:
            tasks.append({**tasks[-1], "checkout": args.mesa_baseline})
    tasks += [{"kind": "driver", "driver": "array", "n": n, "days": YEAR, "seed": args.seed, "threads": threads}
              for n in ARRAY_SIZES]
    # Side by side at 1e6: one thread, the numpy path, and the probe (the per-core measuring stick).
    if threads > 1:
        tasks.append({"kind": "driver", "driver": "array", "n": SIDE_BY_SIDE, "days": YEAR, "seed": args.seed,
                      "threads": 1})
        tasks.append({"kind": "scaling", "n": SIDE_BY_SIDE, "days": YEAR, "seed": args.seed, "threads": threads})
    tasks.append({"kind": "driver", "driver": "array", "n": SIDE_BY_SIDE, "days": YEAR, "seed": args.seed,
                  "engine": "numpy"})
    if args.array_baseline:
        tasks.append({**tasks[-1], "checkout": args.array_baseline})
    tasks.append({"kind": "probe", "path": args.probe, "n": SIDE_BY_SIDE})
    tasks += [{"kind": "driver", "driver": "array", "n": n, "days": args.large_days, "seed": args.seed,
               "threads": threads} for n in LARGE_SIZES]
    tasks += [{"kind": "graph", "method": method, "n": args.graph_n, "mean_degree": defaults.mean_degree,
               "clustering": defaults.clustering, "seed": seed}
              for seed in range(args.graph_seeds) for method in ("networkx", "vectorised")]
    # Imported here, not at the top: a child process (one row) runs without tqdm.
    from tqdm import tqdm

    results = []
    with tqdm(tasks, unit="run", file=sys.stderr) as bar:
        for task in bar:
            bar.set_description(f"{task.get('driver', task.get('method', task['kind']))} N={task['n']:,}")
            results.append(in_fresh_process(task))
    probe = next((r for r in results if r.get("kind") == "probe"), None)
    scaling = next((r for r in results if "median_daily_ratio" in r), None)
    drivers = [r for r in results if "driver" in r]
    print(f"Machine: {header}; load average {os.getloadavg()[0]:.1f} at the end.\n")
    print(driver_table(drivers))
    print(f"\nMesa rows time {args.mesa_days} days from the start (1 Dec 2024) and extrapolate to a year; array "
          f"rows run all {YEAR} days (the surge included; the compiled engine's first day, which compiles or loads "
          "the fused loop, is left out of the timing) unless marked extrapolated. 'graph' is the generator the "
          "population used; 'build s' (the whole model: graph, traits, agents) includes it. 'array / Mesa speed' is "
          "the ratio of seconds per simulated day at the same N. agent-steps / CPU s is per core used.\n")
    if probe is not None:
        print(f"Probe ({args.probe}), same run: {probe.get('line', probe.get('error'))}\n")
    print("Targets (issue 17), from the rows above:")
    print(targets(drivers, probe, threads))
    if scaling is not None:
        print(scaling_line(scaling))
    print()
    print(graph_table([r for r in results if "method" in r]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
