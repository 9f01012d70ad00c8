"""Recovery: does the calibration find parameters it knows? A simulation-based calibration check.

    python -m inference.recovery --datasets 20 --agents 2000 --population 50 --generations 3 --out outputs/recovery

For each of ``--datasets`` synthetic datasets: the true parameters are drawn from the prior; the template's
figures with an sd (``--observations``, default the January 2025 file; bands are left out) are simulated
at the truth with the model (a seed of its own) and the observation model (each source's scale, each
figure's noise, with the template's relative sd around the truth's own value); then the ABC-SMC
calibration is run on them (``inference.calibration.run_abc``, small population, short window) and each
parameter's weighted 90% interval (5%-95%) is checked for the truth. Over many datasets a calibrated
posterior covers the truth 90% of the time; an ABC posterior with a tolerance above 0 is wider, so the check
asks for 70-100% (issue 16) and exits 1 outside it, or when fewer than 20 datasets were fitted (too thin to
trust, flagged in the outputs).

Each dataset's history lives in ``OUT/datasets/NNN/`` and its result in ``OUT/datasets/NNN/result.json``
once finished: the same command resumes, skipping finished datasets. ``OUT`` receives ``coverage.csv`` (one
row per dataset and parameter), ``coverage.json`` (the figures) and ``report.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from batch.cli import command
from batch.outputs import folder_lock
from inference.calibration import (
    CalibrationError,
    Problem,
    Settings,
    code_hash,
    posterior_particles,
    prepare,
    run_abc,
)
from inference.calibration import weighted_quantile as quantile
from inference.sampler import close_sampler, sampler_for
from model.observations import JANUARY_2025_OBSERVATIONS, ObservationSet

ROOT = Path(__file__).resolve().parent.parent
RECOVERY_SPACE = ROOT / "data" / "inference" / "recovery-space.toml"
COVERAGE_RANGE = (0.7, 1.0)
MIN_DATASETS = 20


def synthetic_observations(problem: Problem, truth_sampled: dict, seed: int) -> ObservationSet:
    """The template's figures with an sd, simulated at the truth (``truth_sampled``: pyABC's scale)."""
    model = dataclasses.replace(problem.models()[0], noise=False)
    clean = model.simulate(truth_sampled, seed)
    rng = np.random.default_rng([seed, 3])
    observations = []
    for o in problem.observations:
        if o.band is not None:
            continue
        relative = o.sd / abs(o.value)
        sd = relative * abs(clean[o.id]) if math.isfinite(clean[o.id]) and clean[o.id] != 0 else o.sd
        observations.append(dataclasses.replace(o, value=float(clean[o.id] + sd * rng.standard_normal()), sd=sd))
    return dataclasses.replace(problem.observations, observations=tuple(observations))


def draw_truth(problem: Problem, rng: np.random.Generator) -> dict:
    """True values on pyABC's scale (uniform over each prior's support)."""
    return {p.key: float(rng.uniform(*p.bounds)) for p in problem.all_priors}


def fit_dataset(problem: Problem, index: int, folder: Path, workers: int) -> dict:
    """Simulate dataset ``index``, calibrate on it (resumable in ``folder``) and check the truth's coverage."""
    result_path = folder / "result.json"
    if result_path.exists():
        return json.loads(result_path.read_text(encoding="utf-8"))
    folder.mkdir(parents=True, exist_ok=True)
    s = problem.settings
    rng = np.random.default_rng([s.seed, index])
    truth = draw_truth(problem, rng)
    data_seed = int(rng.integers(0, 2**31 - 1))
    observations = synthetic_observations(problem, truth, data_seed)
    fit = dataclasses.replace(problem, observations=observations,
                              settings=dataclasses.replace(s, seed=int(rng.integers(0, 2**31 - 1))))
    sampler = sampler_for(workers)
    started = time.perf_counter()
    try:
        history = run_abc(fit, folder, sampler, log=lambda *a: None)
    finally:
        close_sampler(sampler)
    particles = posterior_particles(history, fit)
    simulations = int(history.get_all_populations()["samples"].sum())
    rows = []
    for p in problem.all_priors:
        true_value = p.value(truth[p.key])
        low, high = (quantile(particles[p.name], particles["weight"], q) for q in (0.05, 0.95))
        rows.append({"dataset": index, "parameter": p.name, "truth": true_value, "q05": low, "q95": high,
                     "median": quantile(particles[p.name], particles["weight"], 0.5),
                     "covered": bool(low <= true_value <= high),
                     # The interval's width over the prior's, on the prior's own scale: below 1, data taught something.
                     "width_over_prior": ((math.log10(high) - math.log10(low)) if p.log else (high - low))
                     / (p.bounds[1] - p.bounds[0])})
    result = {"dataset": index, "data_seed": data_seed, "simulations": simulations,
              "seconds": time.perf_counter() - started, "rows": rows}
    tmp = result_path.with_suffix(".tmp")
    tmp.write_text(json.dumps(result), encoding="utf-8")
    tmp.replace(result_path)
    return result


def run_recovery(settings: Settings, datasets: int, out: Path, workers: int = 1, log=print) -> dict:
    """Fit every dataset (resuming finished ones) and return the coverage figures (also written to ``out``).
    ``out`` is locked for the call (in a command, until it ends): another check writing there is refused."""
    problem = prepare(settings)
    if not any(o.band is None for o in problem.observations):
        raise CalibrationError(f"{settings.observations}: no figure with an sd to simulate")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)      # --out may name a new folder in new folders
    with folder_lock(out):
        return _recover(problem, settings, datasets, out, workers, log)


