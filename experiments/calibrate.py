"""Fit the free parameters to every article target at once (pattern-oriented modelling).

    python -m experiments.calibrate --trials 700 --seeds 6 --out outputs/calibration

One distance over all targets (``model.targets.distance``: 0 inside a band, the miss relative to the
band's width outside it; aimed at the inner part of each band with ``--margin``), over a fixed set of seeds
(common random numbers, so two parameter sets are compared on the same draws). By default the distance is
that of the seeds' envelope (``--objective envelope``): every target's lowest and highest value over the
seeds must lie inside, so it is 0 only when every seed passes. The article's acceptance is a share of seeds
passing every target, and a mean over seeds (``--objective mean``) rewards one seed far inside as much as
it penalises another just out. The optimiser is CMA-ES (Optuna's ``CmaEsSampler``): the distance
is a noisy, non-smooth function of ~20 continuous parameters with strong interactions, where CMA-ES
adapts its search to those correlations; TPE is available with ``--sampler tpe``. ``--start`` starts
the search from an earlier calibration's best parameters.

``--method abc`` runs the Bayesian calibration instead (ABC-SMC with pyABC, ``inference``: a posterior,
posterior predictive and forecast bands, a report) on ``--observations FILE``; every other option is then
``python -m inference``'s (``python -m inference --help``). With ``--method cmaes`` (the default),
``--observations FILE`` fits that file's observations instead of the article's targets (each must be a band).

The study lives in ``OUT/study.db`` (SQLite): a run stopped at any point resumes where it was when the
same command is given again. ``OUT`` receives ``history.csv`` (every trial), ``best_params.toml`` (with
the date and command that produced it) and ``best_targets.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import hashlib
import math
import shlex
import sys
import tomllib
import warnings
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import optuna  # noqa: E402
import tomli_w  # noqa: E402
from tqdm import tqdm  # noqa: E402

from experiments.ensemble import default_workers  # noqa: E402
from model.array_model import ArrayMigrationModel  # noqa: E402
from model.observations import load_observations  # noqa: E402
from model.params import ParameterError, Params  # noqa: E402
from model.targets import envelope_distance, evaluate, load_targets, mean_distance, share_passing  # noqa: E402
from model.timeline import load_timeline  # noqa: E402
from model.tomlfile import read_toml  # noqa: E402

DEFAULT_SPACE = Path(__file__).resolve().parent.parent / "data" / "calibration" / "space.toml"
STUDY_NAME = "calibration"


class CalibrationError(ValueError):
    """A search space or calibration folder that cannot be used."""


def load_space(path: Path = DEFAULT_SPACE) -> dict[str, dict]:
    """The free parameters with their search ranges, checked against the parameters' own ranges."""
    path = Path(path)
    space = read_toml(path, CalibrationError, "search space file")
    if not space:
        raise CalibrationError(f"{path}: no parameters to calibrate")
    for name, bounds in space.items():
        try:
            spec = Params.spec(name)
        except ParameterError as err:
            raise CalibrationError(f"{path}: {err}") from err
        extra = set(bounds) - {"low", "high", "log"}
        if extra or not {"low", "high"} <= set(bounds):
            raise CalibrationError(f"{path}: [{name}] needs low and high (and optionally log), got {sorted(bounds)}")
        low, high = bounds["low"], bounds["high"]
        if not low < high:
            raise CalibrationError(f"{path}: [{name}] empty or inverted range [{low}, {high}]")
        if low < spec["low"] or high > spec["high"]:
            raise CalibrationError(
                f"{path}: [{name}] range [{low}, {high}] leaves the admissible range [{spec['low']}, {spec['high']}]"
            )
        if bounds.get("log") and low <= 0:
            raise CalibrationError(f"{path}: [{name}] a log range needs low > 0")
    return space


def _seed_results(params: Params, timeline, targets, seed: int) -> list:
    return evaluate(ArrayMigrationModel(params, timeline, rng=seed).run(), targets)


OBJECTIVES = ("envelope", "mean")


class Objective:
    """Distance to all targets over fixed seeds, for one set of free-parameter values: by default the
    distance of the seeds' envelope (every target's lowest and highest value over the seeds, so it is 0
    only when every seed passes), or with ``kind="mean"`` the mean of the seeds' distances.

    With ``workers`` > 1 the seeds of a trial run side by side in worker processes (kept for the whole
    calibration); the values are the same as with one."""

    def __init__(self, base: Params, seeds: list[int], timeline=None, targets=None, margin: float = 0.0,
                 workers: int = 1, kind: str = "envelope"):
        if kind not in OBJECTIVES:
            raise CalibrationError(f"unknown objective {kind!r}; choose one of {OBJECTIVES}")
        self.base = base
        self.kind = kind
        self.margin = margin
        self.seeds = seeds
        self.timeline = timeline if timeline is not None else load_timeline()
        self.targets = targets if targets is not None else load_targets()
        self.pool = ProcessPoolExecutor(min(workers, len(seeds))) if workers > 1 and len(seeds) > 1 else None

    def evaluate(self, values: dict) -> tuple[float, list]:
        params = self.base.replace(**values)
        run = functools.partial(_seed_results, params, self.timeline, self.targets)
        results = list(self.pool.map(run, self.seeds) if self.pool else map(run, self.seeds))
        if self.kind == "envelope":
            return envelope_distance(results, self.margin), results
        return mean_distance(results, self.margin), results

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()


