"""How long a simulated year takes: the system-dynamics twin beside array-driver runs, measured in one go.

    python -m benchmarks.bench_twin [--repeats R] [--agents N [N ...]]

Prints a table of the median CPU and wall seconds per run and each one's CPU time as a multiple of the
twin's (the machine is shared: compare the ratios, measured side by side, rather than the seconds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from model.array_model import ArrayMigrationModel
from model.params import ParameterError, Params
from model.system_dynamics import RATE_MODES, SystemDynamicsModel
from model.timeline import load_timeline


def timed(make) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    make().run()
    return time.process_time() - cpu, time.perf_counter() - wall


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3, help="runs of each (default 3)")
    parser.add_argument("--agents", type=int, nargs="+", default=[2000, 20000], help="ABM sizes")
    args = parser.parse_args(argv)
    try:
        if args.repeats < 1:
            raise ParameterError(f"--repeats must be at least 1, got {args.repeats}")
        sizes = {n: Params(n_agents=n) for n in args.agents}
    except ParameterError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    timeline = load_timeline()
    params = Params()
    cases = {f"twin, {rates} rates": (lambda r=rates: SystemDynamicsModel(params, timeline, rates=r))
             for rates in RATE_MODES}
    cases |= {f"ABM, {n} agents": (lambda p=p: ArrayMigrationModel(p, timeline, rng=1)) for n, p in sizes.items()}
    results = {}
    for _ in range(args.repeats):   # interleaved, so load changes hit every case alike
        for name, make in cases.items():
            results.setdefault(name, []).append(timed(make))
    base = statistics.median(c for c, _ in results[next(iter(cases))])
    print(f"one simulated year ({params.n_days} days), median of {args.repeats}")
    print(f"{'model':<28}{'CPU s':>9}{'wall s':>9}{'CPU / twin':>12}")
    for name, times in results.items():
        cpu = statistics.median(c for c, _ in times)
        wall = statistics.median(w for _, w in times)
        print(f"{name:<28}{cpu:>9.3f}{wall:>9.3f}{cpu / base:>12.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