def _recover(problem: Problem, settings: Settings, datasets: int, out: Path, workers: int, log) -> dict:
    (out / "datasets").mkdir(parents=True, exist_ok=True)
    made_from = {"settings": {k: str(v) for k, v in dataclasses.asdict(settings).items()}, "code": code_hash()}
    stamp = out / "made_from.json"
    saved = json.loads(stamp.read_text(encoding="utf-8")) if stamp.exists() else made_from
    if saved != made_from:
        old, new = saved.get("settings", {}), made_from["settings"]
        changed = [f"{key} {old.get(key)!r} -> {new.get(key)!r}" for key in sorted(set(old) | set(new))
                   if old.get(key) != new.get(key)]
        if saved.get("code") != made_from["code"]:
            changed.append("the code")
        raise CalibrationError(f"{out} holds a recovery check made with other settings or code "
                               f"({'; '.join(changed)}); use another --out")
    stamp.write_text(json.dumps(made_from), encoding="utf-8")
    import pyabc  # noqa: F401  (it sets its loggers' level on import: quieten them after)

    logging.getLogger("ABC").setLevel(logging.WARNING)
    results = []
    for i in range(datasets):
        results.append(fit_dataset(problem, i, out / "datasets" / f"{i:03d}", workers))
        covered = sum(r["covered"] for res in results for r in res["rows"])
        total = sum(len(res["rows"]) for res in results)
        log(f"dataset {i + 1}/{datasets}: {covered}/{total} intervals cover the truth so far")
    table = pd.DataFrame([r for res in results for r in res["rows"]])
    table.to_csv(out / "coverage.csv", index=False)
    per_parameter = table.groupby("parameter")["covered"].mean()
    pooled = float(table["covered"].mean())
    simulations = sum(res["simulations"] for res in results)
    seconds = sum(res["seconds"] for res in results)
    summary = {
        "datasets": datasets, "parameters": [p.name for p in problem.all_priors],
        "coverage": pooled, "coverage_by_parameter": {k: float(v) for k, v in per_parameter.items()},
        "datasets_all_covered": float(table.groupby("dataset")["covered"].all().mean()),
        "mean_width_over_prior": {k: float(v) for k, v in table.groupby("parameter")["width_over_prior"].mean().items()},
        "simulations": simulations, "seconds": seconds,
        "simulations_per_hour": simulations / seconds * 3600 if seconds > 0 else math.nan,
        "accepted_range": list(COVERAGE_RANGE),
        "passed": bool(COVERAGE_RANGE[0] <= pooled <= COVERAGE_RANGE[1]) and datasets >= MIN_DATASETS,
        "too_few_datasets": datasets < MIN_DATASETS,
    }
    (out / "coverage.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    lines = ["# Recovery (simulation-based calibration check)", ""]
    if summary["too_few_datasets"]:
        lines += [f"**Too thin to trust:** {datasets} datasets (the check asks for at least {MIN_DATASETS}).", ""]
    lines += [f"{datasets} synthetic datasets from `{settings.observations}` (figures with an sd), "
              f"{settings.agents:,} agents, {settings.population_size} particles x {settings.generations} "
              f"generations each. The 90% intervals cover the truth in **{pooled:.0%}** of "
              f"{len(table)} cases (accepted: {COVERAGE_RANGE[0]:.0%}-{COVERAGE_RANGE[1]:.0%}): "
              f"{'pass' if summary['passed'] else 'FAIL'}.", "",
              "| parameter | coverage | mean interval width / prior width |", "|---|---:|---:|"]
    for name in summary["parameters"]:
        lines.append(f"| {name} | {summary['coverage_by_parameter'][name]:.0%} | "
                     f"{summary['mean_width_over_prior'][name]:.2f} |")
    lines += ["", f"{simulations:,} simulations in {seconds:,.0f} s of calibration "
              f"({summary['simulations_per_hour']:,.0f} per hour with {workers} worker(s)).", ""]
    (out / "report.md").write_text("\n".join(lines), encoding="utf-8")
    return summary


@command
def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m inference.recovery", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--observations", type=Path, default=JANUARY_2025_OBSERVATIONS,
                        help="template: the figures with an sd are simulated (default: January 2025)")
    parser.add_argument("--space", type=Path, default=RECOVERY_SPACE)
    parser.add_argument("--datasets", type=int, default=MIN_DATASETS)
    parser.add_argument("--agents", type=int, default=2_000)
    parser.add_argument("--population", type=int, default=50)
    parser.add_argument("--generations", type=int, default=3)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    settings = Settings(observations=args.observations, space=args.space, agents=args.agents,
                        population_size=args.population, generations=args.generations, seed=args.seed)
    try:
        if args.datasets < 1 or args.workers < 1:
            raise CalibrationError("--datasets and --workers must be at least 1")
        summary = run_recovery(settings, args.datasets, args.out, args.workers)
    except CalibrationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    (Path(args.out) / "command.txt").write_text("python -m inference.recovery " + shlex.join(
        sys.argv[1:] if argv is None else argv) + "\n", encoding="utf-8")
    print(f"coverage {summary['coverage']:.0%} over {args.datasets} datasets "
          f"({'pass' if summary['passed'] else 'FAIL'}); {args.out / 'report.md'}")
    return 0 if summary["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
