"""Stage 2026-11-30-observed-2: re-fit ``scenarios/observed-2025-01.toml`` with the two mechanisms of 13 January
2025 (the migration as dated news, a day's time shared), by CMA-ES (Optuna's ``CmaEsSampler``).

    .venv/bin/python data/calibration/stages/2026-11-30-observed-2/fit.py --trials 300 --agents 10000 \\
        --seeds 2 --workers 2 --out outputs/observed-2-search
    # refine at the default size from the best so far:
    .venv/bin/python data/calibration/stages/2026-11-30-observed-2/fit.py --trials 60 --agents 50000 \\
        --sigma 0.05 --start outputs/observed-2-search/best_params.toml --out outputs/observed-2-refine

Objective (the first observed stage's, ``../2026-11-30-observed/README.md``, kept here as code): each run cut
to 2025-02-28; the January observations (``data/observations/january-2025.toml``) read on every seed, the
median reading over the seeds, Similarweb's scale fitted to those medians (``ObservationSet.fit_scales``);
each figure's miss beyond its band (in band widths; for a one-sided band, as a share of its bound) or beyond
``--aim`` sds of its value (in sds; the check counts a figure met within 2, and the search aims a little
inside that so that the median over 20 seeds keeps it), summed; plus penalties on a size nothing observed
bounds: 3 x log(cumulative downloads / 30 M) above 30 M, 3 x log(peak RedNote DAU x Similarweb's scale /
17 M) above 17 M, and 5 x (DAU on 15 February / its peak - 0.7) above 0.7 (a surge that does not decay).
With ``--need NAME=VALUE[,NAME=VALUE]`` (repeatable; a mechanism of several parameters joined by commas) the
same seeds are also run with that mechanism switched off, and
the objective adds 3 x (0.3 - that run's summed misses at the check's 2 sds, over the figures the fit
itself meets there) where positive: the fit is
asked to be one where the mechanism is needed for a January figure (issue 15 asks each mechanism to be
needed for one; which fits qualify is then a choice among equally good fits, and the record says so).

``--observations FILE`` (repeatable) fits several observation files together, a source named in several
of them read on one scale (``load_joint_observations``); the next stage (``../2026-12-01-observed-3/fit.py``)
reuses this search that way, with its own free parameters, start and caps (``main``'s arguments).

The study is an SQLite file in ``--out`` (``study.db``): a killed search loses no finished trial and the
same command resumes it; ``history.csv`` is rewritten from the study after every trial (one row per trial:
distance, medians met, each figure's miss, size, parameters) and ``best_params.toml`` holds the best trial.
Seeds of one trial run in parallel on ``--workers`` processes (one thread each).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import datetime as dt
import math
import sys
import tomllib
from pathlib import Path

import numpy as np
import optuna
import pandas as pd

ROOT = Path(__file__).resolve().parents[4]
sys.path.insert(0, str(ROOT))

from model.config import load_config  # noqa: E402
from model.observations import ObservationSet, load_observations  # noqa: E402

CONFIG = ROOT / "scenarios" / "observed-2025-01.toml"
OBSERVATIONS = ROOT / "data" / "observations" / "january-2025.toml"
END = dt.date(2025, 2, 28)

# The free parameters and their search ranges (inside Params' own): the two new mechanisms, the moment's
# activity (which turns installed accounts into daily users), the news's spread, the installed base before
# the surge and the return of dormant accounts, and RedNote's value.
SPACE = {
    "migration_news_weight": (0.0, 2.0),
    "tiktok_time_split": (0.0, 1.0),
    "activity_floor": (0.02, 0.6),
    "attention_activity": (0.2, 1.0),
    "threat_attention": (0.0, 0.6),
    "novelty_activity": (0.0, 0.6),
    "news_echo": (0.0, 4.0),
    "news_lag_days": (0.0, 4.0),
    "wave_news_threshold": (0.3, 10.0),
    "initial_rednote_share": (0.003, 0.05),
    "initial_rednote_stickiness": (0.0, 0.6),
    "initial_tiktok_stickiness": (0.8, 1.0),
    "dormant_return_cost": (0.05, 1.0),
    "rednote_appeal": (-3.0, 2.0),
    "stickiness_growth": (0.001, 0.05),
    # Added for the fifth search: how much a day of buzz teaches (the 14th's installs) and how early the
    # threat rises (the first week's installs): the two ends of Sensor Tower's week ratio.
    "wave_coverage": (0.05, 3.0),
    "anticipation_days": (1.0, 15.0),
}
# Where the search starts: a point set by hand after a first search of 184 trials from an earlier hand
# point (history-search-1.csv, trial 0) had stalled at 5-6 of 7 medians with the jump at most 2.6 x: no lag
# and no threat in the moment's attention (both lift 12 January's activity and so shrink the jump), a low
# habit floor, a large installed base with little habit (6 of 7 on seed 0: Sensor Tower's ratio 3.8). The last two
# entries came with the fifth search, at the scenario's values of then.
START = {
    "migration_news_weight": 1.5, "tiktok_time_split": 0.7, "activity_floor": 0.08, "attention_activity": 0.95,
    "threat_attention": 0.02, "novelty_activity": 0.02, "news_echo": 1.88, "news_lag_days": 0.05,
    "wave_news_threshold": 1.6, "initial_rednote_share": 0.035, "initial_rednote_stickiness": 0.05,
    "initial_tiktok_stickiness": 0.98, "dormant_return_cost": 0.3, "rednote_appeal": -0.57,
    "stickiness_growth": 0.0065, "wave_coverage": 1.4, "anticipation_days": 3.494433,
}
DOWNLOADS_CAP, PEAK_CAP, DECAY_CAP = 30e6, 17e6, 0.7
NEED_WEIGHT, NEED_MARGIN = 3.0, 0.3


def load_joint_observations(paths) -> ObservationSet:
    """The observations of several files read as one set: a source named in several files is one source
    with one scale (the same panel measuring the same thing; the next stage reads Similarweb's figures of
    13 and 19 January on one scale), so its scale prior must be the same in every file."""
    sets = [load_observations(path) for path in paths]
    if len(sets) == 1:
        return sets[0]
    sources, observations = {}, []
    for part in sets:
        for name, source in part.sources.items():
            if name in sources and sources[name].scale != source.scale:
                raise SystemExit(f"{part.path}: source {name!r} has scale {source.scale}, another file "
                                 f"{sources[name].scale}: one source, one scale prior")
            sources.setdefault(name, source)
        observations += list(part.observations)
    ids = [o.id for o in observations]
    if len(set(ids)) != len(ids):
        raise SystemExit(f"observation ids repeat across {', '.join(map(str, paths))}")
    return dataclasses.replace(sets[0], observations=tuple(observations), sources=sources,
                               name=" + ".join(part.name for part in sets), path=None)


def run_seed(task):
    """One run cut to ``END``: its daily frame (array engine, one thread)."""
    from model.array_model import ArrayMigrationModel

    params, timeline, seed = task
    return ArrayMigrationModel(params, timeline, rng=seed, threads=1).run()


def miss(observation, figure: float, aim: float) -> float:
    """How far a figure is from meeting an observation: 0 inside; beyond a band in band widths (a share of
    the bound for a one-sided band); beyond ``aim`` sds of the value, in sds."""
    if not math.isfinite(figure):
        return 10.0
    if observation.band is not None:
        low, high = observation.band
        width = high - low
        if low <= figure <= high:
            return 0.0
        if figure < low:
            return (low - figure) / (width if math.isfinite(width) else abs(low))
        return (figure - high) / (width if math.isfinite(width) else abs(high))
    return max(0.0, abs(figure - observation.value) - aim * observation.sd) / observation.sd


def score(frames: list[pd.DataFrame], observations, aim: float, caps=(DOWNLOADS_CAP, PEAK_CAP, DECAY_CAP),
          weights=None) -> dict:
    """The distance and what it is made of. ``weights``: a figure's miss counts that many times (default 1)."""
    weights = weights or {}
    readings = pd.DataFrame([observations.read(f) for f in frames]).median().to_dict()
    scales = observations.fit_scales(readings)
    figures = observations.figures(readings, scales)
    scale = scales.get("scale_similarweb", 1.0)
    misses = {o.id: miss(o, figures[o.id], aim) for o in observations}
    met = sum(o.meets(figures[o.id]) for o in observations)
    downloads = float(np.median([f["cumulative_downloads"].iloc[-1] for f in frames]))
    peak = float(np.median([f["rednote_dau"].max() for f in frames]))
    decay = float(np.median([f.at[pd.Timestamp("2025-02-15"), "rednote_dau"] / f["rednote_dau"].max() for f in frames]))
    jump = float(np.median([f.at[pd.Timestamp("2025-01-13"), "rednote_dau"] / f.at[pd.Timestamp("2025-01-12"), "rednote_dau"]
                            for f in frames]))
    downloads_cap, peak_cap, decay_cap = caps   # a cap of None: not penalised (an observation bounds it)
    penalty = ((3 * max(0.0, math.log(downloads / downloads_cap)) if downloads_cap else 0.0)
               + (3 * max(0.0, math.log(peak * scale / peak_cap)) if peak_cap else 0.0)
               + 5 * max(0.0, decay - decay_cap))
    return {"distance": sum(weights.get(k, 1.0) * v for k, v in misses.items()) + penalty, "medians_met": met, "cumulative_downloads_model": downloads,
            "peak_dau_similarweb": peak * scale, "dau_feb15_over_peak": decay, "jump_jan13_over_jan12": jump,
            "scale_similarweb": scale, **{f"miss.{k}": v for k, v in misses.items()},
            **{f"figure.{k}": v for k, v in figures.items()}}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trials", type=int, default=300, help="trials to add to the study")
    parser.add_argument("--agents", type=int, default=10_000)
    parser.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 per trial")
    parser.add_argument("--workers", type=int, default=2, help="processes running a trial's seeds")
    parser.add_argument("--sigma", type=float, default=0.2, help="CMA-ES step, as a share of each range")
    parser.add_argument("--aim", type=float, default=1.5, help="sds of an observed value the search aims within")
    parser.add_argument("--start", help="where to start (default: START): a best_params.toml, or a trial of a "
                        "history, HISTORY.csv:TRIAL (a parameter the history lacks keeps the scenario's value)")
    parser.add_argument("--need", action="append", default=[], metavar="NAME=VALUE[,NAME=VALUE]",
                        help="a mechanism's off values (several parameters of one mechanism joined by commas): "
                        "the fit should miss a figure without it (repeatable)")
    parser.add_argument("--observations", action="append", type=Path, metavar="FILE",
                        help="observation file(s) fitted together, one scale per source (repeatable; default: "
                        "data/observations/january-2025.toml)")
    parser.add_argument("--out", type=Path, required=True)
    return parser.parse_args(argv)


