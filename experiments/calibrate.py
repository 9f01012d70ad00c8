"""Fit the free parameters to every article target at once (pattern-oriented modelling).

    python -m experiments.calibrate --trials 700 --seeds 6 --out outputs/calibration

One distance over all targets (``model.targets.distance``: 0 inside a band, outside it the miss beyond the
edge in units of the edge's sd, ``Observation.miss``; aimed at the inner part of each band with
``--margin``), over a fixed set of seeds
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
``python -m inference``'s (``python -m inference --help``), and what is not given follows the observations:
the space ``data/inference/defaults.toml`` declares for them, and the run config and size that space names. With ``--method cmaes`` (the default),
``--observations FILE`` fits that file's observations instead of the article's targets (each must be a band).

The study lives in ``OUT/study.db`` (SQLite): a run stopped at any point resumes where it was when the
same command is given again. ``OUT`` receives ``history.csv`` (every trial), ``best_params.toml`` (with
the date and command that produced it) and ``best_targets.md``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import math
import sys
import tomllib
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import optuna
import tomli_w
from tqdm import tqdm

from batch import engines
from batch.cli import (
    add_executor_arguments,
    add_output_arguments,
    command,
    command_line,
    non_negative_int,
    positive_int,
)
from batch.engines import ENGINE_NAMES
from batch.errors import InputError
from batch.executor import Executor, InProcessExecutor, default_workers, map_tasks, open_executor
from batch.identity import code_version, source_hash
from batch.outputs import hold_folder, open_folder, record, write_text
from inference.space import SPACE_KEYS
from model.observations import load_observations
from model.params import ParameterError, Params
from model.targets import envelope_distance, evaluate, load_targets, mean_distance, share_passing
from model.timeline import load_timeline
from model.tomlfile import read_located, unknown_key

DEFAULT_SPACE = Path(__file__).resolve().parent.parent / "data" / "calibration" / "space.toml"
STUDY_NAME = "calibration"


class CalibrationError(InputError):
    """A search space or calibration folder that cannot be used."""


def load_space(path: Path = DEFAULT_SPACE) -> dict[str, dict]:
    """The free parameters with their search ranges, checked against the parameters' own ranges."""
    path = Path(path)
    space, where = read_located(path, CalibrationError, "search space file")
    if not space:
        raise CalibrationError(f"{path}: no parameters to calibrate")
    named = sorted(set(space) & SPACE_KEYS)
    if named:
        raise CalibrationError(f"{where(named[0])}: {', '.join(named)} name the run a Bayesian calibration's space "
                               "was made for (--method abc); the point fit starts from the defaults")
    for name, bounds in space.items():
        def at(key: str | None = None, _name=name) -> str:
            return where(key, _name) if where.line(None, _name) is not None else where(_name)

        try:
            spec = Params.spec(name)
        except ParameterError as err:
            raise CalibrationError(f"{at()}: {err}") from err
        if not isinstance(bounds, dict):
            raise CalibrationError(f"{at()}: {name} must be a table [{name}] with low and high, got {bounds!r}")
        extra = sorted(set(bounds) - {"low", "high", "log"})
        if extra:        # before what is missing: 'hihg' is the missing high
            raise CalibrationError(f"{at(extra[0])}: [{name}] {unknown_key(extra[0], ('low', 'high', 'log'))}; "
                                   "a range has low, high and optionally log")
        if not {"low", "high"} <= set(bounds):
            raise CalibrationError(f"{at()}: [{name}] needs low and high (and optionally "
                                   f"log), got {sorted(bounds)}")
        low, high = bounds["low"], bounds["high"]
        for key, value in (("low", low), ("high", high)):
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
                raise CalibrationError(f"{at(key)}: [{name}] {key} = {value!r} is not a number")
        if not isinstance(bounds.get("log", False), bool):
            raise CalibrationError(f"{at('log')}: [{name}] log = {bounds['log']!r} must be true or false")
        if not low < high:
            raise CalibrationError(f"{at('low')}: [{name}] empty or inverted range [{low}, {high}]")
        if low < spec["low"] or high > spec["high"]:
            raise CalibrationError(
                f"{at('low' if low < spec['low'] else 'high')}: [{name}] range [{low}, {high}] leaves the "
                f"admissible range [{spec['low']}, {spec['high']}]"
            )
        if bounds.get("log") and low <= 0:
            raise CalibrationError(f"{at('low')}: [{name}] a log range needs low > 0")
    return space


