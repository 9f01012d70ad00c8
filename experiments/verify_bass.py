"""The model reduced to Bass diffusion: the ABM's error against the equation at several sizes, and the twin's.

    python -m experiments.verify_bass [--p 0.01] [--q 0.1] [--days 80] [--seeds 60] [--sizes 100 400 ...]

For each population size N, runs the reduced ABM on a complete graph (``model.bass``) once per seed and
prints its error against the Bass daily recursion (root mean squared over days and seeds, N x mean
squared error - flat when the error falls as 1/N - and the largest gap of the mean over seeds) and
against the closed form; then the twin's largest gap to the closed form.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
from tqdm import tqdm  # noqa: E402

from model.bass import BassCompleteGraphModel, bass_closed_form, bass_recursion  # noqa: E402
from model.system_dynamics import bass_twin  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--p", type=float, default=0.01, help="innovation probability per day")
    parser.add_argument("--q", type=float, default=0.1, help="imitation probability per day")
    parser.add_argument("--days", type=int, default=80)
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1600, 6400, 25600])
    args = parser.parse_args(argv)
    if not (0 < args.p <= 1 and 0 <= args.q <= 1) or args.days < 1 or args.seeds < 2 or min(args.sizes) < 2:
        print("error: need 0 < p <= 1, 0 <= q <= 1, days >= 1, seeds >= 2, sizes >= 2", file=sys.stderr)
        return 2

    recursion = bass_recursion(args.p, args.q, args.days)
    closed = bass_closed_form(args.p, args.q, np.arange(args.days + 1))
    print(f"Bass p = {args.p}, q = {args.q}, {args.days} days, {args.seeds} seeds per size")
    print(f"recursion vs closed form, largest gap: {np.abs(recursion - closed).max():.4f}")
    print(f"{'N':>7}{'RMS vs recursion':>18}{'N x MSE':>10}{'mean-run gap':>14}{'RMS vs closed':>15}")
    for n in tqdm(args.sizes, desc="sizes", file=sys.stderr, leave=False):
        runs = np.array([BassCompleteGraphModel(n, args.p, args.q, rng=s).run(args.days) for s in range(args.seeds)])
        mse = ((runs - recursion) ** 2).mean()
        print(f"{n:>7}{np.sqrt(mse):>18.4f}{n * mse:>10.3f}{np.abs(runs.mean(axis=0) - recursion).max():>14.4f}"
              f"{np.sqrt(((runs - closed) ** 2).mean()):>15.4f}")
    twin = bass_twin(args.p, args.q, args.days)
    print(f"twin (solve_ivp, rtol 1e-10) vs closed form, largest gap: {np.abs(twin - closed).max():.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