def main(argv=None, space=None, start_point=None, caps=(DOWNLOADS_CAP, PEAK_CAP, DECAY_CAP),
         study_name="observed-2", weights=None, extra=None) -> int:
    """The search. A later stage reuses it with its own free parameters (``space``), start, caps, weights
    (observation id -> how many times its miss counts) and ``extra``: a function of a trial's frames giving
    further misses ({name: miss}), added to the distance and recorded."""
    space = SPACE if space is None else space
    args = parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    config = load_config(CONFIG, n_agents=args.agents)
    observations = load_joint_observations(args.observations or [OBSERVATIONS])
    timeline = config.timeline()
    start = dict(START if start_point is None else start_point)
    if args.start and ".csv:" in args.start:
        history, _, trial = args.start.rpartition(":")
        row = pd.read_csv(history).set_index("trial").loc[int(trial)]
        start = {k: float(row[k]) if k in row.index else float(getattr(config.params, k)) for k in space}
    elif args.start:
        start.update({k: v for k, v in tomllib.loads(Path(args.start).read_text())["params"].items() if k in space})
    # Optuna's CMA-ES works on each range mapped to [0, 1]: sigma0 is a share of every range. (x0 and sigma0
    # are deprecated since Optuna 4.9 and go in 6.0; the start is also enqueued as trial 0 below.)
    sampler = optuna.samplers.CmaEsSampler(x0=start, sigma0=args.sigma, seed=1)
    study = optuna.create_study(study_name=study_name, storage=f"sqlite:///{args.out / 'study.db'}",
                                sampler=sampler, load_if_exists=True, direction="minimize")
    if not study.trials:
        study.enqueue_trial(start)
    seeds = list(range(args.seeds))
    needs = {}
    for entry in args.need:
        pairs = dict(part.partition("=")[::2] for part in entry.split(","))
        off = config.params.replace(**{k: type(getattr(config.params, k))(float(v))   # an int switch stays int
                                       for k, v in pairs.items()})   # checked as any parameter
        needs["+".join(pairs)] = {k: getattr(off, k) for k in pairs}
    pool = concurrent.futures.ProcessPoolExecutor(args.workers)

    def objective(trial: optuna.Trial) -> float:
        values = {k: trial.suggest_float(k, a, b) for k, (a, b) in space.items()}
        params = config.params.replace(end=END, **values)
        frames = list(pool.map(run_seed, [(params, timeline, s) for s in seeds]))
        result = score(frames, observations, args.aim, caps, weights)
        if extra is not None:
            more = extra(frames, args.aim)
            result.update({f"extra.{k}": v for k, v in more.items()})
            result["distance"] += sum(more.values())
        # The figures this fit meets at the check's 2 sds: a mechanism is needed when switching it off misses
        # one of them (a figure missed either way says nothing of the mechanism).
        met = {k for k, v in score(frames, observations, 2.0, caps).items() if k.startswith("miss.") and v == 0}
        for name, off in needs.items():
            ablated = list(pool.map(run_seed, [(params.replace(**off), timeline, s) for s in seeds]))
            gap = sum(v for k, v in score(ablated, observations, 2.0, caps).items() if k in met)
            result[f"need.{name}"] = gap
            result["distance"] += NEED_WEIGHT * max(0.0, NEED_MARGIN - gap)
        for key, value in result.items():
            trial.set_user_attr(key, value)
        return result["distance"]

    def save(study: optuna.Study, _trial) -> None:
        rows = [{"trial": t.number, **t.user_attrs, **t.params} for t in study.trials
                if t.state == optuna.trial.TrialState.COMPLETE]
        # Written beside and renamed: a reader (or a kill) never sees half a file.
        pd.DataFrame(rows).to_csv(args.out / "history.csv.part", index=False, float_format="%.6g")
        (args.out / "history.csv.part").replace(args.out / "history.csv")
        best = study.best_trial
        lines = ["[provenance]", f"date = {dt.date.today().isoformat()}", f"trial = {best.number}",
                 f"distance = {best.value:.4f}", f"agents = {args.agents}", f"seeds = {args.seeds}", "", "[params]"]
        lines += [f"{k} = {v:.6g}" for k, v in sorted(best.params.items())]
        (args.out / "best_params.toml.part").write_text("\n".join(lines) + "\n")
        (args.out / "best_params.toml.part").replace(args.out / "best_params.toml")
        print(f"trial {_trial.number}: {_trial.value:.3f} (met {_trial.user_attrs.get('medians_met')}; "
              f"jump {_trial.user_attrs.get('jump_jan13_over_jan12', float('nan')):.2f}); best {best.number}: "
              f"{best.value:.3f}", flush=True)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        study.optimize(objective, n_trials=args.trials, callbacks=[save])
    finally:
        pool.shutdown(cancel_futures=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
