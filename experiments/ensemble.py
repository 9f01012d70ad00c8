"""Ensembles of one configuration over many seeds: run in worker processes, each finished run saved at
once, so an interrupted ensemble resumes where it stopped.

An ensemble folder holds ``runs/<fingerprint>/``: the exact config (``config.toml``, without the seed) and
one Parquet file per seed. Another config gets another fingerprint, so runs never mix.
"""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from model.config import RunConfig, make_model
from model.timeline import Timeline


class EnsembleError(ValueError):
    """An ensemble folder that holds runs of another configuration."""


def _run_one(config: RunConfig, seed: int, path: Path, timeline: Timeline | None = None) -> Path:
    frame = make_model(config, seed=seed, timeline=timeline).run()
    scratch = path.with_suffix(".partial")
    frame.to_parquet(scratch)
    scratch.replace(path)          # atomic: a run file is either whole or absent
    return path


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)))


def prepare(folder: Path, config: RunConfig) -> Path:
    """The runs folder for ``config`` inside ``folder``: ``runs/<fingerprint>/``, one per exact config, so
    runs of different configs never mix and an unchanged config resumes."""
    text = config.to_toml().replace(f"seed = {config.seed}\n", "")
    runs = Path(folder) / "runs" / hashlib.sha1(text.encode()).hexdigest()[:12]
    runs.mkdir(parents=True, exist_ok=True)
    stamp = runs / "config.toml"
    if stamp.exists() and stamp.read_text(encoding="utf-8") != text:
        raise EnsembleError(f"{runs} holds runs of another configuration ({stamp})")
    stamp.write_text(text, encoding="utf-8")
    return runs


def run_ensemble(config: RunConfig, seeds, folder: Path, workers: int | None = None, desc: str | None = None,
                 quiet: bool = False, timeline: Timeline | None = None) -> list[pd.DataFrame]:
    """Daily frames of ``config`` for every seed (in seed order), reusing runs already in ``folder``.

    ``timeline`` replaces the config's timeline file (for edited timelines); say so in the config's
    description, which the folder's stamp records."""
    runs = prepare(folder, config)
    seeds = list(seeds)
    paths = {s: runs / f"seed-{s:05d}.parquet" for s in seeds}
    todo = [s for s in seeds if not paths[s].exists()]
    workers = min(workers or default_workers(), max(1, len(todo)))
    with tqdm(total=len(seeds), initial=len(seeds) - len(todo), unit="run", desc=desc or config.name,
              disable=quiet, file=sys.stderr) as bar:
        if workers == 1:
            for s in todo:
                _run_one(config, s, paths[s], timeline)
                bar.update(1)
        elif todo:
            with ProcessPoolExecutor(max_workers=workers) as pool:
                futures = [pool.submit(_run_one, config, s, paths[s], timeline) for s in todo]
                for future in as_completed(futures):
                    future.result()
                    bar.update(1)
    return [pd.read_parquet(paths[s]) for s in seeds]
