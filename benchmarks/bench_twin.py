"""How long a simulated year takes: the system-dynamics twin beside array-driver runs, measured in one go.

    python -m benchmarks.bench_twin [--repeats R] [--agents N [N ...]] [--engines array mesa]

Prints a table of the median CPU and wall seconds per run and each one's CPU time as a multiple of the
twin's (the machine is shared: compare the ratios, measured side by side, rather than the seconds).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

from batch.cli import command, positive_int
from batch.engines import ENGINE_NAMES, build
from model.params import Params
from model.system_dynamics import RATE_MODES
from model.timeline import load_timeline


def timed(make) -> tuple[float, float]:
    cpu, wall = time.process_time(), time.perf_counter()
    make().run()
    return time.process_time() - cpu, time.perf_counter() - wall


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=positive_int, default=3, help="runs of each (default 3)")
    parser.add_argument("--agents", type=int, nargs="+", default=[2000, 20000], help="ABM sizes")
    parser.add_argument("--engines", nargs="+", choices=[e for e in ENGINE_NAMES if e != "twin"], default=["array"],
                        help="agent-based engines to time beside the twin (default: array)")
    args = parser.parse_args(argv)
    sizes = {n: Params(n_agents=n) for n in args.agents}
    timeline = load_timeline()
    params = Params()
    cases = {f"twin, {rates} rates": (lambda r=rates: build("twin", params, timeline, 1, rates=r))
             for rates in RATE_MODES}
    cases |= {f"ABM {engine}, {n} agents": (lambda p=p, e=engine: build(e, p, timeline, 1))
              for engine in args.engines for n, p in sizes.items()}
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