def load_start(path: Path, space: dict) -> dict:
    """Free-parameter values to start from: the ``[params]`` table of a best_params.toml, or a plain
    table. Only free parameters: a fixed one given here would silently not be the one calibrated with."""
    document = read_toml(Path(path), CalibrationError, "start file")
    values = document.get("params", document)
    fixed = sorted(set(values) - set(space))
    if fixed:
        raise CalibrationError(f"{path}: {', '.join(fixed)} not free in the search space; "
                               "a start may only give free parameters")
    for name, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            raise CalibrationError(f"{path}: {name} = {value!r} is not a number")
    return values


def suggest(trial: optuna.Trial, space: dict) -> dict:
    return {name: trial.suggest_float(name, b["low"], b["high"], log=bool(b.get("log", False)))
            for name, b in space.items()}


def start_point(space: dict, start: Params) -> dict:
    """The free parameters' values at the start (the current defaults, or ``--start``), clipped into the space."""
    return {name: min(max(getattr(start, name), b["low"]), b["high"]) for name, b in space.items()}


def make_sampler(kind: str, space: dict, start: Params, seed: int, sigma: float | None = None
                 ) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    # Search around the start, not around the space's centre.
    x0 = start_point(space, start)
    with warnings.catch_warnings():   # sigma0 is deprecated in Optuna 5 but still the way to narrow the search
        warnings.simplefilter("ignore", FutureWarning)
        return optuna.samplers.CmaEsSampler(x0=x0, sigma0=sigma, seed=seed, restart_strategy="ipop",
                                            warn_independent_sampling=False)


def write_outputs(study: optuna.Study, out: Path, base: Params, objective: Objective, command: str) -> dict:
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    study.trials_dataframe().to_csv(out / "history.csv", index=False)
    best = study.best_trial
    best_values = base.replace(**best.params)
    _, results = objective.evaluate(best.params)
    commands = (out / "commands.log").read_text(encoding="utf-8").splitlines()
    provenance = {
        "date": dt.date.today().isoformat(),
        "command": commands[0] if commands else command,
        "resumed_with": commands[1:],
        "best_distance": best.value,
        "best_trial": best.number,
        "trials": len(finished),
        "seeds": objective.seeds,
        "n_agents": base.n_agents,
    }
    document = {"provenance": provenance,
                "params": {name: getattr(best_values, name) for name in best.params}}
    (out / "best_params.toml").write_text(tomli_w.dumps(document), encoding="utf-8")
    lines = ["| target | band | " + " | ".join(f"seed {s}" for s in objective.seeds) + " |",
             "|---|---|" + "---|" * len(objective.seeds)]
    for i, r in enumerate(results[0]):
        cells = [f"{res[i].value:.4g} {'ok' if res[i].passed else 'MISS'}" for res in results]
        lines.append(f"| {r.target.key} | [{r.target.low:.4g}, {r.target.high:.4g}] | " + " | ".join(cells) + " |")
    (out / "best_targets.md").write_text(
        f"# Best parameters: distance {best.value:.4f} (trial {best.number} of {len(finished)})\n\n"
        + "\n".join(lines) + "\n", encoding="utf-8")
    return provenance


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--space", type=Path, default=DEFAULT_SPACE, help="free parameters and their ranges (TOML)")
    parser.add_argument("--trials", type=int, default=400, help="total trials (a resumed study counts earlier ones)")
    parser.add_argument("--seeds", type=int, default=3, help="model seeds per trial (common random numbers)")
    parser.add_argument("--agents", type=int, default=Params().n_agents, help="simulated users per run (default: the model's)")
    parser.add_argument("--workers", type=int, default=default_workers(), help="processes running a trial's seeds (default: all cores)")
    parser.add_argument("--sampler", choices=("cmaes", "tpe"), default="cmaes")
    parser.add_argument("--margin", type=float, default=0.2,
                        help="aim this share of each band's width inside both edges (robustness to noise)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="envelope",
                        help="envelope: every target's lowest and highest value over the seeds must be inside "
                        "(robust: aims at every seed passing); mean: the seeds' mean distance")
    parser.add_argument("--start", type=Path, help="start the search here: a best_params.toml of an earlier "
                        "calibration, or a TOML table of parameter values (default: the current defaults)")
    parser.add_argument("--seed", type=int, default=0, help="the optimiser's own seed")
    parser.add_argument("--sigma", type=float, help="CMA-ES initial step, each range scaled to [0, 1] (default 1/6); "
                        "small values refine around the current defaults")
    parser.add_argument("--out", type=Path, default=Path("outputs/calibration"), help="study folder (resumable)")
    parser.add_argument("--method", choices=METHODS, default="cmaes",
                        help="cmaes: today's point fit (default); abc: Bayesian calibration (python -m inference)")
    parser.add_argument("--observations", type=Path, help="fit this observation file's bands instead of the "
                        "article's targets (with --method abc: any observation file)")
    return parser.parse_args(argv)