def _seed_results(engine: str, params: Params, timeline, targets, seed: int) -> list:
    return evaluate(engines.simulate(engine, params, timeline, seed), targets)


OBJECTIVES = ("envelope", "mean")


class Objective:
    """Distance to all targets over fixed seeds, for one set of free-parameter values: by default the
    distance of the seeds' envelope (every target's lowest and highest value over the seeds, so it is 0
    only when every seed passes), or with ``kind="mean"`` the mean of the seeds' distances.

    A trial's seeds run side by side on ``executor`` (``batch.executor``; default: this process); the
    values are the same on any executor."""

    def __init__(self, base: Params, seeds: list[int], timeline=None, targets=None, margin: float = 0.0,
                 executor: Executor | None = None, kind: str = "envelope", engine: str = "array"):
        if kind not in OBJECTIVES:
            raise CalibrationError(f"unknown objective {kind!r}; choose one of {OBJECTIVES}")
        self.base = base
        self.kind = kind
        self.margin = margin
        self.seeds = seeds
        self.engine = engine
        self.timeline = timeline if timeline is not None else load_timeline()
        self.targets = targets if targets is not None else load_targets()
        self.executor = executor or InProcessExecutor()

    def evaluate(self, values: dict) -> tuple[float, list]:
        params = self.base.replace(**values)
        run = functools.partial(_seed_results, self.engine, params, self.timeline, self.targets)
        results = map_tasks(self.executor, run, self.seeds)
        if self.kind == "envelope":
            return envelope_distance(results, self.margin), results
        return mean_distance(results, self.margin), results


def load_start(path: Path, space: dict, base: Params | None = None) -> dict:
    """Free-parameter values to start from: the ``[params]`` table of a best_params.toml, or a plain
    table. Only free parameters: a fixed one given here would silently not be the one calibrated with.
    Each value must be admissible on ``base`` (default ``Params()``) and inside the space's range: a start
    outside the searched box would be clipped into it, i.e. not be the start asked for. Every refusal
    names the file and line (``CalibrationError``)."""
    document, where = read_located(Path(path), CalibrationError, "start file")
    values = document.get("params", document)
    table = "params" if "params" in document else ""
    if not isinstance(values, dict):
        raise CalibrationError(f"{where('params')}: [params] must be a table of parameter values, got {values!r}")
    fixed = sorted(set(values) - set(space))
    if fixed:
        raise CalibrationError(f"{where(fixed[0], table)}: {', '.join(fixed)} not free in the search space; "
                               "a start may only give free parameters")
    base = base if base is not None else Params()
    for name, value in values.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            raise CalibrationError(f"{where(name, table)}: {name} = {value!r} is not a number")
        try:
            base.replace(**{name: value})
        except ParameterError as err:
            raise CalibrationError(f"{where(name, table)}: {err}") from None
        low, high = space[name]["low"], space[name]["high"]
        if not low <= value <= high:
            raise CalibrationError(f"{where(name, table)}: {name} = {value!r} lies outside the search space's "
                                   f"range [{low}, {high}]; a start must lie in the box searched: move it, or "
                                   "widen the space (--space)")
    return values


def suggest(trial: optuna.Trial, space: dict) -> dict:
    return {name: trial.suggest_float(name, b["low"], b["high"], log=bool(b.get("log", False)))
            for name, b in space.items()}


def start_point(space: dict, start: Params) -> dict:
    """The free parameters' values at the start (the current defaults, or ``--start``), clipped into the space."""
    return {name: min(max(getattr(start, name), b["low"]), b["high"]) for name, b in space.items()}


