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

import numpy as np
from tqdm import tqdm

from batch.cli import command
from batch.errors import InputError
from model.bass import BassCompleteGraphModel, bass_closed_form, bass_recursion
from model.system_dynamics import bass_twin

# The ABM's error falls as 1/N when N x MSE stays within this factor across the sizes; the twin matches
# the closed form when its largest gap is under TWIN_TOLERANCE (it is integrated to rtol 1e-10).
FLAT_FACTOR = 3.0
TWIN_TOLERANCE = 1e-6


def check_arguments(args: argparse.Namespace) -> None:
    """Each argument that cannot give a verdict, named; 1/N is a slope, so it needs two sizes at least."""
    problems = []
    if not 0 < args.p <= 1:
        problems.append(f"--p must be in (0, 1], got {args.p}")
    if not 0 <= args.q <= 1:
        problems.append(f"--q must be in [0, 1], got {args.q}")
    if args.days < 1:
        problems.append(f"--days must be at least 1, got {args.days}")
    if args.seeds < 2:
        problems.append(f"--seeds must be at least 2 (an error over seeds), got {args.seeds}")
    if min(args.sizes) < 2:
        problems.append(f"--sizes must each be at least 2 users, got {args.sizes}")
    if len(set(args.sizes)) < 2:
        problems.append(f"--sizes needs two different sizes at least (whether the error falls as 1/N is a "
                        f"comparison across sizes), got {args.sizes}")
    if problems:
        raise InputError("; ".join(problems))


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--p", type=float, default=0.01, help="innovation probability per day")
    parser.add_argument("--q", type=float, default=0.1, help="imitation probability per day")
    parser.add_argument("--days", type=int, default=80)
    parser.add_argument("--seeds", type=int, default=60)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 400, 1600, 6400, 25600])
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    check_arguments(args)

    recursion = bass_recursion(args.p, args.q, args.days)
    closed = bass_closed_form(args.p, args.q, np.arange(args.days + 1))
    rows = []
    # Measured first, printed after: a progress bar between table rows garbles the table.
    for n in tqdm(args.sizes, desc="sizes", file=sys.stderr, leave=False, disable=args.quiet):
        runs = np.array([BassCompleteGraphModel(n, args.p, args.q, rng=s).run(args.days) for s in range(args.seeds)])
        mse = ((runs - recursion) ** 2).mean()
        rows.append((n, np.sqrt(mse), n * mse, np.abs(runs.mean(axis=0) - recursion).max(),
                     np.sqrt(((runs - closed) ** 2).mean())))
    twin_gap = float(np.abs(bass_twin(args.p, args.q, args.days) - closed).max())

    print(f"Bass p = {args.p}, q = {args.q}, {args.days} days, {args.seeds} seeds per size")
    print(f"recursion vs closed form, largest gap: {np.abs(recursion - closed).max():.4f}")
    print(f"{'N':>7}{'RMS vs recursion':>18}{'N x MSE':>10}{'mean-run gap':>14}{'RMS vs closed':>15}")
    for n, rms, scaled, gap, rms_closed in rows:
        print(f"{n:>7}{rms:>18.4f}{scaled:>10.3f}{gap:>14.4f}{rms_closed:>15.4f}")
    print(f"twin (solve_ivp, rtol 1e-10) vs closed form, largest gap: {twin_gap:.2e}")

    scaled = [row[2] for row in rows]
    spread = max(scaled) / min(scaled) if min(scaled) > 0 else float("inf")
    abm_ok = spread <= FLAT_FACTOR
    twin_ok = twin_gap <= TWIN_TOLERANCE
    print(f"verdict: ABM {'PASS' if abm_ok else 'FAIL'} (N x MSE varies {spread:.2f}x across sizes; the error "
          f"falls as 1/N when within {FLAT_FACTOR:g}x); twin {'PASS' if twin_ok else 'FAIL'} "
          f"(largest gap {twin_gap:.1e}, tolerance {TWIN_TOLERANCE:g})")
    return 0 if abm_ok and twin_ok else 1


if __name__ == "__main__":
    sys.exit(main())