METHODS = ("cmaes", "abc")


def _observations_identity(path: Path | None) -> str:
    """What the fit aims at, as saved with a study: the article's targets, or a file and its content's hash."""
    if path is None:
        return "article targets"
    return f"{path} sha256:{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}"


def _method(argv) -> tuple[str, list[str]]:
    """``--method`` and the other arguments: ``abc`` hands them all to ``python -m inference``."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--method", choices=METHODS, default="cmaes")
    known, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.method, rest


def main(argv=None) -> int:
    method, rest = _method(argv)
    if method == "abc":
        from inference.cli import main as abc_main

        return abc_main(rest, program="python -m experiments.calibrate --method abc")
    args = parse_args(argv)
    command = "python -m experiments.calibrate " + shlex.join(sys.argv[1:] if argv is None else argv)
    try:
        space = load_space(args.space)
        if args.trials < 1 or args.seeds < 1 or args.workers < 1:
            raise CalibrationError("--trials, --seeds and --workers must be at least 1")
        if not 0.0 <= args.margin < 0.5:
            raise CalibrationError(f"--margin must be in [0, 0.5), got {args.margin}")
        base = Params().replace(n_agents=args.agents)
        start_values = load_start(args.start, space) if args.start else {}
        start = base.replace(**start_values)
        if not args.out.resolve().parent.is_dir():
            raise CalibrationError(f"parent folder of --out does not exist: {args.out.resolve().parent}")
        targets = load_observations(args.observations) if args.observations else None
        if targets is not None and any(o.band is None for o in targets):
            raise CalibrationError(f"{args.observations}: --method cmaes fits bands; "
                                   f"{', '.join(o.id for o in targets if o.band is None)} have an sd "
                                   "(use --method abc)")
    except (CalibrationError, ParameterError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2

    args.out.mkdir(exist_ok=True)
    settings = {"space": space, "seeds": args.seeds, "agents": args.agents, "sampler": args.sampler,
                "seed": args.seed, "margin": args.margin, "sigma": args.sigma if args.sigma is not None else "default",
                "objective": args.objective, "start": start_values or "defaults",
                "observations": _observations_identity(args.observations)}
    settings_file = args.out / "calibration.toml"
    if settings_file.exists():
        saved = tomllib.loads(settings_file.read_text(encoding="utf-8"))
        saved.setdefault("objective", "mean")        # folders from before the envelope objective
        saved.setdefault("start", "defaults")
        saved.setdefault("observations", "article targets")    # folders from before --observations
        if saved != tomllib.loads(tomli_w.dumps(settings)):
            print(f"error: {args.out} holds a calibration with other settings ({settings_file}); "
                  "use another --out to start afresh", file=sys.stderr)
            return 2
    else:
        settings_file.write_text(tomli_w.dumps(settings), encoding="utf-8")

    with open(args.out / "commands.log", "a", encoding="utf-8") as log:   # the command that started it, then resumptions
        log.write(command + "\n")
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(
        study_name=STUDY_NAME, storage=f"sqlite:///{args.out / 'study.db'}", load_if_exists=True,
        sampler=make_sampler(args.sampler, space, start, args.seed, args.sigma), direction="minimize",
    )
    if not study.trials:
        # The start itself is the first trial: CMA-ES only samples around it, so without this a good start
        # is never scored, and a search that finds nothing better would not even return it.
        study.enqueue_trial(start_point(space, start))
    objective = Objective(base, list(range(args.seeds)), targets=targets, margin=args.margin,
                          workers=args.workers, kind=args.objective)
    done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
    todo = max(0, args.trials - done)
    # A trial cut short by a kill stays RUNNING in the database; it is simply not counted.
    with tqdm(total=args.trials, initial=done, unit="trial", desc="calibration", file=sys.stderr) as bar:
        def run_trial(trial: optuna.Trial) -> float:
            value, results = objective.evaluate(suggest(trial, space))
            trial.set_user_attr("seeds_passing_all", round(share_passing(results) * len(results)))
            return value if math.isfinite(value) else 1e6

        def report(study: optuna.Study, trial) -> None:
            bar.update(1)
            bar.set_postfix(best=f"{study.best_value:.3f}")

        if todo:
            study.optimize(run_trial, n_trials=todo, callbacks=[report])
    provenance = write_outputs(study, args.out, base, objective, command)
    objective.close()
    print(f"best distance {provenance['best_distance']:.4f} after {provenance['trials']} trials; "
          f"parameters in {args.out / 'best_params.toml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