def _trial_seed(seed: int, number: int) -> int:
    return int(np.random.SeedSequence([seed, number]).generate_state(1)[0] % (2**31 - 1))


class ResumableCmaEsSampler(optuna.samplers.CmaEsSampler):
    """CMA-ES whose random draws for a trial depend only on the optimiser's seed and the study's finished
    trials. Optuna's own sampler draws every trial from one generator that a restarted process rewinds, so
    a study stopped at 5 trials and resumed to 10 sampled other points from trial 5 on than one run to 10
    at once; with this one, resumed = uninterrupted. The draws are keyed by the count of finished trials,
    not the trial's number: a trial killed mid-way is closed as failed on resume and takes a number, and
    the trial that replaces it must draw what the killed one drew."""

    def __init__(self, *args, seed: int, **kwargs):
        super().__init__(*args, seed=seed, **kwargs)
        self._base_seed = seed

    @staticmethod
    def _finished(study) -> int:
        return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,)))

    def sample_relative(self, study, trial, search_space):
        # Optuna adds the trial's number to the seed of CMA-ES's draw; a stand-in numbered by the finished
        # trials keeps the draw of a trial that replaces a killed one.
        stand_in = copy.copy(trial)
        stand_in.number = self._finished(study)
        return super().sample_relative(study, stand_in, search_space)

    def before_trial(self, study, trial) -> None:
        seed = _trial_seed(self._base_seed, self._finished(study))
        self._cma_rng.rng.seed(seed)
        self._independent_sampler = optuna.samplers.RandomSampler(seed=seed)
        super().before_trial(study, trial)


def make_sampler(kind: str, space: dict, start: Params, seed: int, sigma: float | None = None
                 ) -> optuna.samplers.BaseSampler:
    if kind == "tpe":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True)
    # Search around the start, not around the space's centre.
    x0 = start_point(space, start)
    with warnings.catch_warnings():   # sigma0 is deprecated in Optuna 5 but still the way to narrow the search
        warnings.simplefilter("ignore", FutureWarning)
        return ResumableCmaEsSampler(x0=x0, sigma0=sigma, seed=seed, restart_strategy="ipop",
                                     warn_independent_sampling=False)


def _target_record(results: list) -> dict:
    """Each seed's value of each target, kept with its trial so the best one's table needs no rerun."""
    first = results[0]
    return {"keys": [r.target.key for r in first], "bands": [[r.target.low, r.target.high] for r in first],
            "values": [[r.value for r in seed] for seed in results],
            "passed": [[bool(r.passed) for r in seed] for seed in results]}


def write_outputs(study: optuna.Study, out: Path, base: Params, seeds: list[int], command: str) -> dict | None:
    """``history.csv`` (every trial), ``best_params.toml`` and ``best_targets.md``, from the study alone (no
    run again), so they are written on Ctrl-C too; None when no trial has finished."""
    history = study.trials_dataframe()
    history = history.drop(columns=[c for c in history.columns if c == "user_attrs_targets"])
    write_text(out, "history.csv", history.to_csv(index=False))
    finished = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not finished:
        return None
    best = study.best_trial
    best_values = base.replace(**best.params)
    commands = (out / "commands.log").read_text(encoding="utf-8").splitlines()
    provenance = {
        "date": dt.date.today().isoformat(),
        "command": commands[0] if commands else command,
        "resumed_with": commands[1:],
        "best_distance": best.value,
        "best_trial": best.number,
        "trials": len(finished),
        "seeds": seeds,
        "n_agents": base.n_agents,
        "code_version": {k: v for k, v in code_version().items() if v is not None},
        # Every code version that scored a trial of this study (more than one: it was resumed on other code).
        "trials_code_versions": sorted({t.user_attrs.get("code", "unrecorded") for t in finished}),
    }
    document = {"provenance": provenance,
                "params": {name: getattr(best_values, name) for name in best.params}}
    write_text(out, "best_params.toml", tomli_w.dumps(document))
    targets = best.user_attrs.get("targets")
    lines = ["| target | band | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|---|" + "---|" * len(seeds)]
    for i, key in enumerate(targets["keys"] if targets else []):
        low, high = targets["bands"][i]
        cells = [f"{values[i]:.4g} {'ok' if passed[i] else 'MISS'}"
                 for values, passed in zip(targets["values"], targets["passed"], strict=True)]
        lines.append(f"| {key} | [{low:.4g}, {high:.4g}] | " + " | ".join(cells) + " |")
    write_text(out, "best_targets.md",
               f"# Best parameters: distance {best.value:.4f} (trial {best.number} of {len(finished)})\n\n"
               + "\n".join(lines) + "\n")
    return provenance


