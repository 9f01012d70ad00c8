"""Bayesian calibration by ABC-SMC (pyABC): a resumable run whose history is a SQLite file.

``prepare`` reads and checks everything (observations, priors, run config, variants) before any simulation,
and fills in what was not given from the observations: the space declared for them
(``inference.space.default_space``), the base config and population size that space names;
``run_abc`` runs the generations into ``OUT/history.db``, pyABC's ``History``, which stores each finished
generation in one transaction: a run killed at any point (even by SIGKILL, mid-generation) loses only the
unfinished generation, and the same command resumes from the last finished one. ``OUT/calibration.toml``
is the run's identity (settings, the content of every input file, the hash of the simulations' source): a folder holding a
run made from anything else is refused, so a saved history is only ever continued by the same calibration.

With several variants (``--variants FILE``), the same run is pyABC's model selection: each particle is a
(variant, parameters) pair, and the posterior gives each variant's probability given the observations.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import math
import os
import tomllib
from pathlib import Path

import numpy as np
import pandas as pd
import tomli_w

from batch.errors import InputError
from batch.identity import source_hash
from batch.outputs import hold_folder
from inference.simulate import ObservationDistance, ObservationModel, observed_data
from inference.space import (
    LOG_PREFIX,
    Prior,
    Variant,
    default_space,
    load_space,
    load_variants,
    pyabc_prior,
    scale_priors,
)
from model.config import ConfigError, RunConfig, load_config
from model.observations import ObservationSet, load_observations
from model.params import ParameterError
from model.tomlfile import Locator

ROOT = Path(__file__).resolve().parent.parent
HISTORY = "history.db"
IDENTITY = "calibration.toml"
# Too few particles make quantiles and model probabilities noise: such a run is flagged in its outputs.
MIN_TRUSTED_POPULATION = 100
# The last generation's effective sample size below which the posterior is flagged as too thin: a 5% or
# 95% quantile from fewer effective particles rests on under five of them beyond it.
MIN_TRUSTED_ESS = 100
DEFAULT_AGENTS = 5_000


class CalibrationError(InputError):
    """Settings, inputs or an output folder that a calibration cannot use."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Everything a calibration is made from (with the files' contents, its identity). ``space``, ``config``
    and ``agents`` left None are chosen by ``prepare`` from the observations (see the module's docstring)."""
    observations: Path
    space: Path | None = None
    config: Path | None = None
    agents: int | None = None
    population_size: int = 300
    # Eight: on the observed regime (space-observed.toml) five generations left the tolerance at 5.8 and
    # the predictive bands short of 13 January's 3.4 M (6 of 7 figures); eight reached 3.5 and covered 7 of 7
    # (README, calibration).
    generations: int = 8
    min_epsilon: float = 0.0
    variants: Path | None = None
    seed: int = 0
    end: dt.date | None = None              # last simulated day (default: the observations' last date)
    forecast_end: dt.date = dt.date(2025, 12, 31)
    draws: int = 100                        # posterior predictive runs

    def check(self) -> None:
        if (self.agents is not None and self.agents < 10) or self.population_size < 2 or self.generations < 1 or self.draws < 1:
            raise CalibrationError("--agents must be at least 10, --population at least 2, --generations and "
                                   "--draws at least 1")
        if not (self.min_epsilon >= 0 and math.isfinite(self.min_epsilon)):
            raise CalibrationError(f"--min-epsilon must be a finite number >= 0, got {self.min_epsilon}")


@dataclasses.dataclass
class Problem:
    """A calibration, read and checked: ready to simulate. ``settings`` has every choice filled in;
    ``chosen_by`` says for the space, the config and the population size where each came from."""
    settings: Settings
    config: RunConfig
    observations: ObservationSet
    priors: tuple[Prior, ...]
    scales: tuple[Prior, ...]
    variants: tuple[Variant, ...]
    chosen_by: dict = dataclasses.field(default_factory=dict)

    @property
    def all_priors(self) -> tuple[Prior, ...]:
        return self.priors + self.scales

    def priors_of(self, variant: Variant | None) -> tuple[Prior, ...]:
        """The free parameters' priors of one variant (those it does not fix), or all of them."""
        return variant.free(self.priors) if variant is not None else self.priors

    def models(self, driver_pid: int | None = None, workers: int | None = None) -> list[ObservationModel]:
        timeline = self.config.timeline()
        variants = self.variants or (None,)
        return [ObservationModel(self.config, timeline, self.observations, self.priors_of(v), self.scales, v,
                                 driver_pid=driver_pid, workers=workers) for v in variants]

    @property
    def variant_names(self) -> list[str]:
        return [v.name for v in self.variants] or ["model"]


def _shown(path: Path) -> Path:
    """A chosen file as a user would type it: relative to the working folder when inside it."""
    path = Path(path).resolve()
    try:
        return path.relative_to(Path.cwd())
    except ValueError:
        return path


def prepare(settings: Settings) -> Problem:
    """Read and check every input, choosing the space, config and population size not given; raises
    ``CalibrationError`` (naming file and line) before any simulation.

    A space made for another regime is refused: when the run config sets a free parameter outside its
    prior (the pre-mechanism space around the observed regime's config, or the observed space around the
    defaults), the other parameters were fitted with values the prior excludes."""
    settings.check()
    chosen_by = {}
    try:
        if settings.space is None:     # the file's name chooses it; its dates are checked below
            space_path, chosen_by["space"] = default_space(load_observations(settings.observations, period=None))
            settings = dataclasses.replace(settings, space=_shown(space_path))
        else:
            chosen_by["space"] = "--space"
        space = load_space(settings.space)
        if settings.config is None and space.base is not None:
            settings = dataclasses.replace(settings, config=_shown(space.base))
            chosen_by["config"] = f"the space's base ({settings.space})"
        else:
            chosen_by["config"] = ("the defaults (no --config, and the space names no base)" if settings.config is None
                                   else "--config" + (f" (instead of the space's base, {_shown(space.base)})"
                                                      if space.base not in (None, Path(settings.config).resolve())
                                                      else ""))
        if settings.agents is None:
            chosen_by["agents"] = f"the space's agents ({settings.space})" if space.agents else "the default"
            settings = dataclasses.replace(settings, agents=space.agents or DEFAULT_AGENTS)
        else:
            chosen_by["agents"] = "--agents"
        config = load_config(settings.config)
        base = config.params.replace(n_agents=settings.agents)
        period = (base.start, settings.forecast_end)
        observations = load_observations(settings.observations, period=period)
        end = settings.end or observations.last_date(period)
        if end < observations.last_date(period):
            raise CalibrationError(f"--end {end} is before the last date the observations read "
                                   f"({observations.last_date(period)})")
        if settings.forecast_end < end:
            raise CalibrationError(f"the forecast ends ({settings.forecast_end}) before the fit ({end})")
        config = dataclasses.replace(config, params=base.replace(end=end))
        priors = space.priors
        scales = scale_priors(observations)
        clash = {p.name for p in priors} & {s.name for s in scales}
        if clash:
            raise CalibrationError(f"{settings.space}: {sorted(clash)} are names of the sources' scales")
        outside = [p for p in priors if not p.low <= getattr(config.params, p.name) <= p.high]
        if outside:
            # Where each clash is written: the prior's line in the space, the value's in the config.
            in_space = Locator(str(settings.space), Path(settings.space).read_text(encoding="utf-8"))
            in_config = (Locator(str(settings.config), Path(settings.config).read_text(encoding="utf-8"))
                         if settings.config is not None else None)

            def clash(p) -> str:
                prior = in_space(None, p.name) if in_space.line(None, p.name) is not None else in_space(p.name)
                value = getattr(config.params, p.name)
                set_at = (f", set at {in_config(p.name, 'params')}"
                          if in_config is not None and in_config.line(p.name, "params") is not None else "")
                return f"{p.name} = {value:.4g} (prior [{p.low:g}, {p.high:g}] at {prior}{set_at})"

            raise CalibrationError(
                f"{settings.space} does not suit the run config {settings.config or '(the defaults)'}: it sets "
                + ", ".join(clash(p) for p in outside)
                + ": the space was made for another regime; give a space around this config (--space) or the "
                "config it was made for (--config; a space may name it: base = ...)")
        variants = load_variants(settings.variants, config.params) if settings.variants else ()
        config.timeline()      # a broken timeline or edit fails here, not in the first simulation
    except (ConfigError, ParameterError) as err:
        raise CalibrationError(str(err)) from err
    except ValueError as err:     # ObservationError, PriorError
        if isinstance(err, CalibrationError):
            raise
        raise CalibrationError(str(err)) from err
    return Problem(settings, config, observations, priors, scales, variants, chosen_by)


# The source that makes a calibration's simulations and their acceptance: a change here is a changed
# calibration. Reports and figures (inference/report.py, cli.py) are remade from the history and may change.
SIMULATION_CODE = ("agents", "model", "inference/simulate.py", "inference/space.py", "inference/calibration.py")


def code_hash() -> str:
    """A hash of the source that makes the simulations (``SIMULATION_CODE``), as the batch layer hashes a run's."""
    return source_hash(SIMULATION_CODE)


def _file_hash(path: Path | None) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()[:16] if path is not None else "none"


# When to stop, not what the particles are: a history stopped after 4 generations is continued, or
# finished as it is, by the same command with another --generations or --min-epsilon.
STOPPING_RULES = ("generations", "min_epsilon")


def identity(problem: Problem) -> dict:
    """What made this calibration: settings, the input files' content and the code's hash."""
    s = problem.settings
    timeline = problem.config.timeline_path
    return {
        "settings": {k: (str(v) if isinstance(v, (Path, dt.date)) or v is None else v)
                     for k, v in dataclasses.asdict(s).items() if k not in STOPPING_RULES},
        "inputs": {"observations": _file_hash(s.observations), "space": _file_hash(s.space),
                   "config": _file_hash(s.config), "variants": _file_hash(s.variants),
                   "timeline": _file_hash(timeline)},
        "code": code_hash(),
    }


def claim_folder(problem: Problem, out: Path) -> None:
    """Make ``out`` this calibration's folder, or check it already is: refuse one made from anything else.

    Locks it first (``batch.outputs.hold_folder``: until the command ends): a second calibration into the
    same folder while one runs is refused (``FolderInUse``) before it opens the history."""
    out = Path(out)
    if not out.resolve().parent.is_dir():
        raise CalibrationError(f"parent folder of --out does not exist: {out.resolve().parent}")
    hold_folder(out)
    out.mkdir(exist_ok=True)
    mine = identity(problem)
    path = out / IDENTITY
    if path.exists():
        saved = tomllib.loads(path.read_text(encoding="utf-8"))
        if saved != tomllib.loads(tomli_w.dumps(mine)):
            changed = sorted(f"{section}.{key}" for section in mine for key in
                             (mine[section] if isinstance(mine[section], dict) else [None])
                             if (saved.get(section, {}).get(key) if key else saved.get(section))
                             != (mine[section][key] if key else mine[section]))
            raise CalibrationError(f"{out} holds a calibration made from other inputs ({', '.join(changed)}); "
                                   "use another --out to start afresh")
    else:
        elsewhere = [p.name for p in out.iterdir()]
        if elsewhere:
            raise CalibrationError(f"{out} is not empty and holds no calibration ({', '.join(sorted(elsewhere)[:3])}"
                                   "...); use an empty or new folder")
        tmp = path.with_suffix(".tmp")
        tmp.write_text(tomli_w.dumps(mine), encoding="utf-8")
        os.replace(tmp, path)


def history_url(out: Path) -> str:
    return f"sqlite:///{Path(out).resolve() / HISTORY}"


def finished_generations(out: Path) -> int:
    """Generations stored in ``OUT/history.db`` (0 when none)."""
    import pyabc

    if not (Path(out) / HISTORY).exists():
        return 0
    history = pyabc.History(history_url(out), _id=1)
    try:
        return max(0, (history.max_t if history.max_t is not None else -1) + 1)
    except Exception:     # a database killed before pyABC wrote its first run
        return 0


def is_complete(history, settings: Settings) -> bool:
    """Whether a history has all its generations or reached the final tolerance."""
    if history.max_t is None or history.max_t < 0:
        return False
    if history.max_t + 1 >= settings.generations:
        return True
    populations = history.get_all_populations()
    return bool(settings.min_epsilon > 0 and populations["epsilon"].iloc[-1] <= settings.min_epsilon)


def proposal_kernel(population_size: int):
    """How a generation proposes particles from the last: pyABC's ``LocalTransition``, a Gaussian around
    each particle with the covariance of its nearest quarter of the population (``population_size``).

    The quarter is of the whole population, not of each variant's share of it: in a model comparison a
    variant holding a fifth of 150 particles would otherwise estimate an 8-parameter covariance from its 8
    nearest particles (pyABC's ``k_fraction`` counts the variant's own, floored at the number of
    parameters), proposing from thin Gaussians whose gaps take large weights. A variant with fewer particles
    than that uses all of them. With one model the two are the same. (Comparisons before this ended with an
    effective sample size of 22-37 of 150-200 particles; the first after it, 614 of 800, each variant's 246
    and 372: not measured apart from the larger population.)

    Several parameters are barely told apart by January's few figures, so the posterior fills most of its
    box: one Gaussian with the population's covariance (pyABC's default) proposes thinly near the box's
    corners, and the few particles accepted there take large weights. On the first observed regime's space
    (7 parameters, January 2025, 300 particles; 2026-11-30) the default's effective sample size fell to 34 by
    the third generation, the local kernel's to 196."""
    import pyabc

    return pyabc.LocalTransition(k=max(1, int(0.25 * population_size)), k_fraction=None)


def run_abc(problem: Problem, out: Path, sampler, log=print):
    """Run (or resume) the ABC-SMC calibration into ``out``; returns pyABC's ``History``.

    With a single-process sampler the run is reproducible from ``settings.seed`` (numpy's global generator
    is seeded with it, and again with (seed, generation) when a run resumes)."""
    import pyabc

    out = Path(out)
    s = problem.settings
    # Local worker processes exit when the driver is gone (SIGKILL skips their clean-up); Dask's workers
    # belong to their own nanny processes and cluster.
    local = isinstance(sampler, pyabc.sampler.MulticoreEvalParallelSampler)
    models = problem.models(driver_pid=os.getpid() if local else None, workers=sampler.n_procs if local else None)
    priors = [pyabc_prior(model.priors + model.scales) for model in models]
    abc = pyabc.ABCSMC(models, priors, ObservationDistance(problem.observations),
                       population_size=s.population_size, sampler=sampler,
                       transitions=[proposal_kernel(s.population_size) for _ in models])
    url = history_url(out)
    done = finished_generations(out)
    if done:
        history = abc.load(url, 1)
        log(f"resuming {out / HISTORY}: {done} generation(s) done")
    else:
        db = out / HISTORY
        if db.exists():       # ours, killed before its first generation was stored: nothing in it to keep
            db.unlink()
        np.random.seed(s.seed)
        history = abc.new(url, observed_data(problem.observations),
                          meta_info={"observations": str(s.observations), "space": str(s.space)})
    if not is_complete(history, s):
        np.random.seed([s.seed, done])
        history = abc.run(minimum_epsilon=s.min_epsilon, max_nr_populations=s.generations - done)
    return history


# --- reading a finished history --------------------------------------------------------------------------

def posterior_particles(history, problem: Problem, t: int | None = None) -> pd.DataFrame:
    """The population's particles: one row each, with ``variant``, ``weight`` (summing to 1 over all
    variants) and every parameter in its own units (NaN where a variant does not have it)."""
    probabilities = history.get_model_probabilities(t)
    row = probabilities.iloc[-1] if t is None else probabilities.loc[t]
    frames = []
    for m, name in enumerate(problem.variant_names):
        if m not in row.index or not row[m] > 0:
            continue
        df, w = history.get_distribution(m=m, t=t)
        part = pd.DataFrame(index=range(len(df)))
        for p in problem.all_priors:
            part[p.name] = [p.value(x) for x in df[p.key]] if p.key in df else math.nan
        part.insert(0, "variant", name)
        part["weight"] = np.asarray(w) * row[m]
        frames.append(part)
    particles = pd.concat(frames, ignore_index=True)
    particles["weight"] /= particles["weight"].sum()
    return particles


def weighted_quantile(values, weights, q) -> float:
    values, weights = np.asarray(values, float), np.asarray(weights, float)
    order = np.argsort(values)
    values, weights = values[order], weights[order]
    cumulative = (np.cumsum(weights) - 0.5 * weights) / weights.sum()
    return float(np.interp(q, cumulative, values))


def posterior_table(particles: pd.DataFrame, priors: tuple[Prior, ...]) -> pd.DataFrame:
    """Median and 90% interval (5%-95%, weighted) of each parameter, with its prior range."""
    rows = []
    for p in priors:
        have = particles[p.name].notna()
        v, w = particles.loc[have, p.name], particles.loc[have, "weight"]
        if not have.any():     # free only in variants the posterior has left
            rows.append({"parameter": p.name, "median": math.nan, "q05": math.nan, "q95": math.nan,
                         "mean": math.nan,
                         "prior": f"{'log-uniform' if p.log else 'uniform'} [{p.low:g}, {p.high:g}]"})
            continue
        rows.append({"parameter": p.name, "prior": f"{'log-uniform' if p.log else 'uniform'} [{p.low:g}, {p.high:g}]",
                     "median": weighted_quantile(v, w, 0.5), "q05": weighted_quantile(v, w, 0.05),
                     "q95": weighted_quantile(v, w, 0.95),
                     "mean": float(np.average(v, weights=w))})
    return pd.DataFrame(rows)


def generations_table(history, variant_names=()) -> pd.DataFrame:
    """Per generation: tolerance, simulations, particles, acceptance rate and effective sample size. With
    model comparison (two or more ``variant_names``, in pyABC's model order) one more column per variant,
    ``ess[NAME]``: the effective sample size of that variant's own particles (0 once it has none), which its
    posterior and its probability rest on; the population's ``ess`` can be large while one variant has a
    handful."""
    import pyabc

    def ess_of(weights) -> float:
        weights = np.asarray(weights, dtype=float)
        return float(pyabc.weighted_statistics.effective_sample_size(weights)) if weights.size else 0.0

    populations = history.get_all_populations()
    populations = populations[populations["t"] >= 0].copy()
    populations["ess"] = [ess_of(history.get_weighted_sum_stats(t=int(t))[0]) for t in populations["t"]]
    populations["acceptance_rate"] = populations["particles"] / populations["samples"]
    columns = ["t", "epsilon", "samples", "particles", "acceptance_rate", "ess", "wall_time"]
    if len(variant_names) > 1:
        for m, name in enumerate(variant_names):
            populations[f"ess[{name}]"] = [ess_of(history.get_distribution(m=m, t=int(t))[1])
                                           for t in populations["t"]]
            columns.append(f"ess[{name}]")
    return populations[columns]


def too_thin(problem: Problem, generations: pd.DataFrame) -> list[str]:
    """Why a finished calibration is too thin to trust (empty when it is not): too few particles, generations
    missing, or a last generation whose effective sample size is under ``MIN_TRUSTED_ESS``, the population's
    or, in a model comparison, any variant's (``generations_table``'s ``ess[NAME]``)."""
    s = problem.settings
    last = generations.iloc[-1]
    reasons = []
    if s.population_size < MIN_TRUSTED_POPULATION:
        reasons.append(f"a population of {s.population_size} particles (fewer than {MIN_TRUSTED_POPULATION}: "
                       "quantiles and probabilities are rough)")
    if len(generations) < s.generations and not (s.min_epsilon > 0 and last["epsilon"] <= s.min_epsilon):
        reasons.append(f"{len(generations)} of {s.generations} generations")
    if last["ess"] < MIN_TRUSTED_ESS:
        reasons.append(f"an effective sample size of {last['ess']:.0f} in the last generation (under "
                       f"{MIN_TRUSTED_ESS}: its 90% intervals rest on a handful of particles)")
    for column in (c for c in generations.columns if c.startswith("ess[")):
        if last[column] < MIN_TRUSTED_ESS:
            reasons.append(f"variant {column[4:-1]}: an effective sample size of {last[column]:.0f} in the last "
                           f"generation (under {MIN_TRUSTED_ESS}: its probability and posterior rest on a handful "
                           "of its particles)")
    return reasons


def model_probabilities(history, problem: Problem) -> pd.DataFrame:
    """Each variant's posterior probability at every generation (columns: variant names)."""
    probabilities = history.get_model_probabilities()
    probabilities = probabilities.reindex(columns=range(len(problem.variant_names)), fill_value=0.0)
    probabilities.columns = problem.variant_names
    return probabilities


__all__ = ["LOG_PREFIX", "CalibrationError", "Problem", "Settings", "claim_folder", "generations_table",
           "model_probabilities", "posterior_particles", "posterior_table", "prepare", "run_abc", "too_thin"]