@dataclasses.dataclass
class Calibration:
    """Everything a calibration method needs: the free parameters, the objective over the seeds (its
    ``executor``, ``batch.executor``, also gives a Dask client and the worker count to libraries with
    samplers of their own), the folder (resumable), the run's settings and the command that started it."""

    space: dict
    base: Params
    start: Params
    start_values: dict
    objective: Objective
    out: Path
    trials: int
    seed: int
    sigma: float | None
    progress: bool = True
    command: str = ""

    @property
    def executor(self) -> Executor:
        return self.objective.executor


def close_interrupted(study: optuna.Study) -> list[int]:
    """Trials left RUNNING by a killed process are closed as FAIL (they never finish), and said so."""
    closed = []
    for trial in study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.RUNNING,)):
        study._storage.set_trial_user_attr(trial._trial_id, "interrupted", True)
        study.tell(trial.number, state=optuna.trial.TrialState.FAIL)
        closed.append(trial.number)
    return closed


def _not_an_interruption(record: logging.LogRecord) -> bool:
    """Optuna logs a trial stopped by Ctrl-C as a failed trial, with its traceback; the command says itself
    that it was interrupted and what it kept."""
    return not (record.exc_info and isinstance(record.exc_info[1], KeyboardInterrupt))


def quiet_optuna() -> None:
    """Optuna's own messages from warnings up, without the traceback of a trial Ctrl-C stopped."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    for handler in logging.getLogger("optuna").handlers:
        if _not_an_interruption not in handler.filters:
            handler.addFilter(_not_an_interruption)


def optuna_method(sampler: str) -> Callable[[Calibration], dict]:
    """A calibration method on an Optuna study (``OUT/study.db``, resumable): CMA-ES or TPE. Writes
    ``history.csv``, ``best_params.toml`` and ``best_targets.md`` (on Ctrl-C too) and returns the provenance."""

    def method(cal: Calibration) -> dict:
        quiet_optuna()
        study = optuna.create_study(
            study_name=STUDY_NAME, storage=f"sqlite:///{cal.out / 'study.db'}", load_if_exists=True,
            sampler=make_sampler(sampler, cal.space, cal.start, cal.seed, cal.sigma), direction="minimize",
        )
        record(cal.out, [cal.out / "study.db"])
        closed = close_interrupted(study)
        if closed:
            print(f"closed {len(closed)} trial(s) a stopped run left unfinished: {closed}", file=sys.stderr)
        if not study.trials:
            # The start itself is the first trial: CMA-ES only samples around it, so without this a good
            # start is never scored, and a search that finds nothing better would not even return it.
            study.enqueue_trial(start_point(cal.space, cal.start))
        done = len([t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE])
        todo = max(0, cal.trials - done)
        with tqdm(total=cal.trials, initial=done, unit="trial", desc="calibration", file=sys.stderr,
                  disable=not cal.progress) as bar:
            def run_trial(trial: optuna.Trial) -> float:
                value, results = cal.objective.evaluate(suggest(trial, cal.space))
                trial.set_user_attr("seeds_passing_all", round(share_passing(results) * len(results)))
                trial.set_user_attr("targets", _target_record(results))
                trial.set_user_attr("code", source_hash())   # the code that scored it (history.csv)
                return value if math.isfinite(value) else 1e6

            def report(study: optuna.Study, trial) -> None:
                bar.update(1)
                bar.set_postfix(best=f"{study.best_value:.3f}")

            # Trial by trial, so that the count is of completed trials whatever failed on the way.
            try:
                while todo > 0:
                    study.optimize(run_trial, n_trials=1, callbacks=[report])
                    todo = cal.trials - len([t for t in study.trials
                                             if t.state == optuna.trial.TrialState.COMPLETE])
            except KeyboardInterrupt:
                # What finished is written before the command stops: the history and the best so far.
                if write_outputs(study, cal.out, cal.base, cal.objective.seeds, cal.command):
                    print(f"\ninterrupted: history.csv and best_params.toml written in {cal.out}", file=sys.stderr)
                raise
        provenance = write_outputs(study, cal.out, cal.base, cal.objective.seeds, cal.command)
        if provenance is None:
            raise CalibrationError("no trial finished: nothing to report")
        return provenance

    return method


# A calibration method: one function from the calibration's inputs (``Calibration``) to its outputs in
# ``cal.out`` (at least ``history.csv`` and ``best_params.toml``, written on Ctrl-C too), returning their
# provenance (``best_distance``, ``trials``, ...). A new method is one more entry.
METHODS: dict[str, Callable[[Calibration], dict]] = {
    "cmaes": optuna_method("cmaes"),
    "tpe": optuna_method("tpe"),
}
# Bayesian calibration is a method too, but with a command of its own (a posterior, not a point): ``--method abc``
# hands every other argument to ``python -m inference`` (inference/cli.py).
BAYESIAN_METHODS = ("abc",)
# The scale of a miss beyond a band in the point fit's distance, saved with a study so that one scored with
# the band's width (before edges had an sd) is not resumed under another objective.
BAND_MISS = "edge sd"


def _observations_identity(path: Path | None) -> str:
    """What the fit aims at, as saved with a study: the article's targets, or a file and its content's hash."""
    if path is None:
        return "article targets"
    return f"{path} sha256:{hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16]}"


def _method(argv) -> tuple[str | None, list[str]]:
    """``--method`` and the other arguments, read before the point fit's own parser (which does not know abc's)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--method")
    known, rest = parser.parse_known_args(sys.argv[1:] if argv is None else argv)
    return known.method, rest


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", choices=tuple(METHODS) + BAYESIAN_METHODS,
                        help="cmaes (default) or tpe: a point fit; abc: Bayesian calibration (python -m inference)")
    parser.add_argument("--observations", type=Path, help="fit this observation file's bands instead of the "
                        "article's targets (with --method abc: any observation file)")
    parser.add_argument("--space", type=Path, default=DEFAULT_SPACE, help="free parameters and their ranges (TOML)")
    parser.add_argument("--trials", type=positive_int, default=400,
                        help="total trials (a resumed study counts earlier ones)")
    parser.add_argument("--seeds", type=positive_int, default=3, help="model seeds per trial (common random numbers)")
    parser.add_argument("--agents", type=int, default=Params().n_agents, help="simulated users per run (default: the model's)")
    parser.add_argument("--driver", choices=ENGINE_NAMES, default="array", help="engine (default: array)")
    add_executor_arguments(parser)
    parser.add_argument("--sampler", choices=("cmaes", "tpe"), help="the same as --method (kept for old commands)")
    parser.add_argument("--margin", type=float, default=0.2,
                        help="aim this share of each band's width inside both edges (robustness to noise)")
    parser.add_argument("--objective", choices=OBJECTIVES, default="envelope",
                        help="envelope: every target's lowest and highest value over the seeds must be inside "
                        "(robust: aims at every seed passing); mean: the seeds' mean distance")
    parser.add_argument("--start", type=Path, help="start the search here: a best_params.toml of an earlier "
                        "calibration, or a TOML table of parameter values (default: the current defaults)")
    parser.add_argument("--seed", type=non_negative_int, default=0, help="the optimiser's own seed")
    parser.add_argument("--sigma", type=float, help="CMA-ES initial step, each range scaled to [0, 1] (default 1/6); "
                        "small values refine around the current defaults")
    add_output_arguments(parser, default=Path("outputs/calibration"), resumable=True, overwrite=False)
    args = parser.parse_args(argv)
    if args.method and args.sampler and args.method != args.sampler:
        parser.error(f"--method {args.method} and --sampler {args.sampler} disagree")
    args.method = args.method or args.sampler or "cmaes"
    return args


def check_settings(out: Path, settings: dict) -> None:
    """A folder holding a calibration with other settings is refused: two studies never mix."""
    settings_file = out / "calibration.toml"
    if settings_file.exists():
        saved = tomllib.loads(settings_file.read_text(encoding="utf-8"))
        saved.setdefault("objective", "mean")        # folders from before the envelope objective
        saved.setdefault("start", "defaults")
        saved.setdefault("driver", "array")
        saved.setdefault("observations", "article targets")    # folders from before --observations
        saved.setdefault("band_miss", "band width")    # folders from before a band's miss counted in edge sds
        now = tomllib.loads(tomli_w.dumps(settings))
        if saved != now:
            changed = [f"{key} {saved.get(key)!r} -> {now.get(key)!r}" for key in sorted(set(saved) | set(now))
                       if saved.get(key) != now.get(key)]
            raise CalibrationError(f"{out} holds a calibration with other settings ({'; '.join(changed)}; saved in "
                                   f"{settings_file}); use another --out to start afresh")


@command
def main(argv=None) -> int:
    method, rest = _method(argv)
    if method in BAYESIAN_METHODS:
        from inference.cli import main as abc_main

        return abc_main(rest, program="python -m experiments.calibrate --method abc")
    args = parse_args(argv)
    command_text = command_line(argv, __name__)
    space = load_space(args.space)
    if not 0.0 <= args.margin < 0.5:
        raise CalibrationError(f"--margin must be in [0, 0.5), got {args.margin}")
    if args.sigma is not None and not 0.0 < args.sigma <= 1.0:   # a step on ranges scaled to [0, 1]
        raise CalibrationError(f"--sigma must be in (0, 1], got {args.sigma}")
    base = Params().replace(n_agents=args.agents)
    start_values = load_start(args.start, space, base) if args.start else {}
    start = base.replace(**start_values)
    targets = load_observations(args.observations) if args.observations else None
    if targets is not None and any(o.band is None for o in targets):
        raise CalibrationError(f"{args.observations}: --method {args.method} fits bands; "
                               f"{', '.join(o.id for o in targets if o.band is None)} have an sd (use --method abc)")
    settings = {"space": space, "seeds": args.seeds, "agents": args.agents, "sampler": args.method,
                "seed": args.seed, "margin": args.margin, "sigma": args.sigma if args.sigma is not None else "default",
                "objective": args.objective, "start": start_values or "defaults", "driver": args.driver,
                "observations": _observations_identity(args.observations),
                # How a miss beyond a band is scored: a study scored another way is another study.
                "band_miss": BAND_MISS}
    hold_folder(args.out)     # another study writing there is refused before any work
    if (args.out / "calibration.toml").exists():
        check_settings(args.out, settings)
    seeds = list(range(args.seeds))
    # The executor first: an unreachable cluster is refused before any folder is made.
    with open_executor(min(args.workers or default_workers(), len(seeds)), args.scheduler) as executor:
        out = open_folder(args.out)
        if not (out / "calibration.toml").exists():
            write_text(out, "calibration.toml", tomli_w.dumps(settings))
        with open(out / "commands.log", "a", encoding="utf-8") as log:   # the command that started it, then resumptions
            log.write(command_text + "\n")
        record(out, [out / "commands.log"])
        objective = Objective(base, seeds, targets=targets, margin=args.margin, executor=executor, kind=args.objective,
                              engine=args.driver)
        cal = Calibration(space, base, start, start_values, objective, out, args.trials, args.seed, args.sigma,
                          progress=not args.quiet, command=command_text)
        provenance = METHODS[args.method](cal)
    print(f"best distance {provenance['best_distance']:.4f} after {provenance['trials']} trials; "
          f"parameters in {out / 'best_params.toml'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
